package usermgmt

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Permission names something a user may do. Applications define their own
// (modules, features, "insights.view"); the library defines the ones that
// only roles can carry.
type Permission string

// Permissions that only a role can carry; a Grant never can (ErrNotGrantable).
const (
	PermManageUsers     Permission = "users.manage"     // create, invite and administer users, groups and history
	PermManageAccounts  Permission = "accounts.manage"  // create sub-accounts
	PermAccountSettings Permission = "account.settings" // rename the account, edit its departments
	PermPricing         Permission = "pricing"          // see and change pricing
	PermPayment         Permission = "payment"          // see and change payment details
)

// roleOnly are the permissions a Grant can never carry.
var roleOnly = []Permission{PermManageUsers, PermManageAccounts, PermAccountSettings, PermPricing, PermPayment}

// Built-in role names.
const (
	// RoleAdmin holds every permission over its account and the accounts
	// beneath it. The library guarantees exactly this about admins: Ban,
	// Disable, Remove, ChangeRole and MoveUser refuse (ErrLastAdmin) to
	// take the last Active admin of an account out of Active or out of the
	// role. A lock (ten wrong passwords, by anyone who knows the address)
	// or the inactivity sweep can still do so; then System unlocks or
	// reactivates (Unlock(ctx, System, ...)), or the admin resets the
	// password by email (ResetPassword), which also unlocks by default.
	RoleAdmin = "admin"
	// RoleGeneral holds nothing by itself; only what is granted, to the
	// user or to their groups.
	RoleGeneral = "general"
)

// Role names a set of permissions. Roles are data: the Manager knows
// RoleAdmin (every permission) and RoleGeneral (none) and whatever the
// application registers with WithRoles (PortalRoles is a ready-made set).
type Role struct {
	Name  string `json:"name"`            // the key stored on users: 1 to 64 bytes
	Title string `json:"title,omitempty"` // for display ("User Admin")
	// Permissions are the permissions the role holds.
	Permissions []Permission `json:"permissions,omitempty"`
	// All makes the role hold every permission but those in Except.
	All    bool         `json:"all,omitempty"`
	Except []Permission `json:"except,omitempty"`
	// OwnDepartment limits the role to its holder's department: a holder
	// manages only users of the same department (a holder without a
	// department manages no one), creates users only in it, and
	// the role's permissions apply only to resources of that department
	// or of none (Resource.Department).
	OwnDepartment bool `json:"own_department,omitempty"`
}

// holds reports whether the role itself carries p.
func (r Role) holds(p Permission) bool {
	if r.All {
		return !slices.Contains(r.Except, p)
	}
	return slices.Contains(r.Permissions, p)
}

func (r Role) validate(m *Manager) error {
	if r.Name == "" || len(r.Name) > 64 || strings.ContainsFunc(r.Name, isSpaceOrControl) {
		return fieldError(ErrInvalidInput, "role.name", "must be 1 to 64 bytes without spaces")
	}
	if len(r.Title) > 100 {
		return fieldError(ErrInvalidInput, "role.title", "must be at most 100 bytes")
	}
	for _, p := range append(slices.Clone(r.Permissions), r.Except...) {
		if err := m.checkPermission(p); err != nil {
			return err
		}
	}
	if !r.All && len(r.Except) > 0 {
		return fieldError(ErrInvalidInput, "role.except", "applies only to a role with All")
	}
	return nil
}

func defaultRoles() []Role {
	return []Role{
		{Name: RoleAdmin, Title: "Admin", All: true},
		{Name: RoleGeneral, Title: "General user"},
	}
}

// PortalRoles returns the roles of a typical SaaS portal, as an opt-in
// preset for WithRoles:
//
//	admin       "Account Admin": everything, account settings, pricing and payment included
//	manager     "Admin": everything in the account but its settings, pricing and payment
//	user_admin  "User Admin": user management only
//	general     "General User": only what is granted
//
// Add OwnDepartment to a copy of user_admin for a "User Admin of
// Operations" who manages the users of their own department only.
func PortalRoles() []Role {
	return []Role{
		{Name: RoleAdmin, Title: "Account Admin", All: true},
		{Name: "manager", Title: "Admin", All: true, Except: []Permission{PermAccountSettings, PermPricing, PermPayment}},
		{Name: "user_admin", Title: "User Admin", Permissions: []Permission{PermManageUsers}},
		{Name: RoleGeneral, Title: "General User"},
	}
}

// WithRoles registers roles beside the built-in RoleAdmin and RoleGeneral,
// such as a "user admin" holding only PermManageUsers. A role with the name
// of a built-in one replaces it, except that RoleAdmin always holds every
// permission.
func WithRoles(roles ...Role) Option {
	return func(m *Manager) { m.addRoles(roles) }
}

