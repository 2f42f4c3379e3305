package storetest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Tests of the Store contract, calling the store directly.
var storeTests = map[string]func(*testing.T, *suite){
	"AccountRoundTrip":              testAccountRoundTrip,
	"UserRoundTrip":                 testUserRoundTrip,
	"NotFound":                      testNotFound,
	"CreateUsersAllOrNothing":       testCreateUsersAllOrNothing,
	"UpdateChecksVersion":           testUpdateChecksVersion,
	"ChangeAndEventAtomic":          testChangeAndEventAtomic,
	"RemovalFreesEmail":             testRemovalFreesEmail,
	"InviteTokenIndexFollowsHash":   testInviteTokenIndex,
	"KeepAdminRefusesLastAdmin":     testKeepAdmin,
	"ReserveAttemptIsBounded":       testReserveAttemptBounded,
	"RecordLoginChecksState":        testRecordLogin,
	"StaleUsersByLastActivity":      testStaleUsers,
	"HistoryNewestFirst":            testHistory,
	"CancelledContextWritesNothing": testCancelledContext,
}

// rawUser is an Active user ready to be written to a store directly.
func (e *env) rawUser(accountID, email string) usermgmt.User {
	now := e.clock.Now()
	return usermgmt.User{ID: newID(), AccountID: accountID, Email: email, FirstName: "Raw", LastName: "User",
		Role: usermgmt.RoleGeneral, Status: usermgmt.StatusActive, PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5",
		CreatedAt: now, UpdatedAt: now, ActivatedAt: now, LastActiveAt: now, Version: 1}
}

func rawEvent(u usermgmt.User, action usermgmt.Action) usermgmt.AuditEvent {
	return usermgmt.AuditEvent{ID: newID(), At: u.UpdatedAt, ActorID: usermgmt.System, Action: action,
		UserID: u.ID, AccountID: u.AccountID, Changes: []usermgmt.Change{{Field: "status", Old: "", New: string(u.Status)}}}
}

func (e *env) createRaw(users ...usermgmt.User) {
	e.t.Helper()
	evs := make([]usermgmt.AuditEvent, len(users))
	for i, u := range users {
		evs[i] = rawEvent(u, usermgmt.ActionCreate)
	}
	ok(e.t, e.store.CreateUsers(e.ctx, users, evs))
}

// updateRaw writes u (read at its current Version) with a fresh event.
func (e *env) updateRaw(u usermgmt.User, keepAdmin bool) error {
	return e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: u, Event: rawEvent(u, usermgmt.ActionProfileChange), KeepAdmin: keepAdmin})
}

func sameTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Fatalf("%s = %v, want the zero time", field, got)
		}
		return
	}
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("%s = %v, want %v in UTC", field, got, want.UTC())
	}
}

func sameUser(t *testing.T, got, want usermgmt.User) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "AccountID", got.AccountID, want.AccountID)
	eq(t, "Email", got.Email, want.Email)
	eq(t, "FirstName", got.FirstName, want.FirstName)
	eq(t, "LastName", got.LastName, want.LastName)
	eq(t, "Role", got.Role, want.Role)
	eq(t, "Status", got.Status, want.Status)
	if !slices.Equal(got.Grants, want.Grants) && (len(got.Grants) > 0 || len(want.Grants) > 0) {
		t.Fatalf("Grants = %v, want %v", got.Grants, want.Grants)
	}
	eq(t, "PasswordHash", got.PasswordHash, want.PasswordHash)
	eq(t, "FailedAttempts", got.FailedAttempts, want.FailedAttempts)
	eq(t, "InviteTokenHash", got.InviteTokenHash, want.InviteTokenHash)
	sameTime(t, "InvitedAt", got.InvitedAt, want.InvitedAt)
	sameTime(t, "InviteExpiresAt", got.InviteExpiresAt, want.InviteExpiresAt)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "ActivatedAt", got.ActivatedAt, want.ActivatedAt)
	sameTime(t, "LastLoginAt", got.LastLoginAt, want.LastLoginAt)
	sameTime(t, "LastActiveAt", got.LastActiveAt, want.LastActiveAt)
	eq(t, "Version", got.Version, want.Version)
}

