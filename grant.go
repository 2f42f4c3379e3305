package usermgmt

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Resource is something an application guards with a permission: an
// insight, a report, a sub-account. The library knows a resource names an
// account by its Type (ResourceAccount, see AccountResource), and a
// resource that names an account — or that the application says belongs to
// one, through AccountID — counts only inside the user's reach: no role or
// grant gives a user anything on an account outside their account subtree.
type Resource struct {
	Type string `json:"type"` // the application's kind of resource ("insight"); ResourceAccount for accounts
	ID   string `json:"id"`
	// AccountID is the account the resource belongs to, when the
	// application knows it. A user holds nothing on it from outside the
	// account's subtree reach.
	AccountID string `json:"account_id,omitempty"`
	// Department tags the resource with a department of its account: a
	// grant scoped to that department (Grant.Department) covers it, and a
	// role limited to its holder's department (Role.OwnDepartment) covers
	// only resources of that department or of none.
	Department string `json:"department,omitempty"`
}

// ResourceAccount is the Type of a Resource that names an account.
const ResourceAccount = "account"

// AccountResource returns the Resource naming an account, for grants of
// sub-account access ("this general user may see client B") and CanOn.
func AccountResource(accountID string) Resource {
	return Resource{Type: ResourceAccount, ID: accountID, AccountID: accountID}
}

// Key returns the resource's key, "type:id": what Grant.Resource holds.
func (r Resource) Key() string { return r.Type + ":" + r.ID }

// parseResourceKey turns a grant's resource key back into a Resource.
func parseResourceKey(key string) (Resource, bool) {
	typ, id, ok := strings.Cut(key, ":")
	if !ok || typ == "" || id == "" {
		return Resource{}, false
	}
	r := Resource{Type: typ, ID: id}
	if typ == ResourceAccount {
		r.AccountID = id
	}
	return r, true
}

// Grant gives a user or a group one permission: on every resource
// (Resource and Department empty), on one resource (Resource, a
// Resource.Key such as "insight:42" or "account:<id>"), or on the
// resources of one department (Department).
type Grant struct {
	Permission Permission `json:"permission"`
	Resource   string     `json:"resource,omitempty"`
	Department string     `json:"department,omitempty"`
}

// String formats a grant as permission, permission:resource-key, with
// "@department" appended when it is scoped to one.
func (g Grant) String() string {
	s := string(g.Permission)
	if g.Resource != "" {
		s += ":" + g.Resource
	}
	if g.Department != "" {
		s += "@" + g.Department
	}
	return s
}

// covers reports whether holding g gives what h gives (or more).
func (g Grant) covers(h Grant) bool {
	return g.Permission == h.Permission &&
		(g.Resource == "" || g.Resource == h.Resource) &&
		(g.Department == "" || g.Department == h.Department)
}

// access is what one user holds: their role, their own grants and their
// groups' grants, within their account subtree.
type access struct {
	user   UserRecord
	role   Role
	groups []*compiledGroup // the user's live groups
}

// compiledGroup is a group with its grants indexed by permission, as the
// group cache keeps it, so that a check looks only at the grants of the
// permission asked about.
type compiledGroup struct {
	Group
	byPerm map[Permission][]Grant
}

func compile(g Group) *compiledGroup {
	c := &compiledGroup{Group: g, byPerm: make(map[Permission][]Grant)}
	for _, gr := range g.Grants {
		c.byPerm[gr.Permission] = append(c.byPerm[gr.Permission], gr)
	}
	return c
}

// holds reports whether the user holds p on r (nil: on everything). The
// caller has checked r's account against the user's reach.
func (a *access) holds(p Permission, r *Resource) bool {
	if a.role.holds(p) && (!a.role.OwnDepartment || r == nil || r.Department == "" || r.Department == a.user.Department) {
		return true
	}
	key := ""
	if r != nil {
		key = r.Key()
	}
	applies := func(g Grant) bool {
		return g.Permission == p && (g.Resource == "" || (r != nil && g.Resource == key)) &&
			(g.Department == "" || (r != nil && g.Department == r.Department))
	}
	for _, g := range a.user.Grants {
		if applies(g) {
			return true
		}
	}
	for _, cg := range a.groups {
		for _, g := range cg.byPerm[p] {
			if applies(g) {
				return true
			}
		}
	}
	return false
}