// WithPermissions registers every permission the application uses. The
// Manager then refuses unknown names in roles, grants and checks
// (ErrUnknownPermission), so that a typo fails loudly instead of answering
// true for admins. The library's own permissions are always registered.
// Without it, any name is accepted.
func WithPermissions(perms ...Permission) Option {
	return func(m *Manager) {
		if m.perms == nil {
			m.perms = map[Permission]bool{}
			for _, p := range roleOnly {
				m.perms[p] = true
			}
		}
		for _, p := range perms {
			if p == "" || len(p) > 128 || strings.ContainsFunc(string(p), isSpaceOrControl) {
				if m.optionErr == nil {
					m.optionErr = fieldError(ErrInvalidInput, "permissions", fmt.Sprintf("%q is not 1 to 128 bytes without spaces", p))
				}
				continue
			}
			m.perms[p] = true
		}
	}
}

func (m *Manager) addRoles(roles []Role) {
	for _, r := range roles {
		r.Permissions = slices.Clone(r.Permissions)
		r.Except = slices.Clone(r.Except)
		if _, ok := m.roles[r.Name]; !ok {
			m.roleOrder = append(m.roleOrder, r.Name)
		}
		m.roles[r.Name] = r
	}
}

// checkRoles validates the registered roles once the options are applied.
func (m *Manager) checkRoles() error {
	admin := m.roles[RoleAdmin]
	admin.All, admin.Except, admin.Permissions, admin.OwnDepartment = true, nil, nil, false
	m.roles[RoleAdmin] = admin
	for _, name := range m.roleOrder {
		if err := m.roles[name].validate(m); err != nil {
			return err
		}
	}
	return nil
}

// checkPermission checks a permission name against the registry.
func (m *Manager) checkPermission(p Permission) error {
	if p == "" || len(p) > 128 || strings.ContainsFunc(string(p), isSpaceOrControl) {
		return fieldError(ErrInvalidInput, "permission", "must be 1 to 128 bytes without spaces")
	}
	if m.perms != nil && !m.perms[p] {
		return fieldError(ErrUnknownPermission, "permission", fmt.Sprintf("%q is not registered", p))
	}
	return nil
}

// Role returns the role registered under name.
func (m *Manager) Role(name string) (Role, bool) {
	r, ok := m.roles[name]
	return r, ok
}

// Roles returns every registered role, built-in ones first, in the order
// they were registered.
func (m *Manager) Roles() []Role {
	out := make([]Role, 0, len(m.roleOrder))
	for _, name := range m.roleOrder {
		r := m.roles[name]
		r.Permissions, r.Except = slices.Clone(r.Permissions), slices.Clone(r.Except)
		out = append(out, r)
	}
	return out
}

// role returns a registered role, or ErrUnknownRole.
func (m *Manager) role(name string) (Role, error) {
	r, ok := m.roles[name]
	if !ok {
		return Role{}, fieldError(ErrUnknownRole, "role", fmt.Sprintf("%q is not registered", name))
	}
	return r, nil
}

// roleWithin reports whether the actor holds everything the role holds, so
// that they may assign it or manage its holders. An unregistered role is
// treated as holding everything. An actor whose role is limited to their
// department (OwnDepartment) holds its permissions on that department's
// resources only: a role that is not so limited is within their reach
// only for the permissions they hold unbound, through grants.
func (m *Manager) roleWithin(name string, a actor) bool {
	if a.system {
		return true
	}
	r, ok := m.roles[name]
	if !ok {
		return false
	}
	unbound := a.role.OwnDepartment && !r.OwnDepartment // r holds everywhere what a holds in one department
	if r.holds(PermManageUsers) && unbound {
		return false // a department-bound user admin cannot make an unbound one
	}
	if r.All {
		if !a.role.All || unbound {
			return false
		}
		for _, p := range a.role.Except {
			if !slices.Contains(r.Except, p) {
				return false
			}
		}
		return true
	}
	for _, p := range r.Permissions {
		if unbound && !a.covers(Grant{Permission: p}) || !a.holdsAnywhere(p) {
			return false
		}
	}
	return true
}

func isActiveAdmin(u UserRecord) bool { return u.Role == RoleAdmin && u.Status == StatusActive }

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// ChangeRole gives a user another role and returns the user. The actor
// needs PermManageUsers over the user and must hold every permission of
// both the old and the new role (ErrTargetOutranks). The last active admin
// of an account cannot be demoted (ErrLastAdmin). The user's sessions end.
func (m *Manager) ChangeRole(ctx context.Context, actorID, userID, role string) (User, error) {
	if _, err := m.role(role); err != nil {
		return User{}, err
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	if !m.roleWithin(role, act) {
		return User{}, fmt.Errorf("%w: the role holds more than the actor", ErrTargetOutranks)
	}
	return m.updateView(ctx, act, userID, ActionRoleChange, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status == StatusRemoved {
			return &TransitionError{Action: ActionRoleChange, From: u.Status}
		}
		if u.Role == role {
			return errNoChange
		}
		c.keepAdmin = isActiveAdmin(*u)
		u.Role = role
		return nil
	})
}
