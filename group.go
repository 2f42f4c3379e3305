package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Groups and departments.
//
// A group is a named set of users of one account (names unique per account,
// ignoring case) that carries grants as a user does. A user's permissions
// are their role's, their own grants and their groups' grants. Whoever
// holds PermManageUsers over the account creates, renames and deletes its
// groups and changes their members and grants — provided they hold every
// grant of the group (nobody manages a group that gives more than they
// hold) and, for a grant they add, that grant too. Never-grantable
// permissions stay never-grantable. Each membership change is a versioned
// change of the user, audited on the user (ActionGroupMembership); each
// change of a group is audited on the account trail.
//
// Deleting a group takes its grants from every member at once: the group
// is marked deleted in one atomic write, and a deleted group's grants
// count for no one from that write on. Its members then leave it in a
// bounded sequence of atomic steps (one versioned write and event per
// member, in pages of 500); if the sequence stops, DeleteGroup on the same
// group finishes it.
//
// A department is one of the account's list (Account.Departments, names
// unique ignoring case); a user belongs to at most one. ListUsers filters
// by department. A grant scoped to a department (Grant.Department) covers
// the resources the application tags with it (Resource.Department), and a
// role with OwnDepartment limits its holder to the users and resources of
// their own department.

// Group is a named set of users of one account that carries grants.
type Group struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	NameKey     string    `json:"-"` // the name folded for uniqueness (see nameKey); stores compare it
	Description string    `json:"description,omitempty"`
	Grants      []Grant   `json:"grants"`
	Deleted     bool      `json:"deleted,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

func (g Group) view() Group {
	g.Grants = slices.Clone(g.Grants)
	if g.Grants == nil {
		g.Grants = []Grant{}
	}
	return g
}

// nameKey folds a group or department name for uniqueness: Unicode simple
// case folding through strings.ToLower after trimming.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// groupCache keeps groups by ID and version, compiled for checks, so that
// a permission check costs one store round trip (the user with their
// groups' versions) when the groups are known. A cached group is used only
// at the version the store reports, so no change is ever missed, in any
// process.
type groupCache struct {
	mu sync.Mutex
	m  map[string]*compiledGroup
}

const groupCacheSize = 10_000

func (c *groupCache) init() { c.m = make(map[string]*compiledGroup) }

// get returns the groups the stamps name, from the cache when the version
// matches and from the store (one call) otherwise.
func (c *groupCache) get(ctx context.Context, s safeStore, stamps []GroupStamp) ([]*compiledGroup, error) {
	out := make([]*compiledGroup, 0, len(stamps))
	var missing []string
	c.mu.Lock()
	for _, st := range stamps {
		if g, ok := c.m[st.ID]; ok && g.Version == st.Version {
			out = append(out, g)
		} else {
			missing = append(missing, st.ID)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	gs, err := s.Groups(ctx, missing)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(gs) > groupCacheSize {
		clear(c.m)
	}
	for _, g := range gs {
		cg := compile(g)
		c.m[g.ID] = cg
		if !g.Deleted && slices.Contains(missing, g.ID) {
			out = append(out, cg)
		}
	}
	return out, nil
}

func validateGroupName(field, name string) (string, error) {
	return validateName(field, name)
}

// NewGroup is the input for CreateGroup.
type NewGroup struct {
	AccountID   string  `json:"account_id,omitempty"` // empty: the actor's account
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Grants      []Grant `json:"grants,omitempty"`
}

// CreateGroup creates a group in an account and returns it. It takes
// PermManageUsers over the account; every grant must be grantable and held
// by the actor. Returns ErrDuplicateName (a *FieldError on "name") when a
// group of the account has the name, ignoring case.
func (m *Manager) CreateGroup(ctx context.Context, actorID string, in NewGroup) (Group, error) {
	name, err := validateGroupName("name", in.Name)
	if err != nil {
		return Group{}, err
	}
	desc, err := optionalText("description", in.Description, 1000)
	if err != nil {
		return Group{}, err
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Group{}, err
	}
	acct, err := m.authorizeAccount(ctx, act, in.AccountID, PermManageUsers)
	if err != nil {
		return Group{}, err
	}
	var grants []Grant
	for _, g := range in.Grants {
		g, err := m.checkGrant(ctx, act, acct.ID, g)
		if err != nil {
			return Group{}, err
		}
		if !slices.Contains(grants, g) {
			grants = append(grants, g)
		}
	}
	now := m.now()
	g := Group{AccountID: acct.ID, Name: name, NameKey: nameKey(name), Description: desc, Grants: grants,
		CreatedAt: now, UpdatedAt: now, Version: 1}
	if g.ID, err = newID(); err != nil {
		return Group{}, err
	}
	ev, err := m.event(ctx, now, act, ActionGroupCreate, []Change{{Field: "name", New: name}, {Field: "grants", New: grantsString(grants)}})
	if err != nil {
		return Group{}, err
	}
	ev.GroupID, ev.AccountID = g.ID, g.AccountID
	if err := m.store.CreateGroup(ctx, g, ev); err != nil {
		return Group{}, groupNameTaken(err)
	}
	m.observe(ctx, ev)
	return g.view(), nil
}

func optionalText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if len(v) > max {
		return "", fieldError(ErrInvalidInput, field, fmt.Sprintf("is longer than %d bytes", max))
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) {
		return "", fieldError(ErrInvalidInput, field, "contains control characters")
	}
	return v, nil
}

// groupFor loads a group the actor may manage: in their reach (else
// ErrNotFound, as for an absent or deleted group) and holding no grant the
// actor lacks (else ErrTargetOutranks) unless readOnly.
func (m *Manager) groupFor(ctx context.Context, act actor, groupID string, readOnly bool) (Group, error) {
	gs, err := m.store.Groups(ctx, []string{groupID})
	if err != nil {
		return Group{}, err
	}
	if len(gs) == 0 {
		return Group{}, ErrNotFound
	}
	g := gs[0]
	if !act.system {
		in, err := m.accountWithin(ctx, g.AccountID, act.user.AccountID)
		if err != nil {
			return Group{}, err
		}
		if !in {
			return Group{}, ErrNotFound
		}
	}
	if !readOnly {
		for _, gr := range g.Grants {
			if !act.covers(gr) {
				return Group{}, fmt.Errorf("%w: the group holds %s", ErrTargetOutranks, gr)
			}
		}
	}
	return g, nil
}

// Group returns a group of the actor's reach (deleted ones included). It
// takes PermManageUsers.
func (m *Manager) Group(ctx context.Context, actorID, groupID string) (Group, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Group{}, err
	}
	g, err := m.groupFor(ctx, act, groupID, true)
	return g.view(), err
}

// GroupListQuery selects a page of an account's groups.
type GroupListQuery struct {
	AccountID string `json:"account_id,omitempty"` // empty: the actor's account
	Cursor    string `json:"cursor,omitempty"`
	Limit     int    `json:"limit,omitempty"` // 0 means 50, at most 1000
}

// ListGroups returns a page of the groups of one account, in creation
// order, deleted ones left out. It takes PermManageUsers over the account.
func (m *Manager) ListGroups(ctx context.Context, actorID string, q GroupListQuery) (Page[Group], error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return Page[Group]{}, err
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return Page[Group]{}, err
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Page[Group]{}, err
	}
	acct, err := m.authorizeAccount(ctx, act, q.AccountID, PermManageUsers)
	if err != nil {
		return Page[Group]{}, err
	}
	gs, err := m.store.ListGroups(ctx, GroupQuery{AccountID: acct.ID, After: after, Limit: limit + 1})
	if err != nil {
		return Page[Group]{}, err
	}
	for i := range gs {
		gs[i] = gs[i].view()
	}
	return newPage(gs, limit, func(g Group) string { return g.ID }), nil
}

// updateGroup applies a versioned change to a group the actor may manage.
func (m *Manager) updateGroup(ctx context.Context, actorID, groupID string, action Action, apply func(g *Group, act actor) error) (Group, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Group{}, err
	}
	want, pinned := expectedVersion(ctx)
	for attempt := 0; ; attempt++ {
		old, err := m.groupFor(ctx, act, groupID, false)
		if err != nil {
			return Group{}, err
		}
		if old.Deleted && action != ActionGroupDelete {
			return Group{}, ErrNotFound
		}
		g := old
		g.Grants = slices.Clone(old.Grants)
		if err := apply(&g, act); err != nil && !errors.Is(err, errNoChange) {
			return Group{}, err
		} else if pinned && old.Version != want {
			return Group{}, ErrConflict
		} else if err != nil {
			return old.view(), nil
		}
		now := m.now()
		g.UpdatedAt = now
		var cs []Change
		add := func(f, o, n string) {
			if o != n {
				cs = append(cs, Change{Field: f, Old: o, New: n})
			}
		}
		add("name", old.Name, g.Name)
		add("description", old.Description, g.Description)
		add("grants", grantsString(old.Grants), grantsString(g.Grants))
		if g.Deleted != old.Deleted {
			add("deleted", "false", "true")
		}
		ev, err := m.event(ctx, now, act, action, cs)
		if err != nil {
			return Group{}, err
		}
		ev.GroupID, ev.AccountID = g.ID, g.AccountID
		err = m.store.UpdateGroup(ctx, GroupUpdate{Group: g, Event: ev})
		if err == nil {
			g.Version++
			m.observe(ctx, ev)
			return g.view(), nil
		}
		if !errors.Is(err, ErrConflict) || pinned || attempt >= maxRetries {
			return Group{}, err
		}
	}
}

// GroupPatch holds the group fields UpdateGroup may change; nil fields are
// left as they are: GroupPatch{Description: new("On call")}.
type GroupPatch struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// UpdateGroup renames a group or changes its description, and returns it.
// Returns ErrDuplicateName (a *FieldError on "name") when another group of
// the account has the name, ignoring case.
func (m *Manager) UpdateGroup(ctx context.Context, actorID, groupID string, p GroupPatch) (Group, error) {
	var name, desc string
	var err error
	if p.Name != nil {
		if name, err = validateGroupName("name", *p.Name); err != nil {
			return Group{}, err
		}
	}
	if p.Description != nil {
		if desc, err = optionalText("description", *p.Description, 1000); err != nil {
			return Group{}, err
		}
	}
	out, err := m.updateGroup(ctx, actorID, groupID, ActionGroupUpdate, func(g *Group, _ actor) error {
		before := *g
		if p.Name != nil {
			g.Name, g.NameKey = name, nameKey(name)
		}
		if p.Description != nil {
			g.Description = desc
		}
		if g.Name == before.Name && g.Description == before.Description {
			return errNoChange
		}
		return nil
	})
	return out, groupNameTaken(err)
}

// GrantGroup gives a group a grant, and so every member; RevokeGroupGrant
// withdraws one. The actor must hold the grant; user management, account
// settings, pricing and payment are never grantable. Giving what the group
// has, or revoking what it lacks, changes nothing.
func (m *Manager) GrantGroup(ctx context.Context, actorID, groupID string, gr Grant) (Group, error) {
	return m.updateGroup(ctx, actorID, groupID, ActionGrant, func(g *Group, act actor) error {
		if slices.Contains(g.Grants, gr) {
			return errNoChange
		}
		checked, err := m.checkGrant(ctx, act, g.AccountID, gr)
		if err != nil {
			return err
		}
		if slices.Contains(g.Grants, checked) {
			return errNoChange
		}
		g.Grants = append(g.Grants, checked)
		return nil
	})
}

// RevokeGroupGrant withdraws a grant from a group (see GrantGroup).
func (m *Manager) RevokeGroupGrant(ctx context.Context, actorID, groupID string, gr Grant) (Group, error) {
	return m.updateGroup(ctx, actorID, groupID, ActionRevokeGrant, func(g *Group, _ actor) error {
		i := slices.Index(g.Grants, gr)
		if i < 0 {
			return errNoChange
		}
		g.Grants = slices.Delete(g.Grants, i, i+1)
		return nil
	})
}

// DeleteGroup deletes a group: its grants count for no member from this
// call's first write on, and every member leaves it, each with an event. It
// returns the deleted group. When the call fails part way (the store, a
// cancelled context), the group stays deleted and the members not yet
// reached keep its ID in User.Groups, its grants counting for none of
// them; calling DeleteGroup again takes the rest out. A deleted group can
// still be read (Group), never changed.
func (m *Manager) DeleteGroup(ctx context.Context, actorID, groupID string) (Group, error) {
	// The members leave under the actor authorised for the deletion, even
	// if they are deactivated meanwhile: the sequence must not stop halfway.
	var act actor
	g, err := m.updateGroup(ctx, actorID, groupID, ActionGroupDelete, func(g *Group, a actor) error {
		act = a
		if g.Deleted {
			return errNoChange
		}
		g.Deleted = true
		return nil
	})
	if err != nil {
		return Group{}, err
	}
	// The caller's expected version was the group's; the members' writes
	// go at whatever version each member is.
	if err := m.emptyGroup(unpinned(ctx), act, g); err != nil {
		return Group{}, err
	}
	return g, nil
}

// emptyGroup takes every member out of a deleted group, a page at a time.
func (m *Manager) emptyGroup(ctx context.Context, act actor, g Group) error {
	for {
		members, err := m.store.ListUsers(ctx, ListQuery{AccountID: g.AccountID, GroupID: g.ID, Statuses: Statuses, Limit: sweepBatch})
		if err != nil {
			return err
		}
		for _, u := range members {
			_, err := m.update(ctx, act, u.ID, ActionGroupMembership, func(u *UserRecord, _ *change) error {
				i := slices.Index(u.Groups, g.ID)
				if i < 0 {
					return errNoChange
				}
				u.Groups = slices.Delete(u.Groups, i, i+1)
				return nil
			})
			if err != nil && !errors.Is(err, errNoChange) {
				return err
			}
		}
		if len(members) < sweepBatch {
			return nil
		}
	}
}

// AddToGroup makes a user a member of a group of their account and returns
// the user; RemoveFromGroup takes them out. The actor needs PermManageUsers
// over the user and must hold every grant of the group. A membership that
// is already so changes nothing. Adding to a deleted group is ErrNotFound,
// also when the deletion races the add: the membership is then taken
// back, with an event.
func (m *Manager) AddToGroup(ctx context.Context, actorID, userID, groupID string) (User, error) {
	return m.changeMembership(ctx, actorID, userID, groupID, true)
}

// RemoveFromGroup takes a user out of a group (see AddToGroup).
func (m *Manager) RemoveFromGroup(ctx context.Context, actorID, userID, groupID string) (User, error) {
	return m.changeMembership(ctx, actorID, userID, groupID, false)
}

func (m *Manager) changeMembership(ctx context.Context, actorID, userID, groupID string, add bool) (User, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	g, err := m.groupFor(ctx, act, groupID, false)
	if err != nil {
		return User{}, err
	}
	if g.Deleted && add {
		return User{}, ErrNotFound
	}
	v, err := m.updateView(ctx, act, userID, ActionGroupMembership, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status == StatusRemoved {
			return &TransitionError{Action: ActionGroupMembership, From: u.Status}
		}
		i, found := slices.BinarySearch(u.Groups, g.ID)
		switch {
		case add && !found:
			if u.AccountID != g.AccountID {
				return fieldError(ErrInvalidInput, "group_id", "names a group of another account")
			}
			u.Groups = slices.Insert(u.Groups, i, g.ID)
		case !add && found:
			u.Groups = slices.Delete(u.Groups, i, i+1)
		default:
			return errNoChange
		}
		return nil
	})
	if err != nil || !add {
		return v, err
	}
	// The group may have been deleted since it was read.
	u, _, dropped, err := m.dropStaleRefs(ctx, act, userID)
	if err != nil {
		return User{}, err
	}
	if slices.Contains(dropped, g.ID) {
		return User{}, ErrNotFound
	}
	return u.View(), nil
}

// checkMembership checks the department and groups given for a new user
// of acct and sets them on u: the department must be one of the account's,
// the groups live groups of the account that the actor may manage. A
// department-bound actor (Role.OwnDepartment) creates users in their own
// department only (an empty department means theirs).
func (m *Manager) checkMembership(ctx context.Context, act actor, acct Account, u *UserRecord, dept string, groups []string) error {
	if !act.system && act.role.OwnDepartment {
		if dept == "" {
			dept = act.user.Department
		}
		if dept == "" {
			return fieldError(ErrNotFound, "department", "is not the actor's department")
		}
	}
	if dept != "" {
		d, ok := acct.department(dept)
		if !ok {
			return fieldError(ErrInvalidInput, "department", fmt.Sprintf("%q is not a department of the account", dept))
		}
		if !act.system && act.role.OwnDepartment && d != act.user.Department {
			return fieldError(ErrNotFound, "department", "is not the actor's department")
		}
		u.Department = d
	}
	if len(groups) == 0 {
		return nil
	}
	ids := slices.Clone(groups)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	gs, err := m.store.Groups(ctx, ids)
	if err != nil {
		return err
	}
	found := map[string]Group{}
	for _, g := range gs {
		found[g.ID] = g
	}
	for _, id := range ids {
		g, ok := found[id]
		if !ok || g.Deleted || g.AccountID != acct.ID {
			return fieldError(ErrInvalidInput, "groups", fmt.Sprintf("%q is not a group of the account", id))
		}
		for _, gr := range g.Grants {
			if !act.covers(gr) {
				return fmt.Errorf("%w: group %s holds %s", ErrTargetOutranks, g.Name, gr)
			}
		}
	}
	u.Groups = ids
	return nil
}

// checkDepartment checks that dept (empty: none) may be given to a user of
// the account by the actor, and returns the account's spelling of it.
func (m *Manager) checkDepartment(ctx context.Context, act actor, accountID, dept string) (string, error) {
	if dept != "" {
		acct, err := m.store.Account(ctx, accountID)
		if err != nil {
			return "", err
		}
		d, ok := acct.department(dept)
		if !ok {
			return "", fieldError(ErrInvalidInput, "department", fmt.Sprintf("%q is not a department of the account", dept))
		}
		dept = d
	}
	if !act.system && act.role.OwnDepartment && dept != act.user.Department {
		return "", fieldError(ErrNotFound, "department", "is not the actor's department")
	}
	return dept, nil
}

// AddDepartment adds a department to an account's list and returns the
// account. It takes PermAccountSettings over the account. Returns
// ErrDuplicateName when the account has one of that name, ignoring case.
func (m *Manager) AddDepartment(ctx context.Context, actorID, accountID, name string) (Account, error) {
	name, err := validateName("department", name)
	if err != nil {
		return Account{}, err
	}
	return m.updateAccount(ctx, actorID, accountID, func(a *Account) error {
		if slices.ContainsFunc(a.Departments, func(d string) bool { return nameKey(d) == nameKey(name) }) {
			return fieldError(ErrDuplicateName, "department", "the account has a department of that name")
		}
		if len(a.Departments) >= 1000 {
			return fieldError(ErrInvalidInput, "department", "an account has at most 1000 departments")
		}
		a.Departments = append(a.Departments, name)
		return nil
	})
}

// RemoveDepartment takes a department off an account's list and returns
// the account. It is refused (ErrInvalidInput, field "department") while a
// user of the account belongs to it; ErrNotFound when there is none of
// that name. It takes PermAccountSettings over the account. A user given
// the department by a write racing the removal leaves it again, with an
// event.
func (m *Manager) RemoveDepartment(ctx context.Context, actorID, accountID, name string) (Account, error) {
	// Holders that raced the removal leave under the actor authorised for
	// it, even if they are deactivated meanwhile.
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Account{}, err
	}
	a, err := m.updateAccount(ctx, actorID, accountID, func(a *Account) error {
		i := slices.IndexFunc(a.Departments, func(d string) bool { return nameKey(d) == nameKey(name) })
		if i < 0 {
			return fieldError(ErrNotFound, "department", "the account has no department of that name")
		}
		name = a.Departments[i]
		q := ListQuery{AccountID: a.ID, Department: name, Statuses: Statuses, Limit: sweepBatch}
		for {
			users, err := m.store.ListUsers(ctx, q)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(users, func(u UserRecord) bool { return u.AccountID == a.ID }) {
				return fieldError(ErrInvalidInput, "department", "users still belong to it; move them first")
			}
			if len(users) < q.Limit {
				break
			}
			q.After = users[len(users)-1].ID
		}
		a.Departments = slices.Delete(a.Departments, i, i+1)
		return nil
	})
	if err != nil {
		return Account{}, err
	}
	// A user given the department since the check above leaves it.
	if err := m.emptyDepartment(ctx, act, a.ID, name); err != nil {
		return Account{}, err
	}
	return a, nil
}

// groupNameTaken words a store's ErrDuplicateName as the field at fault,
// as a taken department name is.
func groupNameTaken(err error) error {
	if errors.Is(err, ErrDuplicateName) {
		return fieldError(ErrDuplicateName, "name", "the account has a group of that name")
	}
	return err
}
