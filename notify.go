package usermgmt

import (
	"context"
	"errors"
	"time"
)

// NotificationKind names one of the messages the library sends.
type NotificationKind string

// The messages the library sends. Which change causes which message is the
// library's decision, made where the change is made.
const (
	// NotifyInvitation invites a user to set a password (on invite and on
	// resend). Token and ExpiresAt are set.
	NotifyInvitation NotificationKind = "invitation"
	// NotifyPasswordReset carries a self-service password reset link.
	// Token and ExpiresAt are set.
	NotifyPasswordReset NotificationKind = "password_reset"
	// NotifyLockout tells a user their account was locked after too many
	// wrong passwords, and how to get back in (a password reset).
	NotifyLockout NotificationKind = "lockout"
	// NotifyLockoutAdmin tells an admin of the account that a user was locked.
	NotifyLockoutAdmin NotificationKind = "lockout_admin"
	// NotifyPasswordChanged tells a user their password was changed (by
	// them, by a reset) or set by an admin.
	NotifyPasswordChanged NotificationKind = "password_changed"
	// NotifyEmailChange asks the owner of a new address to confirm it.
	// Token, ExpiresAt and NewEmail are set; To is the new address.
	NotifyEmailChange NotificationKind = "email_change"
	// NotifyEmailChangeNotice tells the old address that a change to
	// NewEmail was requested (sent to the address in force).
	NotifyEmailChangeNotice NotificationKind = "email_change_notice"
	// NotifyWelcome greets a user who accepted an invitation (off unless
	// the policy turns it on).
	NotifyWelcome NotificationKind = "welcome"
)

// Notification is one outgoing message as the library decided it: what kind,
// to whom, and the facts its template needs. It is what a Sender receives.
// Token is a live secret (a link's token) and is never logged.
type Notification struct {
	// ID is the message's identity (a UUIDv7), the same on every delivery
	// attempt, so that a Message-ID derived from it lets receivers drop
	// duplicates after a crash between sending and recording the send.
	ID   string           `json:"id"`
	Kind NotificationKind `json:"kind"`
	// To is the recipient's canonical address, as stored (User.Email, or
	// the pending address for NotifyEmailChange). Mail goes nowhere else.
	To     string `json:"to"`
	Locale string `json:"locale,omitempty"` // BCP 47 tag such as "en" or "de-CH"; empty: the sender's default

	UserID      string `json:"user_id"`    // the user the message is about
	AccountID   string `json:"account_id"` // that user's account
	AccountName string `json:"account_name,omitempty"`
	FirstName   string `json:"first_name,omitempty"` // of the user the message is about
	LastName    string `json:"last_name,omitempty"`
	Email       string `json:"email,omitempty"`      // that user's address (differs from To for NotifyLockoutAdmin)
	ActorName   string `json:"actor_name,omitempty"` // who caused it ("Ada Admin"), empty for the system or the user
	NewEmail    string `json:"new_email,omitempty"`  // email changes

	Token     string    `json:"token,omitempty"`     // raw token for the link; empty for notices
	ExpiresAt time.Time `json:"expires_at,omitzero"` // when the link stops working
	At        time.Time `json:"at"`                  // when the change happened
}

// Sender delivers notifications: package mail renders them from templates
// and sends them over SMTP, or logs them for development. Send must be safe
// for concurrent use. An error wrapped by Permanent is not retried (an SMTP
// 5xx reply, say); any other error is retried with backoff.
type Sender interface {
	Send(ctx context.Context, n Notification) error
}

// permanentError marks a delivery failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a delivery failure that retrying cannot fix, such
// as a recipient the server refuses: the message is dead-lettered at once,
// with err's text as the reason.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// notice is a message a change sends, decided where the change is made and
// built into an outbox Message from the user's final state.
type notice struct {
	kind      NotificationKind
	to        string // the recipient when not the user (an admin, a new address)
	toLocale  string // that recipient's locale
	token     string // raw token for the link
	expiresAt time.Time
	newEmail  string
}

// messages builds the outbox messages of a change of u by act at now,
// reading u's account for its name. Without an outbox it builds none.
func (m *Manager) messages(ctx context.Context, act actor, u UserRecord, notices []notice, now time.Time) ([]Message, error) {
	if m.outbox == nil || len(notices) == 0 {
		return nil, nil
	}
	acct, err := m.store.Account(ctx, u.AccountID)
	if err != nil {
		return nil, err
	}
	return m.messagesIn(ctx, act, acct, u, notices, now)
}

// messagesIn is messages for a caller that has u's account at hand.
func (m *Manager) messagesIn(_ context.Context, act actor, acct Account, u UserRecord, notices []notice, now time.Time) ([]Message, error) {
	if m.outbox == nil || len(notices) == 0 {
		return nil, nil
	}
	out := make([]Message, 0, len(notices))
	for _, n := range notices {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		note := Notification{ID: id, Kind: n.kind, To: u.Email, Locale: u.Locale, UserID: u.ID, AccountID: u.AccountID,
			AccountName: acct.Name, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
			ActorName: act.name(), NewEmail: n.newEmail, Token: n.token, ExpiresAt: n.expiresAt, At: now}
		if n.to != "" {
			note.To, note.Locale = n.to, n.toLocale
		}
		if note.Locale == "" {
			note.Locale = acct.Locale
		}
		if act.id() == u.ID {
			note.ActorName = ""
		}
		payload, err := m.outbox.seal(note)
		if err != nil {
			return nil, err
		}
		out = append(out, Message{ID: id, Kind: n.kind, To: note.To, UserID: u.ID, AccountID: u.AccountID,
			Payload: payload, State: MessagePending, CreatedAt: now, DueAt: now})
	}
	return out, nil
}
