package usermgmt

import (
	"context"
	"time"
)

// Account is a tenant. Accounts form a tree: a top-level account (say "All
// Clients") with client sub-accounts beneath it. An admin of an account
// manages the users of that account and of every account beneath it.
type Account struct {
	ID        string   // UUIDv7
	ParentID  string   // empty for a top-level account
	Ancestors []string // IDs from the top-level account down to ParentID; empty for a top-level account
	Name      string
	CreatedAt time.Time
}

// within reports whether the account is root or lies beneath it.
func (a Account) within(root string) bool {
	if a.ID == root {
		return true
	}
	for _, id := range a.Ancestors {
		if id == root {
			return true
		}
	}
	return false
}

// NewAccount is the input for CreateAccount.
type NewAccount struct {
	// ParentID places the account beneath another; empty makes a top-level account.
	ParentID string
	Name     string
	// Admin is the account's first user, who becomes its admin. AccountID
	// and Role are ignored.
	Admin NewUser
}

// CreateAccount creates an account and its first user, its admin, in one
// atomic write. A top-level account can only be created by System (the
// application itself, at sign-up); a sub-account by an admin of the parent
// or of an account above it. Like CreateUser, the admin gets a password or
// an invitation.
func (m *Manager) CreateAccount(ctx context.Context, actorID string, in NewAccount) (Account, Created, error) {
	name, err := validateName("name", in.Name)
	if err != nil {
		return Account{}, Created{}, err
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Account{}, Created{}, err
	}
	a := Account{ParentID: in.ParentID, Name: name}
	if in.ParentID == "" {
		if !act.system {
			return Account{}, Created{}, denied("only System creates top-level accounts")
		}
	} else {
		parent, err := m.authorizeAccount(ctx, act, in.ParentID, PermManageAccounts)
		if err != nil {
			return Account{}, Created{}, err
		}
		a.Ancestors = append(append([]string(nil), parent.Ancestors...), parent.ID)
	}
	if !m.roleWithin(RoleAdmin, act) {
		return Account{}, Created{}, denied("actor cannot create an admin")
	}
	if a.ID, err = newID(); err != nil {
		return Account{}, Created{}, err
	}
	a.CreatedAt = m.now()
	admin := in.Admin
	admin.AccountID, admin.Role = a.ID, RoleAdmin
	u, token, ev, err := m.prepareUser(ctx, act, admin)
	if err != nil {
		return Account{}, Created{}, err
	}
	if err := m.store.CreateAccount(ctx, a, u, ev); err != nil {
		return Account{}, Created{}, err
	}
	return a, Created{User: u.redacted(), InvitationToken: token}, nil
}

// Account returns an account. Any active user of the account or of an
// account above it may read it.
func (m *Manager) Account(ctx context.Context, actorID, accountID string) (Account, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Account{}, err
	}
	return m.reach(ctx, act, accountID)
}
