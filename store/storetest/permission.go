package storetest

import (
	"testing"

	"github.com/usermgmt/usermgmt"
)

var permissionTests = map[string]func(*testing.T, *suite){
	"AdminReachesSubAccountsOnly":      testSubtreeReach,
	"OutsideReachLooksAbsent":          testOutsideReachLooksAbsent,
	"GeneralUserManagesNobody":         testGeneralManagesNobody,
	"LastAdminProtected":               testLastAdminProtected,
	"CannotAssignMoreThanHeld":         testCannotAssignMore,
	"GrantsNeverCarryRolePerms":        testRoleOnlyPermissions,
	"CanOnChecksRoleGrantsAndResource": testCan,
	"AccountResourcesOnlyWithinReach":  testAccountResources,
	"InactiveActorRefused":             testInactiveActor,
	"NoManagingWhoHoldsMoreGrants":     testGrantsBoundManagement,
	"EmailsOutsideReachUnseen":         testEmailsOutsideReach,
	"TopLevelAccountsOnlyBySystem":     testTopLevelBySystem,
	"PermissionRegistryRefusesTypos":   testPermissionRegistry,
	"MoveWithinReachFollowsIndexes":    testMoveUser,
	"AccountsListedAndRenamed":         testAccountsManaged,
	"PortalRolesAsTheSeedsDescribe":    testPortalRoles,
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
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "status of the sibling's user", e.get(inB.ID).Status, usermgmt.StatusActive)
	eq(t, "events of the sibling's user", len(e.history(inB.ID)), 1)
	_, err = e.m.User(e.ctx, tr.adminA.ID, e.admin.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.CreateUser(e.ctx, tr.adminA.ID, usermgmt.NewUser{AccountID: tr.b.ID, Email: "sneak@example.com", FirstName: "S", LastName: "N", Invite: true})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.ListUsers(e.ctx, tr.adminA.ID, usermgmt.UserQuery{AccountID: tr.b.ID})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.History(e.ctx, tr.adminA.ID, usermgmt.AuditQuery{UserID: inB.ID})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.AccountHistory(e.ctx, tr.adminA.ID, usermgmt.AuditQuery{AccountID: tr.b.ID})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.Account(e.ctx, tr.adminA.ID, tr.b.ID)
	isErr(t, err, usermgmt.ErrNotFound)

	// Admin of A1 does not reach A.
	_, err = e.m.Ban(e.ctx, tr.adminA1.ID, tr.adminA.ID)
	isErr(t, err, usermgmt.ErrNotFound)

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

// testOutsideReachLooksAbsent: for every by-ID read and write, a user of a
// sibling account answers exactly as an ID that exists nowhere.
func testOutsideReachLooksAbsent(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	inB := e.user(tr.b.ID, "sibling-user@example.com", usermgmt.RoleGeneral)
	a := tr.adminA.ID
	ops := map[string]func(id string) error{
		"User":         func(id string) error { _, err := e.m.User(e.ctx, a, id); return err },
		"History":      func(id string) error { _, err := e.m.History(e.ctx, a, usermgmt.AuditQuery{UserID: id}); return err },
		"Ban":          func(id string) error { _, err := e.m.Ban(e.ctx, a, id); return err },
		"Unban":        func(id string) error { _, err := e.m.Unban(e.ctx, a, id); return err },
		"Disable":      func(id string) error { _, err := e.m.Disable(e.ctx, a, id); return err },
		"Enable":       func(id string) error { _, err := e.m.Enable(e.ctx, a, id); return err },
		"Remove":       func(id string) error { _, err := e.m.Remove(e.ctx, a, id); return err },
		"Reactivate":   func(id string) error { _, err := e.m.Reactivate(e.ctx, a, id); return err },
		"Unlock":       func(id string) error { _, err := e.m.Unlock(e.ctx, a, id, ""); return err },
		"UnlockWithPw": func(id string) error { _, err := e.m.Unlock(e.ctx, a, id, "a long new passphrase"); return err },
		"SetPassword":  func(id string) error { _, err := e.m.SetPassword(e.ctx, a, id, "a long new passphrase"); return err },
		"ChangeRole":   func(id string) error { _, err := e.m.ChangeRole(e.ctx, a, id, usermgmt.RoleGeneral); return err },
		"Grant": func(id string) error {
			_, err := e.m.Grant(e.ctx, a, id, usermgmt.Grant{Permission: "reports"})
			return err
		},
		"RevokeGrant": func(id string) error {
			_, err := e.m.RevokeGrant(e.ctx, a, id, usermgmt.Grant{Permission: "reports"})
			return err
		},
		"Profile": func(id string) error {
			_, err := e.m.UpdateProfile(e.ctx, a, id, usermgmt.Profile{FirstName: ptr("X")})
			return err
		},
		"ChangeEmail": func(id string) error { _, err := e.m.ChangeEmail(e.ctx, a, id, "moved-away@example.com"); return err },
		"Move":        func(id string) error { _, err := e.m.MoveUser(e.ctx, a, id, tr.a.ID); return err },
		"Resend":      func(id string) error { _, err := e.m.ResendInvitation(e.ctx, a, id); return err },
		"Revoke":      func(id string) error { _, err := e.m.RevokeInvitation(e.ctx, a, id); return err },
	}
	for _, name := range sortedKeys(ops) {
		absent := ops[name](newID())
		outside := ops[name](inB.ID)
		isErr(t, absent, usermgmt.ErrNotFound)
		isErr(t, outside, usermgmt.ErrNotFound)
		if absent.Error() != outside.Error() {
			t.Fatalf("%s: outside reach %q, absent %q", name, outside, absent)
		}
	}
	eq(t, "events of the sibling's user", len(e.history(inB.ID)), 1)
}

func testGeneralManagesNobody(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.user(e.root.ID, "plain@example.com", usermgmt.RoleGeneral)
	other := e.user(e.root.ID, "other@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Ban(e.ctx, g.ID, other.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.Ban(e.ctx, g.ID, newID()) // decided before the target is read
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.CreateUser(e.ctx, g.ID, usermgmt.NewUser{Email: "x@example.com", FirstName: "X", LastName: "Y", Invite: true})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.ListUsers(e.ctx, g.ID, usermgmt.UserQuery{})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.User(e.ctx, g.ID, other.ID)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.UserByEmail(e.ctx, g.ID, other.Email)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.ChangeRole(e.ctx, g.ID, g.ID, usermgmt.RoleAdmin)
	isErr(t, err, usermgmt.ErrPermissionDenied)
	// But they may read and edit themselves.
	_, err = e.m.User(e.ctx, g.ID, g.ID)
	ok(t, err)
	self, err := e.m.UserByEmail(e.ctx, g.ID, " PLAIN@example.com")
	ok(t, err)
	eq(t, "self by email", self.ID, g.ID)
	got, err := e.m.UserByEmail(e.ctx, e.admin.ID, other.Email)
	ok(t, err)
	eq(t, "admin reads by email", got.ID, other.ID)
	u, err := e.m.UpdateProfile(e.ctx, g.ID, g.ID, usermgmt.Profile{FirstName: ptr("Plain"), Locale: ptr("fr")})
	ok(t, err)
	eq(t, "first name", u.FirstName, "Plain")
	eq(t, "locale", u.Locale, "fr")
	_, err = e.m.History(e.ctx, g.ID, usermgmt.AuditQuery{UserID: g.ID})
	ok(t, err)
	_, err = e.m.UpdateProfile(e.ctx, g.ID, other.ID, usermgmt.Profile{FirstName: ptr("Hacked")})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.UpdateProfile(e.ctx, g.ID, g.ID, usermgmt.Profile{Department: ptr("")}) // admins only
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
	_, err = e.m.ChangeRole(e.ctx, e.admin.ID, solo.ID, usermgmt.RoleGeneral)
	isErr(t, err, usermgmt.ErrLastAdmin)
	_, err = e.m.ChangeRole(e.ctx, solo.ID, solo.ID, usermgmt.RoleGeneral)
	isErr(t, err, usermgmt.ErrLastAdmin)
	_, err = e.m.MoveUser(e.ctx, e.admin.ID, solo.ID, e.root.ID)
	isErr(t, err, usermgmt.ErrLastAdmin)
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
	_, err = e.m.CreateUser(e.ctx, ua.ID, usermgmt.NewUser{Email: "hired@example.com", FirstName: "H", LastName: "R", Invite: true})
	ok(t, err)
	// ...but cannot create or promote admins, nor touch one.
	_, err = e.m.CreateUser(e.ctx, ua.ID, usermgmt.NewUser{Email: "boss@example.com", FirstName: "B", LastName: "S", Role: usermgmt.RoleAdmin, Invite: true})
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, ua.ID, g.ID, usermgmt.RoleAdmin)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, ua.ID, ua.ID, usermgmt.RoleAdmin)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.Ban(e.ctx, ua.ID, e.admin.ID)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	// Nor grant what they do not hold.
	_, err = e.m.Grant(e.ctx, ua.ID, g.ID, usermgmt.Grant{Permission: "insights.view"})
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, e.admin.ID, g.ID, "no_such_role")
	isErr(t, err, usermgmt.ErrUnknownRole)
	got, err := e.m.ChangeRole(e.ctx, e.admin.ID, g.ID, "user_admin")
	ok(t, err)
	eq(t, "role returned", got.Role, "user_admin")
}