func testAccountRoundTrip(t *testing.T, su *suite) {
	e := su.env(t)
	child, _ := e.account(e.admin.ID, e.root.ID, "Client A", "a-admin@example.com")
	grand, _ := e.account(e.admin.ID, child.ID, "Client A East", "ae-admin@example.com")
	got, err := e.store.Account(e.ctx, grand.ID)
	ok(t, err)
	eq(t, "Name", got.Name, "Client A East")
	eq(t, "ParentID", got.ParentID, child.ID)
	if !slices.Equal(got.Ancestors, []string{e.root.ID, child.ID}) {
		t.Fatalf("Ancestors = %v, want [%s %s]", got.Ancestors, e.root.ID, child.ID)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, grand.CreatedAt)
	root, err := e.store.Account(e.ctx, e.root.ID)
	ok(t, err)
	if root.ParentID != "" || len(root.Ancestors) != 0 {
		t.Fatalf("top-level account has parent %q ancestors %v", root.ParentID, root.Ancestors)
	}

	// An account ID that exists is refused, and its first user is not stored.
	dup := got
	u := e.rawUser(dup.ID, "dup-first@example.com")
	err = e.store.CreateAccount(e.ctx, dup, u, rawEvent(u, usermgmt.ActionCreate))
	isErr(t, err, usermgmt.ErrDuplicateID)
	_, err = e.store.UserByEmail(e.ctx, u.Email)
	isErr(t, err, usermgmt.ErrNotFound)

	// A first user whose email is taken stores no account.
	a := usermgmt.Account{ID: newID(), Name: "Other", CreatedAt: e.clock.Now()}
	u = e.rawUser(a.ID, e.admin.Email)
	err = e.store.CreateAccount(e.ctx, a, u, rawEvent(u, usermgmt.ActionCreate))
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	_, err = e.store.Account(e.ctx, a.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	if n := len(e.history(u.ID)); n != 0 {
		t.Fatalf("refused account creation left %d events", n)
	}
}

func testUserRoundTrip(t *testing.T, su *suite) {
	e := su.env(t)
	at := time.Date(2026, 2, 3, 4, 5, 6, 789012345, time.UTC)
	u := e.rawUser(e.root.ID, "round.trip@example.com")
	u.FirstName, u.LastName = "Zoë", "O'Brien-Łukasz"
	u.Role = "analyst"
	u.Status = usermgmt.StatusInvited
	u.Grants = []usermgmt.Grant{{Permission: "insights.view", Resource: "insight-42"}, {Permission: "reports"}}
	u.FailedAttempts = 3
	u.InviteTokenHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	u.InvitedAt, u.InviteExpiresAt = at, at.Add(168*time.Hour)
	u.CreatedAt, u.UpdatedAt, u.ActivatedAt, u.LastLoginAt, u.LastActiveAt = at, at.Add(time.Nanosecond), time.Time{}, time.Time{}, at.Add(time.Second)
	u.Version = 1
	e.createRaw(u)

	got, err := e.store.User(e.ctx, u.ID)
	ok(t, err)
	sameUser(t, got, u)
	got, err = e.store.UserByEmail(e.ctx, u.Email)
	ok(t, err)
	sameUser(t, got, u)
	got, err = e.store.UserByInviteToken(e.ctx, u.InviteTokenHash)
	ok(t, err)
	sameUser(t, got, u)

	// A write replaces every mutable field and bumps the version.
	next := got
	next.FirstName, next.Status, next.Grants = "Zed", usermgmt.StatusActive, nil
	next.FailedAttempts, next.InviteTokenHash, next.InvitedAt, next.InviteExpiresAt = 0, "", time.Time{}, time.Time{}
	next.ActivatedAt, next.LastLoginAt, next.LastActiveAt = at.Add(time.Hour), at.Add(2*time.Hour), at.Add(2*time.Hour)
	next.PasswordHash = "$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$bmV3a2V5"
	ok(t, e.updateRaw(next, false))
	got = e.get(u.ID)
	next.Version++
	sameUser(t, got, next)
}

func testNotFound(t *testing.T, su *suite) {
	e := su.env(t)
	missing := newID()
	_, err := e.store.User(e.ctx, missing)
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.UserByEmail(e.ctx, "nobody@example.com")
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.UserByInviteToken(e.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.Account(e.ctx, missing)
	isErr(t, err, usermgmt.ErrNotFound)
	ghost := e.rawUser(e.root.ID, "ghost@example.com")
	isErr(t, e.updateRaw(ghost, false), usermgmt.ErrNotFound)
	_, _, err = e.store.ReserveAttempt(e.ctx, missing, 10)
	isErr(t, err, usermgmt.ErrNotFound)
	_, _, err = e.store.RecordLogin(e.ctx, usermgmt.Login{UserID: missing, At: e.clock.Now()})
	isErr(t, err, usermgmt.ErrNotFound)
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{UserID: missing, Limit: 10})
	ok(t, err)
	eq(t, "events of an unknown user", len(evs), 0)
	// The Manager maps them too.
	_, err = e.m.User(e.ctx, e.admin.ID, missing)
	isErr(t, err, usermgmt.ErrNotFound)
}

func testCreateUsersAllOrNothing(t *testing.T, su *suite) {
	e := su.env(t)
	taken := e.user(e.root.ID, "taken@example.com", usermgmt.RoleGeneral)
	check := func(name string, batch []usermgmt.User, want error) {
		t.Helper()
		evs := make([]usermgmt.AuditEvent, len(batch))
		for i, u := range batch {
			evs[i] = rawEvent(u, usermgmt.ActionInvite)
		}
		isErr(t, e.store.CreateUsers(e.ctx, batch, evs), want)
		for _, u := range batch {
			if got, err := e.store.User(e.ctx, u.ID); err == nil && got.Email == u.Email {
				t.Fatalf("%s: user %s stored from a refused batch", name, u.Email)
			}
			if u.Email != taken.Email {
				if _, err := e.store.UserByEmail(e.ctx, u.Email); err == nil {
					t.Fatalf("%s: email %s indexed from a refused batch", name, u.Email)
				}
			}
			if n := len(e.history(u.ID)); n != 0 && u.ID != taken.ID {
				t.Fatalf("%s: refused batch left %d events for %s", name, n, u.Email)
			}
		}
	}
	a, b, c := e.rawUser(e.root.ID, "a@example.com"), e.rawUser(e.root.ID, "b@example.com"), e.rawUser(e.root.ID, taken.Email)
	check("email held by a stored user", []usermgmt.User{a, b, c}, usermgmt.ErrDuplicateEmail)
	b2 := e.rawUser(e.root.ID, "a@example.com")
	check("email twice in the batch", []usermgmt.User{a, b, b2}, usermgmt.ErrDuplicateEmail)
	d := e.rawUser(e.root.ID, "d@example.com")
	d.ID = taken.ID
	check("user ID already stored", []usermgmt.User{a, d}, usermgmt.ErrDuplicateID)

	// An event ID already stored refuses the batch too.
	evs := []usermgmt.AuditEvent{rawEvent(a, usermgmt.ActionInvite), rawEvent(b, usermgmt.ActionInvite)}
	evs[1].ID = e.history(taken.ID)[0].ID
	isErr(t, e.store.CreateUsers(e.ctx, []usermgmt.User{a, b}, evs), usermgmt.ErrDuplicateID)
	for _, u := range []usermgmt.User{a, b} {
		_, err := e.store.User(e.ctx, u.ID)
		isErr(t, err, usermgmt.ErrNotFound)
	}
	eq(t, "events of the taken user", len(e.history(taken.ID)), 1)

	// The same batch without the conflict is stored whole.
	e.createRaw(a, b)
	for _, u := range []usermgmt.User{a, b} {
		sameUser(t, e.get(u.ID), u)
		eq(t, "events of "+u.Email, len(e.history(u.ID)), 1)
	}
}

func testUpdateChecksVersion(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "versions@example.com")
	e.createRaw(u)
	first := u
	first.FirstName = "First"
	ok(t, e.updateRaw(first, false))
	eq(t, "version after one write", e.get(u.ID).Version, int64(2))

	stale := u // still at version 1
	stale.FirstName = "Stale"
	isErr(t, e.updateRaw(stale, false), usermgmt.ErrConflict)
	got := e.get(u.ID)
	eq(t, "FirstName after a stale write", got.FirstName, "First")
	eq(t, "events after a stale write", len(e.history(u.ID)), 2)

	ahead := got
	ahead.Version = 99
	isErr(t, e.updateRaw(ahead, false), usermgmt.ErrConflict)
}

