package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var invitationTests = map[string]func(*testing.T, *suite){
	"AcceptedJustBeforeExpiry":         testAcceptJustBeforeExpiry,
	"RefusedAtExpiry":                  testRefusedAtExpiry,
	"SingleUse":                        testSingleUse,
	"LookupDoesNotConsume":             testLookupDoesNotConsume,
	"ResendRotatesToken":               testResendRotates,
	"RevokeVoidsAndFreesEmail":         testRevoke,
	"BulkInviteRowResults":             testBulkInvite,
	"BulkDryRunWritesNothing":          testBulkDryRun,
	"PendingListedWithExpiry":          testPendingList,
	"TokenOnlyStoredAsHash":            testTokenHashed,
	"CreatedDisabledNeedsEnable":       testCreatedDisabled,
	"AnyMoveOutOfInvitedVoidsLink":     testStaleLinksVoided,
	"EmptyPasswordIsNoInvitation":      testEmptyPasswordRefused,
	"InvitationMailCarriesTheLink":     testInvitationMail,
	"DefaultAccountIsTheActors":        testDefaultAccount,
	"WelcomeAfterAcceptWhenAskedFor":   testWelcome,
	"InvitedByRecordedOnTheInvitation": testInvitedBy,
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
	eq(t, "password set", got.PasswordSet, true)
	sameTime(t, "ActivatedAt", got.ActivatedAt, e.clock.Now())
	sameTime(t, "no invitation pending", got.InvitationExpiresAt, time.Time{})
	eq(t, "tokens left", len(e.get(u.ID).Tokens), 0)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	eq(t, "actions", e.actions(u.ID), "invite,accept")
	eq(t, "accept actor", e.history(u.ID)[0].ActorID, u.ID)
}

func testRefusedAtExpiry(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "too-late@example.com")
	e.clock.Advance(ttl)
	_, err := e.m.Invitation(e.ctx, token)
	isErr(t, err, usermgmt.ErrTokenExpired)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrTokenExpired)
	eq(t, "status", e.get(u.ID).Status, usermgmt.StatusInvited)
	eq(t, "events", len(e.history(u.ID)), 1)
}

func testSingleUse(t *testing.T, su *suite) {
	e := su.env(t)
	_, token := e.invite(e.root.ID, "once@example.com")
	_, err := e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: "another long passphrase"})
	isErr(t, err, usermgmt.ErrTokenInvalid)
	_, err = e.m.Invitation(e.ctx, token)
	isErr(t, err, usermgmt.ErrTokenInvalid)
	_, err = e.m.AcceptInvitation(e.ctx, "made-up-token", usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrTokenInvalid)
	_, err = e.m.AcceptInvitation(e.ctx, strings.Repeat("A", 43), usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrTokenInvalid)
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
	inv, err := e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	if inv.Token == old || inv.Token == "" {
		t.Fatal("resend did not issue a new token")
	}
	sameTime(t, "new expiry", inv.ExpiresAt, e.clock.Now().Add(ttl))
	eq(t, "invited by", inv.InvitedBy, e.admin.ID)
	_, err = e.m.Invitation(e.ctx, old)
	isErr(t, err, usermgmt.ErrTokenInvalid)
	e.clock.Advance(ttl - time.Nanosecond) // well past the first window
	_, err = e.m.AcceptInvitation(e.ctx, inv.Token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	eq(t, "actions", e.actions(u.ID), "invite,resend,accept")
	_, err = e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrInvalidTransition)
}

func testRevoke(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "revoked@example.com")
	got, err := e.m.RevokeInvitation(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	eq(t, "returned status", got.Status, usermgmt.StatusRemoved)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	isErr(t, err, usermgmt.ErrTokenInvalid)
	again, _ := e.invite(e.root.ID, u.Email) // the email is free again
	if again.ID == u.ID {
		t.Fatal("a new invitation reused the removed user")
	}
	eq(t, "actions of the revoked user", e.actions(u.ID), "invite,revoke")
	_, err = e.m.RevokeInvitation(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrInvalidTransition)
}

