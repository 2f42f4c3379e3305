package usermgmt

import (
	"context"
	"slices"
	"strings"
	"time"
)

// # Writing a Store
//
// The types in this file are for store authors: the Store interface and the
// records a store persists (UserRecord, Group, Message and the account and
// audit types shared with callers), the queries stores answer (ListQuery,
// StaleQuery, HistoryQuery, GroupQuery, MessageQuery) and the writes they
// perform (UserCreate, UserUpdate, AttemptReservation, AttemptOutcome,
// ActivityUpdate, MessageClaim, MessageResult). An application never calls
// them; it calls the Manager. store/storetest is the conformance suite
// every Store must pass: storetest.Run(t, newStore).

// Store keeps accounts, users, groups, audit events and outgoing messages.
// Implementations live in store/memstore, store/sqlitestore,
// store/redisstore and store/pgstore; store/storetest is the conformance
// suite each of them passes.
//
// Every Store guarantees:
//  1. a change and its audit event are stored atomically: both or neither;
//  2. a write based on a stale Version is refused with ErrConflict, so
//     concurrent updates never lose a write;
//  3. email uniqueness among non-removed users holds under concurrent
//     creates and updates, across processes: exactly one wins;
//  4. failed-attempt reservation is atomic and bounded, across processes;
//  5. lists are paginated by keyset (the last ID seen), never by skipping rows;
//  6. context cancellation is honoured, and a failed call leaves no partial state;
//  7. a change's outgoing messages are stored atomically with it, and each
//     due message is claimed by one worker at a time (a lease), across
//     processes.
//
// Stores never read the clock: every time they store or compare comes from
// the Manager. They keep times to the nanosecond and return them in UTC; the
// zero time.Time round-trips as the zero time. Every non-zero time the
// Manager writes lies strictly after 1970-01-01T00:00:00Z and before 2262
// (positive int64 Unix nanoseconds; a store may read the epoch itself back
// as the zero time), and
// every string is valid UTF-8. IDs are UUIDv7 strings; user, account,
// group, event and message IDs are separate namespaces. Slices round-trip
// in order; an empty slice may come back nil.
//
// Methods return the sentinel errors of this package (ErrNotFound,
// ErrConflict, ErrDuplicateEmail, ErrDuplicateID, ErrDuplicateName,
// ErrLastAdmin), possibly wrapped, for the cases their documentation names;
// any other failure of the backend should match ErrStore (see StoreError)
// and its text must hold no SQL, driver codes, hashes or user data: the
// Manager shows it to administrators.
type Store interface {
	// CreateAccount stores a new account and its first user (with that
	// user's event and messages), and the account's event when
	// c.AccountEvent.ID is set, all or nothing. The Manager has filled
	// c.Account.Ancestors. Returns ErrDuplicateEmail when a non-removed user
	// already holds the first user's email, ErrDuplicateID when an ID
	// exists, ErrNotFound when c.Account.ParentID names no account (the
	// account itself included: it is not stored yet).
	CreateAccount(ctx context.Context, c AccountCreate) error

	// Account returns the account with the ID, or ErrNotFound.
	Account(ctx context.Context, id string) (Account, error)

	// Accounts returns up to q.Limit accounts of the subtree rooted at
	// q.RootID (the root included), in ascending ID order, after q.After.
	Accounts(ctx context.Context, q AccountQuery) ([]Account, error)

	// UpdateAccount replaces the stored account with up.Account and appends
	// up.Event, all or nothing, provided the stored Version equals
	// up.Account.Version; the stored account then has Version+1. ParentID
	// and Ancestors never change. Returns ErrNotFound, ErrConflict.
	UpdateAccount(ctx context.Context, up AccountUpdate) error

	// CreateUsers stores new users, each with its audit event and messages,
	// all or nothing. Each user is stored as given (the Manager sets Version
	// to 1). Returns ErrDuplicateEmail when any email is held by a
	// non-removed user or appears twice in the batch, ErrDuplicateID when
	// any ID or token hash exists or appears twice in the batch,
	// ErrNotFound when a user's account does
	// not exist; then
	// nothing of the batch is stored.
	CreateUsers(ctx context.Context, cs []UserCreate) error

	// UpdateUser replaces the stored user with up.User and appends up.Event
	// and up.Messages, all or nothing, provided the stored Version equals
	// up.User.Version; the stored user then has Version+1. Returns
	// ErrNotFound when there is no such user, ErrConflict when the version
	// differs, ErrDuplicateEmail when up.User.Email is held by another
	// non-removed user, ErrNotFound when up.User.AccountID names no account,
	// ErrDuplicateID when the event or a message ID exists (or two of
	// up.Messages share one) or a token hash is held by another user (or by
	// two of up.User's tokens: a hash names one token), and ErrLastAdmin
	// when up.KeepAdmin is set and, after the write, the user's former
	// account would have no user with role RoleAdmin in StatusActive. Every
	// index follows the new state: email (removal frees it), tokens,
	// account subtree (a move), groups, activity and lock times.
	UpdateUser(ctx context.Context, up UserUpdate) error

	// UpdateUsers applies many updates in one call, in order, each as
	// UpdateUser would, each atomic with its event and messages (a later
	// update of the same user sees the earlier one). errs[i] is the outcome
	// of ups[i] (nil, or one of UpdateUser's sentinels). err reports a
	// failure of the call itself; then any subset of the updates may have
	// been applied, each whole.
	UpdateUsers(ctx context.Context, ups []UserUpdate) (errs []error, err error)

	// User returns the user with the ID (removed users included), or
	// ErrNotFound.
	User(ctx context.Context, id string) (UserRecord, error)

	// UserByEmail returns the non-removed user with the canonical email, or
	// ErrNotFound.
	UserByEmail(ctx context.Context, email string) (UserRecord, error)

	// UserByToken returns the user holding a Token with the hash, or
	// ErrNotFound.
	UserByToken(ctx context.Context, hash string) (UserRecord, error)

	// UserAccess returns the user with the ID and the ID and Version of
	// every group in its Groups that exists and is not deleted, in one round
	// trip: the Manager computes permissions from them. Returns ErrNotFound.
	UserAccess(ctx context.Context, id string) (UserRecord, []GroupStamp, error)

	// ListUsers returns up to q.Limit users matching q, in ascending ID order,
	// after q.After. See ListQuery for the matching rules.
	ListUsers(ctx context.Context, q ListQuery) ([]UserRecord, error)

	// StaleUsers returns up to q.Limit users in q.Status whose time (see
	// StaleQuery) is before q.Before, ordered by (that time, ID) and
	// starting after the keyset (q.AfterTime, q.AfterID). It returns fewer
	// than q.Limit only when no more users match. Its cost follows the
	// number of users returned, not the number stored.
	StaleUsers(ctx context.Context, q StaleQuery) ([]UserRecord, error)

	// ReserveAttempt reserves one password attempt before the verdict on
	// the password is used (the Manager may verify it while the call
	// runs, on another goroutine, and discards the verdict unless it
	// returns ReserveOK). Atomically, and across processes: it first drops the
	// user's leases that lapsed at or before r.Now; then, when the user is
	// in StatusActive and FailedAttempts + len(AttemptLeases) < r.Limit, it
	// appends r.Lease and returns the user with ReserveOK. Otherwise it
	// returns the user with ReserveFull (Active, but every slot is held by
	// failures and attempts in flight) or ReserveRefused (not Active, or
	// FailedAttempts >= r.Limit). Whenever it changed the leases (dropped
	// or appended one) it stores them with Version+1; the user returned is
	// the one stored after the call. However many calls run at once,
	// FailedAttempts + len(AttemptLeases) never exceeds r.Limit. Returns
	// ErrNotFound when there is no such user.
	ReserveAttempt(ctx context.Context, r AttemptReservation) (UserRecord, ReserveResult, error)

	// FinishAttempt records the outcome of a reserved attempt, atomically
	// and across processes. It always removes the lease with o.LeaseID
	// when it is still held (Version+1 when it was). Then:
	//
	// A wrong password (o.Success false): when the user is in StatusActive,
	// FailedAttempts is incremented (Version+1), and o.FailureEvent is
	// written when its ID is set; when FailedAttempts then reaches o.Limit,
	// the user becomes StatusLocked with LockedAt and UpdatedAt o.At,
	// SessionVersion+1,
	// and o.LockEvent (when its ID is set) and o.LockMessages are written
	// with it. Returns the updated user and true; a user not Active is
	// returned unchanged (but for the lease) with false, and no event is
	// written.
	//
	// A right password (o.Success true): when the user is in StatusActive
	// and PasswordVersion equals o.PasswordVersion, FailedAttempts becomes
	// 0, LastLoginAt and LastActiveAt o.At, PasswordHash o.NewHash when that
	// is set and the stored hash still equals o.VerifiedHash, Version+1,
	// and o.LoginEvent is written when its ID is set; it returns the
	// updated user and true. Otherwise it returns the stored user with
	// false. Returns ErrNotFound when there is no such user.
	FinishAttempt(ctx context.Context, o AttemptOutcome) (UserRecord, bool, error)

	// RecordActivity sets LastActiveAt to a.At and increments Version when
	// the user is in StatusActive and LastActiveAt is before a.IfBefore,
	// and reports whether it did. No audit event: activity is not a change.
	// Returns ErrNotFound when there is no such user.
	RecordActivity(ctx context.Context, a ActivityUpdate) (bool, error)

	// History returns up to q.Limit audit events matching q, newest first
	// (descending ID), before q.Before when it is set. See HistoryQuery.
	History(ctx context.Context, q HistoryQuery) ([]AuditEvent, error)

	// CreateGroup stores a new group and its event (an account event), all
	// or nothing. Returns ErrDuplicateName when a group of the account that
	// is not deleted has the same NameKey, ErrDuplicateID, and ErrNotFound
	// when the account does not exist.
	CreateGroup(ctx context.Context, g Group, ev AuditEvent) error

	// UpdateGroup replaces the stored group with up.Group and appends
	// up.Event, provided the stored Version equals up.Group.Version; the
	// stored group then has Version+1. AccountID never changes. Returns
	// ErrNotFound, ErrConflict, ErrDuplicateName (another live group of the
	// account has the NameKey), ErrDuplicateID.
	UpdateGroup(ctx context.Context, up GroupUpdate) error

	// Groups returns the groups with the IDs that exist (deleted ones
	// included), in any order; unknown IDs are left out, and an ID given
	// twice may come back once or twice.
	Groups(ctx context.Context, ids []string) ([]Group, error)

	// ListGroups returns up to q.Limit groups of q.AccountID that are not
	// deleted (all when q.Deleted is set), in ascending ID order, after q.After.
	ListGroups(ctx context.Context, q GroupQuery) ([]Group, error)

	// ClaimMessages claims up to c.Limit messages that are in
	// MessagePending, due (DueAt at or before c.Now) and not leased (no
	// LeaseUntil, or one at or before c.Now), oldest DueAt first: each gets
	// LeaseOwner c.Owner, LeaseUntil c.LeaseUntil and Attempts+1, and is
	// returned as updated. Across processes, a message is held by one
	// claim at a time.
	ClaimMessages(ctx context.Context, c MessageClaim) ([]Message, error)

	// FinishMessage records a delivery attempt of a claimed message,
	// provided the stored LeaseOwner is r.Owner and its LeaseUntil is after
	// r.At (the lease still holds); otherwise it returns ErrConflict and
	// changes nothing. MessageSent deletes the message (body and all);
	// MessagePending makes it due again at r.DueAt with LastError r.Error
	// and no lease; MessageDead keeps it, with State MessageDead, LastError
	// r.Error, DeadAt r.At and no lease. Returns ErrNotFound when there is
	// no such message.
	FinishMessage(ctx context.Context, r MessageResult) error

	// Messages returns up to q.Limit messages in q.State, in ascending ID
	// order, after q.After. (The Manager keeps to the accounts an actor
	// reaches; dead letters are few.)
	Messages(ctx context.Context, q MessageQuery) ([]Message, error)

	// Message returns the message with the ID, or ErrNotFound.
	Message(ctx context.Context, id string) (Message, error)

	// RequeueMessage makes a dead message pending again, due at dueAt, with
	// Attempts 0 and LastError kept. Returns ErrNotFound when there is no
	// such message, ErrConflict when it is not dead.
	RequeueMessage(ctx context.Context, id string, dueAt time.Time) error
}