func testRoleOnlyPermissions(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.user(e.root.ID, "grantee@example.com", usermgmt.RoleGeneral)
	for _, p := range []usermgmt.Permission{usermgmt.PermManageUsers, usermgmt.PermPricing, usermgmt.PermPayment, usermgmt.PermManageAccounts, usermgmt.PermAccountSettings} {
		_, err := e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: p})
		isErr(t, err, usermgmt.ErrNotGrantable)
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
	insight42 := usermgmt.Resource{Type: "insight", ID: "42"}
	_, err := e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insights.view", Resource: insight42.Key()})
	ok(t, err)
	_, err = e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports"})
	ok(t, err)
	got, err := e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports"}) // no change
	ok(t, err)
	eq(t, "grants returned", len(got.Grants), 2)
	check := func(p usermgmt.Permission, r *usermgmt.Resource, want bool) {
		t.Helper()
		var can bool
		var err error
		if r == nil {
			can, err = e.m.Can(e.ctx, g.ID, p)
		} else {
			can, err = e.m.CanOn(e.ctx, g.ID, p, *r)
		}
		ok(t, err)
		if can != want {
			t.Fatalf("Can(%s, %v) = %v, want %v", p, r, can, want)
		}
	}
	check("insights.view", &insight42, true)
	check("insights.view", &usermgmt.Resource{Type: "insight", ID: "43"}, false)
	check("insights.view", nil, false)
	check("reports", nil, true)
	check("reports", &usermgmt.Resource{Type: "report", ID: "any"}, true)
	check("billing", nil, false)
	eq(t, "grant events", len(e.history(g.ID)), 3)
	got, err = e.m.RevokeGrant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insights.view", Resource: insight42.Key()})
	ok(t, err)
	eq(t, "grants after revoking", len(got.Grants), 1)
	check("insights.view", &insight42, false)
	eq(t, "newest action", e.history(g.ID)[0].Action, usermgmt.ActionRevokeGrant)
	_, err = e.m.CanOn(e.ctx, g.ID, "reports", usermgmt.Resource{Type: "insight"})
	isErr(t, err, usermgmt.ErrInvalidInput)
	_, err = e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports", Resource: "no-type"})
	isErr(t, err, usermgmt.ErrInvalidInput)
	// A user who cannot log in holds nothing; an unknown one neither.
	_, err = e.m.Disable(e.ctx, e.admin.ID, g.ID)
	ok(t, err)
	check("reports", nil, false)
	can, err := e.m.Can(e.ctx, newID(), "reports")
	ok(t, err)
	eq(t, "unknown user holds", can, false)
}

