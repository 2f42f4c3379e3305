package usermgmt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Lockout: a user is Locked when Policy.MaxFailedAttempts consecutive
// password attempts fail, and a success resets the count. Under any
// concurrency, across Managers and processes sharing a store:
//
//   - At most MaxFailedAttempts wrong passwords have their verdict used
//     before the lock (Stats.PasswordVerifications). Each attempt first
//     reserves a slot in the store (Store.ReserveAttempt, atomic): a slot
//     is free while the failures recorded plus the attempts still being
//     verified stay under the limit, and only an attempt holding a slot
//     has its password's verdict used. (The verification runs beside the
//     reservation, to save the reservation's round trip; when the
//     reservation is refused, its verdict is discarded unseen — the work
//     spent on it is the same for a right and a wrong password — and
//     counted as a dummy verification. See Manager.reserve.) The failure
//     that reaches the limit writes the lock in the same atomic step that
//     records it (Store.FinishAttempt).
//   - A right password is never counted as a failure, never causes a lock,
//     and is never refused because of what concurrent attempts of the same
//     user are doing. Attempts still being verified are not failures: when
//     they hold every slot, a login waits for one (Policy.AttemptWait,
//     honouring its context) and then gets ErrAttemptsInFlight, retryable,
//     never ErrLocked or ErrInvalidCredentials. A login that races a
//     re-hash of the same password still succeeds.
//   - A reservation whose process died mid-verification lapses after
//     Policy.AttemptLease and frees its slot. (The bound of the first rule
//     assumes a verification finishes within its lease; a process paused
//     for longer than the lease could add one verification.)
//
// Every refusal costs the time of one verification: an unknown address, an
// invited user, a Locked, Banned, Disabled or Inactive one are verified
// against a dummy hash, without spending an attempt and without testing a
// Locked user's password; an attempt refused at its reservation spends its
// verification against the user's stored hash (with that hash's
// parameters), the verdict unused; ErrAttemptsInFlight comes after one
// verification and Policy.AttemptWait. By default a Locked user stays
// Locked until an admin (or System) unlocks; Policy.LockDuration makes
// locks lapse, and ResetPassword unlocks unless Policy.ResetKeepsLock says
// otherwise.

// Authenticate checks an email and password. On success it records the
// login, resets the failure count, re-hashes a password stored with older
// parameters, and returns the user.
//
// Errors: ErrInvalidCredentials for an unknown email, an invited user or a
// wrong password — the same error and the same time; the wrong password
// that locks the user matches ErrInvalidCredentials and ErrLocked. A user
// who may not log in gets ErrLocked, ErrBanned, ErrDisabled or
// ErrInactive, after the same time as a wrong password; an application
// that wants to reveal nothing shows every one of these as "email or
// password is wrong" and tells the person the status only through the
// channel the account's owner controls (the lockout email). ErrAttemptsInFlight
// asks to retry. A context error means the caller's context ended first.
//
// Time: Authenticate waits for a hash slot (WithMaxConcurrentHashes) and,
// when the user's slots are all in flight, up to Policy.AttemptWait
// after its first reservation (and the verification beside it) found
// them so, honouring ctx. Once a password has been verified, the write
// recording the outcome runs to its end even if ctx is cancelled, bounded
// by Policy.RecordTimeout: Authenticate returns at most RecordTimeout after
// the verification, whatever ctx's deadline.
func (m *Manager) Authenticate(ctx context.Context, email, password string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, m.hasher.refuse(ctx, password, ErrInvalidCredentials)
	}
	u, err := m.store.UserByEmail(ctx, e)
	if isNotFound(err) {
		return User{}, m.hasher.refuse(ctx, password, ErrInvalidCredentials)
	}
	if err != nil {
		return User{}, err
	}
	rec, err := m.attempt(ctx, u, password)
	if err != nil {
		return User{}, err
	}
	return rec.View(), nil
}