// StoreError returns an error for a store to report a failure: Error() is
// the sentinel's text alone, safe to log and to show an administrator,
// while errors.Is matches the sentinel and errors.As still reaches cause
// (the driver's error, for the application's own logs). Stores wrap backend
// failures as StoreError(ErrStore, driverErr).
func StoreError(sentinel, cause error) error {
	if cause == nil {
		return sentinel
	}
	return &wrapped{sentinel: sentinel, cause: cause}
}

// wrapped shows its sentinel's text and unwraps to both errors.
type wrapped struct {
	sentinel error
	cause    error
}

func (w *wrapped) Error() string   { return w.sentinel.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.sentinel, w.cause} }

// UserRecord is a user as a Store persists it, secrets and counters
// included. The Manager hands callers a User instead (see UserRecord.View).
type UserRecord struct {
	ID         string
	AccountID  string
	Email      string // canonical: see NormalizeEmail
	FirstName  string
	LastName   string
	Role       string
	Department string   // one of the account's departments, or empty
	Groups     []string // IDs of the groups the user belongs to, ascending
	Locale     string   // BCP 47 tag for messages, or empty for the account's
	Status     Status
	Grants     []Grant // permissions granted to the user individually

	PasswordHash string // PHC string (argon2id, or imported bcrypt/PBKDF2); empty until set
	// PasswordVersion counts the times a password was set; a re-hash of the
	// same password keeps it. FinishAttempt checks it so that a login
	// verified against a password changed meanwhile is not recorded.
	PasswordVersion int64
	FailedAttempts  int            // consecutive wrong passwords since the last success or unlock
	AttemptLeases   []AttemptLease // password attempts reserved and still being verified

	Tokens        []Token     // pending tokens: at most one per purpose
	PendingEmail  string      // the new address of a change waiting for confirmation
	ResetRequests []time.Time // when password resets were last requested, for the rate limit
	InvitedBy     string      // who issued the current or last invitation (a user ID or System)
	InvitedAt     time.Time   // when the current or last invitation was issued

	CreatedAt    time.Time
	UpdatedAt    time.Time
	ActivatedAt  time.Time // first time the user became Active
	LastLoginAt  time.Time
	LastActiveAt time.Time // last login, activity recorded from a session, or move into Active; drives inactivity
	LockedAt     time.Time // when the user was last Locked; zero when never

	// SessionVersion moves whenever the user's sessions must end.
	SessionVersion int64
	// Version counts the writes to the user. A Store refuses a write whose
	// Version is not the stored one (ErrConflict) and stores Version+1.
	Version int64
}