// testAccountResources: a resource that names an account counts only inside
// the user's reach, for admins too; a grant of one outside the actor's or
// the grantee's reach is refused.
func testAccountResources(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	viewer := e.user(e.root.ID, "viewer@example.com", usermgmt.RoleGeneral)
	inA := e.user(tr.a.ID, "in-a@example.com", usermgmt.RoleGeneral)
	can := func(user string, r usermgmt.Resource) bool {
		t.Helper()
		c, err := e.m.CanOn(e.ctx, user, "reports.view", r)
		ok(t, err)
		return c
	}
	eq(t, "admin of A on A1", can(tr.adminA.ID, usermgmt.AccountResource(tr.a1.ID)), true)
	eq(t, "admin of A on B", can(tr.adminA.ID, usermgmt.AccountResource(tr.b.ID)), false)
	eq(t, "admin of A on the root", can(tr.adminA.ID, usermgmt.AccountResource(e.root.ID)), false)
	eq(t, "admin of A on an insight of B", can(tr.adminA.ID, usermgmt.Resource{Type: "insight", ID: "9", AccountID: tr.b.ID}), false)
	eq(t, "admin of A on an insight of A1", can(tr.adminA.ID, usermgmt.Resource{Type: "insight", ID: "9", AccountID: tr.a1.ID}), true)
	eq(t, "admin of A on an unknown account", can(tr.adminA.ID, usermgmt.AccountResource(newID())), false)

	// A general user of the root given client B only.
	_, err := e.m.Grant(e.ctx, e.admin.ID, viewer.ID, usermgmt.Grant{Permission: "reports.view", Resource: usermgmt.AccountResource(tr.b.ID).Key()})
	ok(t, err)
	eq(t, "viewer on B", can(viewer.ID, usermgmt.AccountResource(tr.b.ID)), true)
	eq(t, "viewer on A", can(viewer.ID, usermgmt.AccountResource(tr.a.ID)), false)
	// The admin of A cannot give their user access to B, nor to the root.
	_, err = e.m.Grant(e.ctx, tr.adminA.ID, inA.ID, usermgmt.Grant{Permission: "reports.view", Resource: usermgmt.AccountResource(tr.b.ID).Key()})
	isErr(t, err, usermgmt.ErrInvalidInput)
	_, err = e.m.Grant(e.ctx, e.admin.ID, inA.ID, usermgmt.Grant{Permission: "reports.view", Resource: usermgmt.AccountResource(e.root.ID).Key()})
	isErr(t, err, usermgmt.ErrInvalidInput) // outside the grantee's reach
	_, err = e.m.Grant(e.ctx, tr.adminA.ID, inA.ID, usermgmt.Grant{Permission: "reports.view", Resource: usermgmt.AccountResource(tr.a1.ID).Key()})
	ok(t, err)
	eq(t, "user of A on A1", can(inA.ID, usermgmt.AccountResource(tr.a1.ID)), true)
	eq(t, "events of the refused grants", e.count(inA.ID, usermgmt.ActionGrant), 1)
}

