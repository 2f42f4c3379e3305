package usermgmt

import (
	"context"
	"time"
)

// Invitations: a user created with NewUser.Invite (or by InviteUsers) is
// Invited and holds an invitation token valid for Policy.InvitationTTL
// (seven days) from issue; at and after its expiry it is refused.
// ResendInvitation issues a new token with a new window and voids the old
// one; RevokeInvitation voids it and removes the user; any move out of
// Invited (a ban, say) voids it too, and a user back in Invited needs a
// resend. The invitation email goes through the outbox to the user's
// canonical address.

// Invitation is a pending invitation as an admin or the invitee sees it.
type Invitation struct {
	UserID    string    `json:"user_id"`
	AccountID string    `json:"account_id"`
	Email     string    `json:"email"`
	FirstName string    `json:"first_name,omitempty"`
	LastName  string    `json:"last_name,omitempty"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by,omitempty"` // a user ID or System
	InvitedAt time.Time `json:"invited_at"`
	ExpiresAt time.Time `json:"expires_at"` // accepted strictly before this instant
	// Token is the raw token, set only in what ResendInvitation returns.
	Token string `json:"token,omitempty"`
	// Version is the invited user's version (see User.Version).
	Version int64 `json:"version"`
}

// Expired reports whether the invitation can no longer be accepted at now.
func (i Invitation) Expired(now time.Time) bool { return !now.Before(i.ExpiresAt) }

func invitationOf(u UserRecord) Invitation {
	inv := Invitation{UserID: u.ID, AccountID: u.AccountID, Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Role: u.Role, InvitedBy: u.InvitedBy, InvitedAt: u.InvitedAt, Version: u.Version}
	if t, ok := u.token(TokenInvitation); ok {
		inv.ExpiresAt = t.ExpiresAt
	}
	return inv
}

// issueInvitation gives u a fresh invitation from the actor, voiding any
// earlier token, and returns the notice that mails it.
func (m *Manager) issueInvitation(u *UserRecord, act actor, now time.Time) (notice, error) {
	n, err := issueToken(u, TokenInvitation, NotifyInvitation, now, m.policy.InvitationTTL)
	if err != nil {
		return notice{}, err
	}
	u.InvitedBy, u.InvitedAt = act.id(), now
	return n, nil
}

// Invitation looks up the invitation a token belongs to without using it,
// so that a link scanner opening the email does not burn it. It returns
// ErrTokenInvalid for an unknown, used, revoked, replaced or voided token
// and ErrTokenExpired from its expiry on.
func (m *Manager) Invitation(ctx context.Context, token string) (Invitation, error) {
	u, _, err := m.userByToken(ctx, token, TokenInvitation, m.now())
	if err != nil {
		return Invitation{}, err
	}
	if u.Status != StatusInvited {
		return Invitation{}, ErrTokenInvalid
	}
	return invitationOf(u), nil
}

// Acceptance is what the invitee submits with the token.
type Acceptance struct {
	Password  string `json:"password"`             // must meet the password policy
	FirstName string `json:"first_name,omitempty"` // optional: replaces the name the admin entered
	LastName  string `json:"last_name,omitempty"`  // optional
	Locale    string `json:"locale,omitempty"`     // optional
}

// AcceptInvitation uses a token: it sets the password and, when given, the
// names and locale, and makes the user Active. A token works once,
// strictly before its expiry (ErrTokenInvalid, ErrTokenExpired).
func (m *Manager) AcceptInvitation(ctx context.Context, token string, a Acceptance) (User, error) {
	u, tok, err := m.userByToken(ctx, token, TokenInvitation, m.now())
	if err != nil {
		return User{}, err
	}
	if u.Status != StatusInvited {
		return User{}, ErrTokenInvalid
	}
	first, err := optionalName("first_name", a.FirstName)
	if err != nil {
		return User{}, err
	}
	last, err := optionalName("last_name", a.LastName)
	if err != nil {
		return User{}, err
	}
	locale, err := validateLocale(a.Locale)
	if err != nil {
		return User{}, err
	}
	hash, err := m.hashNewPassword(ctx, a.Password, u.Email)
	if err != nil {
		return User{}, err
	}
	return m.spendToken(ctx, u, tok, ActionAccept, func(u *UserRecord, c *change, now time.Time) error {
		if u.Status != StatusInvited {
			return ErrTokenInvalid
		}
		if first != "" {
			u.FirstName = first
		}
		if last != "" {
			u.LastName = last
		}
		if locale != "" {
			u.Locale = locale
		}
		if err := setPassword(u, hash, now); err != nil {
			return err
		}
		if m.policy.Welcome {
			c.notices = append(c.notices, notice{kind: NotifyWelcome})
		}
		return nil
	})
}

// ResendInvitation issues a new token with a new validity window to an
// invited user, mails it, and voids the old one. It returns the
// invitation with the new raw token (Invitation.Token). It takes
// PermManageUsers over the user.
func (m *Manager) ResendInvitation(ctx context.Context, actorID, userID string) (Invitation, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Invitation{}, err
	}
	var token string
	u, err := m.update(ctx, act, userID, ActionResend, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status != StatusInvited {
			return &TransitionError{Action: ActionResend, From: u.Status}
		}
		n, err := m.issueInvitation(u, act, m.now())
		if err != nil {
			return err
		}
		token = n.token
		c.notices = append(c.notices, n)
		return nil
	})
	if err != nil {
		return Invitation{}, err
	}
	inv := invitationOf(u)
	inv.Token = token
	return inv, nil
}

// RevokeInvitation voids an invited user's invitation and removes the user,
// freeing the email for a new invitation; the history stays. It returns
// the removed user and takes PermManageUsers over the user.
func (m *Manager) RevokeInvitation(ctx context.Context, actorID, userID string) (User, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	return m.updateView(ctx, act, userID, ActionRevoke, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status != StatusInvited {
			return &TransitionError{Action: ActionRevoke, From: u.Status}
		}
		u.Status = StatusRemoved
		return nil
	})
}

// InvitationQuery selects pending invitations for PendingInvitations.
type InvitationQuery struct {
	// AccountID is the account whose subtree is listed; empty means the
	// actor's account.
	AccountID string `json:"account_id,omitempty"`
	// Cursor is the Next of the previous page; empty for the first page.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size; 0 means 50, at most 1000.
	Limit int `json:"limit,omitempty"`
}

// PendingInvitations returns a page of the invited users of an account
// subtree with their expiry, expired ones included, in creation order. It
// takes PermManageUsers over the account.
func (m *Manager) PendingInvitations(ctx context.Context, actorID string, q InvitationQuery) (Page[Invitation], error) {
	p, err := m.listRecords(ctx, actorID, UserQuery{AccountID: q.AccountID, Statuses: []Status{StatusInvited}, Cursor: q.Cursor, Limit: q.Limit})
	if err != nil {
		return Page[Invitation]{}, err
	}
	out := Page[Invitation]{Items: make([]Invitation, len(p.Items)), Next: p.Next}
	for i, u := range p.Items {
		out.Items[i] = invitationOf(u)
	}
	return out, nil
}
