package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

var lockoutTests = map[string]func(*testing.T, *suite){
	"NineFailuresDoNotLock":           testNineFailuresDoNotLock,
	"TenthFailureLocks":               testTenthFailureLocks,
	"LockedRefusedWithoutTestingIt":   testLockedRefusesRightPassword,
	"SuccessResetsCount":              testSuccessResetsCount,
	"UnlockRestores":                  testUnlockRestores,
	"UnlockWithNewPassword":           testUnlockWithNewPassword,
	"UnknownEmailLooksLikeWrongPass":  testUnknownEmail,
	"EveryRefusalCostsAVerification":  testRefusalsCostAVerification,
	"ConfigurableLimit":               testConfigurableLimit,
	"ChangePasswordWrongCurrent":      testChangePasswordCounts,
	"StaleHashIsRehashed":             testRehash,
	"StatusesRefused":                 testStatusesRefused,
	"LockLapsesAfterLockDuration":     testLockDuration,
	"AllAdminsLockedRecoverBySystem":  testAllAdminsLocked,
	"FailedLockWriteLocksNothing":     testFailedLockWrite,
	"OutcomeWriteBoundedPastDeadline": testRecordTimeout,
	"HangingUpCannotSkipTheCount":     testHangUp,
	"UnicodePasswordVerifiesAnyForm":  testUnicodePassword,
	"ImportedHashesLogInAndRehash":    testImportedHashes,
	"ChangedBesideTheReservation":     testChangedBesideReservation,
}

func testNineFailuresDoNotLock(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "nine@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 9)
	got := e.get(u.ID)
	eq(t, "status after 9 failures", got.Status, usermgmt.StatusActive)
	eq(t, "FailedAttempts", got.FailedAttempts, 9)
	_, err := e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
}

func testTenthFailureLocks(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "ten@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 9)
	e.clock.Advance(time.Hour)
	_, err := e.m.Authenticate(e.ctx, u.Email, "still not it")
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	isErr(t, err, usermgmt.ErrLocked)
	got := e.get(u.ID)
	eq(t, "status after 10 failures", got.Status, usermgmt.StatusLocked)
	sameTime(t, "LockedAt", got.LockedAt, e.clock.Now())
	// The lock is a change of the user like any other: UpdatedAt moves.
	sameTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
	eq(t, "session version moved", got.SessionVersion, e.get(u.ID).SessionVersion)
	h := e.history(u.ID)
	eq(t, "newest action", h[0].Action, usermgmt.ActionLock)
	eq(t, "lock actor", h[0].ActorID, usermgmt.System)
	sameSlice(t, "lockout message", e.messagesTo(u.Email), []usermgmt.NotificationKind{usermgmt.NotifyLockout})
}

func testLockedRefusesRightPassword(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "locked@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 10)
	before := e.m.Stats()
	_, err := e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
	after := e.m.Stats()
	eq(t, "hashes verified for a locked user", after.PasswordVerifications, before.PasswordVerifications)
	eq(t, "dummy verifications for a locked user", after.DummyVerifications, before.DummyVerifications+1)
}

func testSuccessResetsCount(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "reset@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 9)
	e.clock.Advance(time.Minute)
	got, err := e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	eq(t, "FailedAttempts after success", e.get(u.ID).FailedAttempts, 0)
	sameTime(t, "LastLoginAt", got.LastLoginAt, e.clock.Now())
	eq(t, "password set", got.PasswordSet, true)
	e.fail(u.Email, 9) // a fresh run of nine does not lock
	eq(t, "status", e.get(u.ID).Status, usermgmt.StatusActive)
}

func testUnlockRestores(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "unlock@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 10)
	got, err := e.m.Unlock(e.ctx, e.admin.ID, u.ID, "")
	ok(t, err)
	eq(t, "status", got.Status, usermgmt.StatusActive)
	eq(t, "FailedAttempts", e.get(u.ID).FailedAttempts, 0)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	h := e.history(u.ID)
	eq(t, "unlock action", h[0].Action, usermgmt.ActionUnlock)
	eq(t, "unlock actor", h[0].ActorID, e.admin.ID)
	// Unlocking a user who is not locked is refused and writes nothing.
	_, err = e.m.Unlock(e.ctx, e.admin.ID, u.ID, "")
	isErr(t, err, usermgmt.ErrInvalidTransition)
	eq(t, "events", len(e.history(u.ID)), len(h))
}

