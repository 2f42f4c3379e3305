package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Email changes: the new address is confirmed by a token mailed to it, like
// an invitation, and the old address stays the user's (for login and mail)
// until then; the old address is told that a change was asked for. Only
// the confirmation moves the email, and it is refused with
// ErrDuplicateEmail if someone took the address meanwhile. A new password
// (reset, changed or set) voids a pending change, and a confirmed change
// voids a pending password reset. An invited user,
// who has never logged in, gets the new address at once and a fresh
// invitation there instead.

// EmailChange is the result of starting an email change.
type EmailChange struct {
	User User `json:"user"` // with PendingEmail set (or Email, for an invited user)
	// Token is the raw confirmation token (the new invitation's, for an
	// invited user), returned once and also mailed when the Manager has
	// an outbox.
	Token string `json:"-"`
}

// ChangeEmail starts changing a user's email on an admin's order. It
// takes PermManageUsers over the user. The new address must be valid, not
// disposable and not held by another user (ErrDuplicateEmail; checked
// again at confirmation).
func (m *Manager) ChangeEmail(ctx context.Context, actorID, userID, newEmail string) (EmailChange, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return EmailChange{}, err
	}
	return m.changeEmail(ctx, act, userID, newEmail, true)
}

// ChangeOwnEmail starts changing the acting user's own email, after
// checking their current password like a login (a wrong one counts toward
// the lockout and is refused with ErrWrongPassword). A malformed or
// disposable address is refused before the password is checked; whether
// another user holds the address (ErrDuplicateEmail) is told only after,
// so that a session without the password cannot probe which addresses
// are registered.
func (m *Manager) ChangeOwnEmail(ctx context.Context, userID, currentPassword, newEmail string) (EmailChange, error) {
	act, err := m.actor(ctx, userID)
	if err != nil {
		return EmailChange{}, err
	}
	if _, err := m.addressForm(newEmail); err != nil {
		return EmailChange{}, err
	}
	if _, err := m.attempt(ctx, act.user, currentPassword); err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			if errors.Is(err, ErrLocked) {
				return EmailChange{}, fmt.Errorf("%w; %w", ErrWrongPassword, ErrLocked)
			}
			return EmailChange{}, ErrWrongPassword
		}
		return EmailChange{}, err
	}
	return m.changeEmail(ctx, act, userID, newEmail, false)
}

// addressForm checks what can be told of a new address without looking
// anyone up: canonical, not disposable.
func (m *Manager) addressForm(email string) (string, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if m.isDisposable(emailDomain(e)) {
		return "", fieldError(ErrDisposableEmail, "email", "uses a disposable-mail domain")
	}
	return e, nil
}

// newAddress checks a new address for user id: canonical, not disposable,
// not held by another non-removed user.
func (m *Manager) newAddress(ctx context.Context, email, id string) (string, error) {
	e, err := m.addressForm(email)
	if err != nil {
		return "", err
	}
	holder, err := m.store.UserByEmail(ctx, e)
	switch {
	case err == nil && holder.ID != id:
		return "", ErrDuplicateEmail
	case err != nil && !isNotFound(err):
		return "", err
	}
	return e, nil
}

func (m *Manager) changeEmail(ctx context.Context, act actor, userID, newEmail string, admin bool) (EmailChange, error) {
	e, err := m.newAddress(ctx, newEmail, userID)
	if err != nil {
		return EmailChange{}, err
	}
	var token string
	u, err := m.update(ctx, act, userID, ActionEmailChange, func(u *UserRecord, c *change) error {
		if admin {
			if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
				return err
			}
		}
		now := m.now()
		switch u.Status {
		case StatusRemoved, StatusBanned, StatusDisabled:
			return &TransitionError{Action: ActionEmailChange, From: u.Status}
		case StatusInvited:
			if e == u.Email {
				return errNoChange
			}
			u.Email = e
			n, err := m.issueInvitation(u, act, now)
			if err != nil {
				return err
			}
			token = n.token
			c.notices = append(c.notices, n)
			return nil
		}
		if e == u.Email {
			if u.PendingEmail == "" {
				return errNoChange
			}
			u.dropToken(TokenEmailChange) // back to the current address: cancel the change
			return nil
		}
		n, err := issueToken(u, TokenEmailChange, NotifyEmailChange, now, m.policy.EmailChangeTTL)
		if err != nil {
			return err
		}
		u.PendingEmail, token = e, n.token
		n.to, n.toLocale, n.newEmail = e, u.Locale, e
		c.notices = append(c.notices, n, notice{kind: NotifyEmailChangeNotice, newEmail: e})
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return EmailChange{}, err
	}
	return EmailChange{User: u.View(), Token: token}, nil
}

// ConfirmEmailChange uses an email-change token: the pending address
// becomes the user's email, and the user's sessions end. It returns the
// user. The token works once, strictly before its expiry
// (ErrTokenInvalid, ErrTokenExpired); ErrDuplicateEmail when the address
// was taken meanwhile.
func (m *Manager) ConfirmEmailChange(ctx context.Context, token string) (User, error) {
	u, tok, err := m.userByToken(ctx, token, TokenEmailChange, m.now())
	if err != nil {
		return User{}, err
	}
	return m.spendToken(ctx, u, tok, ActionEmailChange, func(u *UserRecord, _ *change, _ time.Time) error {
		if u.PendingEmail == "" || u.Status == StatusRemoved || u.Status == StatusBanned || u.Status == StatusDisabled {
			return ErrTokenInvalid
		}
		u.Email = u.PendingEmail
		return nil
	})
}
