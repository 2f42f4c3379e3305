package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// seeded returns a store with one account and its first user (an active
// admin with email first@errors.example).
func seeded(t *testing.T) (*redisstore.Store, usermgmt.UserRecord) {
	t.Helper()
	s := newStore(t)
	u := usermgmt.UserRecord{ID: "u-first", AccountID: "acct", Email: "first@errors.example", FirstName: "First", LastName: "User",
		Role: usermgmt.RoleAdmin, Status: usermgmt.StatusActive, PasswordHash: "h", PasswordVersion: 1, CreatedAt: t0, UpdatedAt: t0,
		LastActiveAt: t0, Version: 1}
	err := s.CreateAccount(context.Background(), usermgmt.AccountCreate{Account: usermgmt.Account{ID: "acct", Name: "Acme", CreatedAt: t0, Version: 1},
		Admin: usermgmt.UserCreate{User: u, Event: usermgmt.AuditEvent{ID: "ev-create", At: t0, ActorID: usermgmt.System,
			Action: usermgmt.ActionCreate, UserID: u.ID, AccountID: "acct"}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

func event(id string, u usermgmt.UserRecord) usermgmt.AuditEvent {
	return usermgmt.AuditEvent{ID: id, At: t0, ActorID: usermgmt.System, Action: usermgmt.ActionProfileChange, UserID: u.ID, AccountID: u.AccountID}
}

// exactly checks that err matches sentinel and that its text is the
// sentinel's alone, or the sentinel's followed by one of the store's fixed
// words: no driver text, no data.
func exactly(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: %v, want %v", what, err, sentinel)
	}
	text, rest := err.Error(), strings.TrimPrefix(err.Error(), sentinel.Error())
	switch rest {
	case "", ": user", ": account", ": event", ": message", ": token", ": group":
	default:
		t.Fatalf("%s: error text %q says more than %q", what, text, sentinel.Error())
	}
}

// TestTextRoundTripsOrIsRefused: names, emails and other plain fields are
// stored as they are, invalid UTF-8 included. Text the store keeps inside
// JSON (audit events, group IDs, grants, token and lease fields) cannot
// carry invalid UTF-8 (encoding/json would replace it): such a write is
// refused whole with ErrStore, with text that shows none of it, and in a
// batch only that update is refused.
func TestTextRoundTripsOrIsRefused(t *testing.T) {
	s, u := seeded(t)
	ctx := context.Background()

	latin1 := u
	latin1.FirstName, latin1.LastName, latin1.PendingEmail = "Jos\xe9", "D\xf6e", "p\xe9nding@x.example"
	if err := s.UpdateUser(ctx, usermgmt.UserUpdate{User: latin1, Event: event("ev-1", u)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(ctx, u.ID)
	if err != nil || got.FirstName != "Jos\xe9" || got.LastName != "D\xf6e" || got.PendingEmail != latin1.PendingEmail {
		t.Fatalf("names as stored: %q %q %q, %v", got.FirstName, got.LastName, got.PendingEmail, err)
	}

	bad := map[string]usermgmt.UserUpdate{}
	ev := event("ev-bad", got)
	ev.Changes = []usermgmt.Change{{Field: "last_name", Old: "Doe", New: "D\xf6e"}}
	bad["event change"] = usermgmt.UserUpdate{User: got, Event: ev}
	g := got
	g.Groups = []string{"gr\xffoup"}
	bad["group ID"] = usermgmt.UserUpdate{User: g, Event: event("ev-bad", got)}
	gr := got
	gr.Grants = []usermgmt.Grant{{Permission: "module", Resource: "insight:\xff"}}
	bad["grant"] = usermgmt.UserUpdate{User: gr, Event: event("ev-bad", got)}
	tok := got
	tok.Tokens = []usermgmt.Token{{Purpose: usermgmt.TokenInvitation, Hash: "\xfe", ExpiresAt: t0}}
	bad["token hash"] = usermgmt.UserUpdate{User: tok, Event: event("ev-bad", got)}
	for what, up := range bad {
		exactly(t, what, s.UpdateUser(ctx, up), usermgmt.ErrStore)
	}
	good := got
	good.LastName = "Doe"
	errs, err := s.UpdateUsers(ctx, []usermgmt.UserUpdate{bad["grant"], {User: good, Event: event("ev-2", got)}})
	if err != nil {
		t.Fatal(err)
	}
	exactly(t, "batch item", errs[0], usermgmt.ErrStore)
	if errs[1] != nil {
		t.Fatalf("the good update of the batch: %v", errs[1])
	}
	after, err := s.User(ctx, u.ID)
	if err != nil || after.Version != got.Version+1 || after.LastName != "Doe" {
		t.Fatalf("after the batch: version %d, last name %q, %v; want only the good update applied", after.Version, after.LastName, err)
	}
	if h, _ := s.History(ctx, usermgmt.HistoryQuery{UserID: u.ID, Limit: 10}); len(h) != 3 {
		t.Fatalf("history has %d events, want 3 (create and two updates)", len(h))
	}
	checkLayout(t, s)
}

// TestErrorTextHoldsNoData: refusals show their sentinel and a fixed word;
// a failure of Redis (a Lua error over corrupt data, a closed client) or
// data the store cannot read shows ErrStore's text alone, while errors.As
// still reaches the driver's error for the application's logs.
func TestErrorTextHoldsNoData(t *testing.T) {
	s, u := seeded(t)
	ctx := context.Background()
	c := s.Client()

	dup := u
	dup.ID = "u-second"
	err := s.CreateUsers(ctx, []usermgmt.UserCreate{{User: dup, Event: event("ev-dup", dup)}})
	exactly(t, "duplicate email", err, usermgmt.ErrDuplicateEmail)
	stale := u
	stale.Version = 7
	exactly(t, "stale version", s.UpdateUser(ctx, usermgmt.UserUpdate{User: stale, Event: event("ev-stale", u)}), usermgmt.ErrConflict)
	demoted := u
	demoted.Role = usermgmt.RoleGeneral
	err = s.UpdateUser(ctx, usermgmt.UserUpdate{User: demoted, Event: event("ev-demote", u), KeepAdmin: true})
	exactly(t, "last admin", err, usermgmt.ErrLastAdmin)
	_, err = s.UserByEmail(ctx, "nobody@errors.example")
	exactly(t, "unknown email", err, usermgmt.ErrNotFound)

	// Corrupt the copy of the user's groups the scripts read: the update
	// script's JSON decoding fails inside Redis, with Lua's words, before
	// it writes anything.
	if err := c.HSet(ctx, s.Prefix()+"u:"+u.ID, "groups", "[first@errors.example").Err(); err != nil {
		t.Fatal(err)
	}
	moved := u
	moved.Groups = []string{"g1"}
	err = s.UpdateUser(ctx, usermgmt.UserUpdate{User: moved, Event: event("ev-corrupt", u)})
	exactly(t, "Lua error", err, usermgmt.ErrStore)
	var rerr redis.Error
	if !errors.As(err, &rerr) || !strings.Contains(rerr.Error(), "script") {
		t.Fatalf("the driver's error is not reachable: %s", causes(err))
	}
	if got, err := s.User(ctx, u.ID); err != nil || got.Version != u.Version || len(got.Groups) != 0 {
		t.Fatalf("after the failed script: %+v, %v; want the user as it was", got, err)
	}
	// A record the store cannot decode.
	if err := c.HSet(ctx, s.Prefix()+"u:"+u.ID, "rec", "first@errors.example").Err(); err != nil {
		t.Fatal(err)
	}
	_, err = s.User(ctx, u.ID)
	exactly(t, "unreadable record", err, usermgmt.ErrStore)
	if strings.Contains(causes(err), "first@errors.example") {
		t.Fatalf("the decoding error names the stored value: %s", causes(err))
	}

	closed := redis.NewClient(&redis.Options{Addr: serverOptions.Addr, ContextTimeoutEnabled: true})
	cs, err := redisstore.New(closed, redisstore.Options{Prefix: s.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	_, err = cs.Account(ctx, "acct")
	exactly(t, "closed client", err, usermgmt.ErrStore)
	if !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("the driver's error is not reachable: %s", causes(err))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Account(cctx, "acct"); err != context.Canceled && !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v, want context.Canceled", err)
	}
}