func testUnlockWithNewPassword(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "newpass@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 10)
	_, err := e.m.Unlock(e.ctx, e.admin.ID, u.ID, "short")
	isErr(t, err, usermgmt.ErrWeakPassword)
	eq(t, "still locked after a weak password", e.get(u.ID).Status, usermgmt.StatusLocked)
	const fresh = "a brand new passphrase"
	_, err = e.m.Unlock(e.ctx, e.admin.ID, u.ID, fresh)
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	_, err = e.m.Authenticate(e.ctx, u.Email, fresh)
	ok(t, err)
	for _, ev := range e.history(u.ID) {
		for _, c := range ev.Changes {
			if c.Field == "password" && (c.Old != "" || c.New != "set") {
				t.Fatalf("password change recorded as %+v", c)
			}
		}
	}
}

func testUnknownEmail(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "known@example.com", usermgmt.RoleGeneral)
	_, wrong := e.m.Authenticate(e.ctx, u.Email, "wrong password")
	before := e.m.Stats()
	_, unknown := e.m.Authenticate(e.ctx, "unknown@example.com", "wrong password")
	_, malformed := e.m.Authenticate(e.ctx, "not an email", "wrong password")
	if !errors.Is(wrong, usermgmt.ErrInvalidCredentials) || !errors.Is(unknown, usermgmt.ErrInvalidCredentials) || !errors.Is(malformed, usermgmt.ErrInvalidCredentials) {
		t.Fatalf("errors differ: wrong password %v, unknown email %v, malformed %v", wrong, unknown, malformed)
	}
	if wrong.Error() != unknown.Error() || wrong.Error() != malformed.Error() {
		t.Fatalf("messages differ: %q, %q, %q", wrong, unknown, malformed)
	}
	eq(t, "dummy verifications for unknown emails", e.m.Stats().DummyVerifications-before.DummyVerifications, uint64(2))
	// Invited users (no password yet) look unknown too.
	inv, _ := e.invite(e.root.ID, "invited@example.com")
	_, err := e.m.Authenticate(e.ctx, inv.Email, "anything at all")
	isErr(t, err, usermgmt.ErrInvalidCredentials)
}

// testRefusalsCostAVerification: a Locked, Banned, Disabled, Inactive or
// removed user is refused after one dummy verification, the time a wrong
// password costs, without an attempt being spent.
func testRefusalsCostAVerification(t *testing.T, su *suite) {
	e := su.env(t)
	mk := func(name string) usermgmt.User { return e.user(e.root.ID, name+"@example.com", usermgmt.RoleGeneral) }
	locked, banned, disabled, removed, idle := mk("r-locked"), mk("r-banned"), mk("r-disabled"), mk("r-removed"), mk("r-idle")
	e.fail(locked.Email, 10)
	_, err := e.m.Ban(e.ctx, e.admin.ID, banned.ID)
	ok(t, err)
	_, err = e.m.Disable(e.ctx, e.admin.ID, disabled.ID)
	ok(t, err)
	_, err = e.m.Remove(e.ctx, e.admin.ID, removed.ID)
	ok(t, err)
	e.clock.Set(start.AddDate(0, 3, 0))
	for _, c := range []struct {
		u    usermgmt.User
		want error
	}{{locked, usermgmt.ErrLocked}, {banned, usermgmt.ErrBanned}, {disabled, usermgmt.ErrDisabled},
		{removed, usermgmt.ErrInvalidCredentials}, {idle, usermgmt.ErrInactive}} {
		before := e.m.Stats()
		v := e.get(c.u.ID).Version
		_, err := e.m.Authenticate(e.ctx, c.u.Email, Password)
		isErr(t, err, c.want)
		after := e.m.Stats()
		eq(t, "dummy verifications refusing "+c.u.Email, after.DummyVerifications-before.DummyVerifications, uint64(1))
		eq(t, "real verifications refusing "+c.u.Email, after.PasswordVerifications, before.PasswordVerifications)
		if c.u.ID != idle.ID {
			eq(t, "version of "+c.u.Email, e.get(c.u.ID).Version, v)
		}
	}
}

