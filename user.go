package usermgmt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// User is a user as callers see it: no password hash, no token hashes, no
// internal counters. It marshals to JSON in snake_case, with optional times
// left out when zero and empty lists as []. Every Manager operation that
// changes a user returns the updated User.
type User struct {
	ID           string   `json:"id"`                      // UUIDv7, time-ordered
	AccountID    string   `json:"account_id"`              // the account (tenant) the user belongs to
	Email        string   `json:"email"`                   // canonical (see NormalizeEmail); send mail here only
	PendingEmail string   `json:"pending_email,omitempty"` // a new address waiting for confirmation
	FirstName    string   `json:"first_name"`
	LastName     string   `json:"last_name"`
	Role         string   `json:"role"`
	Department   string   `json:"department,omitempty"`
	Groups       []string `json:"groups"` // IDs of the user's groups, ascending
	Grants       []Grant  `json:"grants"` // the user's own grants (not their groups')
	Locale       string   `json:"locale,omitempty"`
	Status       Status   `json:"status"`
	// PasswordSet reports whether the user has a password (an invited user
	// has none until they accept).
	PasswordSet bool `json:"password_set"`
	// InvitedBy is who issued the user's invitation: a user ID or System.
	InvitedBy string `json:"invited_by,omitempty"`
	// InvitationExpiresAt is when the pending invitation stops working;
	// zero when none is pending.
	InvitationExpiresAt time.Time `json:"invitation_expires_at,omitzero"`
	CreatedAt           time.Time `json:"created_at"`
	// UpdatedAt is when the user last changed: any change an admin, the
	// user or System makes, the lock after the last wrong password
	// included. Logins, failed passwords that do not lock (even when
	// Policy.AuditLogins records them) and Touch leave it alone; they move
	// LastLoginAt and LastActiveAt.
	UpdatedAt    time.Time `json:"updated_at"`
	ActivatedAt  time.Time `json:"activated_at,omitzero"` // when the user first became Active
	LastLoginAt  time.Time `json:"last_login_at,omitzero"`
	LastActiveAt time.Time `json:"last_active_at,omitzero"` // last login, Touch, or move into Active: drives inactivity
	LockedAt     time.Time `json:"locked_at,omitzero"`      // when the user was last Locked; kept after an unlock
	// SessionVersion moves whenever the user's sessions must end (see
	// Manager.SessionValid).
	SessionVersion int64 `json:"session_version"`
	// Version counts the writes to the user; an HTTP API exposes it as an
	// ETag (see WithExpectedVersion).
	Version int64 `json:"version"`
}

// View returns the user as callers see it.
func (u UserRecord) View() User {
	v := User{ID: u.ID, AccountID: u.AccountID, Email: u.Email, PendingEmail: u.PendingEmail,
		FirstName: u.FirstName, LastName: u.LastName, Role: u.Role, Department: u.Department,
		Groups: slices.Clone(u.Groups), Grants: slices.Clone(u.Grants), Locale: u.Locale, Status: u.Status,
		PasswordSet: u.PasswordHash != "", InvitedBy: u.InvitedBy,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, ActivatedAt: u.ActivatedAt, LastLoginAt: u.LastLoginAt,
		LastActiveAt: u.LastActiveAt, LockedAt: u.LockedAt, SessionVersion: u.SessionVersion, Version: u.Version}
	if v.Groups == nil {
		v.Groups = []string{}
	}
	if v.Grants == nil {
		v.Grants = []Grant{}
	}
	if t, ok := u.token(TokenInvitation); ok {
		v.InvitationExpiresAt = t.ExpiresAt
	}
	return v
}

// Name returns "First Last", or the email when the user has no name.
func (u User) Name() string {
	if n := displayName(u.FirstName, u.LastName); n != "" {
		return n
	}
	return u.Email
}

func displayName(first, last string) string {
	return strings.TrimSpace(first + " " + last)
}

// maxNameLength bounds names, in bytes.
const maxNameLength = 100

