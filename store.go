package usermgmt

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Store keeps users, accounts and audit events. Implementations live in
// store/memstore, store/sqlitestore and store/redisstore; store/storetest is
// the conformance suite each of them passes.
//
// Every Store guarantees:
//  1. a change and its audit event are stored atomically: both or neither;
//  2. a write based on a stale User.Version is refused with ErrConflict, so
//     concurrent updates never lose a write;
//  3. email uniqueness among non-removed users holds under concurrent
//     creates, across processes: exactly one wins;
//  4. failed-attempt reservation is atomic and bounded, across processes;
//  5. lists are paginated by keyset (the last ID seen), never by skipping rows;
//  6. context cancellation is honoured, and a failed call leaves no partial state.
//
// Stores never read the clock: every time they store comes from the Manager.
// They keep times to the nanosecond and return them in UTC; the zero
// time.Time round-trips as the zero time. Every non-zero time the Manager
// writes lies between 1970 and 2262 (the range of int64 Unix nanoseconds),
// and every string is valid UTF-8. User IDs and audit event IDs are two
// separate namespaces; a store may also refuse an ID found in the other. They map their driver's "no rows"
// onto ErrNotFound. The Manager never changes a user's ID, AccountID, Email
// or CreatedAt after creation, and never moves a user out of StatusRemoved.
//
// Methods return the sentinel errors of this package (ErrNotFound,
// ErrConflict, ErrDuplicateEmail, ErrDuplicateID, ErrLastAdmin), possibly
// wrapped, for the cases their documentation names; any other error is a
// failure of the backend.
type Store interface {
	// CreateAccount stores a new account, its first user and that user's
	// audit event, all or nothing. The Manager has filled a.Ancestors.
	// Returns ErrDuplicateEmail when a non-removed user already holds
	// first.Email, ErrDuplicateID when the account, user or event ID exists.
	CreateAccount(ctx context.Context, a Account, first User, ev AuditEvent) error

	// Account returns the account with the ID, or ErrNotFound.
	Account(ctx context.Context, id string) (Account, error)

	// CreateUsers stores new users, each with its audit event (events[i]
	// records users[i]), all or nothing; the two slices have equal length.
	// Each user is stored as given (the Manager sets Version to 1). Returns
	// ErrDuplicateEmail when any email is held by a non-removed user or
	// appears twice in the batch, and ErrDuplicateID when any user or event
	// ID exists; then nothing of the batch is stored.
	CreateUsers(ctx context.Context, users []User, events []AuditEvent) error

	// UpdateUser replaces the stored user with up.User and appends up.Event,
	// all or nothing, provided the stored Version equals up.User.Version;
	// the stored user then has Version+1. Returns ErrNotFound when there is
	// no such user, ErrConflict when the version differs, ErrDuplicateID
	// when the event ID exists, and ErrLastAdmin when up.KeepAdmin is set
	// and, after the write, the user's account would have no user with role
	// RoleAdmin in StatusActive. Moving a user to StatusRemoved frees the
	// email; the invitation token index follows InviteTokenHash.
	UpdateUser(ctx context.Context, up UserUpdate) error

	// User returns the user with the ID (removed users included), or ErrNotFound.
	User(ctx context.Context, id string) (User, error)

	// UserByEmail returns the non-removed user with the normalised email,
	// or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)

	// UserByInviteToken returns the user whose InviteTokenHash equals
	// tokenHash, or ErrNotFound.
	UserByInviteToken(ctx context.Context, tokenHash string) (User, error)

	// ListUsers returns up to q.Limit users matching q, in ascending ID order,
	// starting after q.After. See ListQuery for the matching rules.
	ListUsers(ctx context.Context, q ListQuery) ([]User, error)

	// StaleUsers returns up to q.Limit users in StatusActive whose
	// LastActiveAt is before q.ActiveBefore, ordered by (LastActiveAt, ID)
	// and starting after the keyset (q.AfterActive, q.AfterID). It returns
	// fewer than q.Limit only when no more users match: the sweep stops at
	// the first short page. Its cost follows the number of users returned,
	// not the number stored.
	StaleUsers(ctx context.Context, q StaleQuery) ([]User, error)

	// ReserveAttempt reserves one password attempt before the password is
	// verified. Atomically, and across processes: when the user is in
	// StatusActive and FailedAttempts < limit, it increments FailedAttempts
	// and Version and returns the updated user and true; otherwise it
	// returns the stored user unchanged and false. Returns ErrNotFound when
	// there is no such user. However many calls run at once, at most limit
	// of them return true until something resets FailedAttempts.
	ReserveAttempt(ctx context.Context, userID string, limit int) (User, bool, error)

	// RecordLogin records a verified login. Atomically: when the user is in
	// StatusActive and its PasswordHash still equals l.VerifiedHash, it sets
	// FailedAttempts to 0, LastLoginAt and LastActiveAt to l.At, PasswordHash
	// to l.NewHash when that is not empty, increments Version, and returns
	// the updated user and true; otherwise it returns the stored user
	// unchanged and false. Returns ErrNotFound when there is no such user.
	RecordLogin(ctx context.Context, l Login) (User, bool, error)

	// History returns up to q.Limit audit events of q.UserID, newest first
	// (descending ID), starting before q.Before when it is set. A user
	// without events, or an unknown user, has an empty history.
	History(ctx context.Context, q HistoryQuery) ([]AuditEvent, error)
}