func testBulkInvite(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "analyst"}))
	e.user(e.root.ID, "member@example.com", usermgmt.RoleGeneral)
	e.invite(e.root.ID, "pending@example.com")
	sub, _ := e.account(e.admin.ID, e.root.ID, "Sub", "sub-admin@example.com")
	res, err := e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{
		{Email: "new.one@example.com", FirstName: "New", LastName: "One", Role: "analyst"},
		{Email: "MEMBER@example.com"},
		{Email: "pending@example.com"},
		{Email: "not an email"},
		{Email: "x@mailinator.com"},
		{Email: "new.two@example.com", AccountID: sub.ID, Locale: "de"},
		{Email: " New.One@Example.com"},
		{Email: "y@sub.yopmail.com"},
		{Email: "role@example.com", Role: "no_such_role"},
		{Email: "far@example.com", AccountID: newID()},
		{Email: "off@example.com", Disabled: true},
		{Email: "pw@example.com", Password: Password},
	}})
	ok(t, err)
	want := []usermgmt.InviteOutcome{usermgmt.Invited, usermgmt.SkippedExists, usermgmt.SkippedPending, usermgmt.RejectedInvalid,
		usermgmt.RejectedDisposable, usermgmt.Invited, usermgmt.SkippedDuplicate, usermgmt.RejectedDisposable, usermgmt.Rejected,
		usermgmt.Rejected, usermgmt.CreatedDisabled, usermgmt.Rejected}
	eq(t, "rows", len(res), len(want))
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Fatalf("row %d (%s): %s, want %s (err %v)", i, r.Email, r.Outcome, want[i], r.Err)
		}
		eq(t, "row index", r.Row, i)
		if (r.Token != "") != (r.Outcome == usermgmt.Invited) {
			t.Fatalf("row %d: token %q with outcome %s", i, r.Token, r.Outcome)
		}
	}
	isErr(t, res[3].Err, usermgmt.ErrInvalidEmail)
	isErr(t, res[4].Err, usermgmt.ErrDisposableEmail)
	isErr(t, res[8].Err, usermgmt.ErrUnknownRole)
	eq(t, "field of the unknown role", res[8].Field, "role")
	isErr(t, res[9].Err, usermgmt.ErrNotFound)
	eq(t, "field of the unknown account", res[9].Field, "account_id")
	eq(t, "field of the plain password", res[11].Field, "password")
	eq(t, "code of the unknown role", res[8].Code, "unknown_role")
	eq(t, "repeat row", res[6].DuplicateOf, 0)
	eq(t, "repeat row user", res[6].UserID, res[0].UserID)
	eq(t, "canonical email", res[6].Email, "new.one@example.com")
	inv, err := e.m.Invitation(e.ctx, res[5].Token)
	ok(t, err)
	eq(t, "invited email", inv.Email, "new.two@example.com")
	eq(t, "invited account", inv.AccountID, sub.ID)
	first := e.get(res[0].UserID)
	eq(t, "names per row", first.FirstName+" "+first.LastName, "New One")
	eq(t, "role per row", first.Role, "analyst")
	eq(t, "invited by", first.InvitedBy, e.admin.ID)
	eq(t, "locale per row", e.get(res[5].UserID).Locale, "de")
	eq(t, "events of an invited row", len(e.history(res[0].UserID)), 1)
	eq(t, "invitation messages", len(e.messagesTo("new.one@example.com")), 1)
	eq(t, "messages to a disabled row", len(e.messagesTo("off@example.com")), 0)

	// A general user may not invite; an admin may not invite into an
	// account outside their reach.
	g := e.user(e.root.ID, "general@example.com", usermgmt.RoleGeneral)
	_, err = e.m.InviteUsers(e.ctx, g.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{{Email: "z@example.com"}}})
	isErr(t, err, usermgmt.ErrPermissionDenied)

	// Over the store's batch size, every row gets its user, event and message.
	rows := make([]usermgmt.NewUser, 1203)
	for i := range rows {
		rows[i] = usermgmt.NewUser{Email: email("bulk", i)}
	}
	res, err = e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{Rows: rows})
	ok(t, err)
	for i, r := range res {
		if r.Outcome != usermgmt.Invited {
			t.Fatalf("bulk row %d: %s %v", i, r.Outcome, r.Err)
		}
	}
	eq(t, "events of the last row", len(e.history(res[len(res)-1].UserID)), 1)
	eq(t, "messages of the last row", len(e.messagesTo(email("bulk", 1202))), 1)
	// Running the same rows again is safe: everything is skipped.
	res, err = e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{Rows: rows[:600]})
	ok(t, err)
	for i, r := range res {
		if r.Outcome != usermgmt.SkippedPending {
			t.Fatalf("re-run row %d: %s %v", i, r.Outcome, r.Err)
		}
	}
	eq(t, "messages after the re-run", len(e.messagesTo(email("bulk", 5))), 1)
}

