// Package usermgmt is the user administration of a SaaS portal, as a library:
// accounts (tenants in a tree), users created or invited by admins, argon2id
// passwords, lockout after consecutive wrong passwords, seven-day
// invitations, inactivity after months without a login, ban / disable /
// remove, roles and individual grants, and an audit history of every change,
// over a pluggable Store.
//
// A user's status moves like this:
//
//	Invited  --accept-->             Active
//	Active   --10 wrong passwords--> Locked   --unlock-->     Active
//	Active   --3 months idle-->      Inactive --reactivate--> Active
//	any      --ban-->                Banned   --unban-->      Active
//	any      --disable-->            Disabled --enable-->     Active
//	any      --remove-->             Removed  (final; the email is free again)
//
// (Unban and enable lead to Invited instead when no password was ever set.)
//
// Every operation that changes a user writes exactly one AuditEvent in the
// same atomic store write; a refused operation writes nothing. Admin
// operations take the acting user's ID and are authorised against that
// user's role and account subtree; the library itself acts as System.
package usermgmt

import (
	"context"
	"errors"
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
	// Default 10.
	MaxFailedAttempts int
	// InvitationTTL is how long an invitation can be accepted. Default 168h.
	InvitationTTL time.Duration
	// InactiveAfterMonths is how many calendar months without activity make
	// an Active user Inactive. Default 3.
	InactiveAfterMonths int
	// Password is the policy for new passwords.
	Password PasswordPolicy
	// DisposableDomains are the email domains refused for new users
	// (subdomains included). Nil means DefaultDisposableDomains; an empty,
	// non-nil slice refuses none.
	DisposableDomains []string
}

// DefaultPolicy returns the default policy: lock after 10 wrong passwords,
// invitations valid for 168 hours, inactive after 3 calendar months,
// passwords of 12 to 128 characters that are not common and do not contain
// the email, and the default disposable-domain list.
func DefaultPolicy() Policy {
	return Policy{}.withDefaults()
}

func (p Policy) withDefaults() Policy {
	if p.MaxFailedAttempts == 0 {
		p.MaxFailedAttempts = 10
	}
	if p.InvitationTTL == 0 {
		p.InvitationTTL = 7 * 24 * time.Hour
	}
	if p.InactiveAfterMonths == 0 {
		p.InactiveAfterMonths = 3
	}
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
	case p.InvitationTTL < time.Minute:
		return fieldError(ErrInvalidInput, "policy.invitation_ttl", "must be at least a minute")
	case p.InactiveAfterMonths < 1:
		return fieldError(ErrInvalidInput, "policy.inactive_after_months", "must be at least 1")
	}
	return p.Password.validate()
}

// Manager is the library's entry point. It is safe for concurrent use, and
// any number of Managers, in any number of processes, may share one Store.
type Manager struct {
	store      Store
	clock      Clock
	policy     Policy
	hashParams HashParams
	maxHashes  int
	hasher     *hasher
	log        *slog.Logger
	roles      map[string]Role
	disposable map[string]struct{}
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock sets the clock every timestamp and expiry comes from. Tests pass
// a FakeClock. Default: the system clock.
func WithClock(c Clock) Option { return func(m *Manager) { m.clock = c } }

// WithPolicy sets the policy; zero fields keep their defaults.
func WithPolicy(p Policy) Option { return func(m *Manager) { m.policy = p } }

// WithHashParams sets the argon2id parameters of new hashes.
// Default: DefaultHashParams.
func WithHashParams(p HashParams) Option { return func(m *Manager) { m.hashParams = p } }

// WithMaxConcurrentHashes bounds how many password hashes are computed at
// once by this Manager; each takes HashParams.Memory KiB while it runs, so
// the bound caps the memory a flood of logins can take. Callers beyond it
// wait, honouring their context. Default: GOMAXPROCS.
func WithMaxConcurrentHashes(n int) Option { return func(m *Manager) { m.maxHashes = n } }

// WithLogger sets the logger for lockouts, sweeps and retried conflicts.
// Default: no logging.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithRoles registers roles beside the built-in RoleAdmin and RoleGeneral,
// such as a "user admin" holding only PermManageUsers. A role with the name
// of a built-in one replaces it, except RoleAdmin, which always holds every
// permission.
func WithRoles(roles ...Role) Option {
	return func(m *Manager) {
		for _, r := range roles {
			m.roles[r.Name] = r
		}
	}
}

// New returns a Manager over store. It returns an error wrapping
// ErrInvalidInput when an option is out of range.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, fieldError(ErrInvalidInput, "store", "is nil")
	}
	m := &Manager{
		store:      store,
		clock:      SystemClock{},
		hashParams: DefaultHashParams(),
		maxHashes:  runtime.GOMAXPROCS(0),
		log:        slog.New(slog.DiscardHandler),
		roles:      map[string]Role{RoleGeneral: {Name: RoleGeneral}},
	}
	for _, o := range opts {
		o(m)
	}
	m.roles[RoleAdmin] = Role{Name: RoleAdmin, all: true}
	for name, r := range m.roles {
		if err := r.validate(name); err != nil {
			return nil, err
		}
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
	m.hasher = newHasher(m.hashParams, m.maxHashes)
	m.disposable = domainSet(m.policy.DisposableDomains)
	return m, nil
}

// Policy returns the policy in force, defaults filled in.
func (m *Manager) Policy() Policy { return m.policy }

// Stats are counters of one Manager's password work, for monitoring.
type Stats struct {
	PasswordHashes        uint64 // new hashes computed
	PasswordVerifications uint64 // hashes verified, against stored or dummy hashes
	HashesInFlight        int64  // hash computations running now
	PeakHashesInFlight    int64  // the most ever running at once
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	return Stats{
		PasswordHashes:        m.hasher.computed.Load(),
		PasswordVerifications: m.hasher.verified.Load(),
		HashesInFlight:        m.hasher.inFlight.Load(),
		PeakHashesInFlight:    m.hasher.peak.Load(),
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

// maxRetries bounds how often a write is retried after ErrConflict.
const maxRetries = 32

// update applies one change to a user as a versioned write, re-reading and
// re-applying it when a concurrent write got there first. apply checks the
// freshly read user (authorisation included) and mutates it; returning an
// error refuses the change and writes nothing. The audit event records
// every field apply changed.
func (m *Manager) update(ctx context.Context, actorID, userID string, action Action, apply func(u *User) (keepAdmin bool, err error)) (User, error) {
	for attempt := 0; ; attempt++ {
		old, err := m.store.User(ctx, userID)
		if err != nil {
			return User{}, err
		}
		u := old
		u.Grants = append([]Grant(nil), old.Grants...)
		keepAdmin, err := apply(&u)
		if err != nil {
			return User{}, err
		}
		now := m.now()
		u.UpdatedAt = now
		ev, err := m.event(now, actorID, action, u, diff(old, u))
		if err != nil {
			return User{}, err
		}
		err = m.store.UpdateUser(ctx, UserUpdate{User: u, Event: ev, KeepAdmin: keepAdmin})
		if err == nil {
			u.Version++
			return u, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= maxRetries {
			return User{}, err
		}
		m.log.DebugContext(ctx, "usermgmt: retrying after a concurrent update", "user", userID, "action", action)
	}
}

// event builds the audit record of a change.
func (m *Manager) event(now time.Time, actorID string, action Action, u User, changes []Change) (AuditEvent, error) {
	id, err := newID()
	if err != nil {
		return AuditEvent{}, err
	}
	return AuditEvent{ID: id, At: now, ActorID: actorID, Action: action, UserID: u.ID, AccountID: u.AccountID, Changes: changes}, nil
}