// TokenPurpose says what a token is for.
type TokenPurpose string

// The purposes of tokens.
const (
	TokenInvitation    TokenPurpose = "invitation"     // accept an invitation: set the first password
	TokenPasswordReset TokenPurpose = "password_reset" // reset a forgotten password
	TokenEmailChange   TokenPurpose = "email_change"   // confirm a new email address
)

// Token is a pending single-use token as a store keeps it: only a hash of
// the raw token, which was handed out once.
type Token struct {
	Purpose   TokenPurpose
	Hash      string    // hex SHA-256 of the raw token
	IssuedAt  time.Time //
	ExpiresAt time.Time // the token is refused at and after this instant
}

// token returns the user's token for the purpose, if any.
func (u *UserRecord) token(p TokenPurpose) (Token, bool) {
	for _, t := range u.Tokens {
		if t.Purpose == p {
			return t, true
		}
	}
	return Token{}, false
}

// setToken replaces the user's token for t.Purpose.
func (u *UserRecord) setToken(t Token) {
	u.dropToken(t.Purpose)
	u.Tokens = append(u.Tokens, t)
}

// dropToken voids the user's token for the purpose.
func (u *UserRecord) dropToken(p TokenPurpose) {
	u.Tokens = slices.DeleteFunc(slices.Clone(u.Tokens), func(t Token) bool { return t.Purpose == p })
	if len(u.Tokens) == 0 {
		u.Tokens = nil
	}
}

