package storetest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// Tests of the Store contract, calling the store directly.
var storeTests = map[string]func(*testing.T, *suite){
	"AccountRoundTrip":              testAccountRoundTrip,
	"AccountsOfSubtree":             testAccountsOfSubtree,
	"UpdateAccountChecksVersion":    testUpdateAccount,
	"UserRoundTrip":                 testUserRoundTrip,
	"NotFound":                      testNotFound,
	"CreateUsersAllOrNothing":       testCreateUsersAllOrNothing,
	"UpdateChecksVersion":           testUpdateChecksVersion,
	"ChangeEventAndMessagesAtomic":  testChangeAndEventAtomic,
	"RemovalFreesEmail":             testRemovalFreesEmail,
	"EmailChangeKeepsUniqueness":    testEmailChangeUnique,
	"MoveFollowsEveryIndex":         testMoveIndexes,
	"TokenIndexFollowsTokens":       testTokenIndex,
	"KeepAdminRefusesLastAdmin":     testKeepAdmin,
	"ReserveAttemptIsBounded":       testReserveAttemptBounded,
	"AttemptLeasesLapse":            testLeasesLapse,
	"FinishAttemptRecordsOutcome":   testFinishAttempt,
	"FinishAttemptLocksAtLimit":     testFinishAttemptLocks,
	"RecordActivityOnlyWhenDue":     testRecordActivity,
	"StaleUsersByTime":              testStaleUsers,
	"UpdateUsersEachAtomic":         testUpdateUsers,
	"UpdateUsersInOrder":            testUpdateUsersInOrder,
	"RepeatedTokenHash":             testRepeatedTokenHash,
	"AccountItsOwnParent":           testAccountItsOwnParent,
	"HistoryNewestFirst":            testHistory,
	"HistoryOfAccountSubtree":       testAccountHistory,
	"GroupsRoundTripAndNames":       testGroupsStore,
	"UserAccessStampsLiveGroups":    testUserAccess,
	"CancelledContextWritesNothing": testCancelledContext,
}

// rawUser is an Active user ready to be written to a store directly.
func (e *env) rawUser(accountID, email string) usermgmt.UserRecord {
	return fixture.Record(accountID, email, e.clock.Now())
}

func rawEvent(u usermgmt.UserRecord, action usermgmt.Action) usermgmt.AuditEvent {
	return fixture.Event(u, action)
}

func (e *env) createRaw(users ...usermgmt.UserRecord) {
	e.t.Helper()
	cs := make([]usermgmt.UserCreate, len(users))
	for i, u := range users {
		cs[i] = fixture.Create(u)
	}
	ok(e.t, e.store.CreateUsers(e.ctx, cs))
}

// createRawUsers stores n users of the root account, with emails from
// prefix, and returns them as stored.
func (e *env) createRawUsers(prefix string, n int) []usermgmt.UserRecord {
	e.t.Helper()
	users := make([]usermgmt.UserRecord, n)
	for i := range users {
		users[i] = e.rawUser(e.root.ID, email(prefix, i))
	}
	e.createRaw(users...)
	return users
}

// updateRaw writes u (read at its current Version) with a fresh event.
func (e *env) updateRaw(u usermgmt.UserRecord, keepAdmin bool) error {
	return e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: u, Event: rawEvent(u, usermgmt.ActionProfileChange), KeepAdmin: keepAdmin})
}

func sameSlice[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func sameTimes(t *testing.T, what string, got, want []time.Time) {
	t.Helper()
	eq(t, what+" length", len(got), len(want))
	for i := range got {
		sameTime(t, what, got[i], want[i])
	}
}

func sameUser(t *testing.T, got, want usermgmt.UserRecord) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "AccountID", got.AccountID, want.AccountID)
	eq(t, "Email", got.Email, want.Email)
	eq(t, "FirstName", got.FirstName, want.FirstName)
	eq(t, "LastName", got.LastName, want.LastName)
	eq(t, "Role", got.Role, want.Role)
	eq(t, "Department", got.Department, want.Department)
	sameSlice(t, "Groups", got.Groups, want.Groups)
	eq(t, "Locale", got.Locale, want.Locale)
	eq(t, "Status", got.Status, want.Status)
	sameSlice(t, "Grants", got.Grants, want.Grants)
	eq(t, "PasswordHash", got.PasswordHash, want.PasswordHash)
	eq(t, "PasswordVersion", got.PasswordVersion, want.PasswordVersion)
	eq(t, "FailedAttempts", got.FailedAttempts, want.FailedAttempts)
	eq(t, "AttemptLeases length", len(got.AttemptLeases), len(want.AttemptLeases))
	for i := range got.AttemptLeases {
		eq(t, "AttemptLeases ID", got.AttemptLeases[i].ID, want.AttemptLeases[i].ID)
		sameTime(t, "AttemptLeases Until", got.AttemptLeases[i].Until, want.AttemptLeases[i].Until)
	}
	eq(t, "Tokens length", len(got.Tokens), len(want.Tokens))
	for i := range got.Tokens {
		g, w := got.Tokens[i], want.Tokens[i]
		eq(t, "Token purpose", g.Purpose, w.Purpose)
		eq(t, "Token hash", g.Hash, w.Hash)
		sameTime(t, "Token IssuedAt", g.IssuedAt, w.IssuedAt)
		sameTime(t, "Token ExpiresAt", g.ExpiresAt, w.ExpiresAt)
	}
	eq(t, "PendingEmail", got.PendingEmail, want.PendingEmail)
	sameTimes(t, "ResetRequests", got.ResetRequests, want.ResetRequests)
	eq(t, "InvitedBy", got.InvitedBy, want.InvitedBy)
	sameTime(t, "InvitedAt", got.InvitedAt, want.InvitedAt)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "ActivatedAt", got.ActivatedAt, want.ActivatedAt)
	sameTime(t, "LastLoginAt", got.LastLoginAt, want.LastLoginAt)
	sameTime(t, "LastActiveAt", got.LastActiveAt, want.LastActiveAt)
	sameTime(t, "LockedAt", got.LockedAt, want.LockedAt)
	eq(t, "SessionVersion", got.SessionVersion, want.SessionVersion)
	eq(t, "Version", got.Version, want.Version)
}

func sameEvent(t *testing.T, got, want usermgmt.AuditEvent) {
	t.Helper()
	eq(t, "event ID", got.ID, want.ID)
	sameTime(t, "event At", got.At, want.At)
	eq(t, "event ActorID", got.ActorID, want.ActorID)
	eq(t, "event ActorEmail", got.ActorEmail, want.ActorEmail)
	eq(t, "event Action", got.Action, want.Action)
	eq(t, "event UserID", got.UserID, want.UserID)
	eq(t, "event GroupID", got.GroupID, want.GroupID)
	eq(t, "event AccountID", got.AccountID, want.AccountID)
	sameSlice(t, "event Changes", got.Changes, want.Changes)
	eq(t, "event IP", got.IP, want.IP)
	eq(t, "event UserAgent", got.UserAgent, want.UserAgent)
	eq(t, "event Reason", got.Reason, want.Reason)
}