func testInactiveActor(t *testing.T, su *suite) {
	e := su.env(t)
	other, c := e.account(e.admin.ID, e.root.ID, "Two admins", "first-of-two@example.com")
	second := e.user(other.ID, "second-of-two@example.com", usermgmt.RoleAdmin)
	target := e.user(other.ID, "target@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Ban(e.ctx, e.admin.ID, second.ID)
	ok(t, err)
	_, err = e.m.Ban(e.ctx, second.ID, target.ID) // a banned admin acts no more
	isErr(t, err, usermgmt.ErrActorInactive)
	_, err = e.m.Ban(e.ctx, newID(), target.ID) // nor does a stranger
	isErr(t, err, usermgmt.ErrActorInactive)
	_, err = e.m.Ban(e.ctx, c.User.ID, target.ID)
	ok(t, err)

	// Nor does a banned user act on themselves.
	_, err = e.m.UpdateProfile(e.ctx, target.ID, target.ID, usermgmt.Profile{FirstName: ptr("Sneaky")})
	isErr(t, err, usermgmt.ErrActorInactive)
	eq(t, "first name", e.get(target.ID).FirstName, target.FirstName)
	eq(t, "events of the banned user", len(e.history(target.ID)), 2) // create, ban
	// They may still read themselves, to be shown why.
	self, err := e.m.User(e.ctx, target.ID, target.ID)
	ok(t, err)
	eq(t, "own status", self.Status, usermgmt.StatusBanned)
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
	_, err := e.m.Grant(e.ctx, e.admin.ID, secret.ID, usermgmt.Grant{Permission: "insights.view", Resource: "insight:7"})
	ok(t, err)
	_, err = e.m.Grant(e.ctx, e.admin.ID, reporter.ID, usermgmt.Grant{Permission: "reports"})
	ok(t, err)

	_, err = e.m.SetPassword(e.ctx, ua.ID, secret.ID, "an0ther-Strong-passw0rd")
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.Disable(e.ctx, ua.ID, secret.ID)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.User(e.ctx, ua.ID, secret.ID)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	eq(t, "events of the granted user", len(e.history(secret.ID)), 2) // create, grant
	if _, err := e.m.Authenticate(e.ctx, secret.Email, Password); err != nil {
		t.Fatalf("the granted user's own password: %v", err)
	}

	_, err = e.m.SetPassword(e.ctx, ua.ID, reporter.ID, "an0ther-Strong-passw0rd")
	ok(t, err)
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
	invitedB, err := e.m.CreateUser(e.ctx, tr.adminB.ID, usermgmt.NewUser{Email: "pending-b@example.com", FirstName: "P", LastName: "B", Invite: true})
	ok(t, err)
	inA1 := e.user(tr.a1.ID, "in-a1@example.com", usermgmt.RoleGeneral)

	for _, addr := range []string{inB.Email, "nobody@example.com"} {
		_, err := e.m.UserByEmail(e.ctx, tr.adminA.ID, addr)
		isErr(t, err, usermgmt.ErrNotFound)
	}
	u, err := e.m.UserByEmail(e.ctx, tr.adminA.ID, "IN-A1@example.com")
	ok(t, err)
	eq(t, "user found", u.ID, inA1.ID)

	rows, err := e.m.InviteUsers(e.ctx, tr.adminA.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{
		{Email: inB.Email}, {Email: invitedB.User.Email}, {Email: inA1.Email}, {Email: "fresh@example.com"}}})
	ok(t, err)
	eq(t, "other tenant's user: outcome", rows[0].Outcome, usermgmt.SkippedExists)
	eq(t, "other tenant's user: ID", rows[0].UserID, "")
	eq(t, "other tenant's invitee: outcome", rows[1].Outcome, usermgmt.SkippedExists)
	eq(t, "other tenant's invitee: ID", rows[1].UserID, "")
	eq(t, "own subtree's user: outcome", rows[2].Outcome, usermgmt.SkippedExists)
	eq(t, "own subtree's user: ID", rows[2].UserID, inA1.ID)
	eq(t, "new address", rows[3].Outcome, usermgmt.Invited)
	rows, err = e.m.InviteUsers(e.ctx, tr.adminB.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{{Email: invitedB.User.Email}}})
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
		Admin: usermgmt.NewUser{Email: "sub@example.com", FirstName: "S", LastName: "B", Invite: true}})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	// The first user of an account is its admin, even when invited.
	a, c, err := e.m.CreateAccount(e.ctx, e.admin.ID, usermgmt.NewAccount{ParentID: e.root.ID, Name: "Invited Co",
		Admin: usermgmt.NewUser{Email: "boss@invited.example.com", FirstName: "Boss", LastName: "Lady", Invite: true}})
	ok(t, err)
	eq(t, "role", c.User.Role, usermgmt.RoleAdmin)
	eq(t, "account", c.User.AccountID, a.ID)
	_, err = e.m.AcceptInvitation(e.ctx, c.InvitationToken, usermgmt.Acceptance{Password: Password})
	ok(t, err)
	can, err := e.m.Can(e.ctx, c.User.ID, usermgmt.PermManageUsers)
	ok(t, err)
	eq(t, "new admin manages users", can, true)
}

