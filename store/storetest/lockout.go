package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var lockoutTests = map[string]func(*testing.T, *suite){
	"NineFailuresDoNotLock":          testNineFailuresDoNotLock,
	"TenthFailureLocks":              testTenthFailureLocks,
	"LockedRefusesRightPassword":     testLockedRefusesRightPassword,
	"SuccessResetsCount":             testSuccessResetsCount,
	"UnlockRestores":                 testUnlockRestores,
	"UnlockWithNewPassword":          testUnlockWithNewPassword,
	"UnknownEmailLooksLikeWrongPass": testUnknownEmail,
	"ConfigurableLimit":              testConfigurableLimit,
	"ChangePasswordCountsFailures":   testChangePasswordCounts,
	"StaleHashIsRehashed":            testRehash,
	"StatusesRefused":                testStatusesRefused,
}

func (e *env) fail(email string, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		_, err := e.m.Authenticate(e.ctx, email, "not the password")
		isErr(e.t, err, usermgmt.ErrInvalidCredentials)
	}
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
	_, err := e.m.Authenticate(e.ctx, u.Email, "still not it")
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	isErr(t, err, usermgmt.ErrLocked)
	eq(t, "status after 10 failures", e.get(u.ID).Status, usermgmt.StatusLocked)
	h := e.history(u.ID)
	eq(t, "newest action", h[0].Action, usermgmt.ActionLock)
	eq(t, "lock actor", h[0].ActorID, usermgmt.System)
}

func testLockedRefusesRightPassword(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "locked@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 10)
	before := e.m.Stats().PasswordVerifications
	_, err := e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
	eq(t, "hashes verified for a locked user", e.m.Stats().PasswordVerifications, before)
}

func testSuccessResetsCount(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "reset@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 9)
	e.clock.Advance(time.Minute)
	got, err := e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	eq(t, "FailedAttempts after success", got.FailedAttempts, 0)
	sameTime(t, "LastLoginAt", got.LastLoginAt, e.clock.Now())
	if got.PasswordHash != "" {
		t.Fatal("Authenticate returned the password hash")
	}
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
	eq(t, "FailedAttempts", got.FailedAttempts, 0)
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
			if c.Field == "password" && (c.Old != "" || c.New != "changed") {
				t.Fatalf("password change recorded as %+v", c)
			}
		}
	}
}

func testUnknownEmail(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "known@example.com", usermgmt.RoleGeneral)
	_, wrong := e.m.Authenticate(e.ctx, u.Email, "wrong password")
	before := e.m.Stats().PasswordVerifications
	_, unknown := e.m.Authenticate(e.ctx, "unknown@example.com", "wrong password")
	_, malformed := e.m.Authenticate(e.ctx, "not an email", "wrong password")
	if !errors.Is(wrong, usermgmt.ErrInvalidCredentials) || !errors.Is(unknown, usermgmt.ErrInvalidCredentials) || !errors.Is(malformed, usermgmt.ErrInvalidCredentials) {
		t.Fatalf("errors differ: wrong password %v, unknown email %v, malformed %v", wrong, unknown, malformed)
	}
	if wrong.Error() != unknown.Error() {
		t.Fatalf("messages differ: %q vs %q", wrong, unknown)
	}
	// The unknown email still costs a hash verification (against a dummy).
	eq(t, "verifications for unknown emails", e.m.Stats().PasswordVerifications-before, uint64(2))
	// Invited users (no password yet) look unknown too.
	inv, _ := e.invite(e.root.ID, "invited@example.com")
	_, err := e.m.Authenticate(e.ctx, inv.Email, "anything at all")
	isErr(t, err, usermgmt.ErrInvalidCredentials)
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
	isErr(t, e.m.ChangePassword(e.ctx, u.ID, "wrong old password", next), usermgmt.ErrInvalidCredentials)
	eq(t, "FailedAttempts", e.get(u.ID).FailedAttempts, 1)
	isErr(t, e.m.ChangePassword(e.ctx, u.ID, Password, "weak"), usermgmt.ErrWeakPassword)
	ok(t, e.m.ChangePassword(e.ctx, u.ID, Password, next))
	_, err := e.m.Authenticate(e.ctx, u.Email, next)
	ok(t, err)
	eq(t, "newest action", e.history(u.ID)[0].Action, usermgmt.ActionPasswordSet)
	eq(t, "actor", e.history(u.ID)[0].ActorID, u.ID)
}

func testRehash(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "rehash@example.com", usermgmt.RoleGeneral)
	old := e.get(u.ID).PasswordHash
	stronger := fastHash
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