func testAccountRoundTrip(t *testing.T, su *suite) {
	e := su.env(t)
	child, _ := e.account(e.admin.ID, e.root.ID, "Client A", "a-admin@example.com")
	grand, _ := e.account(e.admin.ID, child.ID, "Client A East", "ae-admin@example.com")
	got, err := e.store.Account(e.ctx, grand.ID)
	ok(t, err)
	eq(t, "Name", got.Name, "Client A East")
	eq(t, "ParentID", got.ParentID, child.ID)
	sameSlice(t, "Ancestors", got.Ancestors, []string{e.root.ID, child.ID})
	sameTime(t, "CreatedAt", got.CreatedAt, grand.CreatedAt)
	eq(t, "Version", got.Version, int64(1))
	root, err := e.store.Account(e.ctx, e.root.ID)
	ok(t, err)
	if root.ParentID != "" || len(root.Ancestors) != 0 {
		t.Fatalf("top-level account has parent %q ancestors %v", root.ParentID, root.Ancestors)
	}

	// An account ID that exists is refused, and its first user is not stored.
	dup := got
	u := e.rawUser(dup.ID, "dup-first@example.com")
	err = e.store.CreateAccount(e.ctx, usermgmt.AccountCreate{Account: dup, Admin: fixture.Create(u)})
	isErr(t, err, usermgmt.ErrDuplicateID)
	_, err = e.store.UserByEmail(e.ctx, u.Email)
	isErr(t, err, usermgmt.ErrNotFound)

	// A first user whose email is taken stores no account, and no account event.
	a := fixture.Account("Other", e.clock.Now())
	u = e.rawUser(a.ID, e.admin.Email)
	aev := usermgmt.AuditEvent{ID: newID(), At: a.CreatedAt, ActorID: usermgmt.System, Action: usermgmt.ActionAccountCreate, AccountID: a.ID}
	err = e.store.CreateAccount(e.ctx, usermgmt.AccountCreate{Account: a, AccountEvent: aev, Admin: fixture.Create(u)})
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	_, err = e.store.Account(e.ctx, a.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{AccountID: a.ID, Limit: 10})
	ok(t, err)
	eq(t, "events of a refused account", len(evs), 0)

	// A parent that does not exist is refused.
	orphan := fixture.Account("Orphan", e.clock.Now())
	orphan.ParentID, orphan.Ancestors = newID(), nil
	orphan.Ancestors = []string{orphan.ParentID}
	err = e.store.CreateAccount(e.ctx, usermgmt.AccountCreate{Account: orphan, Admin: fixture.Create(e.rawUser(orphan.ID, "orphan@example.com"))})
	isErr(t, err, usermgmt.ErrNotFound)
}

func testAccountsOfSubtree(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	list := func(root string, limit int) []string {
		t.Helper()
		var out []string
		q := usermgmt.AccountQuery{RootID: root, Limit: limit}
		for {
			as, err := e.store.Accounts(e.ctx, q)
			ok(t, err)
			for _, a := range as {
				out = append(out, a.ID)
			}
			if len(as) < q.Limit {
				return out
			}
			q.After = as[len(as)-1].ID
		}
	}
	sameSlice(t, "root's subtree", list(e.root.ID, 2), []string{e.root.ID, tr.a.ID, tr.a1.ID, tr.b.ID})
	sameSlice(t, "A's subtree", list(tr.a.ID, 1), []string{tr.a.ID, tr.a1.ID})
	sameSlice(t, "B's subtree", list(tr.b.ID, 10), []string{tr.b.ID})
	sameSlice(t, "an unknown root", list(newID(), 10), nil)
}

func testUpdateAccount(t *testing.T, su *suite) {
	e := su.env(t)
	a, err := e.store.Account(e.ctx, e.root.ID)
	ok(t, err)
	next := a
	next.Name, next.Departments, next.Locale, next.UpdatedAt = "Renamed", []string{"Sales", "Operations"}, "de-CH", a.CreatedAt.Add(time.Second)
	ev := usermgmt.AuditEvent{ID: newID(), At: next.UpdatedAt, ActorID: e.admin.ID, ActorEmail: e.admin.Email,
		Action: usermgmt.ActionAccountUpdate, AccountID: a.ID, Changes: []usermgmt.Change{{Field: "name", Old: a.Name, New: "Renamed"}}}
	ok(t, e.store.UpdateAccount(e.ctx, usermgmt.AccountUpdate{Account: next, Event: ev}))
	got, err := e.store.Account(e.ctx, a.ID)
	ok(t, err)
	eq(t, "Name", got.Name, "Renamed")
	sameSlice(t, "Departments", got.Departments, []string{"Sales", "Operations"})
	eq(t, "Locale", got.Locale, "de-CH")
	sameTime(t, "UpdatedAt", got.UpdatedAt, next.UpdatedAt)
	eq(t, "Version", got.Version, int64(2))
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{AccountID: a.ID, Actions: []usermgmt.Action{usermgmt.ActionAccountUpdate}, Limit: 10})
	ok(t, err)
	eq(t, "account events", len(evs), 1)
	sameEvent(t, evs[0], ev)

	stale := next // still at version 1
	stale.Name = "Stale"
	err = e.store.UpdateAccount(e.ctx, usermgmt.AccountUpdate{Account: stale, Event: usermgmt.AuditEvent{ID: newID(), At: start, ActorID: usermgmt.System, Action: usermgmt.ActionAccountUpdate, AccountID: a.ID}})
	isErr(t, err, usermgmt.ErrConflict)
	got, err = e.store.Account(e.ctx, a.ID)
	ok(t, err)
	eq(t, "Name after a stale write", got.Name, "Renamed")
	missing := got
	missing.ID = newID()
	err = e.store.UpdateAccount(e.ctx, usermgmt.AccountUpdate{Account: missing, Event: usermgmt.AuditEvent{ID: newID(), At: start, ActorID: usermgmt.System, Action: usermgmt.ActionAccountUpdate, AccountID: missing.ID}})
	isErr(t, err, usermgmt.ErrNotFound)
}

// fullRecord is a user with every field set, for round trips.
func (e *env) fullRecord(accountID, email string) usermgmt.UserRecord {
	at := time.Date(2026, 2, 3, 4, 5, 6, 789012345, time.UTC)
	u := e.rawUser(accountID, email)
	u.FirstName, u.LastName = "Zoë", "O'Brien-Łukasz"
	u.Role, u.Department, u.Locale = "analyst", "Operations", "fr-CA"
	u.Status = usermgmt.StatusInvited
	u.Grants = []usermgmt.Grant{{Permission: "insights.view", Resource: "insight:42"}, {Permission: "reports"}, {Permission: "files", Department: "Operations"}}
	u.PasswordVersion = 3
	u.FailedAttempts = 3
	u.AttemptLeases = []usermgmt.AttemptLease{{ID: "lease-a", Until: at.Add(time.Minute)}, {ID: "lease-b", Until: at.Add(2 * time.Minute)}}
	u.Tokens = []usermgmt.Token{
		{Purpose: usermgmt.TokenInvitation, Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", IssuedAt: at, ExpiresAt: at.Add(168 * time.Hour)},
		{Purpose: usermgmt.TokenPasswordReset, Hash: "1f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a01", IssuedAt: at.Add(time.Nanosecond), ExpiresAt: at.Add(time.Hour)},
	}
	u.PendingEmail = "zoe.new@example.com"
	u.ResetRequests = []time.Time{at, at.Add(time.Millisecond)}
	u.InvitedBy, u.InvitedAt = e.admin.ID, at
	u.CreatedAt, u.UpdatedAt, u.ActivatedAt, u.LastLoginAt, u.LastActiveAt = at, at.Add(time.Nanosecond), time.Time{}, time.Time{}, at.Add(time.Second)
	u.LockedAt = at.Add(3 * time.Second)
	u.SessionVersion = 7
	u.Version = 1
	return u
}

func testUserRoundTrip(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "analyst"}))
	g := e.group(e.root.ID, "Round trippers")
	u := e.fullRecord(e.root.ID, "round.trip@example.com")
	u.Groups = []string{g.ID}
	e.createRaw(u)

	got, err := e.store.User(e.ctx, u.ID)
	ok(t, err)
	sameUser(t, got, u)
	got, err = e.store.UserByEmail(e.ctx, u.Email)
	ok(t, err)
	sameUser(t, got, u)
	for _, tok := range u.Tokens {
		got, err = e.store.UserByToken(e.ctx, tok.Hash)
		ok(t, err)
		sameUser(t, got, u)
	}

	// A write replaces every mutable field and bumps the version.
	next := got
	next.FirstName, next.Status, next.Grants, next.Groups, next.Department, next.Locale = "Zed", usermgmt.StatusActive, nil, nil, "", ""
	next.FailedAttempts, next.AttemptLeases, next.Tokens, next.PendingEmail, next.ResetRequests = 0, nil, nil, "", nil
	at := u.CreatedAt
	next.ActivatedAt, next.LastLoginAt, next.LastActiveAt, next.LockedAt = at.Add(time.Hour), at.Add(2*time.Hour), at.Add(2*time.Hour), time.Time{}
	next.PasswordHash, next.PasswordVersion, next.SessionVersion = "$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$bmV3a2V5", 4, 8
	ok(t, e.updateRaw(next, false))
	next.Version++
	sameUser(t, e.get(u.ID), next)
	for _, tok := range u.Tokens {
		_, err = e.store.UserByToken(e.ctx, tok.Hash)
		isErr(t, err, usermgmt.ErrNotFound)
	}
}