// UserUpdate is one versioned write of a user together with its audit event.
type UserUpdate struct {
	User  User       // the new state; User.Version is the version it was read at
	Event AuditEvent // the record of the change, written with it
	// KeepAdmin makes the store refuse the write with ErrLastAdmin when it
	// would leave the user's account without an active admin.
	KeepAdmin bool
}

// ListQuery selects users of an account subtree for ListUsers.
type ListQuery struct {
	// AccountID is the subtree's root: users of this account and of all its
	// descendants match.
	AccountID string
	// Search, when not empty, is lower-case text (strings.ToLower) that must
	// occur within the lower-cased FirstName, LastName or Email.
	Search string
	// Statuses, when not empty, are the statuses that match; when empty,
	// every status except StatusRemoved matches.
	Statuses []Status
	// Roles, when not empty, are the roles that match.
	Roles []string
	// After, when not empty, is the ID of the last user of the previous page;
	// only users with a greater ID (byte-wise) match.
	After string
	// Limit is the most users to return; it is at least 1.
	Limit int
}

// Matches reports whether u passes q's filters: Search, Statuses and
// Roles. It is the definition every store's ListUsers follows; AccountID
// and After select where a store reads, from its own indexes, and are not
// checked here.
func (q ListQuery) Matches(u User) bool {
	if len(q.Statuses) == 0 {
		if u.Status == StatusRemoved {
			return false
		}
	} else if !slices.Contains(q.Statuses, u.Status) {
		return false
	}
	if len(q.Roles) > 0 && !slices.Contains(q.Roles, u.Role) {
		return false
	}
	return q.Search == "" ||
		strings.Contains(strings.ToLower(u.FirstName), q.Search) ||
		strings.Contains(strings.ToLower(u.LastName), q.Search) ||
		strings.Contains(strings.ToLower(u.Email), q.Search)
}

// StaleQuery selects candidates for the inactivity sweep.
type StaleQuery struct {
	ActiveBefore time.Time // LastActiveAt strictly before this
	AfterActive  time.Time // keyset: start after (AfterActive, AfterID); both zero to start
	AfterID      string
	Limit        int // at least 1
}

// Login is a verified login for RecordLogin.
type Login struct {
	UserID       string
	At           time.Time
	VerifiedHash string // the stored hash the password was verified against
	NewHash      string // a re-hash with current parameters, or empty
}

// HistoryQuery selects a page of a user's audit events.
type HistoryQuery struct {
	UserID string
	Before string // when set, only events with a smaller ID
	Limit  int    // at least 1
}
