package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var invitationTests = map[string]func(*testing.T, *suite){
	"AcceptedJustBeforeExpiry":   testAcceptJustBeforeExpiry,
	"RefusedAtExpiry":            testRefusedAtExpiry,
	"SingleUse":                  testSingleUse,
	"LookupDoesNotConsume":       testLookupDoesNotConsume,
	"ResendRotatesToken":         testResendRotates,
	"RevokeVoidsAndFreesEmail":   testRevoke,
	"BulkInviteRowResults":       testBulkInvite,
	"PendingListedWithExpiry":    testPendingList,
	"TokenOnlyStoredAsHash":      testTokenHashed,
	"CreatedDisabledNeedsEnable": testCreatedDisabled,
}

const ttl = 168 * time.Hour

func testAcceptJustBeforeExpiry(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "just-in-time@example.com")
	e.clock.Advance(ttl - time.Nanosecond)
	got, err := e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password, FirstName: "Justin", LastName: "Time"})
	ok(t, err)
	eq(t, "status", got.Status, usermgmt.StatusActive)
	eq(t, "first name", got.FirstName, "Justin")
	sameTime(t, "ActivatedAt", got.ActivatedAt, e.clock.Now())
	stored := e.get(u.ID)
	eq(t, "token hash cleared", stored.InviteTokenHash, "")
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	h := e.history(u.ID)
	eq(t, "accept action", h[len(h)-2].Action, usermgmt.ActionAccept)
	eq(t, "accept actor", h[len(h)-2].ActorID, u.ID)
}

func testRefusedAtExpiry(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "too-late@example.com")
	e.clock.Advance(ttl)
	_, err := e.m.Invitation(e.ctx, token)
	isErr(t, err, usermgmt.ErrInvitationExpired)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrInvitationExpired)
	eq(t, "status", e.get(u.ID).Status, usermgmt.StatusInvited)
	eq(t, "events", len(e.history(u.ID)), 1)
}

func testSingleUse(t *testing.T, su *suite) {
	e := su.env(t)
	_, token := e.invite(e.root.ID, "once@example.com")
	_, err := e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: "another long passphrase"})
	isErr(t, err, usermgmt.ErrInvitationInvalid)
	_, err = e.m.Invitation(e.ctx, token)
	isErr(t, err, usermgmt.ErrInvitationInvalid)
	_, err = e.m.AcceptInvitation(e.ctx, "made-up-token", usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrInvitationInvalid)
}

func testLookupDoesNotConsume(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "scanner@example.com")
	for i := 0; i < 3; i++ { // an email scanner opening the link
		inv, err := e.m.Invitation(e.ctx, token)
		ok(t, err)
		eq(t, "invitation email", inv.Email, u.Email)
		sameTime(t, "ExpiresAt", inv.ExpiresAt, start.Add(ttl))
	}
	eq(t, "version after lookups", e.get(u.ID).Version, u.Version)
	// A weak password is refused without using the token.
	_, err := e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: "password123!"})
	isErr(t, err, usermgmt.ErrWeakPassword)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
}

func testResendRotates(t *testing.T, su *suite) {
	e := su.env(t)
	u, old := e.invite(e.root.ID, "resend@example.com")
	e.clock.Advance(100 * time.Hour)
	fresh, err := e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	if fresh == old || fresh == "" {
		t.Fatal("resend did not issue a new token")
	}
	_, err = e.m.Invitation(e.ctx, old)
	isErr(t, err, usermgmt.ErrInvitationInvalid)
	inv, err := e.m.Invitation(e.ctx, fresh)
	ok(t, err)
	sameTime(t, "new expiry", inv.ExpiresAt, e.clock.Now().Add(ttl))
	e.clock.Advance(ttl - time.Nanosecond) // well past the first window
	_, err = e.m.AcceptInvitation(e.ctx, fresh, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	eq(t, "actions", strings.Join(actionStrings(e.actions(u.ID)), ","), "invite,resend,accept")
	_, err = e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrInvalidTransition)
}

func actionStrings(as []usermgmt.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}

func testRevoke(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "revoked@example.com")
	ok(t, e.m.RevokeInvitation(e.ctx, e.admin.ID, u.ID))
	_, err := e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrInvitationInvalid)
	eq(t, "status", e.get(u.ID).Status, usermgmt.StatusRemoved)
	again, _ := e.invite(e.root.ID, u.Email) // the email is free again
	if again.ID == u.ID {
		t.Fatal("a new invitation reused the removed user")
	}
	eq(t, "actions of the revoked user", strings.Join(actionStrings(e.actions(u.ID)), ","), "invite,revoke")
	isErr(t, e.m.RevokeInvitation(e.ctx, e.admin.ID, u.ID), usermgmt.ErrInvalidTransition)
}