func testNotFound(t *testing.T, su *suite) {
	e := su.env(t)
	missing := newID()
	_, err := e.store.User(e.ctx, missing)
	isErr(t, err, usermgmt.ErrNotFound)
	_, _, err = e.store.UserAccess(e.ctx, missing)
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.UserByEmail(e.ctx, "nobody@example.com")
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.UserByToken(e.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.Account(e.ctx, missing)
	isErr(t, err, usermgmt.ErrNotFound)
	ghost := e.rawUser(e.root.ID, "ghost@example.com")
	isErr(t, e.updateRaw(ghost, false), usermgmt.ErrNotFound)
	_, _, err = e.store.ReserveAttempt(e.ctx, usermgmt.AttemptReservation{UserID: missing, Limit: 10, Now: start, Lease: usermgmt.AttemptLease{ID: "x", Until: start.Add(time.Minute)}})
	isErr(t, err, usermgmt.ErrNotFound)
	_, _, err = e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: missing, LeaseID: "x", At: start, Limit: 10})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.RecordActivity(e.ctx, usermgmt.ActivityUpdate{UserID: missing, At: start, IfBefore: start})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.Message(e.ctx, missing)
	isErr(t, err, usermgmt.ErrNotFound)
	isErr(t, e.store.RequeueMessage(e.ctx, missing, start), usermgmt.ErrNotFound)
	isErr(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: missing, Owner: "w", State: usermgmt.MessageSent, At: start}), usermgmt.ErrNotFound)
	gs, err := e.store.Groups(e.ctx, []string{missing})
	ok(t, err)
	eq(t, "unknown groups", len(gs), 0)
	err = e.store.UpdateGroup(e.ctx, usermgmt.GroupUpdate{Group: usermgmt.Group{ID: missing, AccountID: e.root.ID, Name: "x", NameKey: "x", Version: 1},
		Event: usermgmt.AuditEvent{ID: newID(), At: start, ActorID: usermgmt.System, Action: usermgmt.ActionGroupUpdate, GroupID: missing, AccountID: e.root.ID}})
	isErr(t, err, usermgmt.ErrNotFound)
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{UserID: missing, Limit: 10})
	ok(t, err)
	eq(t, "events of an unknown user", len(evs), 0)
	// A user in an account that does not exist is refused.
	stray := e.rawUser(newID(), "stray@example.com")
	isErr(t, e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{fixture.Create(stray)}), usermgmt.ErrNotFound)
	// The Manager maps them too.
	_, err = e.m.User(e.ctx, e.admin.ID, missing)
	isErr(t, err, usermgmt.ErrNotFound)
}

func testCreateUsersAllOrNothing(t *testing.T, su *suite) {
	e := su.env(t)
	taken := e.user(e.root.ID, "taken@example.com", usermgmt.RoleGeneral)
	check := func(name string, cs []usermgmt.UserCreate, want error) {
		t.Helper()
		isErr(t, e.store.CreateUsers(e.ctx, cs), want)
		for _, c := range cs {
			u := c.User
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
			for _, m := range c.Messages {
				if _, err := e.store.Message(e.ctx, m.ID); err == nil {
					t.Fatalf("%s: refused batch left message %s", name, m.Kind)
				}
			}
		}
	}
	mk := func(addr string) usermgmt.UserCreate {
		c := fixture.Create(e.rawUser(e.root.ID, addr))
		c.Messages = []usermgmt.Message{fixture.Message(c.User, usermgmt.NotifyInvitation, start)}
		return c
	}
	a, b, c := mk("a@example.com"), mk("b@example.com"), mk(taken.Email)
	check("email held by a stored user", []usermgmt.UserCreate{a, b, c}, usermgmt.ErrDuplicateEmail)
	check("email twice in the batch", []usermgmt.UserCreate{a, b, mk("a@example.com")}, usermgmt.ErrDuplicateEmail)
	d := mk("d@example.com")
	d.User.ID = taken.ID
	check("user ID already stored", []usermgmt.UserCreate{a, d}, usermgmt.ErrDuplicateID)
	dupEv := mk("e@example.com")
	dupEv.Event.ID = e.history(taken.ID)[0].ID
	check("event ID already stored", []usermgmt.UserCreate{a, b, dupEv}, usermgmt.ErrDuplicateID)
	dupMsg := mk("f@example.com")
	dupMsg.Messages[0].ID = a.Messages[0].ID
	check("message ID twice in the batch", []usermgmt.UserCreate{a, dupMsg}, usermgmt.ErrDuplicateID)
	eq(t, "events of the taken user", len(e.history(taken.ID)), 1)

	// The same batch without the conflict is stored whole, messages included.
	ok(t, e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{a, b}))
	for _, c := range []usermgmt.UserCreate{a, b} {
		sameUser(t, e.get(c.User.ID), c.User)
		eq(t, "events of "+c.User.Email, len(e.history(c.User.ID)), 1)
		m, err := e.store.Message(e.ctx, c.Messages[0].ID)
		ok(t, err)
		eq(t, "message recipient", m.To, c.User.Email)
		eq(t, "message payload", string(m.Payload), string(c.Messages[0].Payload))
		eq(t, "message state", m.State, usermgmt.MessagePending)
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
// store (its ID is taken) and checks that neither the change nor its
// messages are stored.
func testChangeAndEventAtomic(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "atomic@example.com")
	e.createRaw(u)
	taken := e.history(u.ID)[0].ID

	changed := u
	changed.FirstName, changed.Status = "Changed", usermgmt.StatusBanned
	ev := rawEvent(changed, usermgmt.ActionBan)
	ev.ID = taken
	msg := fixture.Message(changed, usermgmt.NotifyPasswordChanged, start)
	err := e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: ev, Messages: []usermgmt.Message{msg}})
	isErr(t, err, usermgmt.ErrDuplicateID)
	sameUser(t, e.get(u.ID), u)
	eq(t, "events after a failed write", len(e.history(u.ID)), 1)
	_, err = e.store.Message(e.ctx, msg.ID)
	isErr(t, err, usermgmt.ErrNotFound)

	// A message ID that is taken refuses the write too.
	other := e.rawUser(e.root.ID, "other-atomic@example.com")
	oc := fixture.Create(other)
	oc.Messages = []usermgmt.Message{fixture.Message(other, usermgmt.NotifyInvitation, start)}
	ok(t, e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{oc}))
	ev.ID = newID()
	dup := msg
	dup.ID = oc.Messages[0].ID
	err = e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: ev, Messages: []usermgmt.Message{dup}})
	isErr(t, err, usermgmt.ErrDuplicateID)
	sameUser(t, e.get(u.ID), u)
	// So do two messages of the write with one ID: neither is stored.
	twin := msg
	twin.Kind = usermgmt.NotifyLockout
	err = e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: ev, Messages: []usermgmt.Message{msg, twin}})
	isErr(t, err, usermgmt.ErrDuplicateID)
	sameUser(t, e.get(u.ID), u)
	_, err = e.store.Message(e.ctx, msg.ID)
	isErr(t, err, usermgmt.ErrNotFound)

	// The same change with a fresh event is stored, with exactly that event and message.
	ok(t, e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: ev, Messages: []usermgmt.Message{msg}}))
	h := e.history(u.ID)
	eq(t, "events after the write", len(h), 2)
	sameEvent(t, h[0], ev)
	eq(t, "stored status", e.get(u.ID).Status, usermgmt.StatusBanned)
	got, err := e.store.Message(e.ctx, msg.ID)
	ok(t, err)
	eq(t, "message kind", got.Kind, usermgmt.NotifyPasswordChanged)
	sameTime(t, "message due", got.DueAt, msg.DueAt)
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
	// The removed user cannot come back while another holds the email.
	back := e.get(u.ID)
	back.Status = usermgmt.StatusActive
	isErr(t, e.updateRaw(back, false), usermgmt.ErrDuplicateEmail)
}