// testChangeAndEventAtomic makes the event half of a write fail inside the
// store (its ID is taken) and checks that the change half is not stored.
func testChangeAndEventAtomic(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "atomic@example.com")
	e.createRaw(u)
	taken := e.history(u.ID)[0].ID

	changed := u
	changed.FirstName, changed.Status = "Changed", usermgmt.StatusBanned
	ev := rawEvent(changed, usermgmt.ActionBan)
	ev.ID = taken
	err := e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: ev})
	isErr(t, err, usermgmt.ErrDuplicateID)
	sameUser(t, e.get(u.ID), u)
	eq(t, "events after a failed write", len(e.history(u.ID)), 1)
	_, err = e.store.UserByEmail(e.ctx, u.Email)
	ok(t, err)

	// The same change with a fresh event is stored, with exactly that event.
	ev.ID = newID()
	ok(t, e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: ev}))
	h := e.history(u.ID)
	eq(t, "events after the write", len(h), 2)
	eq(t, "newest event", h[0].ID, ev.ID)
	eq(t, "newest action", h[0].Action, usermgmt.ActionBan)
	eq(t, "stored status", e.get(u.ID).Status, usermgmt.StatusBanned)
}

func testRemovalFreesEmail(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "again@example.com")
	e.createRaw(u)
	removed := u
	removed.Status = usermgmt.StatusRemoved
	ok(t, e.updateRaw(removed, false))
	_, err := e.store.UserByEmail(e.ctx, u.Email)
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "removed user still readable by ID", e.get(u.ID).Status, usermgmt.StatusRemoved)

	again := e.rawUser(e.root.ID, u.Email)
	e.createRaw(again)
	got, err := e.store.UserByEmail(e.ctx, u.Email)
	ok(t, err)
	eq(t, "user holding the email", got.ID, again.ID)
	eq(t, "history of the removed user", len(e.history(u.ID)), 2)
}

