package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt"
)

var listTests = map[string]func(*testing.T, *suite){
	"KeysetPagesWithoutGapsOrDuplicates": testPagination,
	"SearchAndFilters":                   testSearchAndFilters,
	"BadCursorAndLimit":                  testBadCursor,
	"EmptyPageEncodesAsEmptyList":        testEmptyPageJSON,
}

func (e *env) inviteMany(accountID, prefix string, n int) []string {
	e.t.Helper()
	rows := make([]usermgmt.NewUser, n)
	for i := range rows {
		rows[i] = usermgmt.NewUser{Email: email(prefix, i)}
	}
	res, err := e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{AccountID: accountID, Rows: rows})
	ok(e.t, err)
	ids := make([]string, n)
	for i, r := range res {
		if r.Outcome != usermgmt.Invited {
			e.t.Fatalf("invite %s: %s %v", r.Email, r.Outcome, r.Err)
		}
		ids[i] = r.UserID
	}
	return ids
}

// testPagination pages through thousands of users while others are being
// added: every user present before the walk appears exactly once, in ID order.
func testPagination(t *testing.T, su *suite) {
	e := su.env(t)
	n := 3000
	if su.short {
		n = 600
	}
	want := append([]string{e.admin.ID}, e.inviteMany(e.root.ID, "page", n)...)
	slices.Sort(want)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // concurrent writers: new users and changes to listed ones
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 200; i++ {
			_, err := e.m.CreateUser(ctx, e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: email("during", i), FirstName: "D", LastName: "W", Invite: true})
			if err != nil && ctx.Err() == nil {
				t.Errorf("concurrent create: %v", err)
			}
			_, _ = e.m.UpdateProfile(ctx, e.admin.ID, want[(i*37)%len(want)], usermgmt.Profile{FirstName: ptr(fmt.Sprint("Renamed", i))})
		}
	}()
	seen := map[string]int{}
	var order []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Cursor: cursor, Limit: 97})
		ok(t, err)
		for _, u := range page.Items {
			seen[u.ID]++
			order = append(order, u.ID)
		}
		if page.Next == "" {
			break
		}
		if len(page.Items) != 97 {
			t.Fatalf("page %d has %d users but a next cursor", pages, len(page.Items))
		}
		cursor = page.Next
	}
	cancel()
	wg.Wait()
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("user %s listed %d times", id, c)
		}
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("user %s missing from the pages", id)
		}
	}
	if !slices.IsSorted(order) {
		t.Fatal("pages are not in ascending ID order")
	}
}