func testEmailChangeUnique(t *testing.T, su *suite) {
	e := su.env(t)
	a, b := e.rawUser(e.root.ID, "first@example.com"), e.rawUser(e.root.ID, "second@example.com")
	e.createRaw(a, b)
	moved := a
	moved.Email = "third@example.com"
	ok(t, e.updateRaw(moved, false))
	_, err := e.store.UserByEmail(e.ctx, "first@example.com")
	isErr(t, err, usermgmt.ErrNotFound)
	got, err := e.store.UserByEmail(e.ctx, "third@example.com")
	ok(t, err)
	eq(t, "holder of the new email", got.ID, a.ID)
	// Taking an address another user holds is refused and changes nothing.
	clash := e.get(b.ID)
	clash.Email = "third@example.com"
	isErr(t, e.updateRaw(clash, false), usermgmt.ErrDuplicateEmail)
	eq(t, "email of the refused user", e.get(b.ID).Email, "second@example.com")
	got, err = e.store.UserByEmail(e.ctx, "second@example.com")
	ok(t, err)
	eq(t, "holder of the old email", got.ID, b.ID)
	// The freed address can be taken.
	free := e.get(b.ID)
	free.Email = "first@example.com"
	ok(t, e.updateRaw(free, false))
	// Concurrently, two users moving to one address: one wins.
	hs := e.handles(2)
	errs := make([]error, 2)
	users := []usermgmt.UserRecord{e.get(a.ID), e.get(b.ID)}
	parallel(2, func(i int) {
		u := users[i]
		u.Email = "contested@example.com"
		errs[i] = hs[i].UpdateUser(context.Background(), usermgmt.UserUpdate{User: u, Event: rawEvent(u, usermgmt.ActionEmailChange)})
	})
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			isErr(t, err, usermgmt.ErrDuplicateEmail)
		}
	}
	eq(t, "moves to one address that succeeded", wins, 1)
}

func testMoveIndexes(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	g := e.group(tr.a.ID, "Movers")
	u := e.rawUser(tr.a1.ID, "mover@example.com")
	u.Groups = []string{g.ID}
	u.Department = "Ops"
	e.createRaw(u)
	inList := func(account string, q usermgmt.ListQuery) bool {
		t.Helper()
		q.AccountID, q.Limit = account, 1000
		us, err := e.store.ListUsers(e.ctx, q)
		ok(t, err)
		return slices.ContainsFunc(us, func(x usermgmt.UserRecord) bool { return x.ID == u.ID })
	}
	eq(t, "listed under A1", inList(tr.a1.ID, usermgmt.ListQuery{}), true)
	eq(t, "listed under A", inList(tr.a.ID, usermgmt.ListQuery{}), true)
	eq(t, "listed in the group", inList(tr.a.ID, usermgmt.ListQuery{GroupID: g.ID}), true)
	eq(t, "listed by department", inList(tr.a.ID, usermgmt.ListQuery{Department: "Ops"}), true)
	moved := e.get(u.ID)
	moved.AccountID, moved.Groups, moved.Department = tr.b.ID, nil, ""
	ok(t, e.updateRaw(moved, false))
	eq(t, "listed under A1 after the move", inList(tr.a1.ID, usermgmt.ListQuery{}), false)
	eq(t, "listed under A after the move", inList(tr.a.ID, usermgmt.ListQuery{}), false)
	eq(t, "listed under B after the move", inList(tr.b.ID, usermgmt.ListQuery{}), true)
	eq(t, "listed under the root after the move", inList(e.root.ID, usermgmt.ListQuery{}), true)
	eq(t, "listed in the group after leaving it", inList(tr.a.ID, usermgmt.ListQuery{GroupID: g.ID}), false)
	eq(t, "listed by department after leaving it", inList(e.root.ID, usermgmt.ListQuery{Department: "Ops"}), false)
	// The trail of each account keeps the events of the time.
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{AccountID: tr.a.ID, Limit: 100})
	ok(t, err)
	eq(t, "A's trail holds the user's creation", slices.ContainsFunc(evs, func(ev usermgmt.AuditEvent) bool { return ev.UserID == u.ID }), true)
	// A move to an account that does not exist is refused.
	lost := e.get(u.ID)
	lost.AccountID = newID()
	isErr(t, e.updateRaw(lost, false), usermgmt.ErrNotFound)
	eq(t, "account after a refused move", e.get(u.ID).AccountID, tr.b.ID)
}

func testTokenIndex(t *testing.T, su *suite) {
	e := su.env(t)
	tok := func(p usermgmt.TokenPurpose, hash string) usermgmt.Token {
		return usermgmt.Token{Purpose: p, Hash: hash, IssuedAt: start, ExpiresAt: start.Add(time.Hour)}
	}
	u := e.rawUser(e.root.ID, "token@example.com")
	u.Status, u.Tokens = usermgmt.StatusInvited, []usermgmt.Token{tok(usermgmt.TokenInvitation, "aa01")}
	e.createRaw(u)
	next := e.get(u.ID)
	next.Tokens = []usermgmt.Token{tok(usermgmt.TokenInvitation, "bb02"), tok(usermgmt.TokenEmailChange, "cc03")}
	ok(t, e.updateRaw(next, false))
	_, err := e.store.UserByToken(e.ctx, "aa01")
	isErr(t, err, usermgmt.ErrNotFound)
	for _, h := range []string{"bb02", "cc03"} {
		got, err := e.store.UserByToken(e.ctx, h)
		ok(t, err)
		eq(t, "user of token "+h, got.ID, u.ID)
	}
	cleared := e.get(u.ID)
	cleared.Tokens, cleared.Status = nil, usermgmt.StatusActive
	ok(t, e.updateRaw(cleared, false))
	for _, h := range []string{"bb02", "cc03"} {
		_, err = e.store.UserByToken(e.ctx, h)
		isErr(t, err, usermgmt.ErrNotFound)
	}
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

	// Moving the last admin to another account leaves the first without one.
	sub, _ := e.account(e.admin.ID, e.root.ID, "Sub", "sub-admin@example.com")
	moved := admin
	moved.AccountID = sub.ID
	isErr(t, e.updateRaw(moved, true), usermgmt.ErrLastAdmin)

	// An admin of another account does not count.
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

// reserve asks s for an attempt of the user at now, with a lease of a minute.
func reserve(ctx context.Context, s usermgmt.Store, userID string, limit int, now time.Time) (usermgmt.UserRecord, usermgmt.ReserveResult, string, error) {
	id := newID()
	u, res, err := s.ReserveAttempt(ctx, usermgmt.AttemptReservation{UserID: userID, Limit: limit, Now: now,
		Lease: usermgmt.AttemptLease{ID: id, Until: now.Add(time.Minute)}})
	return u, res, id, err
}

func testReserveAttemptBounded(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "reserve@example.com")
	u.FailedAttempts = 3
	e.createRaw(u)
	hs := e.handles(4)
	var granted, full atomic.Int64
	parallel(4*25, func(i int) {
		r, res, _, err := reserve(context.Background(), hs[i%4], u.ID, 10, start)
		if err != nil {
			t.Errorf("ReserveAttempt: %v", err)
			return
		}
		switch res {
		case usermgmt.ReserveOK:
			granted.Add(1)
			if n := r.FailedAttempts + len(r.AttemptLeases); n < 4 || n > 10 {
				t.Errorf("reserved attempt reports %d failures + leases", n)
			}
		case usermgmt.ReserveFull:
			full.Add(1)
		default:
			t.Errorf("an Active user under the limit was refused")
		}
	})
	eq(t, "reservations granted", granted.Load(), int64(7))
	eq(t, "reservations found full", full.Load(), int64(93))
	got := e.get(u.ID)
	eq(t, "FailedAttempts", got.FailedAttempts, 3)
	eq(t, "leases held", len(got.AttemptLeases), 7)

	// Only Active users under the limit get a reservation.
	v := e.rawUser(e.root.ID, "locked@example.com")
	v.Status = usermgmt.StatusLocked
	w := e.rawUser(e.root.ID, "spent@example.com")
	w.FailedAttempts = 10
	e.createRaw(v, w)
	for _, x := range []usermgmt.UserRecord{v, w} {
		r, res, _, err := reserve(e.ctx, e.store, x.ID, 10, start)
		ok(t, err)
		eq(t, "answer for "+x.Email, res, usermgmt.ReserveRefused)
		eq(t, "status reported", r.Status, x.Status)
		eq(t, "version unchanged", e.get(x.ID).Version, int64(1))
	}
}