func testInviteTokenIndex(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "token@example.com")
	u.Status, u.InviteTokenHash = usermgmt.StatusInvited, "aa00000000000000000000000000000000000000000000000000000000000001"
	e.createRaw(u)
	next := u
	next.InviteTokenHash = "bb00000000000000000000000000000000000000000000000000000000000002"
	ok(t, e.updateRaw(next, false))
	_, err := e.store.UserByInviteToken(e.ctx, u.InviteTokenHash)
	isErr(t, err, usermgmt.ErrNotFound)
	got, err := e.store.UserByInviteToken(e.ctx, next.InviteTokenHash)
	ok(t, err)
	eq(t, "user of the new token", got.ID, u.ID)
	cleared := got
	cleared.InviteTokenHash, cleared.Status = "", usermgmt.StatusActive
	ok(t, e.updateRaw(cleared, false))
	_, err = e.store.UserByInviteToken(e.ctx, next.InviteTokenHash)
	isErr(t, err, usermgmt.ErrNotFound)
}

func testKeepAdmin(t *testing.T, su *suite) {
	e := su.env(t)
	admin := e.get(e.admin.ID)
	demoted := admin
	demoted.Role = usermgmt.RoleGeneral
	isErr(t, e.updateRaw(demoted, true), usermgmt.ErrLastAdmin)
	sameUser(t, e.get(admin.ID), admin)
	eq(t, "events after a refused write", len(e.history(admin.ID)), 1)
	banned := admin
	banned.Status = usermgmt.StatusBanned
	isErr(t, e.updateRaw(banned, true), usermgmt.ErrLastAdmin)

	// A write that keeps the user an active admin passes.
	renamed := admin
	renamed.FirstName = "Renamed"
	ok(t, e.updateRaw(renamed, true))
	admin = e.get(admin.ID)

	// An admin of another account does not count.
	_, other := e.account(usermgmt.System, "", "Other", "other-admin@example.com")
	_ = other
	demoted = admin
	demoted.Role = usermgmt.RoleGeneral
	isErr(t, e.updateRaw(demoted, true), usermgmt.ErrLastAdmin)

	// A second active admin of the same account does.
	second := e.user(e.root.ID, "second-admin@example.com", usermgmt.RoleAdmin)
	ok(t, e.updateRaw(demoted, true))
	eq(t, "demoted role", e.get(admin.ID).Role, usermgmt.RoleGeneral)
	s := e.get(second.ID)
	s.Status = usermgmt.StatusDisabled
	isErr(t, e.updateRaw(s, true), usermgmt.ErrLastAdmin)
	ok(t, e.updateRaw(s, false)) // without the guard the store allows it
}

