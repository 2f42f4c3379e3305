package storetest

import (
	"testing"

	"github.com/usermgmt/usermgmt"
)

var permissionTests = map[string]func(*testing.T, *suite){
	"AdminReachesSubAccountsOnly":    testSubtreeReach,
	"GeneralUserManagesNobody":       testGeneralManagesNobody,
	"LastAdminProtected":             testLastAdminProtected,
	"CannotAssignMoreThanHeld":       testCannotAssignMore,
	"GrantsNeverCarryRolePerms":      testRoleOnlyPermissions,
	"CanChecksRoleGrantsAndResource": testCan,
	"InactiveActorRefused":           testInactiveActor,
	"NoManagingWhoHoldsMoreGrants":   testGrantsBoundManagement,
	"EmailsOutsideReachUnseen":       testEmailsOutsideReach,
	"TopLevelAccountsOnlyBySystem":   testTopLevelBySystem,
}

// tree builds root > clientA > clientA1 and root > clientB, each with an admin.
type tree struct {
	a, a1, b                usermgmt.Account
	adminA, adminA1, adminB usermgmt.User
}

func (e *env) tree() tree {
	var tr tree
	var c usermgmt.Created
	tr.a, c = e.account(e.admin.ID, e.root.ID, "Client A", "admin-a@example.com")
	tr.adminA = c.User
	tr.a1, c = e.account(tr.adminA.ID, tr.a.ID, "Client A1", "admin-a1@example.com")
	tr.adminA1 = c.User
	tr.b, c = e.account(e.admin.ID, e.root.ID, "Client B", "admin-b@example.com")
	tr.adminB = c.User
	return tr
}