// covers reports whether the user holds everything g gives.
func (a *access) covers(g Grant) bool {
	if a.role.holds(g.Permission) && (!a.role.OwnDepartment || g.Department == a.user.Department && g.Department != "") {
		return true
	}
	for _, h := range a.user.Grants {
		if h.covers(g) {
			return true
		}
	}
	for _, cg := range a.groups {
		for _, h := range cg.byPerm[g.Permission] {
			if h.covers(g) {
				return true
			}
		}
	}
	return false
}

// groupGrants returns the grants the user holds through groups.
func (a *access) groupGrants() []Grant {
	var out []Grant
	for _, cg := range a.groups {
		out = append(out, cg.Grants...)
	}
	return out
}

// access loads what a user holds, in one store round trip when their
// groups are cached.
func (m *Manager) access(ctx context.Context, userID string) (access, error) {
	u, stamps, err := m.store.UserAccess(ctx, userID)
	if err != nil {
		return access{}, err
	}
	a := access{user: u, role: m.roles[u.Role]}
	if len(stamps) > 0 {
		if a.groups, err = m.groups.get(ctx, m.store, stamps); err != nil {
			return access{}, err
		}
	}
	return a, nil
}

// Can reports whether the user holds permission p on everything: through
// their role, or a grant (their own or a group's) that names no resource
// and no department. Only Active users hold anything; an unknown user
// holds nothing (false, nil). With WithPermissions, an unregistered p is
// ErrUnknownPermission.
func (m *Manager) Can(ctx context.Context, userID string, p Permission) (bool, error) {
	return m.can(ctx, userID, p, nil)
}

// CanOn reports whether the user holds permission p on the resource:
// through their role (limited to their department's resources for a role
// with OwnDepartment), or a grant naming no resource, this resource, or
// the resource's department. A resource that names an account, or belongs
// to one (Resource.AccountID), outside the user's account subtree gives
// nothing (false) whatever the role or grants. Only Active users hold
// anything.
func (m *Manager) CanOn(ctx context.Context, userID string, p Permission, r Resource) (bool, error) {
	if r.Type == "" || r.ID == "" || strings.Contains(r.Type, ":") {
		return false, fieldError(ErrInvalidInput, "resource", "needs a type without ':' and an id")
	}
	if r.Type == ResourceAccount {
		if r.AccountID != "" && r.AccountID != r.ID {
			return false, fieldError(ErrInvalidInput, "resource.account_id", "must be the account's own ID for an account resource")
		}
		r.AccountID = r.ID
	}
	return m.can(ctx, userID, p, &r)
}

