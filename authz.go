package usermgmt

import (
	"context"
	"errors"
	"fmt"
)

// Authorization. Every admin operation names its acting user and checks,
// in this order, so that a refusal never tells more than the actor may
// know:
//
//  1. the actor is System or an Active user with a registered role, else
//     ErrActorInactive (their session should end);
//  2. the actor holds the operation's permission (PermManageUsers for user
//     administration) somewhere, else ErrPermissionDenied — decided before
//     the target is read, so it says nothing about the target;
//  3. the target (user, group, account) exists and lies in the actor's
//     reach — their account and the accounts beneath it, and for a role
//     with OwnDepartment their department — else ErrNotFound, exactly as
//     for a target that does not exist;
//  4. the target holds nothing the actor does not (role, grants, groups'
//     grants), else ErrTargetOutranks: whoever can set a user's password
//     can act as that user.

// actor is who performs an operation: an Active user, or System.
type actor struct {
	system bool
	access
}

var systemActor = actor{system: true}

func (a actor) id() string {
	if a.system {
		return System
	}
	return a.user.ID
}

func (a actor) email() string {
	if a.system {
		return ""
	}
	return a.user.Email
}

// name is the actor's name for messages ("Ada Admin"), empty for System.
func (a actor) name() string {
	if a.system {
		return ""
	}
	return displayName(a.user.FirstName, a.user.LastName)
}

// holdsAnywhere reports whether the actor holds p on every resource.
func (a actor) holdsAnywhere(p Permission) bool {
	return a.system || a.holds(p, nil)
}

// covers reports whether the actor holds everything g gives.
func (a actor) covers(g Grant) bool {
	return a.system || a.access.covers(g)
}

// actor loads the acting user. Only an Active user with a registered role
// acts; anyone else gets ErrActorInactive without saying which rule failed.
func (m *Manager) actor(ctx context.Context, actorID string) (actor, error) {
	if actorID == System {
		return systemActor, nil
	}
	if actorID == "" {
		return actor{}, fmt.Errorf("%w: no actor given", ErrActorInactive)
	}
	a, err := m.access(ctx, actorID)
	if isNotFound(err) {
		return actor{}, ErrActorInactive
	}
	if err != nil {
		return actor{}, err
	}
	if _, ok := m.roles[a.user.Role]; !ok || a.user.Status != StatusActive {
		return actor{}, ErrActorInactive
	}
	return actor{access: a}, nil
}

// userManager loads an actor who must hold PermManageUsers somewhere.
func (m *Manager) userManager(ctx context.Context, actorID string) (actor, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return actor{}, err
	}
	if !act.holdsAnywhere(PermManageUsers) {
		return actor{}, fmt.Errorf("%w: the actor does not manage users", ErrPermissionDenied)
	}
	return act, nil
}

// authorizeAccount checks that the actor holds p and reaches accountID
// (empty: the actor's own account), and returns the account.
func (m *Manager) authorizeAccount(ctx context.Context, a actor, accountID string, p Permission) (Account, error) {
	if !a.holdsAnywhere(p) {
		return Account{}, fmt.Errorf("%w: the actor lacks %s", ErrPermissionDenied, p)
	}
	return m.reach(ctx, a, accountID)
}

// reach loads an account that is the actor's own or lies beneath it
// (empty: the actor's own). An account outside the actor's reach and an
// absent one are both ErrNotFound.
func (m *Manager) reach(ctx context.Context, a actor, accountID string) (Account, error) {
	if accountID == "" {
		if a.system {
			return Account{}, fieldError(ErrInvalidInput, "account_id", "is required when acting as System")
		}
		accountID = a.user.AccountID
	}
	acct, err := m.store.Account(ctx, accountID)
	if err != nil {
		return Account{}, err
	}
	if !a.system && !acct.within(a.user.AccountID) {
		return Account{}, ErrNotFound
	}
	return acct, nil
}

// inReach reports whether a user lies in the actor's reach: their account
// subtree and, for a role with OwnDepartment, their department.
func (m *Manager) inReach(ctx context.Context, a actor, target UserRecord) (bool, error) {
	if a.system {
		return true, nil
	}
	if a.role.OwnDepartment && (a.user.Department == "" || target.Department != a.user.Department) {
		return false, nil
	}
	return m.accountWithin(ctx, target.AccountID, a.user.AccountID)
}

// authorizeOn checks that the actor may administer target: PermManageUsers,
// target in reach (else ErrNotFound), and every permission of the target's
// role, grants and groups' grants held by the actor (else
// ErrTargetOutranks).
func (m *Manager) authorizeOn(ctx context.Context, a actor, target UserRecord, groupGrants []Grant) error {
	if !a.holdsAnywhere(PermManageUsers) {
		return fmt.Errorf("%w: the actor does not manage users", ErrPermissionDenied)
	}
	ok, err := m.inReach(ctx, a, target)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	if a.system {
		return nil
	}
	if !m.roleWithin(target.Role, a) {
		return fmt.Errorf("%w: the target's role holds more than the actor's", ErrTargetOutranks)
	}
	for _, gs := range [][]Grant{target.Grants, groupGrants} {
		for _, g := range gs {
			if !a.covers(g) {
				return fmt.Errorf("%w: the target holds %s", ErrTargetOutranks, g)
			}
		}
	}
	return nil
}

// readableUser returns a user the actor may read: themselves (in any
// status, so that an application can show a locked user why), or one they
// may administer.
func (m *Manager) readableUser(ctx context.Context, actorID, userID string) (UserRecord, error) {
	if actorID != "" && actorID == userID {
		return m.store.User(ctx, userID)
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return UserRecord{}, err
	}
	t, err := m.access(ctx, userID)
	if err != nil {
		return UserRecord{}, err
	}
	if err := m.authorizeOn(ctx, act, t.user, t.groupGrants()); err != nil {
		return UserRecord{}, err
	}
	return t.user, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