// AttemptLease is one password attempt reserved and still being verified.
type AttemptLease struct {
	ID    string    // random, unique per attempt
	Until time.Time // the reservation lapses at this instant if never finished
}

// GroupStamp names a group and the version of it the store holds.
type GroupStamp struct {
	ID      string
	Version int64
}

// AccountCreate is a new account with its first user.
type AccountCreate struct {
	Account      Account
	AccountEvent AuditEvent // the account's own event; skipped when its ID is empty
	Admin        UserCreate // the first user, its event and messages
}

// UserCreate is a new user with the audit event of its creation and the
// messages the creation sends.
type UserCreate struct {
	User     UserRecord
	Event    AuditEvent
	Messages []Message
}

// UserUpdate is one versioned write of a user together with its audit event
// and the messages the change sends.
type UserUpdate struct {
	User     UserRecord // the new state; User.Version is the version it was read at
	Event    AuditEvent // the record of the change, written with it
	Messages []Message  // outgoing messages, stored with it
	// KeepAdmin makes the store refuse the write with ErrLastAdmin when it
	// would leave the user's former account without an active admin.
	KeepAdmin bool
}

// AccountUpdate is one versioned write of an account with its event.
type AccountUpdate struct {
	Account Account // the new state; Account.Version is the version it was read at
	Event   AuditEvent
}