func testSearchAndFilters(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "analyst"}))
	mk := func(first, last, mail, role string) usermgmt.User {
		c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: mail, FirstName: first, LastName: last, Role: role, Password: Password})
		ok(t, err)
		return c.User
	}
	smithA := mk("Anna", "Smith", "anna@example.com", usermgmt.RoleGeneral)
	smithB := mk("Blacksmith", "Jones", "bj@example.com", "analyst")
	smithC := mk("Carl", "Carlson", "c.SMITHERS@example.com", usermgmt.RoleGeneral)
	other := mk("Dora", "Explorer", "dora@example.com", usermgmt.RoleGeneral)
	names := func(q usermgmt.UserQuery) []string {
		t.Helper()
		var out []string
		for {
			page, err := e.m.ListUsers(e.ctx, e.admin.ID, q)
			ok(t, err)
			for _, u := range page.Items {
				out = append(out, u.Email)
			}
			if page.Next == "" {
				return out
			}
			q.Cursor = page.Next
		}
	}
	want := func(got []string, users ...usermgmt.User) {
		t.Helper()
		w := make([]string, len(users))
		for i, u := range users {
			w[i] = u.Email
		}
		if !slices.Equal(got, w) {
			t.Fatalf("listed %v, want %v", got, w)
		}
	}
	want(names(usermgmt.UserQuery{Search: "SMITH", Limit: 1}), smithA, smithB, smithC)
	want(names(usermgmt.UserQuery{Search: "smith", Roles: []string{"analyst"}}), smithB)
	want(names(usermgmt.UserQuery{Search: "dora@"}), other)
	want(names(usermgmt.UserQuery{Search: "zz-nobody"}))
	want(names(usermgmt.UserQuery{Search: "smith jones"}))
	// A term never spans two fields (the Manager refuses control
	// characters, so this asks the store directly).
	spans, err := e.store.ListUsers(e.ctx, usermgmt.ListQuery{AccountID: e.root.ID, Search: "blacksmith\njones", Limit: 10})
	ok(t, err)
	eq(t, "users matched across two fields", len(spans), 0)
	want(names(usermgmt.UserQuery{Search: "EXAMPLE.com"}), e.admin, smithA, smithB, smithC, other)

	_, err = e.m.Ban(e.ctx, e.admin.ID, smithB.ID)
	ok(t, err)
	_, err = e.m.Remove(e.ctx, e.admin.ID, smithC.ID)
	ok(t, err)
	want(names(usermgmt.UserQuery{Search: "smith"}), smithA, smithB)
	want(names(usermgmt.UserQuery{Search: "smith", Statuses: []usermgmt.Status{usermgmt.StatusBanned}}), smithB)
	want(names(usermgmt.UserQuery{Search: "smith", IncludeRemoved: true}), smithA, smithB, smithC)
	want(names(usermgmt.UserQuery{Statuses: []usermgmt.Status{usermgmt.StatusRemoved}}), smithC)
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Search: "anna", Total: true})
	ok(t, err)
	eq(t, "password set", page.Items[0].PasswordSet, true)
	if page.Total != nil {
		eq(t, "total", *page.Total, 1)
	}
	_, err = e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Roles: []string{"no_such_role"}})
	isErr(t, err, usermgmt.ErrUnknownRole)
}

func testEmptyPageJSON(t *testing.T, su *suite) {
	e := su.env(t)
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Search: "nobody-at-all"})
	ok(t, err)
	b, err := json.Marshal(page)
	ok(t, err)
	eq(t, "empty page", string(b), `{"items":[]}`)
	h, err := e.m.History(e.ctx, e.admin.ID, usermgmt.AuditQuery{UserID: e.admin.ID, Actions: []usermgmt.Action{usermgmt.ActionBan}})
	ok(t, err)
	b, err = json.Marshal(h)
	ok(t, err)
	eq(t, "empty history", string(b), `{"items":[]}`)
	inv, err := e.m.PendingInvitations(e.ctx, e.admin.ID, usermgmt.InvitationQuery{})
	ok(t, err)
	b, err = json.Marshal(inv)
	ok(t, err)
	eq(t, "no pending invitations", string(b), `{"items":[]}`)
}

func testBadCursor(t *testing.T, su *suite) {
	e := su.env(t)
	_, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Cursor: "not-a-cursor!"})
	isErr(t, err, usermgmt.ErrInvalidCursor)
	_, err = e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Limit: -1})
	isErr(t, err, usermgmt.ErrInvalidInput)
	_, err = e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Statuses: []usermgmt.Status{"zombie"}})
	isErr(t, err, usermgmt.ErrInvalidInput)
	_, err = e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Search: " ab "}) // too short for an index
	isErr(t, err, usermgmt.ErrInvalidInput)
	for _, term := range []string{"an\x00na", "an\nna", "an\tna"} {
		_, err = e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Search: term})
		isErr(t, err, usermgmt.ErrInvalidInput)
	}
	_, err = e.m.History(e.ctx, e.admin.ID, usermgmt.AuditQuery{UserID: e.admin.ID, Cursor: "bad cursor"})
	isErr(t, err, usermgmt.ErrInvalidCursor)
	_, err = e.m.AccountHistory(e.ctx, e.admin.ID, usermgmt.AuditQuery{Limit: 1001})
	isErr(t, err, usermgmt.ErrInvalidInput)
}