func testBulkInvite(t *testing.T, su *suite) {
	e := su.env(t)
	e.user(e.root.ID, "member@example.com", usermgmt.RoleGeneral)
	e.invite(e.root.ID, "pending@example.com")
	res, err := e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{AccountID: e.root.ID, Emails: []string{
		"new.one@example.com", "MEMBER@example.com", "pending@example.com", "not an email", "x@mailinator.com",
		"new.two@example.com", " New.One@Example.com", "y@sub.yopmail.com",
	}})
	ok(t, err)
	want := []usermgmt.InviteOutcome{usermgmt.Invited, usermgmt.SkippedExists, usermgmt.SkippedPending, usermgmt.RejectedInvalid,
		usermgmt.RejectedDisposable, usermgmt.Invited, usermgmt.SkippedPending, usermgmt.RejectedDisposable}
	eq(t, "rows", len(res), len(want))
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Fatalf("row %d (%s): %s, want %s (err %v)", i, r.Email, r.Outcome, want[i], r.Err)
		}
		if (r.Token != "") != (r.Outcome == usermgmt.Invited) {
			t.Fatalf("row %d: token %q with outcome %s", i, r.Token, r.Outcome)
		}
	}
	isErr(t, res[3].Err, usermgmt.ErrInvalidEmail)
	isErr(t, res[4].Err, usermgmt.ErrDisposableEmail)
	eq(t, "repeat row user", res[6].UserID, res[0].UserID)
	inv, err := e.m.Invitation(e.ctx, res[5].Token)
	ok(t, err)
	eq(t, "invited email", inv.Email, "new.two@example.com")
	eq(t, "events of an invited row", len(e.history(res[0].UserID)), 1)

	// A general user may not invite; an admin may not invite into an
	// account outside their reach.
	g := e.user(e.root.ID, "general@example.com", usermgmt.RoleGeneral)
	_, err = e.m.InviteUsers(e.ctx, g.ID, usermgmt.BulkInvite{AccountID: e.root.ID, Emails: []string{"z@example.com"}})
	isErr(t, err, usermgmt.ErrPermissionDenied)

	// Over the store's batch size, every row gets its user and event.
	emails := make([]string, 1203)
	for i := range emails {
		emails[i] = email("bulk", i)
	}
	res, err = e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{AccountID: e.root.ID, Emails: emails})
	ok(t, err)
	for i, r := range res {
		if r.Outcome != usermgmt.Invited {
			t.Fatalf("bulk row %d: %s %v", i, r.Outcome, r.Err)
		}
	}
	eq(t, "events of the last row", len(e.history(res[len(res)-1].UserID)), 1)
}

func testPendingList(t *testing.T, su *suite) {
	e := su.env(t)
	a, _ := e.invite(e.root.ID, "pending-a@example.com")
	e.clock.Advance(time.Hour)
	b, _ := e.invite(e.root.ID, "pending-b@example.com")
	e.user(e.root.ID, "active@example.com", usermgmt.RoleGeneral)
	page, err := e.m.PendingInvitations(e.ctx, e.admin.ID, "", "", 0)
	ok(t, err)
	eq(t, "pending", len(page.Items), 2)
	eq(t, "first", page.Items[0].UserID, a.ID)
	eq(t, "second", page.Items[1].UserID, b.ID)
	sameTime(t, "first expiry", page.Items[0].ExpiresAt, start.Add(ttl))
	sameTime(t, "second expiry", page.Items[1].ExpiresAt, start.Add(time.Hour+ttl))
	e.clock.Advance(ttl - time.Nanosecond)
	if !page.Items[0].Expired(e.clock.Now()) || page.Items[1].Expired(e.clock.Now()) {
		t.Fatal("Expired disagrees with the expiries")
	}
}

func testTokenHashed(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "hashed@example.com")
	stored := e.get(u.ID)
	if stored.InviteTokenHash == "" || strings.Contains(stored.InviteTokenHash, token) {
		t.Fatalf("stored token hash %q reveals the token", stored.InviteTokenHash)
	}
	if len(token) < 43 {
		t.Fatalf("token %q shorter than 32 random bytes", token)
	}
	if u.InviteTokenHash != "" {
		t.Fatal("CreateUser returned the token hash")
	}
	for _, ev := range e.history(u.ID) {
		for _, c := range ev.Changes {
			if strings.Contains(c.Old+c.New, token) || strings.Contains(c.Old+c.New, stored.InviteTokenHash) {
				t.Fatalf("audit change %+v holds the token", c)
			}
		}
	}
}

func testCreatedDisabled(t *testing.T, su *suite) {
	e := su.env(t)
	c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "off@example.com",
		FirstName: "Off", LastName: "Switch", Password: Password, Disabled: true})
	ok(t, err)
	eq(t, "status", c.User.Status, usermgmt.StatusDisabled)
	_, err = e.m.Authenticate(e.ctx, "off@example.com", Password)
	isErr(t, err, usermgmt.ErrDisabled)
	_, err = e.m.Enable(e.ctx, e.admin.ID, c.User.ID)
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, "off@example.com", Password)
	ok(t, err)

	// Without a password: the invitation waits until the user is enabled.
	c, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "off2@example.com",
		FirstName: "Off", LastName: "Two", Disabled: true})
	ok(t, err)
	_, err = e.m.AcceptInvitation(e.ctx, c.InvitationToken, usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrDisabled)
	got, err := e.m.Enable(e.ctx, e.admin.ID, c.User.ID)
	ok(t, err)
	eq(t, "status after enable without password", got.Status, usermgmt.StatusInvited)
	_, err = e.m.AcceptInvitation(e.ctx, c.InvitationToken, usermgmt.Acceptance{Password: Password})
	ok(t, err)
}