func testSubtreeReach(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	inA1 := e.user(tr.a1.ID, "in-a1@example.com", usermgmt.RoleGeneral)
	inB := e.user(tr.b.ID, "in-b@example.com", usermgmt.RoleGeneral)

	// Admin of A reaches A1 (beneath) but not B (sibling) nor root (above).
	_, err := e.m.Disable(e.ctx, tr.adminA.ID, inA1.ID)
	ok(t, err)
	_, err = e.m.Disable(e.ctx, tr.adminA.ID, inB.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	eq(t, "status of the sibling's user", e.get(inB.ID).Status, usermgmt.StatusActive)
	eq(t, "events of the sibling's user", len(e.history(inB.ID)), 1)
	_, err = e.m.User(e.ctx, tr.adminA.ID, e.admin.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.CreateUser(e.ctx, tr.adminA.ID, usermgmt.NewUser{AccountID: tr.b.ID, Email: "sneak@example.com", FirstName: "S", LastName: "N"})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.ListUsers(e.ctx, tr.adminA.ID, usermgmt.UserQuery{AccountID: tr.b.ID})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.History(e.ctx, tr.adminA.ID, inB.ID, "", 0)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.Account(e.ctx, tr.adminA.ID, tr.b.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)

	// Admin of A1 does not reach A.
	_, err = e.m.Ban(e.ctx, tr.adminA1.ID, tr.adminA.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)

	// The root admin reaches everyone.
	_, err = e.m.Enable(e.ctx, e.admin.ID, inA1.ID)
	ok(t, err)
	_, err = e.m.Ban(e.ctx, e.admin.ID, inB.ID)
	ok(t, err)

	// A's listing holds A and A1's users, not B's.
	page, err := e.m.ListUsers(e.ctx, tr.adminA.ID, usermgmt.UserQuery{})
	ok(t, err)
	got := map[string]bool{}
	for _, u := range page.Items {
		got[u.Email] = true
	}
	if len(got) != 3 || !got["admin-a@example.com"] || !got["admin-a1@example.com"] || !got["in-a1@example.com"] {
		t.Fatalf("A's listing = %v", got)
	}
}

func testGeneralManagesNobody(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.user(e.root.ID, "plain@example.com", usermgmt.RoleGeneral)
	other := e.user(e.root.ID, "other@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Ban(e.ctx, g.ID, other.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.CreateUser(e.ctx, g.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "x@example.com", FirstName: "X", LastName: "Y"})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.ListUsers(e.ctx, g.ID, usermgmt.UserQuery{})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.User(e.ctx, g.ID, other.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.UserByEmail(e.ctx, g.ID, other.Email) // not even that the email is taken
	isErr(t, err, usermgmt.ErrNotFound)
	isErr(t, e.m.ChangeRole(e.ctx, g.ID, g.ID, usermgmt.RoleAdmin), usermgmt.ErrPermissionDenied)
	// But they may read and edit themselves.
	_, err = e.m.User(e.ctx, g.ID, g.ID)
	ok(t, err)
	self, err := e.m.UserByEmail(e.ctx, g.ID, " PLAIN@example.com")
	ok(t, err)
	eq(t, "self by email", self.ID, g.ID)
	got, err := e.m.UserByEmail(e.ctx, e.admin.ID, other.Email)
	ok(t, err)
	eq(t, "admin reads by email", got.ID, other.ID)
	u, err := e.m.UpdateProfile(e.ctx, g.ID, g.ID, usermgmt.Profile{FirstName: "Plain"})
	ok(t, err)
	eq(t, "first name", u.FirstName, "Plain")
	_, err = e.m.History(e.ctx, g.ID, g.ID, "", 0)
	ok(t, err)
	_, err = e.m.UpdateProfile(e.ctx, g.ID, other.ID, usermgmt.Profile{FirstName: "Hacked"})
	isErr(t, err, usermgmt.ErrPermissionDenied)
}

func testLastAdminProtected(t *testing.T, su *suite) {
	e := su.env(t)
	acct, c := e.account(e.admin.ID, e.root.ID, "Solo", "solo-admin@example.com")
	solo := c.User
	_, err := e.m.Ban(e.ctx, e.admin.ID, solo.ID)
	isErr(t, err, usermgmt.ErrLastAdmin)
	_, err = e.m.Disable(e.ctx, e.admin.ID, solo.ID)
	isErr(t, err, usermgmt.ErrLastAdmin)
	_, err = e.m.Remove(e.ctx, e.admin.ID, solo.ID)
	isErr(t, err, usermgmt.ErrLastAdmin)
	isErr(t, e.m.ChangeRole(e.ctx, e.admin.ID, solo.ID, usermgmt.RoleGeneral), usermgmt.ErrLastAdmin)
	isErr(t, e.m.ChangeRole(e.ctx, solo.ID, solo.ID, usermgmt.RoleGeneral), usermgmt.ErrLastAdmin)
	eq(t, "events of the last admin", len(e.history(solo.ID)), 1)

	// With a second admin, the first can go.
	second := e.user(acct.ID, "second@example.com", usermgmt.RoleAdmin)
	_, err = e.m.Ban(e.ctx, second.ID, solo.ID)
	ok(t, err)
	_, err = e.m.Remove(e.ctx, e.admin.ID, second.ID)
	isErr(t, err, usermgmt.ErrLastAdmin)
}

func testCannotAssignMore(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "user_admin", Permissions: []usermgmt.Permission{usermgmt.PermManageUsers}}))
	ua := e.user(e.root.ID, "useradmin@example.com", "user_admin")
	g := e.user(e.root.ID, "managed@example.com", usermgmt.RoleGeneral)

	// A user admin manages general users...
	_, err := e.m.Disable(e.ctx, ua.ID, g.ID)
	ok(t, err)
	_, err = e.m.CreateUser(e.ctx, ua.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "hired@example.com", FirstName: "H", LastName: "R"})
	ok(t, err)
	// ...but cannot create or promote admins, nor touch one.
	_, err = e.m.CreateUser(e.ctx, ua.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "boss@example.com", FirstName: "B", LastName: "S", Role: usermgmt.RoleAdmin})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	isErr(t, e.m.ChangeRole(e.ctx, ua.ID, g.ID, usermgmt.RoleAdmin), usermgmt.ErrPermissionDenied)
	isErr(t, e.m.ChangeRole(e.ctx, ua.ID, ua.ID, usermgmt.RoleAdmin), usermgmt.ErrPermissionDenied)
	_, err = e.m.Ban(e.ctx, ua.ID, e.admin.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	// Nor grant what they do not hold.
	isErr(t, e.m.Grant(e.ctx, ua.ID, g.ID, usermgmt.Grant{Permission: "insights.view"}), usermgmt.ErrPermissionDenied)
	isErr(t, e.m.ChangeRole(e.ctx, e.admin.ID, g.ID, "no_such_role"), usermgmt.ErrUnknownRole)
}