func testConfigurableLimit(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{MaxFailedAttempts: 3}))
	u := e.user(e.root.ID, "three@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 2)
	eq(t, "status after 2", e.get(u.ID).Status, usermgmt.StatusActive)
	e.fail(u.Email, 1)
	eq(t, "status after 3", e.get(u.ID).Status, usermgmt.StatusLocked)
}

func testChangePasswordCounts(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "changer@example.com", usermgmt.RoleGeneral)
	const next = "the next long passphrase"
	_, err := e.m.ChangePassword(e.ctx, u.ID, "wrong old password", next)
	isErr(t, err, usermgmt.ErrWrongPassword)
	if errors.Is(err, usermgmt.ErrInvalidCredentials) {
		t.Fatal("a wrong current password reads as ended credentials")
	}
	eq(t, "FailedAttempts", e.get(u.ID).FailedAttempts, 1)
	_, err = e.m.ChangePassword(e.ctx, u.ID, Password, "weak")
	isErr(t, err, usermgmt.ErrWeakPassword)
	sv := e.get(u.ID).SessionVersion
	got, err := e.m.ChangePassword(e.ctx, u.ID, Password, next)
	ok(t, err)
	eq(t, "session version moved", got.SessionVersion, sv+1)
	_, err = e.m.Authenticate(e.ctx, u.Email, next)
	ok(t, err)
	eq(t, "newest action", e.history(u.ID)[0].Action, usermgmt.ActionPasswordSet)
	eq(t, "actor", e.history(u.ID)[0].ActorID, u.ID)
	sameSlice(t, "notice", e.messagesTo(u.Email), []usermgmt.NotificationKind{usermgmt.NotifyPasswordChanged})
	// Nine wrong, then a tenth through ChangePassword locks.
	e.fail(u.Email, 9)
	_, err = e.m.ChangePassword(e.ctx, u.ID, "wrong again", "yet another passphrase")
	isErr(t, err, usermgmt.ErrWrongPassword)
	isErr(t, err, usermgmt.ErrLocked)
}

func testRehash(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "rehash@example.com", usermgmt.RoleGeneral)
	old := e.get(u.ID).PasswordHash
	stronger := fixture.FastHash
	stronger.Iterations = 2
	m2 := e.manager(e.store, usermgmt.WithHashParams(stronger))
	_, err := m2.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	now := e.get(u.ID).PasswordHash
	if now == old {
		t.Fatal("hash with old parameters was not re-hashed")
	}
	_, err = m2.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	eq(t, "hash after a second login", e.get(u.ID).PasswordHash, now)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password) // old parameters still verify
	ok(t, err)
}

func testStatusesRefused(t *testing.T, su *suite) {
	e := su.env(t)
	cases := []struct {
		do   func(id string) error
		want error
	}{
		{func(id string) error { _, err := e.m.Ban(e.ctx, e.admin.ID, id); return err }, usermgmt.ErrBanned},
		{func(id string) error { _, err := e.m.Disable(e.ctx, e.admin.ID, id); return err }, usermgmt.ErrDisabled},
		{func(id string) error { _, err := e.m.Remove(e.ctx, e.admin.ID, id); return err }, usermgmt.ErrInvalidCredentials},
	}
	for i, c := range cases {
		u := e.user(e.root.ID, email("status", i), usermgmt.RoleGeneral)
		ok(t, c.do(u.ID))
		_, err := e.m.Authenticate(e.ctx, u.Email, Password)
		isErr(t, err, c.want)
	}
}

