package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var groupTests = map[string]func(*testing.T, *suite){
	"GroupGrantsFollowMembers":          testGroupGrants,
	"GroupNamesUniqueIgnoringCase":      testGroupNames,
	"NobodyGivesAGroupMoreThanHeld":     testGroupBounds,
	"DeletingAGroupTakesItsGrants":      testDeleteGroup,
	"DeletingALargeGroupEmptiesIt":      testDeleteLargeGroup,
	"MembershipAuditedOnTheUser":        testMembershipAudited,
	"GroupOfAnotherAccountRefused":      testGroupOtherAccount,
	"DepartmentsListedAndFiltered":      testDepartments,
	"DepartmentScopedGrants":            testDepartmentGrants,
	"DepartmentBoundUserAdmin":          testDepartmentBoundAdmin,
	"DepartmentBoundAdminReadsNoOthers": testDepartmentBoundReads,
	"DepartmentBoundAdminGivesNoMore":   testDepartmentBoundRoles,
	"NoStalePermissionAfterAChange":     testNoStalePermission,
	"BadGroupAndDepartmentInputRefused": testGroupBadInput,
}

// group creates a group in the account as the root admin.
func (e *env) group(accountID, name string, grants ...usermgmt.Grant) usermgmt.Group {
	e.t.Helper()
	g, err := e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{AccountID: accountID, Name: name, Grants: grants})
	if err != nil {
		e.t.Fatalf("CreateGroup %s: %v", name, err)
	}
	return g
}

func (e *env) can(userID string, p usermgmt.Permission, r *usermgmt.Resource) bool {
	e.t.Helper()
	var c bool
	var err error
	if r == nil {
		c, err = e.m.Can(e.ctx, userID, p)
	} else {
		c, err = e.m.CanOn(e.ctx, userID, p, *r)
	}
	ok(e.t, err)
	return c
}

func testGroupGrants(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.group(e.root.ID, "Analysts", usermgmt.Grant{Permission: "insights.view"})
	u := e.user(e.root.ID, "analyst@example.com", usermgmt.RoleGeneral)
	eq(t, "before joining", e.can(u.ID, "insights.view", nil), false)
	got, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	ok(t, err)
	sameSlice(t, "groups in the view", got.Groups, []string{g.ID})
	eq(t, "after joining", e.can(u.ID, "insights.view", nil), true)
	_, err = e.m.GrantGroup(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports", Resource: "report:7"})
	ok(t, err)
	eq(t, "a grant added to the group", e.can(u.ID, "reports", &usermgmt.Resource{Type: "report", ID: "7"}), true)
	_, err = e.m.RevokeGroupGrant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "insights.view"})
	ok(t, err)
	eq(t, "a grant taken from the group", e.can(u.ID, "insights.view", nil), false)
	_, err = e.m.RemoveFromGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	ok(t, err)
	eq(t, "after leaving", e.can(u.ID, "reports", &usermgmt.Resource{Type: "report", ID: "7"}), false)
	page, err := e.m.ListGroups(e.ctx, e.admin.ID, usermgmt.GroupListQuery{})
	ok(t, err)
	eq(t, "groups listed", len(page.Items), 1)
	_, err = e.m.GrantGroup(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: usermgmt.PermManageUsers})
	isErr(t, err, usermgmt.ErrNotGrantable)
}

func testGroupNames(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.group(e.root.ID, "Sales")
	_, err := e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{Name: " sALES "})
	isErr(t, err, usermgmt.ErrDuplicateName)
	other := e.group(e.root.ID, "Support")
	_, err = e.m.UpdateGroup(e.ctx, e.admin.ID, other.ID, usermgmt.GroupPatch{Name: ptr("SALES")})
	isErr(t, err, usermgmt.ErrDuplicateName)
	renamed, err := e.m.UpdateGroup(e.ctx, e.admin.ID, g.ID, usermgmt.GroupPatch{Name: ptr("Sales EMEA"), Description: ptr("Europe")})
	ok(t, err)
	eq(t, "renamed", renamed.Name, "Sales EMEA")
	eq(t, "version", renamed.Version, int64(2))
	e.group(e.root.ID, "sales") // free again
	sub, _ := e.account(e.admin.ID, e.root.ID, "Sub", "sub-admin@example.com")
	e.group(sub.ID, "Support") // names are per account
}