func testLeasesLapse(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "lapse@example.com")
	e.createRaw(u)
	for i := 0; i < 3; i++ {
		_, res, _, err := reserve(e.ctx, e.store, u.ID, 3, start)
		ok(t, err)
		eq(t, "reservation", res, usermgmt.ReserveOK)
	}
	_, res, _, err := reserve(e.ctx, e.store, u.ID, 3, start.Add(time.Minute-time.Nanosecond))
	ok(t, err)
	eq(t, "answer while every lease holds", res, usermgmt.ReserveFull)
	// A lease lapses at its Until: the processes that held them died.
	r, res, id, err := reserve(e.ctx, e.store, u.ID, 3, start.Add(time.Minute))
	ok(t, err)
	eq(t, "answer once the leases lapsed", res, usermgmt.ReserveOK)
	eq(t, "leases held", len(r.AttemptLeases), 1)
	eq(t, "the lease held", r.AttemptLeases[0].ID, id)
	eq(t, "failures counted for lapsed leases", r.FailedAttempts, 0)
}

func testFinishAttempt(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "finish@example.com")
	u.FailedAttempts = 4
	e.createRaw(u)
	at := e.clock.Now().Add(time.Hour)

	// A wrong password counts and releases its lease.
	_, _, lease, err := reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	got, recorded, err := e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, At: at, Limit: 10})
	ok(t, err)
	eq(t, "wrong password recorded", recorded, true)
	eq(t, "FailedAttempts", got.FailedAttempts, 5)
	eq(t, "leases after finishing", len(got.AttemptLeases), 0)
	eq(t, "status", got.Status, usermgmt.StatusActive)

	// A right password verified against a password changed meanwhile is not recorded.
	_, _, lease, err = reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	got, recorded, err = e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, Success: true, At: at, Limit: 10,
		PasswordVersion: u.PasswordVersion + 1, VerifiedHash: u.PasswordHash})
	ok(t, err)
	eq(t, "recorded with a stale password version", recorded, false)
	eq(t, "FailedAttempts kept", got.FailedAttempts, 5)
	eq(t, "lease released all the same", len(e.get(u.ID).AttemptLeases), 0)

	// A right password: failures reset, login and activity recorded, re-hash stored.
	login := usermgmt.AuditEvent{ID: newID(), At: at, ActorID: u.ID, Action: usermgmt.ActionLogin, UserID: u.ID, AccountID: u.AccountID}
	_, _, lease, err = reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	got, recorded, err = e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, Success: true, At: at, Limit: 10,
		PasswordVersion: u.PasswordVersion, VerifiedHash: u.PasswordHash, NewHash: "$argon2id$rehashed", LoginEvent: login})
	ok(t, err)
	eq(t, "recorded", recorded, true)
	eq(t, "FailedAttempts", got.FailedAttempts, 0)
	sameTime(t, "LastLoginAt", got.LastLoginAt, at)
	sameTime(t, "LastActiveAt", got.LastActiveAt, at)
	eq(t, "re-hash stored", got.PasswordHash, "$argon2id$rehashed")
	eq(t, "password version kept by a re-hash", got.PasswordVersion, u.PasswordVersion)
	sameUser(t, e.get(u.ID), got)
	eq(t, "newest event", e.history(u.ID)[0].ID, login.ID)

	// A second login that verified the old hash still logs in (the same
	// password), but does not overwrite the first one's re-hash.
	_, _, lease, err = reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	got, recorded, err = e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, Success: true, At: at.Add(time.Second), Limit: 10,
		PasswordVersion: u.PasswordVersion, VerifiedHash: u.PasswordHash, NewHash: "$argon2id$second-rehash"})
	ok(t, err)
	eq(t, "second login recorded", recorded, true)
	eq(t, "hash after the racing re-hash", got.PasswordHash, "$argon2id$rehashed")

	// A user who is no longer Active records nothing, but the lease goes.
	_, _, lease, err = reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	banned := e.get(u.ID)
	banned.Status = usermgmt.StatusBanned
	ok(t, e.updateRaw(banned, false))
	for _, success := range []bool{true, false} {
		got, recorded, err = e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, Success: success, At: at, Limit: 10,
			PasswordVersion: u.PasswordVersion, VerifiedHash: "$argon2id$rehashed"})
		ok(t, err)
		eq(t, "recorded for a banned user", recorded, false)
		eq(t, "status reported", got.Status, usermgmt.StatusBanned)
		eq(t, "failures of a banned user", got.FailedAttempts, 0)
	}
	eq(t, "leases of a banned user", len(e.get(u.ID).AttemptLeases), 0)
}

func testFinishAttemptLocks(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "locks@example.com")
	u.FailedAttempts = 8
	e.createRaw(u)
	at := start.Add(time.Hour)
	lockEv := usermgmt.AuditEvent{ID: newID(), At: at, ActorID: usermgmt.System, Action: usermgmt.ActionLock, UserID: u.ID, AccountID: u.AccountID,
		Changes: []usermgmt.Change{{Field: "status", Old: "active", New: "locked"}}}
	msg := fixture.Message(u, usermgmt.NotifyLockout, at)
	outcome := func(lease string) usermgmt.AttemptOutcome {
		return usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, At: at, Limit: 10, LockEvent: lockEv, LockMessages: []usermgmt.Message{msg},
			FailureEvent: usermgmt.AuditEvent{ID: newID(), At: at, ActorID: usermgmt.System, Action: usermgmt.ActionLoginFailed, UserID: u.ID, AccountID: u.AccountID}}
	}
	// The ninth failure does not lock: the lock event and message are not written.
	_, _, lease, err := reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	got, _, err := e.store.FinishAttempt(e.ctx, outcome(lease))
	ok(t, err)
	eq(t, "status after nine", got.Status, usermgmt.StatusActive)
	_, err = e.store.Message(e.ctx, msg.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "events: create and one failure", len(e.history(u.ID)), 2)

	// The tenth locks, in the same write as its event and message.
	_, _, lease, err = reserve(e.ctx, e.store, u.ID, 10, at)
	ok(t, err)
	got, recorded, err := e.store.FinishAttempt(e.ctx, outcome(lease))
	ok(t, err)
	eq(t, "recorded", recorded, true)
	eq(t, "status", got.Status, usermgmt.StatusLocked)
	sameTime(t, "LockedAt", got.LockedAt, at)
	eq(t, "SessionVersion", got.SessionVersion, u.SessionVersion+1)
	eq(t, "FailedAttempts", got.FailedAttempts, 10)
	h := e.history(u.ID)
	eq(t, "events", len(h), 4)
	if !slices.ContainsFunc(h, func(ev usermgmt.AuditEvent) bool { return ev.ID == lockEv.ID }) {
		t.Fatal("the lock event was not written")
	}
	m, err := e.store.Message(e.ctx, msg.ID)
	ok(t, err)
	eq(t, "lockout message", m.Kind, usermgmt.NotifyLockout)
	page, err := e.store.StaleUsers(e.ctx, usermgmt.StaleQuery{Status: usermgmt.StatusLocked, Before: at.Add(time.Nanosecond), Limit: 10})
	ok(t, err)
	eq(t, "locked users indexed", len(page), 1)
}

