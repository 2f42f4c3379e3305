package usermgmt

import (
	"context"
	"slices"
	"time"
)

// Status is where a user stands in their lifecycle. See the package
// documentation for the moves between statuses.
type Status string

// The statuses a user can be in.
const (
	// StatusInvited: created without a password; an invitation is pending
	// (or was voided, and a resend issues a new one).
	StatusInvited Status = "invited"
	// StatusActive: validated; the only status that can log in or act.
	StatusActive Status = "active"
	// StatusLocked: too many consecutive wrong passwords. An admin unlocks,
	// a password reset by email unlocks (by default), or the lock lapses
	// after Policy.LockDuration when one is set.
	StatusLocked Status = "locked"
	// StatusBanned: barred by an admin; an admin unbans.
	StatusBanned Status = "banned"
	// StatusDisabled: deactivated by an admin or created inactive; an admin enables.
	StatusDisabled Status = "disabled"
	// StatusInactive: no activity for the inactivity period; an admin reactivates.
	StatusInactive Status = "inactive"
	// StatusRemoved: removed from the account; hidden from lists, email free
	// again, history kept. Final.
	StatusRemoved Status = "removed"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusInvited, StatusActive, StatusLocked, StatusBanned, StatusDisabled, StatusInactive, StatusRemoved}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// statusError maps a status that cannot log in to its sentinel error.
func statusError(s Status) error {
	switch s {
	case StatusLocked:
		return ErrLocked
	case StatusBanned:
		return ErrBanned
	case StatusDisabled:
		return ErrDisabled
	case StatusInactive:
		return ErrInactive
	}
	return ErrInvalidCredentials // invited (no password yet) and removed look unknown
}

// transition is an admin-ordered move between statuses.
type transition struct {
	action Action
	from   []Status                           // the statuses it applies to
	to     func(u *UserRecord, now time.Time) // moves the user
	// guarded transitions take a user out of Active, so they refuse to
	// leave the account without an active admin.
	guarded bool
}

func setStatus(s Status) func(*UserRecord, time.Time) {
	return func(u *UserRecord, _ time.Time) { u.Status = s }
}

var (
	banTransition = transition{ActionBan,
		[]Status{StatusInvited, StatusActive, StatusLocked, StatusDisabled, StatusInactive}, setStatus(StatusBanned), true}
	unbanTransition = transition{ActionUnban, []Status{StatusBanned}, activate, false}

	disableTransition = transition{ActionDisable,
		[]Status{StatusInvited, StatusActive, StatusLocked, StatusInactive}, setStatus(StatusDisabled), true}
	enableTransition = transition{ActionEnable, []Status{StatusDisabled}, activate, false}

	removeTransition = transition{ActionRemove,
		[]Status{StatusInvited, StatusActive, StatusLocked, StatusBanned, StatusDisabled, StatusInactive}, setStatus(StatusRemoved), true}

	reactivateTransition = transition{ActionReactivate, []Status{StatusInactive}, activate, false}
)

// transition applies t to a user on the actor's order, after checking the
// actor's reach over the user and the user's current status.
func (m *Manager) transition(ctx context.Context, actorID, userID string, t transition) (User, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	return m.updateView(ctx, act, userID, t.action, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if !slices.Contains(t.from, u.Status) {
			return &TransitionError{Action: t.action, From: u.Status}
		}
		c.keepAdmin = t.guarded && isActiveAdmin(*u)
		t.to(u, m.now())
		return nil
	})
}

// Ban bars a user from logging in; the history is kept and an admin can
// unban. It applies to every status but Banned and Removed, takes
// PermManageUsers over the user, and refuses the last active admin of an
// account (ErrLastAdmin). It voids the user's pending tokens.
func (m *Manager) Ban(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, banTransition)
}

// Unban lifts a ban: the user is Active again (Invited if no password was
// ever set), with a fresh inactivity clock.
func (m *Manager) Unban(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, unbanTransition)
}

// Disable deactivates a user until an admin enables them. It applies to
// Invited, Active, Locked and Inactive users and refuses the last active
// admin of an account (ErrLastAdmin). It voids the user's pending tokens.
func (m *Manager) Disable(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, disableTransition)
}

// Enable makes a Disabled user Active (Invited if no password was ever set).
func (m *Manager) Enable(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, enableTransition)
}

// Remove takes a user out of the account: hidden from lists, unable to log
// in, the email free for a new invitation (which creates a new user). The
// user's history stays readable; nothing is deleted. The last active admin
// of an account cannot be removed (ErrLastAdmin).
func (m *Manager) Remove(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, removeTransition)
}

// Reactivate makes an Inactive user Active, with a fresh inactivity clock.
// It takes PermManageUsers over the user.
func (m *Manager) Reactivate(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, reactivateTransition)
}