// GroupUpdate is one versioned write of a group with its event.
type GroupUpdate struct {
	Group Group // the new state; Group.Version is the version it was read at
	Event AuditEvent
}

// ListQuery selects users of an account subtree for ListUsers.
type ListQuery struct {
	// AccountID is the subtree's root: users of this account and of all its
	// descendants match.
	AccountID string
	// Search, when not empty, is text folded by FoldSearch that must occur
	// within FoldSearch of FirstName, of LastName or of Email.
	Search string
	// Statuses, when not empty, are the statuses that match; when empty,
	// every status except StatusRemoved matches.
	Statuses []Status
	// Roles, when not empty, are the roles that match.
	Roles []string
	// Department, when not empty, is the department that matches.
	Department string
	// GroupID, when not empty, keeps members of that group.
	GroupID string
	// After, when not empty, is the ID of the last user of the previous page;
	// only users with a greater ID (byte-wise) match.
	After string
	// Limit is the most users to return; it is at least 1.
	Limit int
}

// Matches reports whether u passes q's filters: Search, Statuses, Roles,
// Department and GroupID. It is the definition every store's ListUsers
// follows; AccountID and After select where a store reads, from its own
// indexes, and are not checked here.
func (q ListQuery) Matches(u UserRecord) bool {
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
	if q.Department != "" && u.Department != q.Department {
		return false
	}
	if q.GroupID != "" && !slices.Contains(u.Groups, q.GroupID) {
		return false
	}
	return q.Search == "" ||
		strings.Contains(FoldSearch(u.FirstName), q.Search) ||
		strings.Contains(FoldSearch(u.LastName), q.Search) ||
		strings.Contains(FoldSearch(u.Email), q.Search)
}

// FoldSearch is the folding ListQuery.Search and the fields it searches go
// through: Go's strings.ToLower. Stores that keep folded copies of names
// for their indexes use it.
func FoldSearch(s string) string { return strings.ToLower(s) }

// StaleQuery selects users by a time for the sweep: Active users by
// LastActiveAt (the inactivity rule), Locked users by LockedAt (locks that
// lift by themselves).
type StaleQuery struct {
	Status    Status    // StatusActive or StatusLocked
	Before    time.Time // the user's time strictly before this
	AfterTime time.Time // keyset: start after (AfterTime, AfterID); both zero to start
	AfterID   string
	Limit     int // at least 1
}

// AttemptReservation asks ReserveAttempt for one password attempt.
type AttemptReservation struct {
	UserID string
	Limit  int          // Policy.MaxFailedAttempts
	Now    time.Time    // leases that lapsed at or before Now are dropped first
	Lease  AttemptLease // the lease to hold while the password is verified
}

// ReserveResult is ReserveAttempt's answer.
type ReserveResult int

// The answers of ReserveAttempt.
const (
	ReserveOK      ReserveResult = iota // reserved: verify the password
	ReserveFull                         // Active, but every slot is taken by failures and attempts in flight
	ReserveRefused                      // not Active, or every slot is taken by failures
)