// validateName trims a name and checks it: not empty, at most 100 bytes,
// valid UTF-8, no control characters (a name reaches email headers).
func validateName(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fieldError(ErrInvalidInput, field, "is empty")
	case len(v) > maxNameLength:
		return "", fieldError(ErrInvalidInput, field, "is longer than 100 bytes")
	case !utf8.ValidString(v):
		return "", fieldError(ErrInvalidInput, field, "is not valid UTF-8")
	case strings.ContainsFunc(v, unicode.IsControl):
		return "", fieldError(ErrInvalidInput, field, "contains control characters")
	}
	return v, nil
}

// optionalName is validateName for a name that may be empty.
func optionalName(field, v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	return validateName(field, v)
}

// validateLocale checks a BCP 47 tag and returns its canonical form.
func validateLocale(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	tag, err := language.Parse(v)
	if err != nil || len(v) > 35 {
		return "", fieldError(ErrInvalidInput, "locale", "is not a BCP 47 language tag such as en or de-CH")
	}
	return tag.String(), nil
}

// NewUser is the input for CreateUser, and a row of InviteUsers.
type NewUser struct {
	// AccountID is the user's account; empty means the actor's own.
	AccountID string `json:"account_id,omitempty"`
	Email     string `json:"email"`
	// FirstName and LastName are required by CreateUser and CreateAccount;
	// rows of InviteUsers (and so spreadsheet imports) may leave them empty
	// for the invitee to fill in (Acceptance).
	FirstName  string   `json:"first_name"`
	LastName   string   `json:"last_name"`
	Role       string   `json:"role,omitempty"`       // default RoleGeneral
	Department string   `json:"department,omitempty"` // one of the account's departments
	Groups     []string `json:"groups,omitempty"`     // IDs of groups of the account
	Locale     string   `json:"locale,omitempty"`     // BCP 47, for the user's messages
	// Invite creates the user without a password and issues an invitation,
	// emailed through the outbox (and its token returned in Created).
	Invite bool `json:"invite,omitempty"`
	// Password, for a user who is not invited, must meet the password
	// policy; the user can log in at once.
	Password string `json:"password,omitempty"`
	// PasswordHash is an existing hash to migrate instead of a password:
	// argon2id (PHC), bcrypt ($2a$, $2b$, $2y$) or PBKDF2-SHA256 (see
	// ParseImportedHash). The user logs in with their old password and is
	// re-hashed to argon2id at the first success.
	PasswordHash string `json:"password_hash,omitempty"`
	// Disabled is the "active" toggle switched off: the user is created
	// Disabled and cannot log in until an admin enables them; with no
	// password, Enable makes them Invited and ResendInvitation mails them.
	Disabled bool `json:"disabled,omitempty"`
}

// Created is a newly created user. InvitationToken is set when the user was
// invited; it is returned only this once, never stored, and also mailed
// when the Manager has an outbox.
type Created struct {
	User            User   `json:"user"`
	InvitationToken string `json:"invitation_token,omitempty"`
}

// newUser checks the parts of a NewUser that need no store and builds the
// user; it neither hashes a password nor issues an invitation.
func (m *Manager) newUser(in NewUser, namesRequired bool, now time.Time) (UserRecord, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return UserRecord{}, err
	}
	if m.isDisposable(emailDomain(email)) {
		return UserRecord{}, fieldError(ErrDisposableEmail, "email", "uses a disposable-mail domain")
	}
	switch {
	case in.Invite && (in.Password != "" || in.PasswordHash != ""):
		return UserRecord{}, fieldError(ErrInvalidInput, "password", "must be empty for an invited user")
	case in.Invite && in.Disabled:
		return UserRecord{}, fieldError(ErrInvalidInput, "disabled", "an invited user cannot start disabled; create them disabled without an invitation")
	case in.Password != "" && in.PasswordHash != "":
		return UserRecord{}, fieldError(ErrInvalidInput, "password_hash", "give a password or a hash, not both")
	case !in.Invite && !in.Disabled && in.Password == "" && in.PasswordHash == "":
		return UserRecord{}, fieldError(ErrInvalidInput, "password", "is required unless the user is invited (Invite) or created disabled")
	}
	u := UserRecord{AccountID: in.AccountID, Email: email, Role: in.Role, Version: 1, CreatedAt: now, UpdatedAt: now}
	name := validateName
	if !namesRequired {
		name = optionalName
	}
	if u.FirstName, err = name("first_name", in.FirstName); err != nil {
		return UserRecord{}, err
	}
	if u.LastName, err = name("last_name", in.LastName); err != nil {
		return UserRecord{}, err
	}
	if u.Locale, err = validateLocale(in.Locale); err != nil {
		return UserRecord{}, err
	}
	if u.ID, err = newID(); err != nil {
		return UserRecord{}, err
	}
	return u, nil
}

