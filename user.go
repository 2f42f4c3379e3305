package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
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
	if !utf8.ValidString(v) {
		return "", fieldError(ErrInvalidInput, field, "is not valid UTF-8")
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

// NewUser is the input for CreateUser.
type NewUser struct {
	AccountID string
	Email     string
	FirstName string
	LastName  string
	Role      string // default RoleGeneral
	// Password, when set, must meet the password policy and the user can log
	// in at once. When empty, an invitation is issued instead.
	Password string
	// Disabled is the "active" toggle switched off: the user is created
	// Disabled and cannot log in until an admin enables them.
	Disabled bool
}

// Created is a newly created user. InvitationToken is set when the user was
// created without a password: send it in the set-password email. It is
// returned only this once and never stored.
type Created struct {
	User            User
	InvitationToken string
}

// newUser validates the input and builds the user and, when there is no
// password, its invitation. It does not hash the password.
func (m *Manager) newUser(in NewUser, namesRequired bool) (User, string, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return User{}, "", err
	}
	if m.isDisposable(emailDomain(email)) {
		return User{}, "", fieldError(ErrDisposableEmail, "email", "uses a disposable-mail domain")
	}
	u := User{AccountID: in.AccountID, Email: email, Role: in.Role, Version: 1}
	if namesRequired || in.FirstName != "" {
		if u.FirstName, err = validateName("first_name", in.FirstName); err != nil {
			return User{}, "", err
		}
	}
	if namesRequired || in.LastName != "" {
		if u.LastName, err = validateName("last_name", in.LastName); err != nil {
			return User{}, "", err
		}
	}
	if u.ID, err = newID(); err != nil {
		return User{}, "", err
	}
	now := m.now()
	u.CreatedAt, u.UpdatedAt = now, now
	var token string
	if in.Password == "" {
		if token, err = m.issueInvitation(&u, now); err != nil {
			return User{}, "", err
		}
	}
	switch {
	case in.Disabled:
		u.Status = StatusDisabled
	case in.Password != "":
		u.Status = StatusActive
		activate(&u, now)
	default:
		u.Status = StatusInvited
	}
	return u, token, nil
}

// activate makes u Active, or Invited when it has no password yet, and
// starts its activity clock afresh so that the sweep does not catch it at once.
func activate(u *User, now time.Time) {
	if u.PasswordHash == "" && u.Status != StatusActive {
		u.Status = StatusInvited
		return
	}
	u.Status = StatusActive
	u.FailedAttempts = 0
	u.LastActiveAt = now
	if u.ActivatedAt.IsZero() {
		u.ActivatedAt = now
	}
}

// authorizeCreate checks that the actor may create users with the role in
// the account.
func (m *Manager) authorizeCreate(ctx context.Context, actorID, accountID, role string) (actor, error) {
	if _, ok := m.roles[role]; !ok {
		return actor{}, fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return actor{}, err
	}
	if _, err := m.authorizeAccount(ctx, act, accountID, PermManageUsers); err != nil {
		return actor{}, err
	}
	if !m.roleWithin(role, act) {
		return actor{}, denied("actor cannot assign a role holding more than they do")
	}
	return act, nil
}

// CreateUser creates a user in an account, with a password (the user is
// Active) or without one (the user is Invited and the returned Created
// carries the invitation token). With Disabled set the user starts
// Disabled. The actor needs PermManageUsers over the account and must hold
// every permission of the role. Returns ErrDuplicateEmail when a
// non-removed user has the email.
func (m *Manager) CreateUser(ctx context.Context, actorID string, in NewUser) (Created, error) {
	if in.Role == "" {
		in.Role = RoleGeneral
	}
	act, err := m.authorizeCreate(ctx, actorID, in.AccountID, in.Role)
	if err != nil {
		return Created{}, err
	}
	u, token, ev, err := m.prepareUser(ctx, act, in)
	if err != nil {
		return Created{}, err
	}
	if err := m.store.CreateUsers(ctx, []User{u}, []AuditEvent{ev}); err != nil {
		return Created{}, err
	}
	return Created{User: u.redacted(), InvitationToken: token}, nil
}