func testPermissionRegistry(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPermissions("reports", "insights.view"))
	g := e.user(e.root.ID, "registry@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Can(e.ctx, e.admin.ID, "reprots")
	isErr(t, err, usermgmt.ErrUnknownPermission)
	_, err = e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insight.view"})
	isErr(t, err, usermgmt.ErrUnknownPermission)
	_, err = e.m.Grant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insights.view"})
	ok(t, err)
	can, err := e.m.Can(e.ctx, e.admin.ID, usermgmt.PermPricing) // the library's own are registered
	ok(t, err)
	eq(t, "admin holds pricing", can, true)
	_, err = usermgmt.New(e.store, usermgmt.WithPermissions("reports"), usermgmt.WithRoles(usermgmt.Role{Name: "typo", Permissions: []usermgmt.Permission{"reprots"}}))
	isErr(t, err, usermgmt.ErrUnknownPermission)
}

func testMoveUser(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	g := e.group(tr.a.ID, "A team")
	u := e.user(tr.a.ID, "traveller@example.com", usermgmt.RoleGeneral)
	_, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	ok(t, err)
	_, err = e.m.MoveUser(e.ctx, tr.adminA.ID, u.ID, tr.b.ID) // B is outside A's reach
	isErr(t, err, usermgmt.ErrNotFound)
	got, err := e.m.MoveUser(e.ctx, tr.adminA.ID, u.ID, tr.a1.ID)
	ok(t, err)
	eq(t, "account", got.AccountID, tr.a1.ID)
	eq(t, "groups after the move", len(got.Groups), 0)
	page, err := e.m.ListUsers(e.ctx, tr.adminA1.ID, usermgmt.UserQuery{Search: "traveller"})
	ok(t, err)
	eq(t, "listed in the new account", len(page.Items), 1)
	got, err = e.m.MoveUser(e.ctx, e.admin.ID, u.ID, tr.b.ID)
	ok(t, err)
	page, err = e.m.ListUsers(e.ctx, tr.adminA.ID, usermgmt.UserQuery{Search: "traveller"})
	ok(t, err)
	eq(t, "listed in the old subtree", len(page.Items), 0)
	_, err = e.m.User(e.ctx, tr.adminA.ID, u.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "moves audited", e.count(u.ID, usermgmt.ActionMove), 2)
	_, err = e.m.MoveUser(e.ctx, e.admin.ID, u.ID, newID())
	isErr(t, err, usermgmt.ErrNotFound)
}