// prepared is a new user ready to be stored, with its raw invitation token.
type prepared struct {
	create UserCreate
	token  string
}

// prepareUser builds a new user in acct — password hashed, invitation
// issued, event and messages — for the actor, who has been authorised for
// the account and the role.
func (m *Manager) prepareUser(ctx context.Context, act actor, acct Account, in NewUser, namesRequired bool) (prepared, error) {
	now := m.now()
	in.AccountID = acct.ID
	u, err := m.newUser(in, namesRequired, now)
	if err != nil {
		return prepared{}, err
	}
	if err := m.checkMembership(ctx, act, acct, &u, in.Department, in.Groups); err != nil {
		return prepared{}, err
	}
	var p prepared
	var notices []notice
	action := ActionCreate
	switch {
	case in.Password != "":
		if u.PasswordHash, err = m.hashNewPassword(ctx, in.Password, u.Email); err != nil {
			return prepared{}, err
		}
	case in.PasswordHash != "":
		if u.PasswordHash, err = ParseImportedHash(in.PasswordHash); err != nil {
			return prepared{}, err
		}
	}
	switch {
	case in.Disabled:
		u.Status = StatusDisabled
	case in.Invite:
		u.Status = StatusInvited
		action = ActionInvite
		n, err := m.issueInvitation(&u, act, now)
		if err != nil {
			return prepared{}, err
		}
		p.token = n.token
		notices = append(notices, n)
	default:
		activate(&u, now)
	}
	if u.PasswordHash != "" {
		u.PasswordVersion = 1
	}
	ev, err := m.userEvent(ctx, now, act, action, UserRecord{}, u)
	if err != nil {
		return prepared{}, err
	}
	msgs, err := m.messagesIn(ctx, act, acct, u, notices, now)
	if err != nil {
		return prepared{}, err
	}
	p.create = UserCreate{User: u, Event: ev, Messages: msgs}
	return p, nil
}

