package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Permission names something a user may do. Applications define their own
// (modules, features); the library defines the three that only roles can
// carry.
type Permission string

// Permissions that only a role can carry; an individual Grant never can.
const (
	PermManageUsers Permission = "users.manage" // create, invite and administer users
	PermPricing     Permission = "pricing"      // see and change pricing
	PermPayment     Permission = "payment"      // see and change payment details
)

// Built-in role names.
const (
	// RoleAdmin holds every permission over its account and sub-accounts.
	// An account always keeps at least one active admin.
	RoleAdmin = "admin"
	// RoleGeneral holds nothing by itself; only what is granted.
	RoleGeneral = "general"
)

// Grant gives a user one permission, on every resource (Resource empty) or
// on one resource such as an insight ID or a sub-account ID.
type Grant struct {
	Permission Permission
	Resource   string
}

// PermManageAccounts lets an admin create sub-accounts. Like the three
// above, only a role can carry it.
const PermManageAccounts Permission = "accounts.manage"

// roleOnly are the permissions an individual Grant can never carry.
var roleOnly = []Permission{PermManageUsers, PermPricing, PermPayment, PermManageAccounts}

// Role names a set of permissions. Roles are data: the Manager knows
// RoleAdmin (every permission) and RoleGeneral (none; only grants) and
// whatever the application registers with WithRoles.
type Role struct {
	Name        string
	Permissions []Permission
	all         bool // RoleAdmin only
}

func (r Role) validate(key string) error {
	if r.Name == "" || r.Name != key || len(r.Name) > 64 {
		return fieldError(ErrInvalidInput, "role.name", "must be 1 to 64 bytes")
	}
	for _, p := range r.Permissions {
		if p == "" || len(p) > 128 {
			return fieldError(ErrInvalidInput, "role.permissions", "must be 1 to 128 bytes each")
		}
	}
	return nil
}

// Role returns the role registered under name.
func (m *Manager) Role(name string) (Role, bool) {
	r, ok := m.roles[name]
	return r, ok
}

// String formats a grant as permission or permission:resource.
func (g Grant) String() string {
	if g.Resource == "" {
		return string(g.Permission)
	}
	return string(g.Permission) + ":" + g.Resource
}

// holds reports whether a role plus individual grants carry permission p on
// resource (empty: on everything). A grant with an empty Resource covers
// every resource.
func holds(r Role, grants []Grant, p Permission, resource string) bool {
	if r.all || slices.Contains(r.Permissions, p) {
		return true
	}
	for _, g := range grants {
		if g.Permission == p && (g.Resource == "" || g.Resource == resource) {
			return true
		}
	}
	return false
}

// actor is who performs an operation: an active user or System.
type actor struct {
	system bool
	user   User
	role   Role
}

func (a actor) id() string {
	if a.system {
		return System
	}
	return a.user.ID
}

func (a actor) holds(p Permission, resource string) bool {
	return a.system || holds(a.role, a.user.Grants, p, resource)
}

func denied(reason string) error { return fmt.Errorf("%w: %s", ErrPermissionDenied, reason) }

// actor loads the acting user. Only an Active user with a registered role
// can act; anything else is refused without saying which rule failed.
func (m *Manager) actor(ctx context.Context, actorID string) (actor, error) {
	if actorID == System {
		return actor{system: true}, nil
	}
	u, err := m.store.User(ctx, actorID)
	if errors.Is(err, ErrNotFound) {
		return actor{}, denied("unknown actor")
	}
	if err != nil {
		return actor{}, err
	}
	role, ok := m.roles[u.Role]
	if u.Status != StatusActive || !ok {
		return actor{}, denied("actor is not an active user")
	}
	return actor{user: u, role: role}, nil
}

// authorizeAccount checks that the actor holds p and reaches accountID.
func (m *Manager) authorizeAccount(ctx context.Context, a actor, accountID string, p Permission) (Account, error) {
	if !a.holds(p, "") {
		return Account{}, denied("actor lacks " + string(p))
	}
	return m.reach(ctx, a, accountID)
}

// reach loads an account that is the actor's own or lies beneath it. An
// account outside the actor's reach and an absent one are refused alike.
func (m *Manager) reach(ctx context.Context, a actor, accountID string) (Account, error) {
	acct, err := m.store.Account(ctx, accountID)
	if errors.Is(err, ErrNotFound) && !a.system {
		return Account{}, denied("account outside the actor's reach")
	}
	if err != nil {
		return Account{}, err
	}
	if !a.system && !acct.within(a.user.AccountID) {
		return Account{}, denied("account outside the actor's reach")
	}
	return acct, nil
}