func testReserveAttemptBounded(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "reserve@example.com")
	e.createRaw(u)
	hs := e.handles(4)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 4*25; i++ {
		wg.Add(1)
		go func(s usermgmt.Store) {
			defer wg.Done()
			r, reserved, err := s.ReserveAttempt(context.Background(), u.ID, 10)
			if err != nil {
				t.Errorf("ReserveAttempt: %v", err)
				return
			}
			if reserved {
				granted.Add(1)
				if r.FailedAttempts < 1 || r.FailedAttempts > 10 {
					t.Errorf("reserved attempt reports FailedAttempts %d", r.FailedAttempts)
				}
			} else if r.FailedAttempts != 10 {
				t.Errorf("refused attempt reports FailedAttempts %d, want 10", r.FailedAttempts)
			}
		}(hs[i%4])
	}
	wg.Wait()
	eq(t, "reservations granted", granted.Load(), int64(10))
	got := e.get(u.ID)
	eq(t, "FailedAttempts", got.FailedAttempts, 10)
	eq(t, "Version", got.Version, int64(11))

	// Only Active users get a reservation.
	v := e.rawUser(e.root.ID, "locked@example.com")
	v.Status = usermgmt.StatusLocked
	e.createRaw(v)
	r, reserved, err := e.store.ReserveAttempt(e.ctx, v.ID, 10)
	ok(t, err)
	eq(t, "reserved for a locked user", reserved, false)
	eq(t, "status reported", r.Status, usermgmt.StatusLocked)
	eq(t, "version unchanged", e.get(v.ID).Version, int64(1))
}

func testRecordLogin(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "login@example.com")
	u.FailedAttempts = 4
	e.createRaw(u)
	at := e.clock.Now().Add(time.Hour)

	// A hash that changed since verification refuses the login.
	_, recorded, err := e.store.RecordLogin(e.ctx, usermgmt.Login{UserID: u.ID, At: at, VerifiedHash: "other"})
	ok(t, err)
	eq(t, "recorded with a stale hash", recorded, false)
	sameUser(t, e.get(u.ID), u)

	got, recorded, err := e.store.RecordLogin(e.ctx, usermgmt.Login{UserID: u.ID, At: at, VerifiedHash: u.PasswordHash, NewHash: "$argon2id$rehashed"})
	ok(t, err)
	eq(t, "recorded", recorded, true)
	want := u
	want.FailedAttempts, want.LastLoginAt, want.LastActiveAt, want.PasswordHash, want.Version = 0, at, at, "$argon2id$rehashed", 2
	sameUser(t, got, want)
	sameUser(t, e.get(u.ID), want)

	// Without a new hash the hash stays.
	got, _, err = e.store.RecordLogin(e.ctx, usermgmt.Login{UserID: u.ID, At: at, VerifiedHash: want.PasswordHash})
	ok(t, err)
	eq(t, "hash kept", got.PasswordHash, want.PasswordHash)

	banned := e.get(u.ID)
	banned.Status = usermgmt.StatusBanned
	ok(t, e.updateRaw(banned, false))
	got, recorded, err = e.store.RecordLogin(e.ctx, usermgmt.Login{UserID: u.ID, At: at, VerifiedHash: want.PasswordHash})
	ok(t, err)
	eq(t, "recorded for a banned user", recorded, false)
	eq(t, "status reported", got.Status, usermgmt.StatusBanned)
}