func testLockDuration(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{LockDuration: 15 * time.Minute}))
	u := e.user(e.root.ID, "lapses@example.com", usermgmt.RoleGeneral)
	v := e.user(e.root.ID, "swept-unlock@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 10)
	e.fail(v.Email, 10)
	e.clock.Advance(15*time.Minute - time.Nanosecond)
	_, err := e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
	res, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "unlocked a nanosecond early", res.Unlocked, 0)
	e.clock.Advance(time.Nanosecond)
	// At login the lapsed lock lifts, audited as an unlock by System.
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	h := e.history(u.ID)
	eq(t, "unlock before the login", h[0].Action, usermgmt.ActionUnlock)
	eq(t, "unlock actor", h[0].ActorID, usermgmt.System)
	// The sweep lifts the other one.
	res, err = e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "unlocked by the sweep", res.Unlocked, 1)
	got := e.get(v.ID)
	eq(t, "status after the sweep", got.Status, usermgmt.StatusActive)
	eq(t, "failures after the sweep", got.FailedAttempts, 0)
	eq(t, "sweep's unlock actor", e.history(v.ID)[0].ActorID, usermgmt.System)
	// Without a LockDuration, a lock stays.
	w := e.user(e.root.ID, "stays@example.com", usermgmt.RoleGeneral)
	m := e.manager(e.store)
	for i := 0; i < 10; i++ {
		_, _ = m.Authenticate(e.ctx, w.Email, "wrong")
	}
	e.clock.Advance(365 * 24 * time.Hour)
	_, err = m.Authenticate(e.ctx, w.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
}

// testAllAdminsLocked: a stranger who knows the only admin's address locks
// them; nobody in the account can unlock them; the application recovers
// through System, or the admin through a password reset.
func testAllAdminsLocked(t *testing.T, su *suite) {
	e := su.env(t)
	acct, c := e.account(e.admin.ID, e.root.ID, "Lonely", "lonely-admin@example.com")
	admin := c.User
	member := e.user(acct.ID, "member-of-lonely@example.com", usermgmt.RoleGeneral)
	e.fail(admin.Email, 10)
	eq(t, "admin status", e.get(admin.ID).Status, usermgmt.StatusLocked)
	_, err := e.m.Unlock(e.ctx, member.ID, admin.ID, "")
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.Unlock(e.ctx, admin.ID, admin.ID, "")
	isErr(t, err, usermgmt.ErrActorInactive)
	got, err := e.m.Unlock(e.ctx, usermgmt.System, admin.ID, "")
	ok(t, err)
	eq(t, "status after System's unlock", got.Status, usermgmt.StatusActive)
	eq(t, "unlock actor", e.history(admin.ID)[0].ActorID, usermgmt.System)
	// Locked again, the admin resets their own password by email.
	e.fail(admin.Email, 10)
	ok(t, e.m.RequestPasswordReset(e.ctx, admin.Email))
	e.m.Wait()
	token := e.lastToken(usermgmt.NotifyPasswordReset, admin.Email)
	got, err = e.m.ResetPassword(e.ctx, token, "a recovered passphrase")
	ok(t, err)
	eq(t, "status after the reset", got.Status, usermgmt.StatusActive)
	_, err = e.m.Authenticate(e.ctx, admin.Email, "a recovered passphrase")
	ok(t, err)
}

// testFailedLockWrite: when the write of the lock fails, nothing of it is
// stored; the attempt's lease lapses and the right password still logs in.
func testFailedLockWrite(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "failed-lock@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 9)
	bad := e.manager(failing{Store: e.store, takenEventID: e.history(e.admin.ID)[0].ID})
	_, err := bad.Authenticate(e.ctx, u.Email, "wrong again")
	isErr(t, err, usermgmt.ErrDuplicateID)
	got := e.get(u.ID)
	eq(t, "status after a failed lock", got.Status, usermgmt.StatusActive)
	eq(t, "failures after a failed lock", got.FailedAttempts, 9)
	eq(t, "events after a failed lock", e.count(u.ID, usermgmt.ActionLock), 0)
	eq(t, "lockout messages after a failed lock", len(e.messagesTo(u.Email)), 0)
	e.clock.Advance(e.m.Policy().AttemptLease)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
}

// deadlines wraps a store and records the deadline of the context each
// FinishAttempt gets, then fails it as a frozen store would.
type deadlines struct {
	usermgmt.Store
	got chan time.Time
}

func (s deadlines) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	d, _ := ctx.Deadline()
	s.got <- d
	<-ctx.Done() // a frozen store: the call ends with its context
	return usermgmt.UserRecord{}, false, ctx.Err()
}