// AttemptOutcome is the result of a reserved attempt, for FinishAttempt.
type AttemptOutcome struct {
	UserID  string
	LeaseID string // the reservation to release
	Success bool   // the password was right
	At      time.Time
	Limit   int // Policy.MaxFailedAttempts

	// For a right password:
	PasswordVersion int64  // the UserRecord.PasswordVersion the password was verified against
	VerifiedHash    string // the hash it was verified against
	NewHash         string // a re-hash with current parameters, or empty
	LoginEvent      AuditEvent

	// For a wrong password:
	FailureEvent AuditEvent // written when its ID is set (Policy.AuditLogins)
	LockEvent    AuditEvent // written when this failure locks the user
	LockMessages []Message  // stored when this failure locks the user
}

// ActivityUpdate records a signed-in user's activity (Manager.Touch).
type ActivityUpdate struct {
	UserID   string
	At       time.Time
	IfBefore time.Time // only when LastActiveAt is before this
}

// HistoryQuery selects audit events: a user's (UserID set) or an account
// subtree's (AccountID set: events whose AccountID is that account or one
// beneath it, the events of users moved out of it included).
type HistoryQuery struct {
	UserID    string
	AccountID string
	Actions   []Action  // when not empty, only these actions
	ActorID   string    // when set, only events by this actor
	Since     time.Time // when set, only events at or after (At)
	Until     time.Time // when set, only events before (At)
	Before    string    // when set, only events with a smaller ID
	Limit     int       // at least 1
}

// Matches reports whether ev passes q's Actions, ActorID, Since and Until
// filters: the definition stores follow.
func (q HistoryQuery) Matches(ev AuditEvent) bool {
	if len(q.Actions) > 0 && !slices.Contains(q.Actions, ev.Action) {
		return false
	}
	if q.ActorID != "" && ev.ActorID != q.ActorID {
		return false
	}
	if !q.Since.IsZero() && ev.At.Before(q.Since) {
		return false
	}
	return q.Until.IsZero() || ev.At.Before(q.Until)
}

// AccountQuery selects the accounts of a subtree.
type AccountQuery struct {
	RootID string
	After  string
	Limit  int // at least 1
}

// GroupQuery selects the groups of one account.
type GroupQuery struct {
	AccountID string
	Deleted   bool // include deleted groups
	After     string
	Limit     int // at least 1
}

// MessageState is where an outgoing message stands.
type MessageState string

// The states of an outgoing message. A delivered message is deleted.
const (
	MessagePending MessageState = "pending" // waiting, or being delivered under a lease
	MessageDead    MessageState = "dead"    // given up on; an admin may requeue it
	MessageSent    MessageState = "sent"    // only in MessageResult: delivered, delete it
)

// Message is an outgoing message as the outbox keeps it. The payload (a
// Notification, its token included) is sealed with the application's key;
// the other fields are in clear for the delivery worker and the dead-letter
// list.
type Message struct {
	ID        string // UUIDv7; the Notification's ID
	Kind      NotificationKind
	To        string
	UserID    string
	AccountID string
	Payload   []byte // sealed Notification (see WithOutboxKeys)
	State     MessageState
	CreatedAt time.Time
	DueAt     time.Time
	Attempts  int
	LastError string // the last failure's text, such as the SMTP server's reply

	LeaseOwner string
	LeaseUntil time.Time
	DeadAt     time.Time
}

// MessageClaim asks ClaimMessages for due messages.
type MessageClaim struct {
	Owner      string    // the claiming worker, unique per worker
	Now        time.Time // due at or before, lease lapsed at or before
	LeaseUntil time.Time // how long the claim holds
	Limit      int       // at least 1
}

// MessageResult is the outcome of one delivery attempt.
type MessageResult struct {
	ID    string
	Owner string
	State MessageState // MessageSent, MessagePending (retry) or MessageDead
	At    time.Time
	DueAt time.Time // for a retry
	Error string    // for a retry or a dead letter
}

// MessageQuery selects messages for the dead-letter list.
type MessageQuery struct {
	State MessageState
	After string
	Limit int // at least 1
}