func testStaleUsers(t *testing.T, su *suite) {
	e := su.env(t)
	base := start.AddDate(0, -1, 0) // before the env's admin was last active
	var want []string
	for i := 0; i < 25; i++ {
		u := e.rawUser(e.root.ID, email("stale", i))
		u.LastActiveAt = base.Add(time.Duration(i%5) * time.Hour) // five users per instant: ties broken by ID
		if i%7 == 3 {
			u.Status = usermgmt.StatusDisabled // not Active: never stale
		} else if i%5 < 4 {
			want = append(want, u.ID)
		}
		e.createRaw(u)
	}
	slices.SortFunc(want, func(a, b string) int { return compareStale(e, a, b) })
	before := base.Add(4 * time.Hour) // excludes the i%5 == 4 instant
	var got []string
	q := usermgmt.StaleQuery{ActiveBefore: before, Limit: 4}
	for {
		page, err := e.store.StaleUsers(e.ctx, q)
		ok(t, err)
		for _, u := range page {
			if u.Status != usermgmt.StatusActive || !u.LastActiveAt.Before(before) {
				t.Fatalf("StaleUsers returned %s (%s, %v)", u.Email, u.Status, u.LastActiveAt)
			}
			got = append(got, u.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.AfterActive, q.AfterID = page[len(page)-1].LastActiveAt, page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("StaleUsers pages = %v\nwant %v", got, want)
	}

	// A user who logs in leaves the stale set.
	u := e.get(want[0])
	_, _, err := e.store.RecordLogin(e.ctx, usermgmt.Login{UserID: u.ID, At: before.Add(time.Hour), VerifiedHash: u.PasswordHash})
	ok(t, err)
	page, err := e.store.StaleUsers(e.ctx, usermgmt.StaleQuery{ActiveBefore: before, Limit: 100})
	ok(t, err)
	eq(t, "stale users after a login", len(page), len(want)-1)
}

func compareStale(e *env, a, b string) int {
	ua, ub := e.get(a), e.get(b)
	if c := ua.LastActiveAt.Compare(ub.LastActiveAt); c != 0 {
		return c
	}
	if a < b {
		return -1
	}
	return 1
}

func testHistory(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "history@example.com")
	e.createRaw(u)
	for i := 0; i < 12; i++ {
		u = e.get(u.ID)
		u.FirstName = email("name", i)
		ok(t, e.updateRaw(u, false))
	}
	all := e.history(u.ID)
	eq(t, "events", len(all), 13)
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Fatalf("history not newest first at %d: %s then %s", i, all[i-1].ID, all[i].ID)
		}
	}
	var paged []string
	q := usermgmt.HistoryQuery{UserID: u.ID, Limit: 5}
	for {
		page, err := e.store.History(e.ctx, q)
		ok(t, err)
		for _, ev := range page {
			paged = append(paged, ev.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	want := make([]string, len(all))
	for i, ev := range all {
		want[i] = ev.ID
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged history %v\nwant %v", paged, want)
	}
	ev := all[0]
	eq(t, "event user", ev.UserID, u.ID)
	eq(t, "event account", ev.AccountID, u.AccountID)
	eq(t, "event actor", ev.ActorID, usermgmt.System)
	if len(ev.Changes) != 1 || ev.Changes[0].Field != "status" {
		t.Fatalf("event changes = %+v", ev.Changes)
	}
	sameTime(t, "event time", ev.At, u.UpdatedAt)
}

func testCancelledContext(t *testing.T, su *suite) {
	e := su.env(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u := e.rawUser(e.root.ID, "cancelled@example.com")
	if err := e.store.CreateUsers(ctx, []usermgmt.User{u}, []usermgmt.AuditEvent{rawEvent(u, usermgmt.ActionCreate)}); err == nil {
		t.Fatal("CreateUsers with a cancelled context succeeded")
	}
	_, err := e.store.User(e.ctx, u.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	admin := e.get(e.admin.ID)
	changed := admin
	changed.FirstName = "Cancelled"
	if err := e.store.UpdateUser(ctx, usermgmt.UserUpdate{User: changed, Event: rawEvent(changed, usermgmt.ActionProfileChange)}); err == nil {
		t.Fatal("UpdateUser with a cancelled context succeeded")
	}
	sameUser(t, e.get(admin.ID), admin)
	if _, _, err := e.store.ReserveAttempt(ctx, admin.ID, 10); err == nil {
		t.Fatal("ReserveAttempt with a cancelled context succeeded")
	}
	eq(t, "FailedAttempts", e.get(admin.ID).FailedAttempts, 0)
	if _, err := e.store.User(ctx, admin.ID); err == nil {
		t.Fatal("User with a cancelled context succeeded")
	}
	if _, err := e.store.ListUsers(ctx, usermgmt.ListQuery{AccountID: e.root.ID, Limit: 10}); err == nil {
		t.Fatal("ListUsers with a cancelled context succeeded")
	}
	if _, err := e.m.Authenticate(ctx, admin.Email, Password); err == nil {
		t.Fatal("Authenticate with a cancelled context succeeded")
	}
	eq(t, "events", len(e.history(admin.ID)), 1)
}