func testGroupBounds(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "user_admin", Permissions: []usermgmt.Permission{usermgmt.PermManageUsers, "reports"}}))
	ua := e.user(e.root.ID, "group-ua@example.com", "user_admin")
	mine, err := e.m.CreateGroup(e.ctx, ua.ID, usermgmt.NewGroup{Name: "Reporters", Grants: []usermgmt.Grant{{Permission: "reports"}}})
	ok(t, err)
	_, err = e.m.CreateGroup(e.ctx, ua.ID, usermgmt.NewGroup{Name: "Viewers", Grants: []usermgmt.Grant{{Permission: "insights.view"}}})
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.GrantGroup(e.ctx, ua.ID, mine.ID, usermgmt.Grant{Permission: "insights.view"})
	isErr(t, err, usermgmt.ErrTargetOutranks)
	big := e.group(e.root.ID, "Big", usermgmt.Grant{Permission: "insights.view"})
	g := e.user(e.root.ID, "joiner@example.com", usermgmt.RoleGeneral)
	_, err = e.m.AddToGroup(e.ctx, ua.ID, g.ID, big.ID)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.UpdateGroup(e.ctx, ua.ID, big.ID, usermgmt.GroupPatch{Name: ptr("Small")})
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.DeleteGroup(e.ctx, ua.ID, big.ID)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.AddToGroup(e.ctx, ua.ID, g.ID, mine.ID)
	ok(t, err)
	// A member of a group whose grants exceed the actor's is out of the actor's hands.
	_, err = e.m.AddToGroup(e.ctx, e.admin.ID, g.ID, big.ID)
	ok(t, err)
	_, err = e.m.Disable(e.ctx, ua.ID, g.ID)
	isErr(t, err, usermgmt.ErrTargetOutranks)
	plain := e.user(e.root.ID, "plain-group@example.com", usermgmt.RoleGeneral)
	_, err = e.m.CreateGroup(e.ctx, plain.ID, usermgmt.NewGroup{Name: "Mine"})
	isErr(t, err, usermgmt.ErrPermissionDenied)
}

func testDeleteGroup(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.group(e.root.ID, "Temporary", usermgmt.Grant{Permission: "reports"})
	var members []usermgmt.User
	for i := 0; i < 5; i++ {
		u := e.user(e.root.ID, email("temp-member", i), usermgmt.RoleGeneral)
		_, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
		ok(t, err)
		members = append(members, u)
	}
	deleted, err := e.m.DeleteGroup(e.ctx, e.admin.ID, g.ID)
	ok(t, err)
	eq(t, "deleted", deleted.Deleted, true)
	for _, u := range members {
		eq(t, "grant after the deletion", e.can(u.ID, "reports", nil), false)
		eq(t, "groups after the deletion", len(e.get(u.ID).Groups), 0)
		eq(t, "membership events", e.count(u.ID, usermgmt.ActionGroupMembership), 2)
	}
	_, err = e.m.AddToGroup(e.ctx, e.admin.ID, members[0].ID, g.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{GroupID: g.ID})
	isErr(t, err, usermgmt.ErrNotFound)
	trail, err := e.m.AccountHistory(e.ctx, e.admin.ID, usermgmt.AuditQuery{Actions: []usermgmt.Action{usermgmt.ActionGroupDelete}})
	ok(t, err)
	eq(t, "group deletions in the trail", len(trail.Items), 1)
	// Deleting again finishes what is left, and changes nothing else.
	_, err = e.m.DeleteGroup(e.ctx, e.admin.ID, g.ID)
	ok(t, err)
}