func (m *Manager) can(ctx context.Context, userID string, p Permission, r *Resource) (bool, error) {
	if err := m.checkPermission(p); err != nil {
		return false, err
	}
	a, err := m.access(ctx, userID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if a.user.Status != StatusActive {
		return false, nil
	}
	if _, ok := m.roles[a.user.Role]; !ok {
		return false, nil
	}
	if r != nil && r.AccountID != "" {
		within, err := m.accountWithin(ctx, r.AccountID, a.user.AccountID)
		if err != nil || !within {
			return false, err
		}
	}
	return a.holds(p, r), nil
}

// accountWithin reports whether the account exists and lies in root's subtree.
func (m *Manager) accountWithin(ctx context.Context, accountID, root string) (bool, error) {
	if accountID == root {
		return true, nil
	}
	acct, err := m.store.Account(ctx, accountID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return acct.within(root), nil
}

// checkGrant validates a grant for a grantee in account holderAccount (a
// user's or a group's) on the actor's order — a grantable, registered
// permission; a well-formed resource key, an account resource within both
// the actor's and the holder's reach; a department of the holder's
// account (matched ignoring case); and the actor holds it themselves — and
// returns it with the account's spelling of the department.
func (m *Manager) checkGrant(ctx context.Context, act actor, holderAccount string, g Grant) (Grant, error) {
	err := m.checkGrantOf(ctx, act, holderAccount, &g)
	return g, err
}

func (m *Manager) checkGrantOf(ctx context.Context, act actor, holderAccount string, g *Grant) error {
	if err := m.checkPermission(g.Permission); err != nil {
		return err
	}
	if slices.Contains(roleOnly, g.Permission) {
		return fieldError(ErrNotGrantable, "permission", string(g.Permission)+" comes only with a role")
	}
	if g.Resource != "" {
		r, ok := parseResourceKey(g.Resource)
		if !ok || len(g.Resource) > 256 || strings.ContainsFunc(g.Resource, isSpaceOrControl) {
			return fieldError(ErrInvalidInput, "resource", `must be a resource key "type:id" of at most 256 bytes`)
		}
		if r.Type == ResourceAccount {
			within, err := m.accountWithin(ctx, r.ID, holderAccount)
			if err != nil {
				return err
			}
			reach := act.system
			if !reach {
				if reach, err = m.accountWithin(ctx, r.ID, act.user.AccountID); err != nil {
					return err
				}
			}
			if !within || !reach {
				return fieldError(ErrInvalidInput, "resource", "names an account outside the reach of the grantee or the actor")
			}
		}
	}
	if g.Department != "" {
		acct, err := m.store.Account(ctx, holderAccount)
		if err != nil {
			return err
		}
		d, ok := acct.department(g.Department)
		if !ok {
			return fieldError(ErrInvalidInput, "department", fmt.Sprintf("%q is not a department of the account", g.Department))
		}
		g.Department = d
	}
	if !act.covers(*g) {
		return fmt.Errorf("%w: the actor does not hold %s", ErrTargetOutranks, *g)
	}
	return nil
}

// Grant gives a user a permission, on every resource, on one resource, or
// on one department's resources. The actor needs PermManageUsers over the
// user and must hold the grant themselves; user management, account
// settings, pricing and payment can never be granted (ErrNotGrantable). An
// account resource must lie within the reach of both. Granting what the
// user already has changes nothing and returns the user as it is.
func (m *Manager) Grant(ctx context.Context, actorID, userID string, g Grant) (User, error) {
	return m.changeGrant(ctx, actorID, userID, g, ActionGrant)
}

// RevokeGrant withdraws a grant given by Grant. Revoking what the user does
// not have changes nothing and returns the user as it is.
func (m *Manager) RevokeGrant(ctx context.Context, actorID, userID string, g Grant) (User, error) {
	return m.changeGrant(ctx, actorID, userID, g, ActionRevokeGrant)
}

func (m *Manager) changeGrant(ctx context.Context, actorID, userID string, g Grant, action Action) (User, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	if action == ActionRevokeGrant {
		if err := m.checkPermission(g.Permission); err != nil {
			return User{}, err
		}
	}
	return m.updateView(ctx, act, userID, action, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status == StatusRemoved {
			return &TransitionError{Action: action, From: u.Status}
		}
		i := slices.Index(u.Grants, g)
		switch {
		case action == ActionGrant && i < 0:
			checked, err := m.checkGrant(ctx, act, u.AccountID, g)
			if err != nil {
				return err
			}
			if slices.Contains(u.Grants, checked) {
				return errNoChange
			}
			u.Grants = append(slices.Clone(u.Grants), checked)
		case action == ActionRevokeGrant && i >= 0:
			if !act.covers(g) {
				return fmt.Errorf("%w: the actor does not hold %s", ErrTargetOutranks, g)
			}
			u.Grants = slices.Delete(slices.Clone(u.Grants), i, i+1)
		default:
			return errNoChange
		}
		return nil
	})
}
