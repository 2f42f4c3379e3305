package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// TestInvalidUTF8Refused checks that text JSON cannot carry exactly is
// refused whole rather than stored altered (encoding/json would turn the
// Latin-1 "José" into "Jos\uFFFD").
func TestInvalidUTF8Refused(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	acct := usermgmt.Account{ID: "01900000-0000-7000-8000-00000000a000", Name: "Acme", CreatedAt: now}
	u := usermgmt.User{ID: "01900000-0000-7000-8000-000000000001", AccountID: acct.ID, Email: "jose@utf8.example", FirstName: "Jose",
		LastName: "Doe", Role: usermgmt.RoleAdmin, Status: usermgmt.StatusActive, CreatedAt: now, UpdatedAt: now, LastActiveAt: now, Version: 1}
	ev := func(n string) usermgmt.AuditEvent {
		return usermgmt.AuditEvent{ID: "01900000-0000-7000-9000-00000000000" + n, At: now, ActorID: usermgmt.System,
			Action: usermgmt.ActionCreate, UserID: u.ID, AccountID: acct.ID}
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "UTF-8") {
			t.Fatalf("%s: %v, want a refusal naming UTF-8", what, err)
		}
	}

	bad := acct
	bad.Name = "Acm\xe9"
	refused("account name", s.CreateAccount(ctx, bad, u, ev("1")))
	bad2 := u
	bad2.FirstName = "Jos\xe9"
	refused("first user's name", s.CreateAccount(ctx, acct, bad2, ev("1")))
	if _, err := s.Account(ctx, acct.ID); !errors.Is(err, usermgmt.ErrNotFound) {
		t.Fatalf("after refusals, Account = %v, want ErrNotFound", err)
	}

	if err := s.CreateAccount(ctx, acct, u, ev("1")); err != nil {
		t.Fatal(err)
	}
	up := u
	up.LastName = "D\xf6e"
	refused("update", s.UpdateUser(ctx, usermgmt.UserUpdate{User: up, Event: ev("2")}))
	e := ev("3")
	e.Changes = []usermgmt.Change{{Field: "last_name", Old: "Doe", New: "D\xf6e"}}
	refused("event", s.UpdateUser(ctx, usermgmt.UserUpdate{User: u, Event: e}))
	got, err := s.User(ctx, u.ID)
	if err != nil || got.Version != 1 || got.LastName != "Doe" {
		t.Fatalf("after refused updates: %+v, %v; want version 1 unchanged", got, err)
	}
	if h, _ := s.History(ctx, usermgmt.HistoryQuery{UserID: u.ID, Limit: 10}); len(h) != 1 {
		t.Fatalf("history has %d events, want 1", len(h))
	}
}
