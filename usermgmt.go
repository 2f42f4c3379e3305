// Package usermgmt is the user administration of a SaaS portal, as a library:
// accounts (tenants in a tree), users created or invited by admins, argon2id
// passwords, lockout after consecutive wrong passwords, seven-day
// invitations, inactivity after months without a login, ban / disable /
// remove, roles, individual grants, groups and departments, the emails
// those changes send (through a transactional outbox), and an audit history
// of every change, over a pluggable Store.
//
// # Statuses
//
// A user's status moves like this (Policy.MaxFailedAttempts and
// Policy.InactiveAfterMonths give the numbers):
//
//	Invited  --AcceptInvitation, SetPassword-->           Active
//	Active   --10 wrong passwords-->                      Locked
//	Locked   --Unlock, ResetPassword, LockDuration-->     Active
//	Active   --3 months without activity-->               Inactive --Reactivate--> Active
//	Invited, Active, Locked, Disabled, Inactive --Ban-->  Banned   --Unban-->      Active
//	Invited, Active, Locked, Inactive --Disable-->        Disabled --Enable-->     Active
//	every status but Removed --Remove, RevokeInvitation (Invited)--> Removed (final; the email is free again)
//
// Unban and Enable lead to Invited instead of Active for a user who never
// set a password; such a user needs ResendInvitation, since any move out of
// Invited voids the invitation's token.
//
// # Audit, authorization, errors
//
// Every operation that changes a user writes exactly one AuditEvent in the
// same atomic store write, with the messages the change sends; a refused
// operation writes nothing. Admin operations take the acting user's ID and
// are authorised against that user's role, grants, groups and account
// subtree; the library itself acts as System. A user outside the actor's
// reach is reported as ErrNotFound, exactly like a user that does not
// exist. Errors are sentinels of type *Error with a stable code
// (ErrorCode) and an HTTP status (HTTPStatus).
//
// # Writing a Store
//
// Store authors find the contract and the records stores keep in store.go:
// Store, UserRecord, Group, Message, the queries (ListQuery, StaleQuery,
// HistoryQuery, GroupQuery, MessageQuery) and the writes (UserCreate,
// UserUpdate, AttemptReservation, AttemptOutcome, MessageClaim,
// MessageResult). store/storetest is the conformance suite.
package usermgmt

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/google/uuid"
)

// Policy holds the rules the Manager enforces. The zero value of each field
// means its default; DefaultPolicy returns them.
type Policy struct {
	// MaxFailedAttempts is how many consecutive wrong passwords lock a user.
	// Default 10 (the seeds; OWASP's Authentication Cheat Sheet).
	MaxFailedAttempts int
	// LockDuration is how long a lock lasts before it lifts by itself
	// (checked at login and by Sweep, recorded as an unlock by System).
	// Zero, the default, keeps a Locked user Locked until an admin unlocks
	// or the user resets the password by email.
	LockDuration time.Duration
	// ResetKeepsLock makes ResetPassword leave a Locked user Locked (the
	// password still changes). By default a reset, which proves control of
	// the mailbox, also unlocks.
	ResetKeepsLock bool
	// AttemptLease is how long a reserved password attempt holds its slot
	// if it is never finished (its process died mid-verification).
	// Default 1 minute; at least 1 second.
	AttemptLease time.Duration
	// AttemptWait is how long a login waits for a password-attempt slot
	// when every slot of the user is held by attempts still being verified,
	// before it gives up with ErrAttemptsInFlight. Default 5 seconds.
	AttemptWait time.Duration
	// RecordTimeout bounds how long Authenticate keeps writing the outcome
	// of a verified attempt (the failure, the lock, the login) after the
	// caller's context is cancelled: the write runs to its end so that a
	// client hanging up after the tenth wrong password cannot leave the
	// lock unwritten. Authenticate returns at most RecordTimeout after the
	// caller's deadline. Default 5 seconds.
	RecordTimeout time.Duration
	// InvitationTTL is how long an invitation can be accepted. Default 168h.
	InvitationTTL time.Duration
	// InactiveAfterMonths is how many calendar months without activity make
	// an Active user Inactive. Default 3.
	InactiveAfterMonths int
	// ActivityInterval is how often Touch writes a signed-in user's
	// activity: at most once per user per interval. Default 1 hour.
	ActivityInterval time.Duration
	// ResetTTL is how long a password-reset link works. Default 1 hour
	// (OWASP Forgot Password Cheat Sheet).
	ResetTTL time.Duration
	// ResetsPerHour is how many password resets one user may request per
	// hour; further requests are answered alike but send nothing. Default 3.
	ResetsPerHour int
	// EmailChangeTTL is how long the link confirming a new email address
	// works. Default 24 hours.
	EmailChangeTTL time.Duration
	// AuditLogins writes an audit event for every verified login attempt,
	// successful (ActionLogin) or not (ActionLoginFailed). Off by default.
	AuditLogins bool
	// NotifyAdminsOnLockout also sends the lockout notice to the active
	// admins of the user's account (up to 20). Off by default.
	NotifyAdminsOnLockout bool
	// Welcome sends a welcome message after an invitation is accepted.
	// Off by default.
	Welcome bool
	// Password is the policy for new passwords.
	Password PasswordPolicy
	// DisposableDomains are the email domains refused for new users
	// (subdomains included). Nil means DefaultDisposableDomains; an empty,
	// non-nil slice refuses none.
	DisposableDomains []string
}