func testBulkDryRun(t *testing.T, su *suite) {
	e := su.env(t)
	e.user(e.root.ID, "exists@example.com", usermgmt.RoleGeneral)
	before := len(e.pending())
	res, err := e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{DryRun: true, Rows: []usermgmt.NewUser{
		{Email: "fresh@example.com"}, {Email: "exists@example.com"}, {Email: "bad@"}, {Email: "fresh@example.com"},
		{Email: "off@example.com", Disabled: true},
		{Email: "hash@example.com", PasswordHash: "$2a$04$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES"},
	}})
	ok(t, err)
	want := []usermgmt.InviteOutcome{usermgmt.Invited, usermgmt.SkippedExists, usermgmt.RejectedInvalid, usermgmt.SkippedDuplicate,
		usermgmt.CreatedDisabled, usermgmt.CreatedActive}
	for i, r := range res {
		eq(t, "dry-run outcome of "+r.Email, r.Outcome, want[i])
		eq(t, "dry-run token", r.Token, "")
	}
	_, err = e.store.UserByEmail(e.ctx, "fresh@example.com")
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "messages after a dry run", len(e.pending()), before)
}

func testPendingList(t *testing.T, su *suite) {
	e := su.env(t)
	a, _ := e.invite(e.root.ID, "pending-a@example.com")
	e.clock.Advance(time.Hour)
	b, _ := e.invite(e.root.ID, "pending-b@example.com")
	e.user(e.root.ID, "active@example.com", usermgmt.RoleGeneral)
	page, err := e.m.PendingInvitations(e.ctx, e.admin.ID, usermgmt.InvitationQuery{})
	ok(t, err)
	eq(t, "pending", len(page.Items), 2)
	eq(t, "first", page.Items[0].UserID, a.ID)
	eq(t, "second", page.Items[1].UserID, b.ID)
	sameTime(t, "first expiry", page.Items[0].ExpiresAt, start.Add(ttl))
	sameTime(t, "second expiry", page.Items[1].ExpiresAt, start.Add(time.Hour+ttl))
	eq(t, "invited by", page.Items[0].InvitedBy, e.admin.ID)
	e.clock.Advance(ttl - time.Nanosecond)
	if !page.Items[0].Expired(e.clock.Now()) || page.Items[1].Expired(e.clock.Now()) {
		t.Fatal("Expired disagrees with the expiries")
	}
}

func testTokenHashed(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "hashed@example.com")
	stored := e.get(u.ID)
	eq(t, "tokens stored", len(stored.Tokens), 1)
	if strings.Contains(stored.Tokens[0].Hash, token) {
		t.Fatalf("stored token hash %q reveals the token", stored.Tokens[0].Hash)
	}
	if len(token) < 43 {
		t.Fatalf("token %q shorter than 32 random bytes", token)
	}
	for _, ev := range e.history(u.ID) {
		for _, c := range ev.Changes {
			if strings.Contains(c.Old+c.New, token) || strings.Contains(c.Old+c.New, stored.Tokens[0].Hash) {
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

	// Without a password: created Disabled, no invitation until enabled and re-sent.
	c, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "off2@example.com",
		FirstName: "Off", LastName: "Two", Disabled: true})
	ok(t, err)
	eq(t, "token for a disabled user", c.InvitationToken, "")
	eq(t, "messages to a disabled user", len(e.messagesTo("off2@example.com")), 0)
	got, err := e.m.Enable(e.ctx, e.admin.ID, c.User.ID)
	ok(t, err)
	eq(t, "status after enable without password", got.Status, usermgmt.StatusInvited)
	inv, err := e.m.ResendInvitation(e.ctx, e.admin.ID, c.User.ID)
	ok(t, err)
	_, err = e.m.AcceptInvitation(e.ctx, inv.Token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "both@example.com", FirstName: "B", LastName: "O", Disabled: true, Invite: true})
	isErr(t, err, usermgmt.ErrInvalidInput)
}