func testDeleteLargeGroup(t *testing.T, su *suite) {
	e := su.env(t)
	n := 1200
	if su.short {
		n = 300
	}
	g := e.group(e.root.ID, "Everyone", usermgmt.Grant{Permission: "reports"})
	var users []usermgmt.UserRecord
	for i := 0; i < n; i++ {
		u := e.rawUser(e.root.ID, email("everyone", i))
		u.Groups = []string{g.ID}
		users = append(users, u)
	}
	for i := 0; i < n; i += 500 {
		e.createRaw(users[i:min(i+500, n)]...)
	}
	eq(t, "a member's grant", e.can(users[n-1].ID, "reports", nil), true)
	_, err := e.m.DeleteGroup(e.ctx, e.admin.ID, g.ID)
	ok(t, err)
	page, err := e.store.ListUsers(e.ctx, usermgmt.ListQuery{AccountID: e.root.ID, GroupID: g.ID, Limit: 10})
	ok(t, err)
	eq(t, "members left", len(page), 0)
	eq(t, "a member's grant after the deletion", e.can(users[n-1].ID, "reports", nil), false)
}

func testMembershipAudited(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.group(e.root.ID, "Audited")
	u := e.user(e.root.ID, "audited-member@example.com", usermgmt.RoleGeneral)
	_, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	ok(t, err)
	got, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID) // already a member: nothing written
	ok(t, err)
	sameSlice(t, "groups", got.Groups, []string{g.ID})
	eq(t, "actions", e.actions(u.ID), "create,group_membership")
	ev := e.history(u.ID)[0]
	if len(ev.Changes) != 1 || ev.Changes[0].Field != "groups" || ev.Changes[0].New != g.ID {
		t.Fatalf("membership recorded as %+v", ev.Changes)
	}
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{GroupID: g.ID})
	ok(t, err)
	eq(t, "members listed", len(page.Items), 1)
}

func testGroupOtherAccount(t *testing.T, su *suite) {
	e := su.env(t)
	sub, _ := e.account(e.admin.ID, e.root.ID, "Sub", "sub-admin@example.com")
	g := e.group(sub.ID, "Sub team")
	u := e.user(e.root.ID, "root-user@example.com", usermgmt.RoleGeneral)
	_, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	isErr(t, err, usermgmt.ErrInvalidInput)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "cross@example.com", FirstName: "C", LastName: "X", Invite: true, Groups: []string{g.ID}})
	isErr(t, err, usermgmt.ErrInvalidInput)
	other, c := e.account(usermgmt.System, "", "Other tenant", "other-tenant@example.com")
	_ = other
	_, err = e.m.Group(e.ctx, c.User.ID, g.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.AddToGroup(e.ctx, c.User.ID, c.User.ID, g.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "events", len(e.history(u.ID)), 1)
}

