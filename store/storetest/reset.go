package storetest

import (
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var resetTests = map[string]func(*testing.T, *suite){
	"ResetByEmailLink":              testResetByLink,
	"UnknownAddressAnsweredAlike":   testResetUnknown,
	"AtMostThreeRequestsAnHour":     testResetRateLimit,
	"TokenLivesAnHourAndOnce":       testResetExpiry,
	"NewerRequestVoidsTheOlder":     testResetNewerVoids,
	"BanAndPasswordChangeVoidToken": testResetVoided,
	"ResetUnlocksUnlessPolicySays":  testResetUnlocks,
	"OtherStatusesStayAsTheyAre":    testResetKeepsStatuses,
	"ResetNeedsTheOutbox":           testResetNeedsOutbox,
}

// requestReset asks for a reset of the address and returns the token mailed.
func (e *env) requestReset(addr string) string {
	e.t.Helper()
	ok(e.t, e.m.RequestPasswordReset(e.ctx, addr))
	e.m.Wait()
	canon, err := usermgmt.NormalizeEmail(addr)
	ok(e.t, err)
	return e.lastToken(usermgmt.NotifyPasswordReset, canon)
}

func testResetByLink(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "forgetful@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 3)
	sv := e.get(u.ID).SessionVersion
	token := e.requestReset(" Forgetful@Example.com ")
	got, err := e.m.ResetPassword(e.ctx, token, "a remembered passphrase")
	ok(t, err)
	eq(t, "status", got.Status, usermgmt.StatusActive)
	stored := e.get(u.ID)
	eq(t, "failures after the reset", stored.FailedAttempts, 0)
	eq(t, "session version moved", stored.SessionVersion, sv+1)
	eq(t, "tokens left", len(stored.Tokens), 0)
	_, err = e.m.Authenticate(e.ctx, u.Email, "a remembered passphrase")
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	h := e.history(u.ID)
	eq(t, "reset event actor", h[0].ActorID, u.ID)
	eq(t, "reset event", h[0].Action, usermgmt.ActionPasswordReset)
	eq(t, "request event actor", h[1].ActorID, usermgmt.System)
	sameSlice(t, "notice after the reset", e.messagesTo(u.Email), []usermgmt.NotificationKind{usermgmt.NotifyPasswordChanged})
	_, err = e.m.ResetPassword(e.ctx, token, "yet another passphrase")
	isErr(t, err, usermgmt.ErrTokenInvalid)
}

func testResetUnknown(t *testing.T, su *suite) {
	e := su.env(t)
	before := len(e.pending())
	ok(t, e.m.RequestPasswordReset(e.ctx, "nobody-here@example.com"))
	inv, _ := e.invite(e.root.ID, "still-invited@example.com")
	ok(t, e.m.RequestPasswordReset(e.ctx, inv.Email))
	e.m.Wait()
	eq(t, "messages after requests for unknown and invited users", len(e.pending()), before+1) // the invitation only
	_, err := e.m.ResetPassword(e.ctx, "not-a-real-token", "whatever long enough")
	isErr(t, err, usermgmt.ErrTokenInvalid)
	isErr(t, e.m.RequestPasswordReset(e.ctx, "not an address"), usermgmt.ErrInvalidEmail)
}

func testResetRateLimit(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "spammed@example.com", usermgmt.RoleGeneral)
	for i := 0; i < 5; i++ {
		ok(t, e.m.RequestPasswordReset(e.ctx, u.Email))
		e.m.Wait()
		e.clock.Advance(time.Minute)
	}
	eq(t, "reset messages within the hour", len(e.messagesTo(u.Email)), 3)
	e.clock.Advance(time.Hour)
	ok(t, e.m.RequestPasswordReset(e.ctx, u.Email))
	e.m.Wait()
	eq(t, "reset messages an hour later", len(e.messagesTo(u.Email)), 4)
}

func testResetExpiry(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "slow@example.com", usermgmt.RoleGeneral)
	token := e.requestReset(u.Email)
	e.clock.Advance(time.Hour)
	_, err := e.m.ResetPassword(e.ctx, token, "too late passphrase")
	isErr(t, err, usermgmt.ErrTokenExpired)
	token = e.requestReset(u.Email)
	e.clock.Advance(time.Hour - time.Nanosecond)
	_, err = e.m.ResetPassword(e.ctx, token, "just in time passphrase")
	ok(t, err)
	// A weak password spends nothing.
	token = e.requestReset(u.Email)
	_, err = e.m.ResetPassword(e.ctx, token, "weak")
	isErr(t, err, usermgmt.ErrWeakPassword)
	_, err = e.m.ResetPassword(e.ctx, token, "a strong enough passphrase")
	ok(t, err)
}

