package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Account is a tenant. Accounts form a tree: a top-level account (say "All
// Clients") with client sub-accounts beneath it. An admin of an account
// manages the users of that account and of every account beneath it.
type Account struct {
	ID        string   `json:"id"`                  // UUIDv7
	ParentID  string   `json:"parent_id,omitempty"` // empty for a top-level account
	Ancestors []string `json:"ancestors"`           // IDs from the top-level account down to ParentID; empty for a top-level account
	Name      string   `json:"name"`
	// Departments are the account's departments, in the order they were
	// added; a user of the account belongs to at most one.
	Departments []string  `json:"departments"`
	Locale      string    `json:"locale,omitempty"` // BCP 47: the default for the account's users' messages
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

// department returns the account's spelling of a department name, matched
// ignoring case (department names are unique per account ignoring case).
func (a Account) department(name string) (string, bool) {
	for _, d := range a.Departments {
		if nameKey(d) == nameKey(name) {
			return d, true
		}
	}
	return "", false
}

// within reports whether the account is root or lies beneath it.
func (a Account) within(root string) bool {
	return a.ID == root || slices.Contains(a.Ancestors, root)
}

func (a Account) view() Account {
	a.Ancestors = slices.Clone(a.Ancestors)
	a.Departments = slices.Clone(a.Departments)
	if a.Ancestors == nil {
		a.Ancestors = []string{}
	}
	if a.Departments == nil {
		a.Departments = []string{}
	}
	return a
}

// NewAccount is the input for CreateAccount.
type NewAccount struct {
	// ParentID places the account beneath another; empty makes a top-level account.
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Locale   string `json:"locale,omitempty"`
	// Admin is the account's first user, who becomes its admin: with a
	// password, or invited (Admin.Invite). AccountID and Role are ignored.
	Admin NewUser `json:"admin"`
}

// CreateAccount creates an account and its first user, its admin, in one
// atomic write, and returns both. A top-level account can only be created
// by System (the application itself, at sign-up); a sub-account by a user
// holding PermManageAccounts over the parent. The actor must be able to
// make an admin (hold everything).
func (m *Manager) CreateAccount(ctx context.Context, actorID string, in NewAccount) (Account, Created, error) {
	name, err := validateName("name", in.Name)
	if err != nil {
		return Account{}, Created{}, err
	}
	locale, err := validateLocale(in.Locale)
	if err != nil {
		return Account{}, Created{}, err
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Account{}, Created{}, err
	}
	now := m.now()
	a := Account{ParentID: in.ParentID, Name: name, Locale: locale, CreatedAt: now, UpdatedAt: now, Version: 1}
	if in.ParentID == "" {
		if !act.system {
			return Account{}, Created{}, fmt.Errorf("%w: only System creates top-level accounts", ErrPermissionDenied)
		}
	} else {
		parent, err := m.authorizeAccount(ctx, act, in.ParentID, PermManageAccounts)
		if err != nil {
			return Account{}, Created{}, err
		}
		a.Ancestors = append(slices.Clone(parent.Ancestors), parent.ID)
	}
	if !m.roleWithin(RoleAdmin, act) {
		return Account{}, Created{}, fmt.Errorf("%w: the actor cannot make an admin", ErrTargetOutranks)
	}
	if a.ID, err = newID(); err != nil {
		return Account{}, Created{}, err
	}
	admin := in.Admin
	admin.Role, admin.Department, admin.Groups = RoleAdmin, "", nil
	p, err := m.prepareUser(ctx, act, a, admin, true)
	if err != nil {
		return Account{}, Created{}, err
	}
	ev, err := m.event(ctx, now, act, ActionAccountCreate, []Change{{Field: "name", New: name}})
	if err != nil {
		return Account{}, Created{}, err
	}
	ev.AccountID = a.ID
	if err := m.store.CreateAccount(ctx, AccountCreate{Account: a, AccountEvent: ev, Admin: p.create}); err != nil {
		return Account{}, Created{}, err
	}
	m.observe(ctx, ev, p.create.Event)
	return a.view(), Created{User: p.create.User.View(), InvitationToken: p.token}, nil
}

// Account returns an account. Any Active user of the account or of an
// account above it may read it; outside that reach it is ErrNotFound.
func (m *Manager) Account(ctx context.Context, actorID, accountID string) (Account, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Account{}, err
	}
	a, err := m.reach(ctx, act, accountID)
	return a.view(), err
}

// AccountListQuery selects a page of the accounts of a subtree.
type AccountListQuery struct {
	// RootID is the subtree's root (itself included); empty means the
	// actor's own account.
	RootID string `json:"root_id,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"` // 0 means 50, at most 1000
}

// Accounts returns a page of the accounts of a subtree the actor reaches,
// in creation order. Any Active user may list their own subtree.
func (m *Manager) Accounts(ctx context.Context, actorID string, q AccountListQuery) (Page[Account], error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return Page[Account]{}, err
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return Page[Account]{}, err
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Page[Account]{}, err
	}
	root, err := m.reach(ctx, act, q.RootID)
	if err != nil {
		return Page[Account]{}, err
	}
	as, err := m.store.Accounts(ctx, AccountQuery{RootID: root.ID, After: after, Limit: limit + 1})
	if err != nil {
		return Page[Account]{}, err
	}
	for i := range as {
		as[i] = as[i].view()
	}
	return newPage(as, limit, func(a Account) string { return a.ID }), nil
}