func testDepartments(t *testing.T, su *suite) {
	e := su.env(t)
	a, err := e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, "Operations")
	ok(t, err)
	sameSlice(t, "departments", a.Departments, []string{"Operations"})
	_, err = e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, "operations")
	isErr(t, err, usermgmt.ErrDuplicateName)
	_, err = e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, "Sales")
	ok(t, err)
	ops, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "ops@example.com", FirstName: "O", LastName: "P", Department: "Operations", Password: Password})
	ok(t, err)
	sales := e.user(e.root.ID, "sales@example.com", usermgmt.RoleGeneral)
	got, err := e.m.UpdateProfile(e.ctx, e.admin.ID, sales.ID, usermgmt.Profile{Department: ptr("SALES")})
	ok(t, err)
	eq(t, "department, in the account's spelling", got.Department, "Sales")
	_, err = e.m.UpdateProfile(e.ctx, e.admin.ID, sales.ID, usermgmt.Profile{Department: ptr("Nowhere")})
	isErr(t, err, usermgmt.ErrInvalidInput)
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Department: "operations"})
	ok(t, err)
	eq(t, "listed in Operations", len(page.Items), 1)
	eq(t, "who", page.Items[0].ID, ops.User.ID)
	_, err = e.m.RemoveDepartment(e.ctx, e.admin.ID, e.root.ID, "Operations")
	isErr(t, err, usermgmt.ErrInvalidInput) // still in use
	_, err = e.m.UpdateProfile(e.ctx, e.admin.ID, ops.User.ID, usermgmt.Profile{Department: ptr("")})
	ok(t, err)
	a, err = e.m.RemoveDepartment(e.ctx, e.admin.ID, e.root.ID, "Operations")
	ok(t, err)
	sameSlice(t, "departments after removal", a.Departments, []string{"Sales"})
	_, err = e.m.RemoveDepartment(e.ctx, e.admin.ID, e.root.ID, "Operations")
	isErr(t, err, usermgmt.ErrNotFound)
	g := e.user(e.root.ID, "no-settings@example.com", usermgmt.RoleGeneral)
	_, err = e.m.AddDepartment(e.ctx, g.ID, e.root.ID, "Shadow IT")
	isErr(t, err, usermgmt.ErrPermissionDenied)
}

func testDepartmentGrants(t *testing.T, su *suite) {
	e := su.env(t)
	for _, d := range []string{"Operations", "Sales"} {
		_, err := e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, d)
		ok(t, err)
	}
	u := e.user(e.root.ID, "dept-grant@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Grant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "files.edit", Department: "Operations"})
	ok(t, err)
	opsFile := usermgmt.Resource{Type: "file", ID: "1", Department: "Operations"}
	salesFile := usermgmt.Resource{Type: "file", ID: "2", Department: "Sales"}
	untagged := usermgmt.Resource{Type: "file", ID: "3"}
	eq(t, "on an Operations file", e.can(u.ID, "files.edit", &opsFile), true)
	eq(t, "on a Sales file", e.can(u.ID, "files.edit", &salesFile), false)
	eq(t, "on an untagged file", e.can(u.ID, "files.edit", &untagged), false)
	eq(t, "on everything", e.can(u.ID, "files.edit", nil), false)
	_, err = e.m.Grant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "files.edit", Department: "Nowhere"})
	isErr(t, err, usermgmt.ErrInvalidInput)
	g := e.group(e.root.ID, "Sales editors", usermgmt.Grant{Permission: "files.edit", Department: "Sales"})
	_, err = e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	ok(t, err)
	eq(t, "on a Sales file through the group", e.can(u.ID, "files.edit", &salesFile), true)
}

