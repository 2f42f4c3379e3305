package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var emailTests = map[string]func(*testing.T, *suite){
	"OneMailboxOneForm":               testOneMailboxOneForm,
	"AdminChangeConfirmedByNewAddr":   testAdminEmailChange,
	"OwnChangeNeedsCurrentPassword":   testOwnEmailChange,
	"ChangeToTakenAddressRefused":     testEmailChangeTaken,
	"InvitedUserReinvitedAtNewAddr":   testInvitedEmailChange,
	"ConfirmationExpiresAndIsSingle":  testEmailChangeExpiry,
	"MailboxAndPasswordVoidEachOther": testMailboxPasswordVoid,
}

// testOneMailboxOneForm: every spelling of one mailbox is one user; a
// spelling that folds into another mailbox is refused.
func testOneMailboxOneForm(t *testing.T, su *suite) {
	e := su.env(t)
	for _, c := range []struct{ first, second string }{
		{"user@bücher.example", "USER@xn--bcher-kva.example"},
		{"caf\u00e9@example.com", "cafe\u0301@example.com"},
		{"Ünïcode@Example.COM", "ünïcode@example.com"},
	} {
		created := e.user(e.root.ID, c.first, usermgmt.RoleGeneral)
		_, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: c.second, FirstName: "T", LastName: "Wo", Invite: true})
		isErr(t, err, usermgmt.ErrDuplicateEmail)
		got, err := e.m.Authenticate(e.ctx, c.second, Password)
		ok(t, err)
		eq(t, "user logged in by the other spelling", got.ID, created.ID)
		canon, err := usermgmt.NormalizeEmail(c.second)
		ok(t, err)
		eq(t, "stored form", created.Email, canon)
	}
	// U+0130 folds to "i" under strings.ToLower: another mailbox. The domain
	// keeps its own A-label; a local part with it is refused.
	e.user(e.root.ID, "eve@github.example", usermgmt.RoleGeneral)
	c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "eve@g\u0130thub.example", FirstName: "E", LastName: "Ve", Invite: true})
	ok(t, err)
	if c.User.Email == "eve@github.example" || !strings.HasPrefix(emailDomainOf(c.User.Email), "xn--") {
		t.Fatalf("g\u0130thub.example stored as %q", c.User.Email)
	}
	sent := e.deliver()
	for _, n := range sent {
		if n.Token == c.InvitationToken && n.To != c.User.Email {
			t.Fatalf("invitation mailed to %q, not the stored %q", n.To, c.User.Email)
		}
	}
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "\u212Aelvin@example.com", FirstName: "K", LastName: "S", Invite: true})
	isErr(t, err, usermgmt.ErrInvalidEmail)
	res, err := e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{{Email: "Bulk@BÜCHER.example"}}})
	ok(t, err)
	eq(t, "bulk row reports the stored address", res[0].Email, "bulk@xn--bcher-kva.example")
}

func emailDomainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

func testAdminEmailChange(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "old-address@example.com", usermgmt.RoleGeneral)
	sv := e.get(u.ID).SessionVersion
	ch, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "New-Address@Example.com")
	ok(t, err)
	eq(t, "pending", ch.User.PendingEmail, "new-address@example.com")
	eq(t, "email kept until confirmed", ch.User.Email, "old-address@example.com")
	sameSlice(t, "to the old address", e.messagesTo("old-address@example.com"), []usermgmt.NotificationKind{usermgmt.NotifyEmailChangeNotice})
	sameSlice(t, "to the new address", e.messagesTo("new-address@example.com"), []usermgmt.NotificationKind{usermgmt.NotifyEmailChange})
	_, err = e.m.Authenticate(e.ctx, "new-address@example.com", Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	token := e.lastToken(usermgmt.NotifyEmailChange, "new-address@example.com")
	if token != ch.Token {
		t.Fatal("the mailed token differs from the returned one")
	}
	got, err := e.m.ConfirmEmailChange(e.ctx, token)
	ok(t, err)
	eq(t, "email after confirmation", got.Email, "new-address@example.com")
	eq(t, "pending after confirmation", got.PendingEmail, "")
	eq(t, "session version moved", got.SessionVersion, sv+1)
	_, err = e.m.Authenticate(e.ctx, "new-address@example.com", Password)
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, "old-address@example.com", Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)
	eq(t, "actions", e.actions(u.ID), "create,email_change,email_change")
}