func testRecordActivity(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "touch@example.com")
	e.createRaw(u)
	at := start.Add(2 * time.Hour)
	moved, err := e.store.RecordActivity(e.ctx, usermgmt.ActivityUpdate{UserID: u.ID, At: at, IfBefore: start})
	ok(t, err)
	eq(t, "recorded when not due", moved, false)
	eq(t, "version", e.get(u.ID).Version, int64(1))
	moved, err = e.store.RecordActivity(e.ctx, usermgmt.ActivityUpdate{UserID: u.ID, At: at, IfBefore: at.Add(-time.Hour)})
	ok(t, err)
	eq(t, "recorded when due", moved, true)
	got := e.get(u.ID)
	sameTime(t, "LastActiveAt", got.LastActiveAt, at)
	eq(t, "version", got.Version, int64(2))
	eq(t, "events (activity is no change)", len(e.history(u.ID)), 1)
	stale, err := e.store.StaleUsers(e.ctx, usermgmt.StaleQuery{Status: usermgmt.StatusActive, Before: at, Limit: 100})
	ok(t, err)
	eq(t, "the activity index follows", slices.ContainsFunc(stale, func(x usermgmt.UserRecord) bool { return x.ID == u.ID }), false)
	banned := got
	banned.Status = usermgmt.StatusBanned
	ok(t, e.updateRaw(banned, false))
	moved, err = e.store.RecordActivity(e.ctx, usermgmt.ActivityUpdate{UserID: u.ID, At: at.Add(time.Hour), IfBefore: at.Add(time.Hour)})
	ok(t, err)
	eq(t, "recorded for a banned user", moved, false)
}

func testStaleUsers(t *testing.T, su *suite) {
	e := su.env(t)
	base := start.AddDate(0, -1, 0) // before the env's admin was last active
	var want, wantLocked []string
	var users []usermgmt.UserRecord
	for i := 0; i < 25; i++ {
		u := e.rawUser(e.root.ID, email("stale", i))
		u.LastActiveAt = base.Add(time.Duration(i%5) * time.Hour) // five users per instant: ties broken by ID
		switch {
		case i%7 == 3:
			u.Status = usermgmt.StatusDisabled // neither Active nor Locked: never listed
		case i%7 == 5:
			u.Status, u.LockedAt = usermgmt.StatusLocked, base.Add(time.Duration(i%3)*time.Minute)
			if i%3 < 2 {
				wantLocked = append(wantLocked, u.ID)
			}
		case i%5 < 4:
			want = append(want, u.ID)
		}
		users = append(users, u)
	}
	e.createRaw(users...)
	key := func(u usermgmt.UserRecord, locked bool) time.Time {
		if locked {
			return u.LockedAt
		}
		return u.LastActiveAt
	}
	order := func(ids []string, locked bool) {
		slices.SortFunc(ids, func(a, b string) int {
			ua, ub := e.get(a), e.get(b)
			if c := key(ua, locked).Compare(key(ub, locked)); c != 0 {
				return c
			}
			if a < b {
				return -1
			}
			return 1
		})
	}
	order(want, false)
	order(wantLocked, true)
	walk := func(status usermgmt.Status, before time.Time, limit int) []string {
		t.Helper()
		var got []string
		q := usermgmt.StaleQuery{Status: status, Before: before, Limit: limit}
		for {
			page, err := e.store.StaleUsers(e.ctx, q)
			ok(t, err)
			for _, u := range page {
				if u.Status != status || !key(u, status == usermgmt.StatusLocked).Before(before) {
					t.Fatalf("StaleUsers returned %s (%s)", u.Email, u.Status)
				}
				got = append(got, u.ID)
			}
			if len(page) < q.Limit {
				return got
			}
			last := page[len(page)-1]
			q.AfterTime, q.AfterID = key(last, status == usermgmt.StatusLocked), last.ID
		}
	}
	before := base.Add(4 * time.Hour) // excludes the i%5 == 4 instant
	sameSlice(t, "stale Active users", walk(usermgmt.StatusActive, before, 4), want)
	sameSlice(t, "Locked users", walk(usermgmt.StatusLocked, base.Add(2*time.Minute), 1), wantLocked)

	// A user who logs in leaves the stale set.
	u := e.get(want[0])
	_, _, lease, err := reserve(e.ctx, e.store, u.ID, 10, before)
	ok(t, err)
	_, _, err = e.store.FinishAttempt(e.ctx, usermgmt.AttemptOutcome{UserID: u.ID, LeaseID: lease, Success: true, At: before.Add(time.Hour),
		Limit: 10, PasswordVersion: u.PasswordVersion, VerifiedHash: u.PasswordHash})
	ok(t, err)
	eq(t, "stale users after a login", len(walk(usermgmt.StatusActive, before, 100)), len(want)-1)
}

func testUpdateUsers(t *testing.T, su *suite) {
	e := su.env(t)
	users := e.createRawUsers("batch", 5)
	var ups []usermgmt.UserUpdate
	for i, u := range users {
		u.Status = usermgmt.StatusInactive
		ev := rawEvent(u, usermgmt.ActionInactive)
		switch i {
		case 1:
			u.Version = 7 // stale
		case 3:
			ev.ID = e.history(e.admin.ID)[0].ID // taken
		}
		ups = append(ups, usermgmt.UserUpdate{User: u, Event: ev})
	}
	errs, err := e.store.UpdateUsers(e.ctx, ups)
	ok(t, err)
	eq(t, "results", len(errs), len(ups))
	ok(t, errs[0])
	isErr(t, errs[1], usermgmt.ErrConflict)
	ok(t, errs[2])
	isErr(t, errs[3], usermgmt.ErrDuplicateID)
	ok(t, errs[4])
	for i, u := range users {
		got := e.get(u.ID)
		want := usermgmt.StatusInactive
		if i == 1 || i == 3 {
			want = usermgmt.StatusActive
		}
		eq(t, "status of "+u.Email, got.Status, want)
		events := 2
		if want == usermgmt.StatusActive {
			events = 1
		}
		eq(t, "events of "+u.Email, len(e.history(u.ID)), events)
	}
	stale, err := e.store.StaleUsers(e.ctx, usermgmt.StaleQuery{Status: usermgmt.StatusActive, Before: start.Add(time.Nanosecond), Limit: 100})
	ok(t, err)
	for _, u := range stale {
		if u.ID == users[0].ID {
			t.Fatal("a user made Inactive in a batch is still in the activity index")
		}
	}
}

// testUpdateUsersInOrder checks that a batch is applied as its updates in
// order would be: an address freed later in the batch is still taken when
// an earlier update asks for it, and free for an update after the one that
// frees it.
func testUpdateUsersInOrder(t *testing.T, su *suite) {
	e := su.env(t)
	users := e.createRawUsers("order", 4)
	take := func(u usermgmt.UserRecord, from usermgmt.UserRecord) usermgmt.UserUpdate {
		u.Email = from.Email
		return usermgmt.UserUpdate{User: u, Event: rawEvent(u, usermgmt.ActionEmailChange)}
	}
	remove := func(u usermgmt.UserRecord) usermgmt.UserUpdate {
		u.Status = usermgmt.StatusRemoved
		return usermgmt.UserUpdate{User: u, Event: rawEvent(u, usermgmt.ActionRemove)}
	}
	// Taken first, freed after: refused, then applied. (The one freeing
	// was stored first, so a store that writes the rows in their stored
	// order instead of the batch's would let the taker through.)
	errs, err := e.store.UpdateUsers(e.ctx, []usermgmt.UserUpdate{take(users[1], users[0]), remove(users[0])})
	ok(t, err)
	isErr(t, errs[0], usermgmt.ErrDuplicateEmail)
	ok(t, errs[1])
	eq(t, "email of the refused taker", e.get(users[1].ID).Email, users[1].Email)
	eq(t, "status of the one removed", e.get(users[0].ID).Status, usermgmt.StatusRemoved)
	// Freed first, taken after: both applied.
	errs, err = e.store.UpdateUsers(e.ctx, []usermgmt.UserUpdate{remove(users[3]), take(users[2], users[3])})
	ok(t, err)
	ok(t, errs[0])
	ok(t, errs[1])
	eq(t, "email of the taker", e.get(users[2].ID).Email, users[3].Email)
}