// testDepartmentBoundAdmin: a "User Admin of Operations" manages the users
// of Operations only; everyone else is out of reach.
func testDepartmentBoundAdmin(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "dept_user_admin", Title: "User Admin of a department",
		Permissions: []usermgmt.Permission{usermgmt.PermManageUsers, "files.edit"}, OwnDepartment: true},
		usermgmt.Role{Name: "user_admin", Permissions: []usermgmt.Permission{usermgmt.PermManageUsers}}))
	for _, d := range []string{"Operations", "Sales"} {
		_, err := e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, d)
		ok(t, err)
	}
	mk := func(addr, dept, role string) usermgmt.User {
		c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: addr, FirstName: "D", LastName: "B", Department: dept, Role: role, Password: Password})
		ok(t, err)
		return c.User
	}
	boss := mk("ops-boss@example.com", "Operations", "dept_user_admin")
	opsUser := mk("ops-user@example.com", "Operations", usermgmt.RoleGeneral)
	salesUser := mk("sales-user@example.com", "Sales", usermgmt.RoleGeneral)
	nobody := mk("no-dept@example.com", "", usermgmt.RoleGeneral)
	_, err := e.m.Disable(e.ctx, boss.ID, opsUser.ID)
	ok(t, err)
	for _, u := range []usermgmt.User{salesUser, nobody} {
		_, err = e.m.Disable(e.ctx, boss.ID, u.ID)
		isErr(t, err, usermgmt.ErrNotFound)
	}
	page, err := e.m.ListUsers(e.ctx, boss.ID, usermgmt.UserQuery{})
	ok(t, err)
	for _, u := range page.Items {
		eq(t, "department of a listed user", u.Department, "Operations")
	}
	eq(t, "users listed", len(page.Items), 2)
	c, err := e.m.CreateUser(e.ctx, boss.ID, usermgmt.NewUser{Email: "new-ops@example.com", FirstName: "N", LastName: "O", Invite: true})
	ok(t, err)
	eq(t, "department of a user the bound admin creates", c.User.Department, "Operations")
	_, err = e.m.CreateUser(e.ctx, boss.ID, usermgmt.NewUser{Email: "new-sales@example.com", FirstName: "N", LastName: "S", Invite: true, Department: "Sales"})
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.UpdateProfile(e.ctx, boss.ID, c.User.ID, usermgmt.Profile{Department: ptr("Sales")})
	isErr(t, err, usermgmt.ErrNotFound)
	// The role's permissions cover their department's resources, or untagged ones.
	eq(t, "on an Operations file", e.can(boss.ID, "files.edit", &usermgmt.Resource{Type: "file", ID: "1", Department: "Operations"}), true)
	eq(t, "on a Sales file", e.can(boss.ID, "files.edit", &usermgmt.Resource{Type: "file", ID: "2", Department: "Sales"}), false)
	eq(t, "on an untagged file", e.can(boss.ID, "files.edit", &usermgmt.Resource{Type: "file", ID: "3"}), true)
	// They make bound user admins, never unbound ones.
	_, err = e.m.ChangeRole(e.ctx, boss.ID, c.User.ID, "user_admin")
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, boss.ID, c.User.ID, "dept_user_admin")
	ok(t, err)
}

// testDepartmentBoundReads: what a "User Admin of Operations" reads
// beyond user records stays within Operations too: the dead letters of
// other departments' users are neither listed nor requeued (ErrNotFound,
// as an absent one), and the account's audit trail, which holds every
// department's changes, is refused (they read their users' History).
func testDepartmentBoundReads(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(usermgmt.Role{Name: "dept_user_admin",
		Permissions: []usermgmt.Permission{usermgmt.PermManageUsers}, OwnDepartment: true}))
	for _, d := range []string{"Operations", "Sales"} {
		_, err := e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, d)
		ok(t, err)
	}
	mk := func(addr, dept, role string, invite bool) usermgmt.User {
		in := usermgmt.NewUser{Email: addr, FirstName: "D", LastName: "B", Department: dept, Role: role, Invite: invite}
		if !invite {
			in.Password = Password
		}
		c, err := e.m.CreateUser(e.ctx, e.admin.ID, in)
		ok(t, err)
		return c.User
	}
	boss := mk("ops-boss@example.com", "Operations", "dept_user_admin", false)
	opsUser := mk("ops-invitee@example.com", "Operations", usermgmt.RoleGeneral, true)
	salesUser := mk("sales-invitee@example.com", "Sales", usermgmt.RoleGeneral, true)
	sender := &capture{fail: func(usermgmt.Notification) error {
		return usermgmt.Permanent(errors.New("550 5.1.1 mailbox unavailable"))
	}}
	rep, err := e.m.DeliverDue(e.ctx, usermgmt.DeliveryOptions{Sender: sender})
	ok(t, err)
	eq(t, "dead letters", rep.Dead, 2)
	all, err := e.m.DeadMessages(e.ctx, e.admin.ID, usermgmt.MessageListQuery{})
	ok(t, err)
	eq(t, "dead letters the account admin sees", len(all.Items), 2)
	var opsMsg, salesMsg string
	for _, d := range all.Items {
		switch d.UserID {
		case opsUser.ID:
			opsMsg = d.ID
		case salesUser.ID:
			salesMsg = d.ID
		}
	}
	page, err := e.m.DeadMessages(e.ctx, boss.ID, usermgmt.MessageListQuery{})
	ok(t, err)
	eq(t, "dead letters the bound admin sees", len(page.Items), 1)
	eq(t, "the dead letter the bound admin sees", page.Items[0].To, opsUser.Email)
	isErr(t, e.m.RequeueMessage(e.ctx, boss.ID, salesMsg), usermgmt.ErrNotFound)
	ok(t, e.m.RequeueMessage(e.ctx, boss.ID, opsMsg))
	ok(t, e.m.RequeueMessage(e.ctx, e.admin.ID, salesMsg))

	_, err = e.m.AccountHistory(e.ctx, boss.ID, usermgmt.AuditQuery{})
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.History(e.ctx, boss.ID, usermgmt.AuditQuery{UserID: salesUser.ID})
	isErr(t, err, usermgmt.ErrNotFound)
	h, err := e.m.History(e.ctx, boss.ID, usermgmt.AuditQuery{UserID: opsUser.ID})
	ok(t, err)
	eq(t, "events of the bound admin's user", len(h.Items), 1)
}