func testOwnEmailChange(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "self-change@example.com", usermgmt.RoleGeneral)
	_, err := e.m.ChangeOwnEmail(e.ctx, u.ID, "wrong password", "self-new@example.com")
	isErr(t, err, usermgmt.ErrWrongPassword)
	eq(t, "failures", e.get(u.ID).FailedAttempts, 1)
	eq(t, "pending after a refusal", e.get(u.ID).PendingEmail, "")
	// Whether another user holds an address is told only to whoever
	// proves the password: a session alone learns nothing of who is
	// registered, in any tenant, and every guess costs an attempt.
	other, c := e.account(usermgmt.System, "", "Elsewhere", "held-elsewhere@example.com")
	_ = other
	_, err = e.m.ChangeOwnEmail(e.ctx, u.ID, "wrong password", c.User.Email)
	isErr(t, err, usermgmt.ErrWrongPassword)
	eq(t, "failures after a guess at a held address", e.get(u.ID).FailedAttempts, 2)
	_, err = e.m.ChangeOwnEmail(e.ctx, u.ID, "wrong password", "not an address")
	isErr(t, err, usermgmt.ErrInvalidEmail)
	eq(t, "failures after a malformed address", e.get(u.ID).FailedAttempts, 2)
	_, err = e.m.ChangeOwnEmail(e.ctx, u.ID, Password, c.User.Email)
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	ch, err := e.m.ChangeOwnEmail(e.ctx, u.ID, Password, "self-new@example.com")
	ok(t, err)
	got, err := e.m.ConfirmEmailChange(e.ctx, ch.Token)
	ok(t, err)
	eq(t, "email", got.Email, "self-new@example.com")
	eq(t, "confirmed by", e.history(u.ID)[0].ActorID, u.ID)
}

func testEmailChangeTaken(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "mover@example.com", usermgmt.RoleGeneral)
	e.user(e.root.ID, "taken@example.com", usermgmt.RoleGeneral)
	_, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "TAKEN@example.com")
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	_, err = e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "x@mailinator.com")
	isErr(t, err, usermgmt.ErrDisposableEmail)
	// Taken between the request and the confirmation.
	ch, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "contested@example.com")
	ok(t, err)
	e.user(e.root.ID, "contested@example.com", usermgmt.RoleGeneral)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	eq(t, "email after a refused confirmation", e.get(u.ID).Email, "mover@example.com")
	// Back to the current address cancels the change.
	_, err = e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "elsewhere@example.com")
	ok(t, err)
	got, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "mover@example.com")
	ok(t, err)
	eq(t, "pending after cancelling", got.User.PendingEmail, "")
	// Outside reach, a user is not found.
	other, c := e.account(usermgmt.System, "", "Elsewhere", "else-admin@example.com")
	_ = other
	_, err = e.m.ChangeEmail(e.ctx, c.User.ID, u.ID, "stolen@example.com")
	isErr(t, err, usermgmt.ErrNotFound)
}

func testInvitedEmailChange(t *testing.T, su *suite) {
	e := su.env(t)
	u, old := e.invite(e.root.ID, "typo@exmaple.com")
	ch, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "fixed@example.com")
	ok(t, err)
	eq(t, "email of the invited user", ch.User.Email, "fixed@example.com")
	_, err = e.m.AcceptInvitation(e.ctx, old, usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrTokenInvalid)
	token := e.lastToken(usermgmt.NotifyInvitation, "fixed@example.com")
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
}

func testEmailChangeExpiry(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "expiring-change@example.com", usermgmt.RoleGeneral)
	ch, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "later@example.com")
	ok(t, err)
	e.clock.Advance(24 * time.Hour)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	isErr(t, err, usermgmt.ErrTokenExpired)
	ch, err = e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "later@example.com")
	ok(t, err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	ok(t, err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	if !errors.Is(err, usermgmt.ErrTokenInvalid) {
		t.Fatalf("second confirmation: %v", err)
	}
}

// testMailboxPasswordVoid: a reset link mailed to the old address dies
// when the email changes (whoever still reads that mailbox must not get
// the account back), and a pending email change dies when the password
// is reset or changed (the owner taking the account back from someone who
// asked to move it to their own address).
func testMailboxPasswordVoid(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "old-mailbox@example.com", usermgmt.RoleGeneral)
	reset := e.requestReset(u.Email)
	ch, err := e.m.ChangeOwnEmail(e.ctx, u.ID, Password, "new-mailbox@example.com")
	ok(t, err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	ok(t, err)
	_, err = e.m.ResetPassword(e.ctx, reset, "taken back through the old mailbox")
	isErr(t, err, usermgmt.ErrTokenInvalid)
	_, err = e.m.Authenticate(e.ctx, "new-mailbox@example.com", Password)
	ok(t, err)

	// Someone who knows the password asks to move the account to their
	// address; the owner resets the password through their mailbox.
	ch, err = e.m.ChangeOwnEmail(e.ctx, u.ID, Password, "intruder@example.com")
	ok(t, err)
	reset = e.requestReset("new-mailbox@example.com")
	got, err := e.m.ResetPassword(e.ctx, reset, "the owner's new passphrase")
	ok(t, err)
	eq(t, "pending email after the reset", got.PendingEmail, "")
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	isErr(t, err, usermgmt.ErrTokenInvalid)
	eq(t, "email after the refused confirmation", e.get(u.ID).Email, "new-mailbox@example.com")

	// The same for a password changed by the user or set by an admin.
	ch, err = e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "intruder@example.com")
	ok(t, err)
	_, err = e.m.ChangePassword(e.ctx, u.ID, "the owner's new passphrase", "another owner passphrase")
	ok(t, err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	isErr(t, err, usermgmt.ErrTokenInvalid)
	ch, err = e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "intruder@example.com")
	ok(t, err)
	_, err = e.m.SetPassword(e.ctx, e.admin.ID, u.ID, "set by the admin passphrase")
	ok(t, err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	isErr(t, err, usermgmt.ErrTokenInvalid)
	eq(t, "email at the end", e.get(u.ID).Email, "new-mailbox@example.com")
}