// authorizeOn checks that the actor may administer target: PermManageUsers
// over the target's account, and every permission of the target's role and
// every grant of the target (nobody manages someone who holds more than
// they do: whoever can set a user's password can act as that user).
func (m *Manager) authorizeOn(ctx context.Context, a actor, target User) error {
	if _, err := m.authorizeAccount(ctx, a, target.AccountID, PermManageUsers); err != nil {
		return err
	}
	if !m.roleWithin(target.Role, a) || !grantsWithin(target.Grants, a) {
		return denied("target holds permissions the actor does not")
	}
	return nil
}

// grantsWithin reports whether the actor holds every one of the grants.
func grantsWithin(grants []Grant, a actor) bool {
	for _, g := range grants {
		if !a.holds(g.Permission, g.Resource) {
			return false
		}
	}
	return true
}

// roleWithin reports whether the actor holds every permission of the role.
// An unregistered role is treated as holding everything.
func (m *Manager) roleWithin(name string, a actor) bool {
	if a.system || a.role.all {
		return true
	}
	r, ok := m.roles[name]
	if !ok || r.all {
		return false
	}
	for _, p := range r.Permissions {
		if !a.holds(p, "") {
			return false
		}
	}
	return true
}

// Can reports whether the user holds permission p, on resource when one is
// given (an insight ID, a sub-account ID). Only Active users hold anything.
// Admins hold every permission; others hold their role's permissions and
// their grants.
func (m *Manager) Can(ctx context.Context, userID string, p Permission, resource ...string) (bool, error) {
	if len(resource) > 1 {
		return false, fieldError(ErrInvalidInput, "resource", "at most one")
	}
	u, err := m.store.User(ctx, userID)
	if err != nil {
		return false, err
	}
	role, ok := m.roles[u.Role]
	if u.Status != StatusActive || !ok {
		return false, nil
	}
	return holds(role, u.Grants, p, firstOr(resource, "")), nil
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

func validateGrant(g Grant) error {
	if g.Permission == "" || len(g.Permission) > 128 {
		return fieldError(ErrInvalidInput, "permission", "must be 1 to 128 bytes")
	}
	if len(g.Resource) > 256 {
		return fieldError(ErrInvalidInput, "resource", "must be at most 256 bytes")
	}
	if slices.Contains(roleOnly, g.Permission) {
		return denied(string(g.Permission) + " comes only with a role, never as a grant")
	}
	return nil
}

// errNoChange ends an update that would change nothing: no write, no event.
var errNoChange = errors.New("usermgmt: no change")

func ignoreNoChange(err error) error {
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// Grant gives a user a permission, on one resource or (Resource empty) on
// all. The actor needs PermManageUsers over the user and must hold the
// permission themselves; user management, pricing, payment and account
// management can never be granted. Granting what the user already has is a
// no-op.
func (m *Manager) Grant(ctx context.Context, actorID, userID string, g Grant) error {
	return m.changeGrant(ctx, actorID, userID, g, ActionGrant)
}

// RevokeGrant withdraws a grant given by Grant. Revoking what the user does
// not have is a no-op.
func (m *Manager) RevokeGrant(ctx context.Context, actorID, userID string, g Grant) error {
	return m.changeGrant(ctx, actorID, userID, g, ActionRevokeGrant)
}

func (m *Manager) changeGrant(ctx context.Context, actorID, userID string, g Grant, action Action) error {
	if err := validateGrant(g); err != nil {
		return err
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return err
	}
	if !act.holds(g.Permission, g.Resource) {
		return denied("actor does not hold " + g.String())
	}
	_, err = m.update(ctx, act.id(), userID, action, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		if u.Status == StatusRemoved {
			return false, &TransitionError{Action: action, From: u.Status}
		}
		i := slices.Index(u.Grants, g)
		switch {
		case action == ActionGrant && i < 0:
			u.Grants = append(u.Grants, g)
		case action == ActionRevokeGrant && i >= 0:
			u.Grants = slices.Delete(u.Grants, i, i+1)
		default:
			return false, errNoChange
		}
		return false, nil
	})
	return ignoreNoChange(err)
}

// ChangeRole gives a user another role. The actor needs PermManageUsers over
// the user and must hold every permission of both the old and the new role.
// The last active admin of an account cannot be demoted (ErrLastAdmin).
func (m *Manager) ChangeRole(ctx context.Context, actorID, userID, role string) error {
	if _, ok := m.roles[role]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return err
	}
	if !m.roleWithin(role, act) {
		return denied("actor cannot assign a role holding more than they do")
	}
	_, err = m.update(ctx, act.id(), userID, ActionRoleChange, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		if u.Status == StatusRemoved {
			return false, &TransitionError{Action: ActionRoleChange, From: u.Status}
		}
		if u.Role == role {
			return false, errNoChange
		}
		keepAdmin := isActiveAdmin(*u)
		u.Role = role
		return keepAdmin, nil
	})
	return ignoreNoChange(err)
}

func isActiveAdmin(u User) bool { return u.Role == RoleAdmin && u.Status == StatusActive }