// activate makes u Active, or Invited when it has no password yet, and
// starts its activity clock afresh so that the sweep does not catch it at
// once. The failure count and any attempts in flight are cleared.
func activate(u *UserRecord, now time.Time) {
	if u.PasswordHash == "" {
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
// the account, and returns the account.
func (m *Manager) authorizeCreate(ctx context.Context, act actor, accountID, role string) (Account, error) {
	if _, err := m.role(role); err != nil {
		return Account{}, err
	}
	acct, err := m.authorizeAccount(ctx, act, accountID, PermManageUsers)
	if err != nil {
		return Account{}, err
	}
	if !m.roleWithin(role, act) {
		return Account{}, fmt.Errorf("%w: the role holds more than the actor", ErrTargetOutranks)
	}
	return acct, nil
}

// CreateUser creates a user in an account (empty AccountID: the actor's
// own): with a password or an imported hash (the user is Active), invited
// (Invite: the user is Invited, an invitation is mailed through the outbox
// and its token returned once in Created), or Disabled. The actor needs
// PermManageUsers over the account and must hold every permission of the
// role. Returns ErrDuplicateEmail when a non-removed user has the email,
// a *PasswordError (ErrWeakPassword) for a weak password, a *FieldError
// for any other bad field — an empty password on a create that is neither
// an invitation nor disabled among them (field "password",
// ErrInvalidInput), so that a sign-up form posting an empty password never
// creates an invited user by accident.
func (m *Manager) CreateUser(ctx context.Context, actorID string, in NewUser) (Created, error) {
	if in.Role == "" {
		in.Role = RoleGeneral
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Created{}, err
	}
	acct, err := m.authorizeCreate(ctx, act, in.AccountID, in.Role)
	if err != nil {
		return Created{}, err
	}
	p, err := m.prepareUser(ctx, act, acct, in, true)
	if err != nil {
		return Created{}, err
	}
	if err := m.store.CreateUsers(ctx, []UserCreate{p.create}); err != nil {
		return Created{}, err
	}
	m.observe(ctx, p.create.Event)
	c := Created{User: p.create.User.View(), InvitationToken: p.token}
	if holdsRefs(p.create.User) {
		// Its department or a group may have gone since they were checked.
		u, _, _, err := m.dropStaleRefs(ctx, act, p.create.User.ID)
		if err != nil {
			return c, err
		}
		c.User = u.View()
	}
	return c, nil
}

// User returns a user. Users may read themselves; reading anyone else takes
// PermManageUsers over them, and a user outside the actor's reach is
// ErrNotFound, as an absent one is.
func (m *Manager) User(ctx context.Context, actorID, userID string) (User, error) {
	u, err := m.readableUser(ctx, actorID, userID)
	if err != nil {
		return User{}, err
	}
	return u.View(), nil
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
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	if !act.system && act.user.Email == e {
		return act.user.View(), nil
	}
	if !act.holdsAnywhere(PermManageUsers) {
		return User{}, fmt.Errorf("%w: the actor does not manage users", ErrPermissionDenied)
	}
	u, err := m.store.UserByEmail(ctx, e)
	if err != nil {
		return User{}, err
	}
	return m.User(ctx, act.id(), u.ID)
}

// Profile holds the fields of a user that may be edited. A nil field is
// left as it is; a non-nil one replaces the stored value (an empty
// Locale or Department clears it). Users may edit their own names and
// locale; Department, and anyone else's profile, take PermManageUsers over
// the user. Set a field with new: Profile{FirstName: new("Grace")}.
type Profile struct {
	FirstName  *string `json:"first_name,omitempty"`
	LastName   *string `json:"last_name,omitempty"`
	Locale     *string `json:"locale,omitempty"`
	Department *string `json:"department,omitempty"`
}

// UpdateProfile changes a user's names, locale or department and returns
// the user. A change that changes nothing writes nothing. A department
// removed from the account while the change was written is taken back
// (with an event) and reported as ErrInvalidInput, field "department".
func (m *Manager) UpdateProfile(ctx context.Context, actorID, userID string, p Profile) (User, error) {
	var next Profile
	if p.FirstName != nil {
		v, err := validateName("first_name", *p.FirstName)
		if err != nil {
			return User{}, err
		}
		next.FirstName = &v
	}
	if p.LastName != nil {
		v, err := validateName("last_name", *p.LastName)
		if err != nil {
			return User{}, err
		}
		next.LastName = &v
	}
	if p.Locale != nil {
		v, err := validateLocale(*p.Locale)
		if err != nil {
			return User{}, err
		}
		next.Locale = &v
	}
	self := actorID == userID
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	if !self || p.Department != nil {
		if !act.holdsAnywhere(PermManageUsers) {
			return User{}, fmt.Errorf("%w: the actor does not manage users", ErrPermissionDenied)
		}
	}
	v, err := m.updateView(ctx, act, userID, ActionProfileChange, func(u *UserRecord, c *change) error {
		if !self || p.Department != nil {
			if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
				return err
			}
		}
		if u.Status == StatusRemoved {
			return &TransitionError{Action: ActionProfileChange, From: u.Status}
		}
		before := cloneRecord(*u)
		if next.FirstName != nil {
			u.FirstName = *next.FirstName
		}
		if next.LastName != nil {
			u.LastName = *next.LastName
		}
		if next.Locale != nil {
			u.Locale = *next.Locale
		}
		if p.Department != nil {
			d, err := m.checkDepartment(ctx, act, u.AccountID, *p.Department)
			if err != nil {
				return err
			}
			u.Department = d
		}
		if u.FirstName == before.FirstName && u.LastName == before.LastName && u.Locale == before.Locale && u.Department == before.Department {
			return errNoChange
		}
		return nil
	})
	if err != nil || p.Department == nil || v.Department == "" {
		return v, err
	}
	// The department may have been removed since it was checked.
	u, dept, _, err := m.dropStaleRefs(ctx, act, userID)
	if err != nil {
		return User{}, err
	}
	if dept {
		return User{}, fieldError(ErrInvalidInput, "department", "was removed from the account meanwhile")
	}
	return u.View(), nil
}