// testRecordTimeout: the write recording an attempt's outcome runs on after
// the caller's context is cancelled, but never longer than
// Policy.RecordTimeout.
func testRecordTimeout(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{RecordTimeout: 50 * time.Millisecond}))
	u := e.user(e.root.ID, "frozen@example.com", usermgmt.RoleGeneral)
	s := deadlines{Store: e.store, got: make(chan time.Time, 1)}
	m := e.manager(s, usermgmt.WithPolicy(usermgmt.Policy{RecordTimeout: 50 * time.Millisecond}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := m.Authenticate(ctx, u.Email, "wrong"); done <- err }()
	d := <-s.got
	cancel() // the caller hangs up while the outcome is being written
	if d.IsZero() {
		t.Fatal("the outcome write has no deadline")
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Authenticate against a frozen store: %v, want the record deadline", err)
	}
	// The write's deadline came from RecordTimeout, not the caller's context.
	if late := time.Until(d); late > 50*time.Millisecond {
		t.Fatalf("the outcome write may run %v, more than RecordTimeout", late)
	}
}

func testUnicodePassword(t *testing.T, su *suite) {
	e := su.env(t)
	const composed = "Kräftig-Bäume-wachsen"
	const decomposed = "Kra\u0308ftig-Ba\u0308ume-wachsen"
	c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "umlaut@example.com", FirstName: "U", LastName: "M", Password: composed})
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, c.User.Email, decomposed)
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, c.User.Email, composed)
	ok(t, err)
	// A non-breaking space is an ordinary space.
	d, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "nbsp@example.com", FirstName: "N", LastName: "B", Password: "correct\u00a0horse battery"})
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, d.User.Email, "correct horse battery")
	ok(t, err)
	eq(t, "failures", e.get(c.User.ID).FailedAttempts, 0)
	// A control character is refused when setting.
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "ctl@example.com", FirstName: "C", LastName: "T", Password: "correct horse\x07battery"})
	isErr(t, err, usermgmt.ErrWeakPassword)
	// A hash made before normalisation (of the decomposed form) still
	// verifies, and is re-hashed at the next login.
	legacy := e.rawUser(e.root.ID, "legacy-unicode@example.com")
	// argon2id (m=64, t=1, p=1, salt "0123456789abcdef") of the decomposed form.
	legacy.PasswordHash = "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$8k8lnQCtgsxoJAaQzY7pR/+UaXGTC+FRGz6RrHocdjk"
	e.createRaw(legacy)
	_, err = e.m.Authenticate(e.ctx, legacy.Email, decomposed)
	ok(t, err)
	if e.get(legacy.ID).PasswordHash == legacy.PasswordHash {
		t.Fatal("a hash of the unnormalised password was not re-hashed")
	}
	_, err = e.m.Authenticate(e.ctx, legacy.Email, composed)
	ok(t, err)
}

func testImportedHashes(t *testing.T, su *suite) {
	e := su.env(t)
	for i, h := range []struct{ hash, password string }{
		{"$2a$04$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES", "bcrypt password"},
		{"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$0cPF3+ROUiRJtbjvkAmluZtoB44uDOLd4wcj2p6+j1c", "pbkdf2 password"},
		{"$argon2id$v=19$m=128,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk", "argon import pw"},
	} {
		_, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: email("imported", i), FirstName: "I", LastName: "M", PasswordHash: h.hash})
		ok(t, err)
		u, err := e.m.Authenticate(e.ctx, email("imported", i), h.password)
		if err != nil {
			t.Fatalf("login with the imported hash %s: %v", h.hash[:8], err)
		}
		stored := e.get(u.ID).PasswordHash
		if stored == h.hash || !strings.HasPrefix(stored, "$argon2id$v=19$m=64,") {
			t.Fatalf("imported hash not re-hashed to argon2id: %s", stored)
		}
		_, err = e.m.Authenticate(e.ctx, u.Email, h.password)
		ok(t, err)
	}
	_, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "bad-hash@example.com", FirstName: "B", LastName: "H", PasswordHash: "$md5$whatever"})
	isErr(t, err, usermgmt.ErrInvalidInput)
}

// hangUp wraps a store so that the caller's context is cancelled as soon
// as an attempt is reserved: a client hanging up while its password is
// being verified.
type hangUp struct {
	usermgmt.Store
	cancel context.CancelFunc
}