// testStaleLinksVoided: banning or disabling an invited user voids the
// link; after unban or enable the old link stays dead, and a resend
// issues a new one.
func testStaleLinksVoided(t *testing.T, su *suite) {
	e := su.env(t)
	for i, pair := range []struct {
		away, back func(id string) (usermgmt.User, error)
	}{
		{func(id string) (usermgmt.User, error) { return e.m.Ban(e.ctx, e.admin.ID, id) }, func(id string) (usermgmt.User, error) { return e.m.Unban(e.ctx, e.admin.ID, id) }},
		{func(id string) (usermgmt.User, error) { return e.m.Disable(e.ctx, e.admin.ID, id) }, func(id string) (usermgmt.User, error) { return e.m.Enable(e.ctx, e.admin.ID, id) }},
	} {
		u, token := e.invite(e.root.ID, email("stale-link", i))
		_, err := pair.away(u.ID)
		ok(t, err)
		eq(t, "tokens while away", len(e.get(u.ID).Tokens), 0)
		back, err := pair.back(u.ID)
		ok(t, err)
		eq(t, "status back", back.Status, usermgmt.StatusInvited)
		sameTime(t, "no pending invitation", back.InvitationExpiresAt, time.Time{})
		_, err = e.m.Invitation(e.ctx, token)
		isErr(t, err, usermgmt.ErrTokenInvalid)
		_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
		isErr(t, err, usermgmt.ErrTokenInvalid)
		inv, err := e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
		ok(t, err)
		_, err = e.m.AcceptInvitation(e.ctx, inv.Token, usermgmt.Acceptance{Password: Password})
		ok(t, err)
	}
}

func testEmptyPasswordRefused(t *testing.T, su *suite) {
	e := su.env(t)
	_, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "signup@example.com", FirstName: "S", LastName: "U", Password: ""})
	isErr(t, err, usermgmt.ErrInvalidInput)
	var fe *usermgmt.FieldError
	if !errors.As(err, &fe) || fe.Field != "password" {
		t.Fatalf("an empty password: %v, want a FieldError for password", err)
	}
	_, err = e.store.UserByEmail(e.ctx, "signup@example.com")
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "both@example.com", FirstName: "B", LastName: "U", Password: Password, Invite: true})
	isErr(t, err, usermgmt.ErrInvalidInput)
}

func testInvitationMail(t *testing.T, su *suite) {
	e := su.env(t)
	_, err := e.m.UpdateProfile(e.ctx, e.admin.ID, e.admin.ID, usermgmt.Profile{FirstName: ptr("Ada"), LastName: ptr("Lovelace")})
	ok(t, err)
	c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: " Grace@Example.COM ", FirstName: "Grace", LastName: "Hopper", Invite: true, Locale: "en-GB"})
	ok(t, err)
	sent := e.deliver()
	eq(t, "messages sent", len(sent), 1)
	n := sent[0]
	eq(t, "kind", n.Kind, usermgmt.NotifyInvitation)
	eq(t, "to the canonical address", n.To, "grace@example.com")
	eq(t, "token", n.Token, c.InvitationToken)
	eq(t, "first name", n.FirstName, "Grace")
	eq(t, "inviter", n.ActorName, "Ada Lovelace")
	eq(t, "account", n.AccountName, "All Clients")
	eq(t, "locale", n.Locale, "en-GB")
	sameTime(t, "expiry", n.ExpiresAt, start.Add(ttl))
	_, err = e.m.AcceptInvitation(e.ctx, n.Token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	eq(t, "nothing left to send", len(e.deliver()), 0)
}

func testDefaultAccount(t *testing.T, su *suite) {
	e := su.env(t)
	sub, c := e.account(e.admin.ID, e.root.ID, "Sub", "sub-boss@example.com")
	created, err := e.m.CreateUser(e.ctx, c.User.ID, usermgmt.NewUser{Email: "default@example.com", FirstName: "D", LastName: "F", Invite: true})
	ok(t, err)
	eq(t, "account of a user created without one", created.User.AccountID, sub.ID)
	res, err := e.m.InviteUsers(e.ctx, c.User.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{{Email: "bulk-default@example.com"}}})
	ok(t, err)
	eq(t, "account of a bulk row without one", e.get(res[0].UserID).AccountID, sub.ID)
	_, err = e.m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{Email: "sys@example.com", FirstName: "S", LastName: "Y", Invite: true})
	isErr(t, err, usermgmt.ErrInvalidInput) // System has no account of its own
}

func testWelcome(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{Welcome: true}))
	u, token := e.invite(e.root.ID, "welcome@example.com")
	_, err := e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	sameSlice(t, "messages", e.messagesTo(u.Email), []usermgmt.NotificationKind{usermgmt.NotifyInvitation, usermgmt.NotifyWelcome})
}

func testInvitedBy(t *testing.T, su *suite) {
	e := su.env(t)
	u, _ := e.invite(e.root.ID, "by-whom@example.com")
	got, err := e.m.User(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	eq(t, "invited by", got.InvitedBy, e.admin.ID)
	sameTime(t, "invitation expiry in the view", got.InvitationExpiresAt, start.Add(ttl))
	eq(t, "password set", got.PasswordSet, false)
}