// attempt runs one password attempt against u under the lockout rule.
func (m *Manager) attempt(ctx context.Context, u UserRecord, password string) (UserRecord, error) {
	if u.PasswordHash == "" {
		return UserRecord{}, m.hasher.refuse(ctx, password, ErrInvalidCredentials) // invited: no password to match
	}
	u, err := m.settleLogin(ctx, u)
	if err != nil {
		return UserRecord{}, err
	}
	if u.Status != StatusActive {
		return UserRecord{}, m.hasher.refuse(ctx, password, statusError(u.Status))
	}
	r, lease, v, err := m.reserve(ctx, u, password)
	if err != nil {
		return UserRecord{}, err
	}
	ok, stale, verr := v.ok, v.stale, v.err
	var rehash string
	if verr == nil && ok && stale {
		if norm, nerr := NormalizePassword(password); nerr == nil {
			rehash, verr = m.hasher.hashHeld(norm)
		}
	}
	m.hasher.release()
	if verr != nil {
		// A hash we cannot read: free the slot without counting a failure.
		_, _, _ = m.store.FinishAttempt(context.WithoutCancel(ctx), AttemptOutcome{UserID: r.ID, LeaseID: lease, Success: true, PasswordVersion: -1, At: m.now(), Limit: m.policy.MaxFailedAttempts})
		return UserRecord{}, verr
	}
	return m.finish(ctx, r, lease, ok, rehash)
}

// settleLogin applies the rules that move a user at login before any
// password work: an Active user idle for the inactivity period becomes
// Inactive, a lock older than Policy.LockDuration lifts.
func (m *Manager) settleLogin(ctx context.Context, u UserRecord) (UserRecord, error) {
	now := m.now()
	switch {
	case u.Status == StatusActive && m.idle(u, now):
		if _, err := m.markInactive(ctx, u.ID); err != nil {
			return UserRecord{}, err
		}
	case u.Status == StatusLocked && m.lockLapsed(u, now):
		if _, err := m.liftLock(ctx, u.ID); err != nil {
			return UserRecord{}, err
		}
	default:
		return u, nil
	}
	u, err := m.store.User(ctx, u.ID)
	if err != nil {
		return UserRecord{}, err
	}
	if u.Status == StatusActive && m.idle(u, now) {
		u.Status = StatusInactive // changed meanwhile, and idle still: judge it as idle
	}
	return u, nil
}

