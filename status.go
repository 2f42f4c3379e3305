package usermgmt

import (
	"context"
	"time"
)

// transition is an admin-ordered move between statuses.
type transition struct {
	action Action
	// from reports whether the transition applies to a user in status s.
	from func(s Status) bool
	// to moves the user at time now.
	to func(u *User, now time.Time)
	// guarded transitions take a user out of Active, so they refuse to
	// leave the account without an active admin.
	guarded bool
}

func is(statuses ...Status) func(Status) bool {
	return func(s Status) bool {
		for _, v := range statuses {
			if s == v {
				return true
			}
		}
		return false
	}
}

func setStatus(s Status) func(*User, time.Time) {
	return func(u *User, _ time.Time) { u.Status = s }
}

var (
	banTransition = transition{ActionBan,
		is(StatusInvited, StatusActive, StatusLocked, StatusDisabled, StatusInactive), setStatus(StatusBanned), true}
	unbanTransition = transition{ActionUnban, is(StatusBanned), activate, false}

	disableTransition = transition{ActionDisable,
		is(StatusInvited, StatusActive, StatusLocked, StatusInactive), setStatus(StatusDisabled), true}
	enableTransition = transition{ActionEnable, is(StatusDisabled), activate, false}

	removeTransition = transition{ActionRemove,
		is(StatusInvited, StatusActive, StatusLocked, StatusBanned, StatusDisabled, StatusInactive),
		func(u *User, _ time.Time) { u.Status = StatusRemoved; clearInvitation(u) }, true}
)

// transition applies t to a user on the actor's order, after checking the
// actor's reach over the user and the user's current status.
func (m *Manager) transition(ctx context.Context, actorID, userID string, t transition) (User, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	u, err := m.update(ctx, act.id(), userID, t.action, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		if !t.from(u.Status) {
			return false, &TransitionError{Action: t.action, From: u.Status}
		}
		keepAdmin := t.guarded && isActiveAdmin(*u)
		t.to(u, m.now())
		return keepAdmin, nil
	})
	return u.redacted(), err
}

// Ban bars a user from logging in; the history is kept and an admin can
// unban. It takes PermManageUsers over the user. The last active admin of
// an account cannot be banned (ErrLastAdmin).
func (m *Manager) Ban(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, banTransition)
}

// Unban lifts a ban: the user is Active again (Invited if no password was
// ever set), with a fresh inactivity clock.
func (m *Manager) Unban(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, unbanTransition)
}

// Disable deactivates a user until an admin enables them. The last active
// admin of an account cannot be disabled (ErrLastAdmin).
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