// testDepartmentBoundRoles: a "User Admin of Operations" holds their
// role's permissions on Operations' resources only, so they may not give a
// role that holds one of them everywhere (nor manage, and so act as, a user
// who has one), while a role bound to the department like theirs is theirs
// to give.
func testDepartmentBoundRoles(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithRoles(
		usermgmt.Role{Name: "dept_user_admin", Permissions: []usermgmt.Permission{usermgmt.PermManageUsers, "files.edit"}, OwnDepartment: true},
		usermgmt.Role{Name: "editor", Permissions: []usermgmt.Permission{"files.edit"}},
		usermgmt.Role{Name: "dept_editor", Permissions: []usermgmt.Permission{"files.edit"}, OwnDepartment: true}))
	_, err := e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, "Operations")
	ok(t, err)
	mk := func(addr, role string) usermgmt.User {
		c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: addr, FirstName: "D", LastName: "B", Department: "Operations", Role: role, Password: Password})
		ok(t, err)
		return c.User
	}
	boss := mk("ops-boss@example.com", "dept_user_admin")
	editor := mk("ops-editor@example.com", "editor")
	plain := mk("ops-plain@example.com", usermgmt.RoleGeneral)
	salesFile := usermgmt.Resource{Type: "file", ID: "9", Department: "Sales"}
	eq(t, "the boss on a Sales file", e.can(boss.ID, "files.edit", &salesFile), false)
	eq(t, "an editor on a Sales file", e.can(editor.ID, "files.edit", &salesFile), true)

	_, err = e.m.CreateUser(e.ctx, boss.ID, usermgmt.NewUser{Email: "new-editor@example.com", FirstName: "N", LastName: "E", Role: "editor", Password: Password})
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.ChangeRole(e.ctx, boss.ID, plain.ID, "editor")
	isErr(t, err, usermgmt.ErrTargetOutranks)
	_, err = e.m.SetPassword(e.ctx, boss.ID, editor.ID, "the boss signs in as the editor")
	isErr(t, err, usermgmt.ErrTargetOutranks)
	eq(t, "role after the refusals", e.get(plain.ID).Role, usermgmt.RoleGeneral)

	_, err = e.m.ChangeRole(e.ctx, boss.ID, plain.ID, "dept_editor")
	ok(t, err)
	eq(t, "a department editor on a Sales file", e.can(plain.ID, "files.edit", &salesFile), false)
	// Nor can they move a user out of their department by moving them to
	// an account without it (as they cannot clear it with UpdateProfile).
	bare, _ := e.account(e.admin.ID, e.root.ID, "No departments", "bare-admin@example.com")
	ops, _ := e.account(e.admin.ID, e.root.ID, "Also Operations", "ops2-admin@example.com")
	_, err = e.m.AddDepartment(e.ctx, e.admin.ID, ops.ID, "Operations")
	ok(t, err)
	_, err = e.m.MoveUser(e.ctx, boss.ID, plain.ID, bare.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	eq(t, "account after the refused move", e.get(plain.ID).AccountID, e.root.ID)
	moved, err := e.m.MoveUser(e.ctx, boss.ID, plain.ID, ops.ID)
	ok(t, err)
	eq(t, "department after the move", moved.Department, "Operations")
	_, err = e.m.MoveUser(e.ctx, boss.ID, plain.ID, e.root.ID)
	ok(t, err)
	// An unbound grant of the permission lets the boss give it unbound.
	_, err = e.m.Grant(e.ctx, e.admin.ID, boss.ID, usermgmt.Grant{Permission: "files.edit"})
	ok(t, err)
	_, err = e.m.ChangeRole(e.ctx, boss.ID, plain.ID, "editor")
	ok(t, err)
}