func testRoleOnlyPermissions(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.user(e.root.ID, "grantee@example.com", usermgmt.RoleGeneral)
	for _, p := range []usermgmt.Permission{usermgmt.PermManageUsers, usermgmt.PermPricing, usermgmt.PermPayment, usermgmt.PermManageAccounts} {
		isErr(t, e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: p}), usermgmt.ErrPermissionDenied)
		can, err := e.m.Can(e.ctx, g.ID, p)
		ok(t, err)
		eq(t, "general user holds "+string(p), can, false)
		can, err = e.m.Can(e.ctx, e.admin.ID, p)
		ok(t, err)
		eq(t, "admin holds "+string(p), can, true)
	}
	eq(t, "events", len(e.history(g.ID)), 1)
}

func testCan(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.user(e.root.ID, "analyst@example.com", usermgmt.RoleGeneral)
	ok(t, e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insights.view", Resource: "insight-42"}))
	ok(t, e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports"}))
	ok(t, e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports"})) // no-op
	check := func(p usermgmt.Permission, res string, want bool) {
		t.Helper()
		can, err := e.m.Can(e.ctx, g.ID, p, res)
		ok(t, err)
		if can != want {
			t.Fatalf("Can(%s, %q) = %v, want %v", p, res, can, want)
		}
	}
	check("insights.view", "insight-42", true)
	check("insights.view", "insight-43", false)
	check("insights.view", "", false)
	check("reports", "", true)
	check("reports", "any-report", true)
	check("billing", "", false)
	eq(t, "grant events", len(e.history(g.ID)), 3)
	ok(t, e.m.RevokeGrant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insights.view", Resource: "insight-42"}))
	check("insights.view", "insight-42", false)
	eq(t, "newest action", e.history(g.ID)[0].Action, usermgmt.ActionRevokeGrant)
	// A user who cannot log in holds nothing.
	_, err := e.m.Disable(e.ctx, e.admin.ID, g.ID)
	ok(t, err)
	check("reports", "", false)
	_, err = e.m.Can(e.ctx, newID(), "reports")
	isErr(t, err, usermgmt.ErrNotFound)
}

func testInactiveActor(t *testing.T, su *suite) {
	e := su.env(t)
	other, c := e.account(e.admin.ID, e.root.ID, "Two admins", "first-of-two@example.com")
	second := e.user(other.ID, "second-of-two@example.com", usermgmt.RoleAdmin)
	target := e.user(other.ID, "target@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Ban(e.ctx, e.admin.ID, second.ID)
	ok(t, err)
	_, err = e.m.Ban(e.ctx, second.ID, target.ID) // a banned admin acts no more
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.Ban(e.ctx, newID(), target.ID) // nor does a stranger
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.Ban(e.ctx, c.User.ID, target.ID)
	ok(t, err)

	// Nor does a banned user act on themselves.
	_, err = e.m.UpdateProfile(e.ctx, target.ID, target.ID, usermgmt.Profile{FirstName: "Sneaky"})
	isErr(t, err, usermgmt.ErrBanned)
	eq(t, "first name", e.get(target.ID).FirstName, target.FirstName)
	eq(t, "events of the banned user", len(e.history(target.ID)), 2) // create, ban
}

// testGrantsBoundManagement: a user admin without a permission cannot manage
// a user granted it (setting that user's password would let them act as
// the user), but manages users granted only what they hold.
func testGrantsBoundManagement(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "user_admin",
		Permissions: []usermgmt.Permission{usermgmt.PermManageUsers, "reports"}}))
	ua := e.user(e.root.ID, "useradmin@example.com", "user_admin")
	secret := e.user(e.root.ID, "secret-keeper@example.com", usermgmt.RoleGeneral)
	reporter := e.user(e.root.ID, "reporter@example.com", usermgmt.RoleGeneral)
	ok(t, e.m.Grant(e.ctx, e.admin.ID, secret.ID, usermgmt.Grant{Permission: "insights.view", Resource: "insight-7"}))
	ok(t, e.m.Grant(e.ctx, e.admin.ID, reporter.ID, usermgmt.Grant{Permission: "reports"}))

	isErr(t, e.m.SetPassword(e.ctx, ua.ID, secret.ID, "an0ther-Strong-passw0rd"), usermgmt.ErrPermissionDenied)
	_, err := e.m.Disable(e.ctx, ua.ID, secret.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.User(e.ctx, ua.ID, secret.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	eq(t, "events of the granted user", len(e.history(secret.ID)), 2) // create, grant
	if _, err := e.m.Authenticate(e.ctx, secret.Email, Password); err != nil {
		t.Fatalf("the granted user's own password: %v", err)
	}

	ok(t, e.m.SetPassword(e.ctx, ua.ID, reporter.ID, "an0ther-Strong-passw0rd"))
	_, err = e.m.Disable(e.ctx, ua.ID, reporter.ID)
	ok(t, err)
}

// testEmailsOutsideReach: emails are unique across tenants, but an actor
// learns nothing of another tenant's user from an email: a lookup says not
// found, as for an address nobody holds, and a bulk invitation says only
// that the address is taken.
func testEmailsOutsideReach(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	inB := e.user(tr.b.ID, "in-b@example.com", usermgmt.RoleGeneral)
	invitedB, err := e.m.CreateUser(e.ctx, tr.adminB.ID, usermgmt.NewUser{AccountID: tr.b.ID, Email: "pending-b@example.com", FirstName: "P", LastName: "B"})
	ok(t, err)
	inA1 := e.user(tr.a1.ID, "in-a1@example.com", usermgmt.RoleGeneral)

	for _, email := range []string{inB.Email, "nobody@example.com"} {
		_, err := e.m.UserByEmail(e.ctx, tr.adminA.ID, email)
		isErr(t, err, usermgmt.ErrNotFound)
	}
	_, err = e.m.UserByEmail(e.ctx, newID(), inA1.Email) // an unknown actor too
	isErr(t, err, usermgmt.ErrNotFound)
	u, err := e.m.UserByEmail(e.ctx, tr.adminA.ID, "IN-A1@example.com")
	ok(t, err)
	eq(t, "user found", u.ID, inA1.ID)

	rows, err := e.m.InviteUsers(e.ctx, tr.adminA.ID, usermgmt.BulkInvite{AccountID: tr.a.ID,
		Emails: []string{inB.Email, invitedB.User.Email, inA1.Email, "fresh@example.com"}})
	ok(t, err)
	eq(t, "other tenant's user: outcome", rows[0].Outcome, usermgmt.SkippedExists)
	eq(t, "other tenant's user: ID", rows[0].UserID, "")
	eq(t, "other tenant's invitee: outcome", rows[1].Outcome, usermgmt.SkippedExists)
	eq(t, "other tenant's invitee: ID", rows[1].UserID, "")
	eq(t, "own subtree's user: outcome", rows[2].Outcome, usermgmt.SkippedExists)
	eq(t, "own subtree's user: ID", rows[2].UserID, inA1.ID)
	eq(t, "new address", rows[3].Outcome, usermgmt.Invited)
	rows, err = e.m.InviteUsers(e.ctx, tr.adminB.ID, usermgmt.BulkInvite{AccountID: tr.b.ID, Emails: []string{invitedB.User.Email}})
	ok(t, err)
	eq(t, "own invitee: outcome", rows[0].Outcome, usermgmt.SkippedPending)
	eq(t, "own invitee: ID", rows[0].UserID, invitedB.User.ID)
}

func testTopLevelBySystem(t *testing.T, su *suite) {
	e := su.env(t)
	_, _, err := e.m.CreateAccount(e.ctx, e.admin.ID, usermgmt.NewAccount{Name: "Rogue",
		Admin: usermgmt.NewUser{Email: "rogue@example.com", FirstName: "R", LastName: "G", Password: Password}})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	g := e.user(e.root.ID, "nosub@example.com", usermgmt.RoleGeneral)
	_, _, err = e.m.CreateAccount(e.ctx, g.ID, usermgmt.NewAccount{ParentID: e.root.ID, Name: "Sub",
		Admin: usermgmt.NewUser{Email: "sub@example.com", FirstName: "S", LastName: "B"}})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	// The first user of an account is its admin, even when invited.
	a, c, err := e.m.CreateAccount(e.ctx, e.admin.ID, usermgmt.NewAccount{ParentID: e.root.ID, Name: "Invited Co",
		Admin: usermgmt.NewUser{Email: "boss@invited.example.com", FirstName: "Boss", LastName: "Lady"}})
	ok(t, err)
	eq(t, "role", c.User.Role, usermgmt.RoleAdmin)
	eq(t, "account", c.User.AccountID, a.ID)
	_, err = e.m.AcceptInvitation(e.ctx, c.InvitationToken, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	can, err := e.m.Can(e.ctx, c.User.ID, usermgmt.PermManageUsers)
	ok(t, err)
	eq(t, "new admin manages users", can, true)
}
