package usermgmt

import (
	"context"
)

// MoveUser moves a user to another account within the actor's reach and
// returns the user. The actor needs PermManageUsers over the user and over
// the destination. The user leaves their groups (groups belong to one
// account) and keeps their department only if the destination has one of
// that name; an actor whose role has OwnDepartment moves users only to
// accounts that have their department (ErrNotFound otherwise). Moving the
// last active admin out of an account is refused (ErrLastAdmin). The move
// is audited on the user; the user's sessions end.
func (m *Manager) MoveUser(ctx context.Context, actorID, userID, accountID string) (User, error) {
	if accountID == "" {
		return User{}, fieldError(ErrInvalidInput, "account_id", "is required: the account to move the user to")
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	dest, err := m.authorizeAccount(ctx, act, accountID, PermManageUsers)
	if err != nil {
		return User{}, err
	}
	v, err := m.updateView(ctx, act, userID, ActionMove, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status == StatusRemoved {
			return &TransitionError{Action: ActionMove, From: u.Status}
		}
		if u.AccountID == dest.ID {
			return errNoChange
		}
		c.keepAdmin = isActiveAdmin(*u)
		u.AccountID, u.Groups = dest.ID, nil
		u.Department, _ = dest.department(u.Department) // kept only where the destination has it
		if !act.system && act.role.OwnDepartment && u.Department != act.user.Department {
			// A department-bound actor moves users within their department
			// only, as UpdateProfile lets them give no other.
			return fieldError(ErrNotFound, "department", "the destination has no department of the actor's")
		}
		return nil
	})
	if err != nil || v.Department == "" {
		return v, err
	}
	// The destination may have lost the department since it was read.
	u, _, _, err := m.dropStaleRefs(ctx, act, userID)
	if err != nil {
		return User{}, err
	}
	return u.View(), nil
}