// updateAccount applies a versioned change to an account the actor holds
// PermAccountSettings over, with an account event.
func (m *Manager) updateAccount(ctx context.Context, actorID, accountID string, apply func(a *Account) error) (Account, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Account{}, err
	}
	want, pinned := expectedVersion(ctx)
	for attempt := 0; ; attempt++ {
		old, err := m.authorizeAccount(ctx, act, accountID, PermAccountSettings)
		if err != nil {
			return Account{}, err
		}
		a := old
		a.Departments = slices.Clone(old.Departments)
		if err := apply(&a); err != nil && !errors.Is(err, errNoChange) {
			return Account{}, err
		} else if pinned && old.Version != want {
			return Account{}, ErrConflict
		} else if err != nil {
			return old.view(), nil
		}
		now := m.now()
		a.UpdatedAt = now
		var cs []Change
		add := func(f, o, n string) {
			if o != n {
				cs = append(cs, Change{Field: f, Old: o, New: n})
			}
		}
		add("name", old.Name, a.Name)
		add("locale", old.Locale, a.Locale)
		add("departments", strings.Join(old.Departments, ","), strings.Join(a.Departments, ","))
		ev, err := m.event(ctx, now, act, ActionAccountUpdate, cs)
		if err != nil {
			return Account{}, err
		}
		ev.AccountID = a.ID
		err = m.store.UpdateAccount(ctx, AccountUpdate{Account: a, Event: ev})
		if err == nil {
			a.Version++
			m.observe(ctx, ev)
			return a.view(), nil
		}
		if !errors.Is(err, ErrConflict) || pinned || attempt >= maxRetries {
			return Account{}, err
		}
	}
}

// AccountPatch holds the account fields UpdateAccount may change; nil
// fields are left as they are: AccountPatch{Name: new("Acme Europe")}.
type AccountPatch struct {
	Name   *string `json:"name,omitempty"`
	Locale *string `json:"locale,omitempty"`
}

// UpdateAccount renames an account or changes its default locale, and
// returns it. It takes PermAccountSettings over the account.
func (m *Manager) UpdateAccount(ctx context.Context, actorID, accountID string, p AccountPatch) (Account, error) {
	var name, locale string
	var err error
	if p.Name != nil {
		if name, err = validateName("name", *p.Name); err != nil {
			return Account{}, err
		}
	}
	if p.Locale != nil {
		if locale, err = validateLocale(*p.Locale); err != nil {
			return Account{}, err
		}
	}
	return m.updateAccount(ctx, actorID, accountID, func(a *Account) error {
		before := *a
		if p.Name != nil {
			a.Name = name
		}
		if p.Locale != nil {
			a.Locale = locale
		}
		if a.Name == before.Name && a.Locale == before.Locale {
			return errNoChange
		}
		return nil
	})
}