// DefaultPolicy returns the default policy: lock after 10 wrong passwords
// until an admin unlocks, invitations valid for 168 hours, inactive after 3
// calendar months, reset links valid for an hour, passwords of 12 to 128
// characters that are not common and do not contain the email, and the
// default disposable-domain list.
func DefaultPolicy() Policy {
	return Policy{}.withDefaults()
}

func (p Policy) withDefaults() Policy {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if p.MaxFailedAttempts == 0 {
		p.MaxFailedAttempts = 10
	}
	if p.InactiveAfterMonths == 0 {
		p.InactiveAfterMonths = 3
	}
	if p.ResetsPerHour == 0 {
		p.ResetsPerHour = 3
	}
	def(&p.AttemptLease, time.Minute)
	def(&p.AttemptWait, 5*time.Second)
	def(&p.RecordTimeout, 5*time.Second)
	def(&p.InvitationTTL, 7*24*time.Hour)
	def(&p.ActivityInterval, time.Hour)
	def(&p.ResetTTL, time.Hour)
	def(&p.EmailChangeTTL, 24*time.Hour)
	if p.DisposableDomains == nil {
		p.DisposableDomains = DefaultDisposableDomains()
	}
	p.Password = p.Password.withDefaults()
	return p
}

func (p Policy) validate() error {
	switch {
	case p.MaxFailedAttempts < 1:
		return fieldError(ErrInvalidInput, "policy.max_failed_attempts", "must be at least 1")
	case p.LockDuration < 0:
		return fieldError(ErrInvalidInput, "policy.lock_duration", "must not be negative")
	case p.AttemptLease < time.Second:
		return fieldError(ErrInvalidInput, "policy.attempt_lease", "must be at least a second")
	case p.AttemptWait < 0:
		return fieldError(ErrInvalidInput, "policy.attempt_wait", "must not be negative")
	case p.RecordTimeout < 10*time.Millisecond:
		return fieldError(ErrInvalidInput, "policy.record_timeout", "must be at least 10ms")
	case p.InvitationTTL < time.Minute:
		return fieldError(ErrInvalidInput, "policy.invitation_ttl", "must be at least a minute")
	case p.InactiveAfterMonths < 1:
		return fieldError(ErrInvalidInput, "policy.inactive_after_months", "must be at least 1")
	case p.ActivityInterval < time.Second:
		return fieldError(ErrInvalidInput, "policy.activity_interval", "must be at least a second")
	case p.ResetTTL < time.Minute:
		return fieldError(ErrInvalidInput, "policy.reset_ttl", "must be at least a minute")
	case p.ResetsPerHour < 1:
		return fieldError(ErrInvalidInput, "policy.resets_per_hour", "must be at least 1")
	case p.EmailChangeTTL < time.Minute:
		return fieldError(ErrInvalidInput, "policy.email_change_ttl", "must be at least a minute")
	}
	return p.Password.validate()
}