// prepareUser builds a new user with its password hash (when given) and the
// audit event of its creation.
func (m *Manager) prepareUser(ctx context.Context, act actor, in NewUser) (User, string, AuditEvent, error) {
	u, token, err := m.newUser(in, true)
	if err != nil {
		return User{}, "", AuditEvent{}, err
	}
	action := ActionInvite
	if in.Password != "" {
		action = ActionCreate
		if err := m.policy.Password.Check(in.Password, u.Email); err != nil {
			return User{}, "", AuditEvent{}, err
		}
		if u.PasswordHash, err = m.hasher.hash(ctx, in.Password); err != nil {
			return User{}, "", AuditEvent{}, err
		}
	}
	ev, err := m.event(u.CreatedAt, act.id(), action, u, diff(User{}, u))
	return u, token, ev, err
}

// User returns a user. Users may read themselves; reading anyone else takes
// PermManageUsers over their account.
func (m *Manager) User(ctx context.Context, actorID, userID string) (User, error) {
	u, err := m.store.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	return m.visible(ctx, actorID, u)
}

// UserByEmail returns the non-removed user with the email, under the same
// rules as User. A user the actor may not see is reported as ErrNotFound,
// as an absent one is: emails are unique across tenants, so telling the
// two apart would let anyone learn which addresses other tenants hold.
func (m *Manager) UserByEmail(ctx context.Context, actorID, email string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	u, err := m.store.UserByEmail(ctx, e)
	if err == nil {
		u, err = m.visible(ctx, actorID, u)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrPermissionDenied) {
		return User{}, fmt.Errorf("%w: no user with that email that the actor may see", ErrNotFound)
	}
	return u, err
}

// visible returns u to the actor when they are u or may manage u.
func (m *Manager) visible(ctx context.Context, actorID string, u User) (User, error) {
	if actorID != u.ID {
		act, err := m.actor(ctx, actorID)
		if err != nil {
			return User{}, err
		}
		if err := m.authorizeOn(ctx, act, u); err != nil {
			return User{}, err
		}
	}
	return u.redacted(), nil
}

// Profile holds the fields a user or an admin may edit. Empty fields are
// left as they are.
type Profile struct {
	FirstName string
	LastName  string
}

// UpdateProfile changes a user's names. Users may edit their own; editing
// anyone else's takes PermManageUsers over their account.
func (m *Manager) UpdateProfile(ctx context.Context, actorID, userID string, p Profile) (User, error) {
	var err error
	if p.FirstName != "" {
		if p.FirstName, err = validateName("first_name", p.FirstName); err != nil {
			return User{}, err
		}
	}
	if p.LastName != "" {
		if p.LastName, err = validateName("last_name", p.LastName); err != nil {
			return User{}, err
		}
	}
	var act actor
	if actorID != userID {
		if act, err = m.actor(ctx, actorID); err != nil {
			return User{}, err
		}
	}
	u, err := m.update(ctx, actorID, userID, ActionProfileChange, func(u *User) (bool, error) {
		if actorID != userID {
			if err := m.authorizeOn(ctx, act, *u); err != nil {
				return false, err
			}
		}
		if u.Status == StatusRemoved {
			return false, &TransitionError{Action: ActionProfileChange, From: u.Status}
		}
		if actorID == userID && u.Status != StatusActive {
			return false, statusError(u.Status) // only an Active user acts, on themselves too
		}
		before := *u
		if p.FirstName != "" {
			u.FirstName = p.FirstName
		}
		if p.LastName != "" {
			u.LastName = p.LastName
		}
		if u.FirstName == before.FirstName && u.LastName == before.LastName {
			return false, errNoChange
		}
		return false, nil
	})
	if errors.Is(err, errNoChange) {
		return m.User(ctx, actorID, userID)
	}
	return u.redacted(), err
}