// reserve takes a hash slot, reserves a password attempt for u and
// verifies the password against the hash the store holds, waiting while
// every attempt slot is held by attempts in flight. On success the caller
// holds the hash slot and must release it.
//
// The first reservation runs beside a verification against u.PasswordHash,
// as read before it, so that a login costs one verification plus the reads
// and writes around it rather than the reservation's round trip too. The
// verification's result is used only when the reservation holds and the
// hash is still the one verified; otherwise it is discarded unseen, counted
// as a dummy verification (the refusal's time, which a refusal spends
// anyway), and, when the hash changed meanwhile, the password is verified
// again against the new one. So only an attempt holding a slot has its
// password's verdict used, and every refusal takes one verification's time.
func (m *Manager) reserve(ctx context.Context, u UserRecord, password string) (UserRecord, string, verdict, error) {
	var give <-chan time.Time
	backoff := time.Millisecond
	for try := 0; ; try++ {
		if err := m.hasher.acquire(ctx); err != nil {
			return UserRecord{}, "", verdict{}, err
		}
		lease, err := leaseID()
		if err != nil {
			m.hasher.release()
			return UserRecord{}, "", verdict{}, err
		}
		now := m.now()
		req := AttemptReservation{UserID: u.ID, Limit: m.policy.MaxFailedAttempts,
			Now: now, Lease: AttemptLease{ID: lease, Until: now.Add(m.policy.AttemptLease)}}
		var r UserRecord
		var res ReserveResult
		var v verdict
		spent := try == 0 // a verification runs beside the reservation
		if spent {
			r, res, v, err = m.reserveBeside(ctx, req, password, u.PasswordHash)
		} else {
			r, res, err = m.store.ReserveAttempt(ctx, req)
		}
		if err == nil && res == ReserveOK {
			if spent && r.PasswordHash == u.PasswordHash {
				m.hasher.verified.Add(v.tries) // the verdict beside the reservation is used
			} else {
				if spent {
					m.hasher.discard(password, u.PasswordHash, v)
				}
				v = m.hasher.verifyHeld(password, r.PasswordHash)
			}
			return r, lease, v, nil
		}
		if spent {
			m.hasher.discard(password, u.PasswordHash, v)
		}
		switch {
		case err != nil:
			m.hasher.release()
			return UserRecord{}, "", verdict{}, err
		case res == ReserveRefused:
			// Locked (or otherwise moved) meanwhile: refuse in the time of a
			// verification, holding the slot we already have.
			if !spent {
				m.hasher.verifyDummy(password)
			}
			m.hasher.release()
			if r.Status == StatusActive {
				return UserRecord{}, "", verdict{}, ErrLocked // every slot spent by failures: the lock is being written
			}
			return UserRecord{}, "", verdict{}, statusError(r.Status)
		}
		// ReserveFull: attempts in flight hold the remaining slots.
		m.hasher.release()
		m.hasher.waits.Add(1)
		if give == nil {
			t := time.NewTimer(m.policy.AttemptWait)
			defer t.Stop()
			give = t.C
		}
		wait := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			wait.Stop()
			return UserRecord{}, "", verdict{}, ctx.Err()
		case <-wait.C:
		case <-give:
			wait.Stop()
			return UserRecord{}, "", verdict{}, ErrAttemptsInFlight
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// reserveBeside runs the reservation req on another goroutine while this
// one verifies the password against encoded, and returns both when both
// have ended. A panic of the store's reservation reaches the caller here.
func (m *Manager) reserveBeside(ctx context.Context, req AttemptReservation, password, encoded string) (UserRecord, ReserveResult, verdict, error) {
	type reserved struct {
		r     UserRecord
		res   ReserveResult
		err   error
		panic any
	}
	done := make(chan reserved, 1)
	go func() {
		var out reserved
		returned := false
		defer func() {
			out.panic = recover()
			if out.panic == nil && !returned {
				// runtime.Goexit (a test double's t.FailNow): no answer.
				out.err = fmt.Errorf("%w: the store's ReserveAttempt exited without returning", ErrStore)
			}
			done <- out
		}()
		out.r, out.res, out.err = m.store.ReserveAttempt(ctx, req)
		returned = true
	}()
	v := m.hasher.check(password, encoded)
	out := <-done
	if out.panic != nil {
		m.hasher.dummies.Add(v.tries)
		m.hasher.release()
		panic(out.panic)
	}
	return out.r, out.res, v, out.err
}

func leaseID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("usermgmt: reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// finish records the outcome of a verified attempt. The write runs even
// when ctx is cancelled, bounded by Policy.RecordTimeout.
func (m *Manager) finish(ctx context.Context, r UserRecord, lease string, ok bool, rehash string) (UserRecord, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.policy.RecordTimeout)
	defer cancel()
	now := m.now()
	self := actor{access: access{user: r}}
	o := AttemptOutcome{UserID: r.ID, LeaseID: lease, Success: ok, At: now, Limit: m.policy.MaxFailedAttempts}
	var err error
	if ok {
		o.PasswordVersion, o.VerifiedHash, o.NewHash = r.PasswordVersion, r.PasswordHash, rehash
		if m.policy.AuditLogins {
			if o.LoginEvent, err = m.userEvent(ctx, now, self, ActionLogin, r, r); err != nil {
				return UserRecord{}, err
			}
		}
	} else {
		if m.policy.AuditLogins {
			if o.FailureEvent, err = m.userEvent(ctx, now, systemActor, ActionLoginFailed, r, r); err != nil {
				return UserRecord{}, err
			}
		}
		// Whether this failure locks is known only in the store, once the
		// attempts in flight beside it have finished: prepare the lock's
		// event and messages for every failure. Like the write, this runs
		// on wctx: a caller hanging up now must not keep the failure from
		// being counted.
		if err := m.prepareLock(wctx, &o, r, now); err != nil {
			return UserRecord{}, err
		}
	}
	u, recorded, err := m.store.FinishAttempt(wctx, o)
	if err != nil {
		return UserRecord{}, err
	}
	if ok {
		if !recorded {
			if u.Status != StatusActive {
				return UserRecord{}, statusError(u.Status)
			}
			return UserRecord{}, ErrInvalidCredentials // the password changed meanwhile
		}
		m.observe(ctx, o.LoginEvent)
		return u, nil
	}
	if !recorded {
		return UserRecord{}, ErrInvalidCredentials
	}
	m.observe(ctx, o.FailureEvent)
	if u.Status == StatusLocked {
		m.observe(ctx, o.LockEvent)
		m.log.InfoContext(ctx, "usermgmt: user locked after failed passwords", "user", u.ID)
		return UserRecord{}, fmt.Errorf("%w; %w", ErrInvalidCredentials, ErrLocked)
	}
	return UserRecord{}, ErrInvalidCredentials
}

// prepareLock fills in the event and messages of the lock a failure may
// cause: the user, as System locks them, and their account's admins when
// Policy.NotifyAdminsOnLockout is set. Only the event is essential: when
// the messages cannot be built (the store fails to read the account), the
// failure is still recorded and the lock written, without its emails,
// rather than give a guesser an uncounted attempt.
func (m *Manager) prepareLock(ctx context.Context, o *AttemptOutcome, r UserRecord, now time.Time) error {
	locked := cloneRecord(r)
	locked.Status, locked.LockedAt, locked.FailedAttempts = StatusLocked, now, m.policy.MaxFailedAttempts
	prior := r
	prior.FailedAttempts = m.policy.MaxFailedAttempts - 1
	var err error
	if o.LockEvent, err = m.userEvent(ctx, now, systemActor, ActionLock, prior, locked); err != nil {
		return err
	}
	if m.outbox == nil {
		return nil
	}
	notices := []notice{{kind: NotifyLockout}}
	if m.policy.NotifyAdminsOnLockout {
		admins, err := m.store.ListUsers(ctx, ListQuery{AccountID: r.AccountID, Roles: []string{RoleAdmin},
			Statuses: []Status{StatusActive}, Limit: 20})
		if err != nil {
			m.log.WarnContext(ctx, "usermgmt: lockout notice to admins not prepared", "error", err)
		}
		for _, a := range admins {
			if a.ID != r.ID && a.AccountID == r.AccountID {
				notices = append(notices, notice{kind: NotifyLockoutAdmin, to: a.Email, toLocale: a.Locale})
			}
		}
	}
	if o.LockMessages, err = m.messages(ctx, systemActor, locked, notices, now); err != nil {
		m.log.WarnContext(ctx, "usermgmt: lockout notice not prepared", "error", err)
		o.LockMessages = nil
	}
	return nil
}

// lockLapsed reports whether a Locked user's lock is older than
// Policy.LockDuration (never, when it is zero).
func (m *Manager) lockLapsed(u UserRecord, now time.Time) bool {
	return m.policy.LockDuration > 0 && u.Status == StatusLocked && !now.Before(u.LockedAt.Add(m.policy.LockDuration))
}

// liftLock unlocks a user whose lock lapsed, as System, and reports
// whether it did.
func (m *Manager) liftLock(ctx context.Context, userID string) (bool, error) {
	_, err := m.update(ctx, systemActor, userID, ActionUnlock, func(u *UserRecord, _ *change) error {
		if !m.lockLapsed(*u, m.now()) {
			return errNoChange
		}
		activate(u, m.now())
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// Unlock makes a Locked user Active with the failure count reset and
// returns the user. When newPassword is not empty it must meet the password
// policy and replaces the password in the same write. It takes
// PermManageUsers over the user. System may unlock anyone: that is how an
// application recovers an account whose admins are all locked (or the
// admin resets their password by email, see ResetPassword).
func (m *Manager) Unlock(ctx context.Context, actorID, userID, newPassword string) (User, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	var hash string
	if newPassword != "" {
		target, err := m.readableUser(ctx, act.id(), userID)
		if err != nil {
			return User{}, err
		}
		if hash, err = m.hashNewPassword(ctx, newPassword, target.Email); err != nil {
			return User{}, err
		}
	}
	return m.updateView(ctx, act, userID, ActionUnlock, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		if u.Status != StatusLocked {
			return &TransitionError{Action: ActionUnlock, From: u.Status}
		}
		if hash != "" {
			u.PasswordHash = hash
			u.PasswordVersion++
			c.notices = append(c.notices, notice{kind: NotifyPasswordChanged})
		}
		activate(u, m.now())
		return nil
	})
}