func testAccountsManaged(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	page, err := e.m.Accounts(e.ctx, tr.adminA.ID, usermgmt.AccountListQuery{Limit: 1})
	ok(t, err)
	eq(t, "first page", len(page.Items), 1)
	eq(t, "first account", page.Items[0].ID, tr.a.ID)
	page, err = e.m.Accounts(e.ctx, tr.adminA.ID, usermgmt.AccountListQuery{Cursor: page.Next})
	ok(t, err)
	eq(t, "second page", len(page.Items), 1)
	eq(t, "second account", page.Items[0].ID, tr.a1.ID)
	_, err = e.m.Accounts(e.ctx, tr.adminA.ID, usermgmt.AccountListQuery{RootID: tr.b.ID})
	isErr(t, err, usermgmt.ErrNotFound)
	a, err := e.m.UpdateAccount(e.ctx, tr.adminA.ID, tr.a1.ID, usermgmt.AccountPatch{Name: ptr("Client A1 (renamed)")})
	ok(t, err)
	eq(t, "renamed", a.Name, "Client A1 (renamed)")
	eq(t, "version", a.Version, int64(2))
	g := e.user(tr.a.ID, "no-settings@example.com", usermgmt.RoleGeneral)
	_, err = e.m.UpdateAccount(e.ctx, g.ID, tr.a.ID, usermgmt.AccountPatch{Name: ptr("Hijacked")})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.UpdateAccount(e.ctx, tr.adminA.ID, tr.b.ID, usermgmt.AccountPatch{Name: ptr("Hijacked")})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.UpdateAccount(e.ctx, tr.adminA.ID, tr.a.ID, usermgmt.AccountPatch{Name: ptr("  ")})
	isErr(t, err, usermgmt.ErrInvalidInput)
	trail, err := e.m.AccountHistory(e.ctx, tr.adminA.ID, usermgmt.AuditQuery{Actions: []usermgmt.Action{usermgmt.ActionAccountUpdate}})
	ok(t, err)
	eq(t, "renames in A's trail", len(trail.Items), 1)
	eq(t, "rename actor email", trail.Items[0].ActorEmail, tr.adminA.Email)
}