// testRepeatedTokenHash: a token hash names one token, so a user whose
// tokens repeat one is refused with ErrDuplicateID, on create and on
// update, and nothing is written.
func testRepeatedTokenHash(t *testing.T, su *suite) {
	e := su.env(t)
	tok := func(p usermgmt.TokenPurpose, h string) usermgmt.Token {
		return usermgmt.Token{Purpose: p, Hash: h, IssuedAt: start, ExpiresAt: start.Add(time.Hour)}
	}
	u := e.rawUser(e.root.ID, "twin-tokens@example.com")
	u.Tokens = []usermgmt.Token{tok(usermgmt.TokenInvitation, "twin-hash"), tok(usermgmt.TokenPasswordReset, "twin-hash")}
	isErr(t, e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{fixture.Create(u)}), usermgmt.ErrDuplicateID)
	_, err := e.store.User(e.ctx, u.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.UserByToken(e.ctx, "twin-hash")
	isErr(t, err, usermgmt.ErrNotFound)

	u.Tokens = u.Tokens[:1]
	e.createRaw(u)
	changed := e.get(u.ID)
	changed.Tokens = append(changed.Tokens, tok(usermgmt.TokenEmailChange, "other-hash"), tok(usermgmt.TokenPasswordReset, "other-hash"))
	err = e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: changed, Event: rawEvent(changed, usermgmt.ActionProfileChange)})
	isErr(t, err, usermgmt.ErrDuplicateID)
	sameUser(t, e.get(u.ID), u)
	_, err = e.store.UserByToken(e.ctx, "other-hash")
	isErr(t, err, usermgmt.ErrNotFound)
	found, err := e.store.UserByToken(e.ctx, "twin-hash")
	ok(t, err)
	eq(t, "user found by its token", found.ID, u.ID)
}

// testAccountItsOwnParent: an account named as its own parent is refused
// with ErrNotFound (its parent does not exist yet), or ErrDuplicateID
// when the ID is taken; nothing is stored.
func testAccountItsOwnParent(t *testing.T, su *suite) {
	e := su.env(t)
	self := usermgmt.Account{ID: newID(), Name: "Self", CreatedAt: start, UpdatedAt: start, Version: 1}
	self.ParentID, self.Ancestors = self.ID, []string{self.ID}
	admin := e.rawUser(self.ID, "self-parent@example.com")
	err := e.store.CreateAccount(e.ctx, usermgmt.AccountCreate{Account: self, Admin: fixture.Create(admin)})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.store.Account(e.ctx, self.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	taken := e.root
	taken.ParentID, taken.Ancestors = taken.ID, []string{taken.ID}
	err = e.store.CreateAccount(e.ctx, usermgmt.AccountCreate{Account: taken, Admin: fixture.Create(e.rawUser(taken.ID, "self-parent-2@example.com"))})
	isErr(t, err, usermgmt.ErrDuplicateID)
}

func testHistory(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "history@example.com")
	e.createRaw(u)
	for i := 0; i < 12; i++ {
		u = e.get(u.ID)
		u.FirstName = email("name", i)
		u.UpdatedAt = start.Add(time.Duration(i+1) * time.Minute)
		ev := rawEvent(u, usermgmt.ActionProfileChange)
		if i%3 == 0 {
			ev.Action, ev.ActorID, ev.ActorEmail = usermgmt.ActionGrant, e.admin.ID, e.admin.Email
			ev.IP, ev.UserAgent, ev.Reason = "192.0.2.1", "curl/8", "audit test"
		}
		ok(t, e.store.UpdateUser(e.ctx, usermgmt.UserUpdate{User: u, Event: ev}))
	}
	all := e.history(u.ID)
	eq(t, "events", len(all), 13)
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Fatalf("history not newest first at %d: %s then %s", i, all[i-1].ID, all[i].ID)
		}
	}
	page := func(q usermgmt.HistoryQuery) []string {
		t.Helper()
		var out []string
		for {
			evs, err := e.store.History(e.ctx, q)
			ok(t, err)
			for _, ev := range evs {
				if !q.Matches(ev) {
					t.Fatalf("History returned %s, which the query does not match", ev.Action)
				}
				out = append(out, ev.ID)
			}
			if len(evs) < q.Limit {
				return out
			}
			q.Before = evs[len(evs)-1].ID
		}
	}
	var want, grants, byAdmin, window []string
	for _, ev := range all {
		want = append(want, ev.ID)
		if ev.Action == usermgmt.ActionGrant {
			grants = append(grants, ev.ID)
		}
		if ev.ActorID == e.admin.ID {
			byAdmin = append(byAdmin, ev.ID)
		}
		if !ev.At.Before(start.Add(3*time.Minute)) && ev.At.Before(start.Add(7*time.Minute)) {
			window = append(window, ev.ID)
		}
	}
	sameSlice(t, "paged history", page(usermgmt.HistoryQuery{UserID: u.ID, Limit: 5}), want)
	sameSlice(t, "grants", page(usermgmt.HistoryQuery{UserID: u.ID, Actions: []usermgmt.Action{usermgmt.ActionGrant}, Limit: 2}), grants)
	sameSlice(t, "by the admin", page(usermgmt.HistoryQuery{UserID: u.ID, ActorID: e.admin.ID, Limit: 3}), byAdmin)
	sameSlice(t, "time window", page(usermgmt.HistoryQuery{UserID: u.ID, Since: start.Add(3 * time.Minute), Until: start.Add(7 * time.Minute), Limit: 2}), window)
	eq(t, "events in the window", len(window), 4)
	var grantEv usermgmt.AuditEvent
	for _, ev := range all {
		if ev.Action == usermgmt.ActionGrant {
			grantEv = ev
			break
		}
	}
	eq(t, "meta IP", grantEv.IP, "192.0.2.1")
	eq(t, "meta user agent", grantEv.UserAgent, "curl/8")
	eq(t, "meta reason", grantEv.Reason, "audit test")
	eq(t, "actor email", grantEv.ActorEmail, e.admin.Email)
}

func testAccountHistory(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	inA1 := e.user(tr.a1.ID, "trail-a1@example.com", usermgmt.RoleGeneral)
	inB := e.user(tr.b.ID, "trail-b@example.com", usermgmt.RoleGeneral)
	g := e.group(tr.a.ID, "Trail group")
	trail := func(account string) []usermgmt.AuditEvent {
		t.Helper()
		var out []usermgmt.AuditEvent
		q := usermgmt.HistoryQuery{AccountID: account, Limit: 3}
		for {
			evs, err := e.store.History(e.ctx, q)
			ok(t, err)
			out = append(out, evs...)
			if len(evs) < q.Limit {
				return out
			}
			q.Before = evs[len(evs)-1].ID
		}
	}
	has := func(evs []usermgmt.AuditEvent, f func(usermgmt.AuditEvent) bool) bool {
		return slices.ContainsFunc(evs, f)
	}
	a := trail(tr.a.ID)
	for i := 1; i < len(a); i++ {
		if a[i-1].ID <= a[i].ID {
			t.Fatal("account trail not newest first")
		}
	}
	eq(t, "A's trail has A1's user", has(a, func(ev usermgmt.AuditEvent) bool { return ev.UserID == inA1.ID }), true)
	eq(t, "A's trail has its group", has(a, func(ev usermgmt.AuditEvent) bool { return ev.GroupID == g.ID }), true)
	eq(t, "A's trail has A1's creation", has(a, func(ev usermgmt.AuditEvent) bool {
		return ev.Action == usermgmt.ActionAccountCreate && ev.AccountID == tr.a1.ID
	}), true)
	eq(t, "A's trail has B's user", has(a, func(ev usermgmt.AuditEvent) bool { return ev.UserID == inB.ID }), false)
	eq(t, "A's trail has the root admin", has(a, func(ev usermgmt.AuditEvent) bool { return ev.UserID == e.admin.ID }), false)
	root := trail(e.root.ID)
	eq(t, "the root's trail has B's user", has(root, func(ev usermgmt.AuditEvent) bool { return ev.UserID == inB.ID }), true)
	eq(t, "the root's trail has A1's user", has(root, func(ev usermgmt.AuditEvent) bool { return ev.UserID == inA1.ID }), true)
	a1 := trail(tr.a1.ID)
	eq(t, "A1's trail has A's group", has(a1, func(ev usermgmt.AuditEvent) bool { return ev.GroupID == g.ID }), false)
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{AccountID: e.root.ID, Actions: []usermgmt.Action{usermgmt.ActionGroupCreate}, Limit: 10})
	ok(t, err)
	eq(t, "group creations in the root's trail", len(evs), 1)
}

