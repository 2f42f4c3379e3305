package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lockout: a user is Locked after Policy.MaxFailedAttempts consecutive wrong
// passwords, and a success resets the count. The bound is exact under any
// concurrency, across Managers and processes: each attempt first reserves a
// slot in the store (Store.ReserveAttempt, atomic), and only a reserved
// attempt gets its password verified. At most MaxFailedAttempts hashes are
// therefore ever verified before the lock, however many attempts race.

// Authenticate checks an email and password. On success it records the
// login, resets the failure count, re-hashes a password stored with older
// hash parameters, and returns the user. An unknown email and a wrong
// password both return ErrInvalidCredentials and take the same time. A
// user who cannot log in gets ErrLocked, ErrBanned, ErrDisabled or
// ErrInactive; the wrong password that locks the user returns an error
// matching both ErrInvalidCredentials and ErrLocked.
func (m *Manager) Authenticate(ctx context.Context, email, password string) (User, error) {
	u, err := m.store.UserByEmail(ctx, normalizeForLookup(email))
	if errors.Is(err, ErrNotFound) {
		return User{}, m.refuseUnknown(ctx, password)
	}
	if err != nil {
		return User{}, err
	}
	u, err = m.attempt(ctx, u, password)
	return u.redacted(), err
}

// normalizeForLookup normalises an address for a lookup; a malformed one
// becomes a string no stored email equals, so that it costs what an
// unknown address does.
func normalizeForLookup(email string) string {
	e, err := NormalizeEmail(email)
	if err != nil {
		return "\x00invalid"
	}
	return e
}

// refuseUnknown spends one dummy verification and refuses.
func (m *Manager) refuseUnknown(ctx context.Context, password string) error {
	if err := m.hasher.acquire(ctx); err != nil {
		return err
	}
	m.hasher.verifyDummy(password)
	m.hasher.release()
	return ErrInvalidCredentials
}

// attempt runs one password attempt against u under the lockout rule.
func (m *Manager) attempt(ctx context.Context, u User, password string) (User, error) {
	if !u.HasPassword() {
		return User{}, m.refuseUnknown(ctx, password) // invited: no password to match
	}
	now := m.now()
	if u.Status == StatusActive && m.idle(u, now) {
		moved, err := m.markInactive(ctx, u.ID)
		if err != nil {
			return User{}, err
		}
		if moved {
			return User{}, ErrInactive
		}
		// Changed meanwhile (reactivated, say): judge the user as it stands.
		if u, err = m.store.User(ctx, u.ID); err != nil {
			return User{}, err
		}
		if u.Status == StatusActive && m.idle(u, now) {
			return User{}, ErrInactive
		}
	}
	if u.Status != StatusActive {
		return User{}, statusError(u.Status)
	}
	// Hold the hash slot before reserving, so that waiting for a slot does
	// not use up an attempt.
	if err := m.hasher.acquire(ctx); err != nil {
		return User{}, err
	}
	r, reserved, err := m.store.ReserveAttempt(ctx, u.ID, m.policy.MaxFailedAttempts)
	if err != nil || !reserved {
		m.hasher.release()
		if err != nil {
			return User{}, err
		}
		if r.Status == StatusActive {
			// Every attempt is spent but the lock is not yet written (the
			// attempt that spent the last one is still verifying, or died
			// before locking): lock now.
			return User{}, errors.Join(ErrLocked, m.lock(ctx, r.ID))
		}
		return User{}, statusError(r.Status)
	}
	ok, stale, err := m.hasher.verifyHeld(password, r.PasswordHash)
	var rehash string
	if err == nil && ok && stale {
		rehash, err = m.hasher.hashHeld(password)
	}
	m.hasher.release()
	if err != nil {
		return User{}, err
	}
	if !ok {
		if r.FailedAttempts >= m.policy.MaxFailedAttempts {
			if err := m.lock(ctx, r.ID); err != nil {
				return User{}, errors.Join(ErrInvalidCredentials, err)
			}
			return User{}, fmt.Errorf("%w; %w", ErrInvalidCredentials, ErrLocked)
		}
		return User{}, ErrInvalidCredentials
	}
	l, recorded, err := m.store.RecordLogin(ctx, Login{UserID: r.ID, At: now, VerifiedHash: r.PasswordHash, NewHash: rehash})
	if err != nil {
		return User{}, err
	}
	if !recorded {
		if err := statusError(l.Status); err != nil {
			return User{}, err
		}
		return User{}, ErrInvalidCredentials // the password changed meanwhile
	}
	return l, nil
}

// lock moves a user whose attempts are spent to Locked. It runs to the end
// even when the caller's context is cancelled, so that a client hanging up
// after its last wrong password cannot leave the lock unwritten.
func (m *Manager) lock(ctx context.Context, userID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := m.update(ctx, System, userID, ActionLock, func(u *User) (bool, error) {
		if u.Status != StatusActive || u.FailedAttempts < m.policy.MaxFailedAttempts {
			return false, errNoChange // unlocked, reset or locked meanwhile
		}
		u.Status = StatusLocked
		return false, nil
	})
	if err == nil {
		m.log.InfoContext(ctx, "usermgmt: user locked after failed passwords", "user", userID)
	}
	return ignoreNoChange(err)
}

// Unlock makes a Locked user Active with the failure count reset. When
// newPassword is not empty it must meet the password policy and replaces
// the password in the same write. It takes PermManageUsers over the user.
func (m *Manager) Unlock(ctx context.Context, actorID, userID, newPassword string) (User, error) {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	hash, err := m.newPasswordHash(ctx, &act, userID, newPassword)
	if err != nil {
		return User{}, err
	}
	u, err := m.update(ctx, act.id(), userID, ActionUnlock, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		if u.Status != StatusLocked {
			return false, &TransitionError{Action: ActionUnlock, From: u.Status}
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		activate(u, m.now())
		return false, nil
	})
	return u.redacted(), err
}