// testPortalRoles: seed 003's roles. Account Admin holds everything; Admin
// everything but account settings and billing; User Admin user management
// only; General User only what is granted.
func testPortalRoles(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.PortalRoles()...))
	manager := e.user(e.root.ID, "manager@example.com", "manager")
	ua := e.user(e.root.ID, "portal-ua@example.com", "user_admin")
	g := e.user(e.root.ID, "portal-general@example.com", usermgmt.RoleGeneral)
	check := func(user string, p usermgmt.Permission, want bool) {
		t.Helper()
		can, err := e.m.Can(e.ctx, user, p)
		ok(t, err)
		if can != want {
			t.Fatalf("Can(%s, %s) = %v, want %v", user, p, can, want)
		}
	}
	for _, p := range []usermgmt.Permission{usermgmt.PermAccountSettings, usermgmt.PermPricing, usermgmt.PermPayment, usermgmt.PermManageUsers, "reports"} {
		check(e.admin.ID, p, true)
	}
	check(manager.ID, usermgmt.PermManageUsers, true)
	check(manager.ID, "reports", true)
	check(manager.ID, usermgmt.PermAccountSettings, false)
	check(manager.ID, usermgmt.PermPricing, false)
	check(manager.ID, usermgmt.PermPayment, false)
	check(ua.ID, usermgmt.PermManageUsers, true)
	check(ua.ID, "reports", false)
	check(g.ID, usermgmt.PermManageUsers, false)
	// An Admin cannot make an Account Admin; a User Admin cannot make an Admin.
	_, err := e.m.ChangeRole(e.ctx, manager.ID, g.ID, usermgmt.RoleAdmin)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, ua.ID, g.ID, "manager")
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, manager.ID, g.ID, "user_admin")
	ok(t, err)
	_, err = e.m.UpdateAccount(e.ctx, manager.ID, e.root.ID, usermgmt.AccountPatch{Name: ptr("Renamed by an Admin")})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	titles := map[string]string{}
	for _, r := range e.m.Roles() {
		titles[r.Name] = r.Title
	}
	eq(t, "title of admin", titles[usermgmt.RoleAdmin], "Account Admin")
	eq(t, "title of manager", titles["manager"], "Admin")
	eq(t, "title of user_admin", titles["user_admin"], "User Admin")
	eq(t, "title of general", titles[usermgmt.RoleGeneral], "General User")
}