// testNoStalePermission: a permission check right after a change, made
// through another Manager (another instance), sees the change.
func testNoStalePermission(t *testing.T, su *suite) {
	e := su.env(t)
	ms := e.managers(2)
	g := e.group(e.root.ID, "Cached", usermgmt.Grant{Permission: "reports"})
	u := e.user(e.root.ID, "cached@example.com", usermgmt.RoleGeneral)
	_, err := ms[0].AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	ok(t, err)
	for round := 0; round < 3; round++ {
		can, err := ms[1].Can(e.ctx, u.ID, "reports")
		ok(t, err)
		eq(t, fmt.Sprint("before the revoke, round ", round), can, true)
	}
	_, err = ms[0].RevokeGroupGrant(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports"})
	ok(t, err)
	can, err := ms[1].Can(e.ctx, u.ID, "reports")
	ok(t, err)
	eq(t, "right after the revoke, on the other instance", can, false)
	_, err = ms[0].GrantGroup(e.ctx, e.admin.ID, g.ID, usermgmt.Grant{Permission: "reports"})
	ok(t, err)
	_, err = ms[0].DeleteGroup(e.ctx, e.admin.ID, g.ID)
	ok(t, err)
	can, err = ms[1].Can(e.ctx, u.ID, "reports")
	ok(t, err)
	eq(t, "right after the deletion, on the other instance", can, false)
	_ = time.Second
}

func testGroupBadInput(t *testing.T, su *suite) {
	e := su.env(t)
	for _, name := range []string{"", "   ", strings.Repeat("x", 101), "tab\there"} {
		_, err := e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{Name: name})
		isErr(t, err, usermgmt.ErrInvalidInput)
		_, err = e.m.AddDepartment(e.ctx, e.admin.ID, e.root.ID, name)
		isErr(t, err, usermgmt.ErrInvalidInput)
	}
	u := e.user(e.root.ID, "bad-input@example.com", usermgmt.RoleGeneral)
	_, err := e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, newID())
	isErr(t, err, usermgmt.ErrNotFound)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "bad-group@example.com", FirstName: "B", LastName: "G", Invite: true, Groups: []string{newID()}})
	isErr(t, err, usermgmt.ErrInvalidInput)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "bad-dept@example.com", FirstName: "B", LastName: "D", Invite: true, Department: "Ghosts"})
	isErr(t, err, usermgmt.ErrInvalidInput)
	page, err := e.m.ListGroups(e.ctx, e.admin.ID, usermgmt.GroupListQuery{})
	ok(t, err)
	eq(t, "groups written", len(page.Items), 0)
	eq(t, "events of the user", len(e.history(u.ID)), 1)
}