// Manager is the library's entry point. It is safe for concurrent use, and
// any number of Managers, in any number of processes, may share one Store.
type Manager struct {
	store      safeStore
	clock      Clock
	policy     Policy
	hashParams HashParams
	maxHashes  int
	hasher     *hasher
	log        *slog.Logger
	roles      map[string]Role
	roleOrder  []string
	perms      map[Permission]bool // the registry; nil: any permission name
	disposable map[string]struct{}
	observers  []func(context.Context, AuditEvent)
	outbox     *outbox // nil without WithOutboxKeys
	sender     Sender
	groups     groupCache
	touched    touchCache
	resets     resetWorker

	// optionErr is the first error an option met.
	optionErr error
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock sets the clock every timestamp and expiry comes from. Tests pass
// a FakeClock. Default: the system clock.
func WithClock(c Clock) Option { return func(m *Manager) { m.clock = c } }

// WithPolicy sets the policy; zero fields keep their defaults.
func WithPolicy(p Policy) Option { return func(m *Manager) { m.policy = p } }

// WithHashParams sets the argon2id parameters of new hashes: memory at
// most 1 GiB, 1 to 100 iterations, and memory × iterations at most 4 GiB
// (New refuses more with ErrInvalidInput). Default: DefaultHashParams.
func WithHashParams(p HashParams) Option { return func(m *Manager) { m.hashParams = p } }

// WithMaxConcurrentHashes bounds how many password hashes are computed at
// once by this Manager; each takes HashParams.Memory KiB while it runs, so
// the bound caps the memory a flood of logins can take. Callers beyond it
// wait, honouring their context. Default: GOMAXPROCS.
func WithMaxConcurrentHashes(n int) Option { return func(m *Manager) { m.maxHashes = n } }

// WithLogger sets the logger for lockouts, sweeps, deliveries and retried
// conflicts. It never receives a password, hash or token. Default: no
// logging.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithObserver adds a function called after every committed change with
// its audit event (for caches, webhooks, metrics), in the goroutine that
// made the change; never for a refused change. It must not block for long.
func WithObserver(f func(ctx context.Context, ev AuditEvent)) Option {
	return func(m *Manager) {
		if f != nil {
			m.observers = append(m.observers, f)
		}
	}
}

// New returns a Manager over store. It returns an error wrapping
// ErrInvalidInput when an option is out of range, ErrUnknownPermission
// when a role names a permission outside WithPermissions' registry, and
// ErrNotConfigured for WithSender without WithOutboxKeys.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, fieldError(ErrInvalidInput, "store", "is nil")
	}
	m := &Manager{
		store:      safeStore{store},
		clock:      SystemClock{},
		hashParams: DefaultHashParams(),
		maxHashes:  runtime.GOMAXPROCS(0),
		log:        slog.New(slog.DiscardHandler),
		roles:      map[string]Role{},
	}
	m.addRoles(defaultRoles())
	for _, o := range opts {
		o(m)
	}
	if m.optionErr != nil {
		return nil, m.optionErr
	}
	if err := m.checkRoles(); err != nil {
		return nil, err
	}
	m.policy = m.policy.withDefaults()
	if err := m.policy.validate(); err != nil {
		return nil, err
	}
	if err := m.hashParams.validate(); err != nil {
		return nil, err
	}
	if m.maxHashes < 1 {
		return nil, fieldError(ErrInvalidInput, "max_concurrent_hashes", "must be at least 1")
	}
	if m.clock == nil || m.log == nil {
		return nil, fieldError(ErrInvalidInput, "options", "clock and logger must not be nil")
	}
	if m.sender != nil && m.outbox == nil {
		return nil, fmt.Errorf("%w: WithSender needs WithOutboxKeys (the Sender delivers what the outbox holds)", ErrNotConfigured)
	}
	m.hasher = newHasher(m.hashParams, m.maxHashes)
	m.disposable = domainSet(m.policy.DisposableDomains)
	m.groups.init()
	return m, nil
}

// Policy returns the policy in force, defaults filled in.
func (m *Manager) Policy() Policy { return m.policy }

// Stats are counters of one Manager's password work, for monitoring.
type Stats struct {
	PasswordHashes        uint64 `json:"password_hashes"`        // new hashes computed
	PasswordVerifications uint64 `json:"password_verifications"` // verifications against stored hashes whose verdict was used
	DummyVerifications    uint64 `json:"dummy_verifications"`    // verifications spent so that refusals cost the same time: against the dummy hash, or discarded unseen when the attempt's reservation was refused
	HashesInFlight        int64  `json:"hashes_in_flight"`       // hash computations running now
	PeakHashesInFlight    int64  `json:"peak_hashes_in_flight"`  // the most ever running at once
	AttemptWaits          uint64 `json:"attempt_waits"`          // logins that waited for a password-attempt slot
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	return Stats{
		PasswordHashes:        m.hasher.computed.Load(),
		PasswordVerifications: m.hasher.verified.Load(),
		DummyVerifications:    m.hasher.dummies.Load(),
		HashesInFlight:        m.hasher.inFlight.Load(),
		PeakHashesInFlight:    m.hasher.peak.Load(),
		AttemptWaits:          m.hasher.waits.Load(),
	}
}

// now is the Manager's time, in UTC so that calendar arithmetic does not
// depend on the application's time zone.
func (m *Manager) now() time.Time { return m.clock.Now().UTC() }

func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("usermgmt: generating id: %w", err)
	}
	return id.String(), nil
}

// observe tells the observers about a committed change.
func (m *Manager) observe(ctx context.Context, evs ...AuditEvent) {
	for _, ev := range evs {
		if ev.ID == "" {
			continue
		}
		ev = ev.view()
		for _, f := range m.observers {
			f(ctx, ev)
		}
	}
}