func testResetNewerVoids(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "twice@example.com", usermgmt.RoleGeneral)
	first := e.requestReset(u.Email)
	second := e.requestReset(u.Email)
	_, err := e.m.ResetPassword(e.ctx, first, "first link passphrase")
	isErr(t, err, usermgmt.ErrTokenInvalid)
	_, err = e.m.ResetPassword(e.ctx, second, "second link passphrase")
	ok(t, err)
}

func testResetVoided(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "voided@example.com", usermgmt.RoleGeneral)
	token := e.requestReset(u.Email)
	_, err := e.m.ChangePassword(e.ctx, u.ID, Password, "changed meanwhile passphrase")
	ok(t, err)
	_, err = e.m.ResetPassword(e.ctx, token, "reset after change passphrase")
	isErr(t, err, usermgmt.ErrTokenInvalid)
	token = e.requestReset(u.Email)
	_, err = e.m.Ban(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	_, err = e.m.Unban(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	_, err = e.m.ResetPassword(e.ctx, token, "reset after ban passphrase")
	isErr(t, err, usermgmt.ErrTokenInvalid)
	token = e.requestReset(u.Email)
	_, err = e.m.SetPassword(e.ctx, e.admin.ID, u.ID, "set by the admin passphrase")
	ok(t, err)
	_, err = e.m.ResetPassword(e.ctx, token, "reset after set passphrase")
	isErr(t, err, usermgmt.ErrTokenInvalid)
}

func testResetUnlocks(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "locked-out@example.com", usermgmt.RoleGeneral)
	e.fail(u.Email, 10)
	token := e.requestReset(u.Email)
	got, err := e.m.ResetPassword(e.ctx, token, "back in passphrase")
	ok(t, err)
	eq(t, "status after the reset", got.Status, usermgmt.StatusActive)
	_, err = e.m.Authenticate(e.ctx, u.Email, "back in passphrase")
	ok(t, err)

	k := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{ResetKeepsLock: true}))
	v := k.user(k.root.ID, "kept-locked@example.com", usermgmt.RoleGeneral)
	k.fail(v.Email, 10)
	token = k.requestReset(v.Email)
	got, err = k.m.ResetPassword(k.ctx, token, "new but locked passphrase")
	ok(t, err)
	eq(t, "status with ResetKeepsLock", got.Status, usermgmt.StatusLocked)
	eq(t, "failures reset", k.get(v.ID).FailedAttempts, 0)
}

func testResetKeepsStatuses(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "drifting@example.com", usermgmt.RoleGeneral)
	token := e.requestReset(u.Email)
	e.clock.Set(start.AddDate(0, 3, 0))
	_, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "status after the sweep", e.get(u.ID).Status, usermgmt.StatusInactive)
	e.clock.Set(start.Add(30 * time.Minute)) // the token is still within its hour
	got, err := e.m.ResetPassword(e.ctx, token, "inactive new passphrase")
	ok(t, err)
	eq(t, "an Inactive user stays Inactive", got.Status, usermgmt.StatusInactive)
	// Disabled users get no link at all.
	v := e.user(e.root.ID, "disabled-reset@example.com", usermgmt.RoleGeneral)
	_, err = e.m.Disable(e.ctx, usermgmt.System, v.ID) // the admin went Inactive in the sweep
	ok(t, err)
	ok(t, e.m.RequestPasswordReset(e.ctx, v.Email))
	e.m.Wait()
	eq(t, "messages to a disabled user", len(e.messagesTo(v.Email)), 0)
}

func testResetNeedsOutbox(t *testing.T, su *suite) {
	e := su.env(t)
	plain, err := usermgmt.New(e.store, usermgmt.WithClock(e.clock))
	ok(t, err)
	isErr(t, plain.RequestPasswordReset(e.ctx, e.admin.Email), usermgmt.ErrNotConfigured)
	_, err = plain.DeliverDue(e.ctx, usermgmt.DeliveryOptions{Sender: &capture{}})
	isErr(t, err, usermgmt.ErrNotConfigured)
	_, err = e.m.DeliverDue(e.ctx, usermgmt.DeliveryOptions{})
	isErr(t, err, usermgmt.ErrNotConfigured) // no sender
}
