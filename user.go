package usermgmt

import (
	"net/mail"
	"strings"
	"time"
)

// Status is where a user stands in their lifecycle. See the package
// documentation for the transitions between statuses.
type Status string

// The statuses a user can be in.
const (
	// StatusInvited: created without a password; an invitation is pending.
	StatusInvited Status = "invited"
	// StatusActive: validated; the only status that can log in.
	StatusActive Status = "active"
	// StatusLocked: too many consecutive wrong passwords; an admin unlocks.
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
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// User is one person's record. The Manager hands out copies with the
// password hash and invitation token hash cleared; only stores see them.
type User struct {
	ID        string // UUIDv7, time-ordered
	AccountID string
	Email     string // normalised: trimmed, lower-cased
	FirstName string
	LastName  string
	Role      string
	Status    Status
	Grants    []Grant // permissions and resources granted individually

	PasswordHash   string // argon2id PHC string; empty until a password is set
	FailedAttempts int    // consecutive failed (or in-flight) password attempts

	InviteTokenHash string    // hex SHA-256 of the pending invitation token; empty when none
	InvitedAt       time.Time // when the pending invitation was issued
	InviteExpiresAt time.Time // when the pending invitation stops being accepted

	CreatedAt    time.Time
	UpdatedAt    time.Time
	ActivatedAt  time.Time // first time the user became Active
	LastLoginAt  time.Time
	LastActiveAt time.Time // last login or last move into Active; drives inactivity

	// Version counts the writes to the user. A Store refuses a write whose
	// Version is not the stored one (ErrConflict) and stores Version+1.
	Version int64
}

// HasPassword reports whether a password has been set.
func (u User) HasPassword() bool { return u.PasswordHash != "" }

// InvitationPending reports whether the user holds an unused invitation
// (possibly expired).
func (u User) InvitationPending() bool { return u.InviteTokenHash != "" }

// redacted returns a copy safe to hand to callers: no hashes, and no slice
// shared with the store's copy.
func (u User) redacted() User {
	u.PasswordHash = ""
	u.InviteTokenHash = ""
	u.Grants = append([]Grant(nil), u.Grants...)
	return u
}

// NormalizeEmail trims and lower-cases an address and checks that it is a
// single plain address (no display name, no angle brackets). Emails are
// stored and compared in this form.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", fieldError(ErrInvalidEmail, "email", "is empty")
	}
	if len(e) > 254 {
		return "", fieldError(ErrInvalidEmail, "email", "is longer than 254 characters")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", fieldError(ErrInvalidEmail, "email", "is not a plain address like name@example.com")
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || !strings.Contains(e[at+1:], ".") || strings.HasSuffix(e, ".") {
		return "", fieldError(ErrInvalidEmail, "email", "has no domain with a dot")
	}
	return e, nil
}

// emailDomain returns the part after the last '@' of a normalised address.
func emailDomain(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

func validateName(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fieldError(ErrInvalidInput, field, "is empty")
	}
	if len(v) > 100 {
		return "", fieldError(ErrInvalidInput, field, "is longer than 100 bytes")
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return "", fieldError(ErrInvalidInput, field, "contains control characters")
	}
	return v, nil
}

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
	case StatusInvited:
		return ErrNotActivated
	case StatusRemoved:
		return ErrNotFound
	}
	return nil
}
