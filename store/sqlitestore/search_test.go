package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// TestSearchPathsAgree runs many searches through both of ListUsers' paths,
// the trigram index and the subtree walk, and checks them against a plain
// Go filter of the same users: names with capitals and non-ASCII letters,
// terms of one to many characters, quotes, a subtree, statuses and pages.
func TestSearchPathsAgree(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "search.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	root := usermgmt.Account{ID: "a0", Name: "Root", CreatedAt: now, UpdatedAt: now, Version: 1}
	child := usermgmt.Account{ID: "a1", ParentID: "a0", Ancestors: []string{"a0"}, Name: "Child", CreatedAt: now, UpdatedAt: now, Version: 1}
	firsts := []string{"Zoë", "ÉMILE", "Ann", "Anna", "Jo", `Quo"te`, "Łukasz", "İsmail", "Bob"}
	lasts := []string{"O'Brien", "Smith", "SMITHSON", "de la Cruz", "Ng", "Straße"}
	var all []usermgmt.UserRecord
	mk := func(i int, acct string) usermgmt.UserCreate {
		u := usermgmt.UserRecord{ID: fmt.Sprintf("u%04d", i), AccountID: acct,
			Email:     fmt.Sprintf("%s.%d@%s.example", strings.ToLower(firsts[i%len(firsts)][:1]), i, []string{"acme", "globex", "initech"}[i%3]),
			FirstName: firsts[i%len(firsts)], LastName: lasts[i%len(lasts)], Role: usermgmt.RoleGeneral,
			Status:    []usermgmt.Status{usermgmt.StatusActive, usermgmt.StatusActive, usermgmt.StatusRemoved, usermgmt.StatusLocked}[i%4],
			CreatedAt: now, UpdatedAt: now, Version: 1}
		return usermgmt.UserCreate{User: u, Event: usermgmt.AuditEvent{ID: "e" + u.ID, At: now, ActorID: usermgmt.System,
			Action: usermgmt.ActionCreate, UserID: u.ID, AccountID: acct}}
	}
	c0 := mk(0, root.ID)
	if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: root, Admin: c0}); err != nil {
		t.Fatal(err)
	}
	all = append(all, c0.User)
	c1 := mk(1, child.ID)
	if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: child, Admin: c1}); err != nil {
		t.Fatal(err)
	}
	all = append(all, c1.User)
	var batch []usermgmt.UserCreate
	for i := 2; i < 300; i++ {
		batch = append(batch, mk(i, []string{root.ID, child.ID}[i%2]))
	}
	if err := s.CreateUsers(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, c := range batch {
		all = append(all, c.User)
	}
	// A rename moves a user in the trigram index.
	renamed := all[12]
	renamed.FirstName = "Xavière"
	if err := s.UpdateUser(ctx, usermgmt.UserUpdate{User: renamed, Event: usermgmt.AuditEvent{ID: "rename", At: now, ActorID: usermgmt.System,
		Action: usermgmt.ActionProfileChange, UserID: renamed.ID, AccountID: renamed.AccountID}}); err != nil {
		t.Fatal(err)
	}
	renamed.Version++
	all[12] = renamed

	// The trigram index agrees with the users table after inserts and a rename.
	if _, err := s.write.ExecContext(ctx, "INSERT INTO users_fts(users_fts, rank) VALUES ('integrity-check', 1)"); err != nil {
		t.Fatalf("FTS5 integrity-check: %v", err)
	}

	want := func(q usermgmt.ListQuery) []string {
		var ids []string
		for _, u := range all {
			if q.AccountID == child.ID && u.AccountID != child.ID {
				continue
			}
			if len(q.Statuses) == 0 && u.Status == usermgmt.StatusRemoved || len(q.Statuses) > 0 && !slices.Contains(q.Statuses, u.Status) {
				continue
			}
			if q.Matches(u) {
				ids = append(ids, u.ID)
			}
		}
		return ids
	}
	terms := []string{"a", "zo", "zoë", "oë", "émile", "smith", "mithso", "o'b", "quo\"t", `"`, "łuk", strings.ToLower("İsmail"), "smail", "straße",
		"acme", "@globex.", "xavière", "annasmith", "nobody", "de la", " ", ".1", "u00", "ann"}
	nonEmpty := 0
	for _, term := range terms {
		if len(want(usermgmt.ListQuery{AccountID: root.ID, Search: term})) > 0 {
			nonEmpty++
		} else {
			t.Logf("no user matches %q", term)
		}
		for _, acct := range []string{root.ID, child.ID} {
			for _, statuses := range [][]usermgmt.Status{nil, {usermgmt.StatusLocked, usermgmt.StatusRemoved}} {
				q := usermgmt.ListQuery{AccountID: acct, Search: term, Statuses: statuses}
				exp := want(q)
				for _, bound := range []int{0, 1 << 30} {
					s.searchCandidates = bound
					var got []string
					q.After, q.Limit = "", 7
					for {
						page, err := s.ListUsers(ctx, q)
						if err != nil {
							t.Fatalf("search %q: %v", term, err)
						}
						for _, u := range page {
							got = append(got, u.ID)
						}
						if len(page) < q.Limit {
							break
						}
						q.After = page[len(page)-1].ID
					}
					if !slices.Equal(got, exp) {
						t.Errorf("search %q in %s %v (bound %d): got %v\nwant %v", term, acct, statuses, bound, got, exp)
					}
				}
			}
		}
	}
	// "annasmith", "nobody" and "u00" (IDs are not searched) match nobody.
	if nonEmpty != len(terms)-3 {
		t.Fatalf("only %d of %d terms match anything; the test data is off", nonEmpty, len(terms))
	}
}