func testGroupsStore(t *testing.T, su *suite) {
	e := su.env(t)
	sub, _ := e.account(e.admin.ID, e.root.ID, "Sub", "sub-admin@example.com")
	mk := func(account, name string) usermgmt.Group {
		return usermgmt.Group{ID: newID(), AccountID: account, Name: name, NameKey: name, Description: "about " + name,
			Grants:    []usermgmt.Grant{{Permission: "reports"}, {Permission: "insights.view", Resource: "insight:1", Department: "Ops"}},
			CreatedAt: start, UpdatedAt: start, Version: 1}
	}
	ev := func(g usermgmt.Group, a usermgmt.Action) usermgmt.AuditEvent {
		return usermgmt.AuditEvent{ID: newID(), At: start, ActorID: e.admin.ID, Action: a, GroupID: g.ID, AccountID: g.AccountID}
	}
	g1, g2 := mk(e.root.ID, "sales"), mk(e.root.ID, "ops")
	ok(t, e.store.CreateGroup(e.ctx, g1, ev(g1, usermgmt.ActionGroupCreate)))
	ok(t, e.store.CreateGroup(e.ctx, g2, ev(g2, usermgmt.ActionGroupCreate)))
	isErr(t, e.store.CreateGroup(e.ctx, mk(e.root.ID, "sales"), ev(g1, usermgmt.ActionGroupCreate)), usermgmt.ErrDuplicateName)
	ok(t, e.store.CreateGroup(e.ctx, mk(sub.ID, "sales"), ev(mk(sub.ID, "x"), usermgmt.ActionGroupCreate))) // another account
	isErr(t, e.store.CreateGroup(e.ctx, g1, ev(g1, usermgmt.ActionGroupCreate)), usermgmt.ErrDuplicateID)
	isErr(t, e.store.CreateGroup(e.ctx, mk(newID(), "lost"), ev(g1, usermgmt.ActionGroupCreate)), usermgmt.ErrNotFound)

	gs, err := e.store.Groups(e.ctx, []string{g1.ID, newID(), g2.ID})
	ok(t, err)
	eq(t, "groups found", len(gs), 2)
	for _, g := range gs {
		want := g1
		if g.ID == g2.ID {
			want = g2
		}
		eq(t, "name", g.Name, want.Name)
		eq(t, "name key", g.NameKey, want.NameKey)
		eq(t, "description", g.Description, want.Description)
		sameSlice(t, "grants", g.Grants, want.Grants)
		sameTime(t, "created", g.CreatedAt, want.CreatedAt)
		eq(t, "version", g.Version, int64(1))
	}
	// Renaming onto another live group's name is refused; a stale version too.
	clash := g2
	clash.Name, clash.NameKey = "sales", "sales"
	isErr(t, e.store.UpdateGroup(e.ctx, usermgmt.GroupUpdate{Group: clash, Event: ev(g2, usermgmt.ActionGroupUpdate)}), usermgmt.ErrDuplicateName)
	renamed := g2
	renamed.Name, renamed.NameKey, renamed.Grants = "operations", "operations", nil
	ok(t, e.store.UpdateGroup(e.ctx, usermgmt.GroupUpdate{Group: renamed, Event: ev(g2, usermgmt.ActionGroupUpdate)}))
	isErr(t, e.store.UpdateGroup(e.ctx, usermgmt.GroupUpdate{Group: renamed, Event: ev(g2, usermgmt.ActionGroupUpdate)}), usermgmt.ErrConflict)
	// A deleted group frees its name.
	del, err := e.store.Groups(e.ctx, []string{g1.ID})
	ok(t, err)
	gone := del[0]
	gone.Deleted = true
	ok(t, e.store.UpdateGroup(e.ctx, usermgmt.GroupUpdate{Group: gone, Event: ev(g1, usermgmt.ActionGroupDelete)}))
	g3 := mk(e.root.ID, "sales")
	ok(t, e.store.CreateGroup(e.ctx, g3, ev(g3, usermgmt.ActionGroupCreate)))
	list := func(q usermgmt.GroupQuery) []string {
		var out []string
		for {
			gs, err := e.store.ListGroups(e.ctx, q)
			ok(t, err)
			for _, g := range gs {
				out = append(out, g.ID)
			}
			if len(gs) < q.Limit {
				return out
			}
			q.After = gs[len(gs)-1].ID
		}
	}
	sameSlice(t, "live groups", list(usermgmt.GroupQuery{AccountID: e.root.ID, Limit: 1}), []string{g2.ID, g3.ID})
	sameSlice(t, "all groups", list(usermgmt.GroupQuery{AccountID: e.root.ID, Deleted: true, Limit: 2}), []string{g1.ID, g2.ID, g3.ID})
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{AccountID: e.root.ID, Actions: []usermgmt.Action{usermgmt.ActionGroupUpdate, usermgmt.ActionGroupDelete}, Limit: 10})
	ok(t, err)
	eq(t, "group events in the trail", len(evs), 2)
}

func testUserAccess(t *testing.T, su *suite) {
	e := su.env(t)
	a, b := e.group(e.root.ID, "Alpha"), e.group(e.root.ID, "Beta")
	u := e.rawUser(e.root.ID, "access@example.com")
	u.Groups = []string{a.ID, b.ID}
	slices.Sort(u.Groups)
	e.createRaw(u)
	got, stamps, err := e.store.UserAccess(e.ctx, u.ID)
	ok(t, err)
	sameUser(t, got, u)
	eq(t, "stamps", len(stamps), 2)
	for _, s := range stamps {
		eq(t, "stamp version of "+s.ID, s.Version, int64(1))
	}
	_, err = e.m.GrantGroup(e.ctx, e.admin.ID, a.ID, usermgmt.Grant{Permission: "reports"})
	ok(t, err)
	_, err = e.m.DeleteGroup(e.ctx, e.admin.ID, b.ID)
	ok(t, err)
	_, stamps, err = e.store.UserAccess(e.ctx, u.ID)
	ok(t, err)
	eq(t, "stamps after a deletion", len(stamps), 1)
	eq(t, "stamp of the live group", stamps[0].ID, a.ID)
	eq(t, "its version", stamps[0].Version, int64(2))
}

func testCancelledContext(t *testing.T, su *suite) {
	e := su.env(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u := e.rawUser(e.root.ID, "cancelled@example.com")
	if err := e.store.CreateUsers(ctx, []usermgmt.UserCreate{fixture.Create(u)}); err == nil {
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
	if _, err := e.store.UpdateUsers(ctx, []usermgmt.UserUpdate{{User: changed, Event: rawEvent(changed, usermgmt.ActionProfileChange)}}); err == nil {
		t.Fatal("UpdateUsers with a cancelled context succeeded")
	}
	sameUser(t, e.get(admin.ID), admin)
	if _, _, _, err := reserve(ctx, e.store, admin.ID, 10, start); err == nil {
		t.Fatal("ReserveAttempt with a cancelled context succeeded")
	}
	eq(t, "leases", len(e.get(admin.ID).AttemptLeases), 0)
	if _, err := e.store.User(ctx, admin.ID); err == nil {
		t.Fatal("User with a cancelled context succeeded")
	}
	if _, err := e.store.ListUsers(ctx, usermgmt.ListQuery{AccountID: e.root.ID, Limit: 10}); err == nil {
		t.Fatal("ListUsers with a cancelled context succeeded")
	}
	if _, err := e.store.ClaimMessages(ctx, usermgmt.MessageClaim{Owner: "w", Now: start, LeaseUntil: start.Add(time.Minute), Limit: 10}); err == nil {
		t.Fatal("ClaimMessages with a cancelled context succeeded")
	}
	if _, err := e.m.Authenticate(ctx, admin.Email, Password); err == nil {
		t.Fatal("Authenticate with a cancelled context succeeded")
	}
	eq(t, "events", len(e.history(admin.ID)), 1)
}

// parallel runs f(i) for i in [0,n) at once and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			f(i)
		}()
	}
	close(gate)
	wg.Wait()
}