func (s hangUp) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	u, res, err := s.Store.ReserveAttempt(ctx, r)
	s.cancel()
	return u, res, err
}

// testHangUp: a guesser who hangs up during every verification still has
// every wrong password counted, and the tenth locks, with its email — the
// outcome is written whatever becomes of the caller.
func testHangUp(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{NotifyAdminsOnLockout: true}))
	u := e.user(e.root.ID, "hang-up@example.com", usermgmt.RoleGeneral)
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		m := e.manager(hangUp{Store: e.store, cancel: cancel}, usermgmt.WithPolicy(usermgmt.Policy{NotifyAdminsOnLockout: true}))
		_, _ = m.Authenticate(ctx, u.Email, "a guess")
		cancel()
	}
	got := e.get(u.ID)
	eq(t, "status after ten hung-up guesses", got.Status, usermgmt.StatusLocked)
	eq(t, "failures", got.FailedAttempts, 10)
	sameSlice(t, "lockout notice", e.messagesTo(u.Email), []usermgmt.NotificationKind{usermgmt.NotifyLockout})
	sameSlice(t, "notice to the admin", e.messagesTo(e.admin.Email), []usermgmt.NotificationKind{usermgmt.NotifyLockoutAdmin})
}

// beforeReserve wraps a store so that hook runs once, just before the
// first ReserveAttempt: a change landing between the login's read of the
// user and its reservation, while the password is being verified beside
// the reservation against the hash first read.
type beforeReserve struct {
	usermgmt.Store
	hook func()
	once *sync.Once
}

func (s beforeReserve) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	s.once.Do(s.hook)
	return s.Store.ReserveAttempt(ctx, r)
}

// testChangedBesideReservation: the verdict of the verification that runs
// beside a login's reservation is used only when the reservation holds and
// the hash is still the one verified. A user banned meanwhile is refused
// even with the right password, and the verification counts as a dummy;
// a password changed meanwhile is verified again, against the new hash,
// so the old password fails (and counts) and the new one logs in.
func testChangedBesideReservation(t *testing.T, su *suite) {
	e := su.env(t)
	banned := e.user(e.root.ID, "banned-meanwhile@example.com", usermgmt.RoleGeneral)
	m := e.manager(beforeReserve{Store: e.store, once: new(sync.Once), hook: func() {
		_, err := e.m.Ban(e.ctx, e.admin.ID, banned.ID)
		ok(t, err)
	}})
	before := m.Stats()
	_, err := m.Authenticate(e.ctx, banned.Email, Password)
	isErr(t, err, usermgmt.ErrBanned)
	after := m.Stats()
	eq(t, "verifications used for a user banned meanwhile", after.PasswordVerifications, before.PasswordVerifications)
	eq(t, "verifications discarded", after.DummyVerifications, before.DummyVerifications+1)
	got := e.get(banned.ID)
	eq(t, "failures", got.FailedAttempts, 0)
	eq(t, "leases left", len(got.AttemptLeases), 0)
	eq(t, "login recorded", got.LastLoginAt.IsZero(), true)

	changed := e.user(e.root.ID, "changed-meanwhile@example.com", usermgmt.RoleGeneral)
	const newPassword = "a new and longer passphrase"
	m = e.manager(beforeReserve{Store: e.store, once: new(sync.Once), hook: func() {
		_, err := e.m.SetPassword(e.ctx, e.admin.ID, changed.ID, newPassword)
		ok(t, err)
	}})
	before = m.Stats()
	_, err = m.Authenticate(e.ctx, changed.Email, Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	after = m.Stats()
	eq(t, "verifications used after a change meanwhile", after.PasswordVerifications, before.PasswordVerifications+1)
	eq(t, "verifications discarded after a change meanwhile", after.DummyVerifications, before.DummyVerifications+1)
	eq(t, "failures after the old password", e.get(changed.ID).FailedAttempts, 1)
	_, err = m.Authenticate(e.ctx, changed.Email, newPassword)
	ok(t, err)
	eq(t, "failures after the new password", e.get(changed.ID).FailedAttempts, 0)
}
