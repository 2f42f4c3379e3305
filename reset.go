package usermgmt

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Self-service password reset, after the OWASP Forgot Password Cheat Sheet:
//
//   - RequestPasswordReset answers the same, in the same time, whether or
//     not the address belongs to anyone: it only queues the request, and a
//     background worker of the Manager does the lookup and the write, so
//     the caller's time never depends on the address. A message goes out
//     only for an Active or Locked user, and at most Policy.ResetsPerHour
//     per user per hour.
//   - The token is 32 bytes from crypto/rand, stored only as a SHA-256
//     hash, valid Policy.ResetTTL (one hour), single use, and voided by a
//     newer request, a password change, an email change, a ban, a disable
//     or a removal.
//   - ResetPassword applies the password policy, resets the failure count,
//     ends every session (SessionVersion moves), tells the user by email,
//     and by default unlocks a Locked user: proving control of the mailbox
//     is what an admin's unlock would check, and it is how an account whose
//     only admin a stranger locked recovers. Banned, Disabled, Removed and
//     Inactive users stay as they are.

// resetQueueSize bounds the requests waiting for the background worker;
// beyond it requests are dropped (and logged), answered alike.
const resetQueueSize = 1024

// resetWorker runs queued password-reset requests in the background.
type resetWorker struct {
	mu      sync.Mutex
	running bool
	jobs    chan string
	stop    chan struct{}
	wg      sync.WaitGroup // queued and running requests
}

// RequestPasswordReset asks for a password-reset email to the address. It
// returns nil whether or not the address belongs to a user, after the same
// work either way (the request is queued; Wait waits for it); it returns
// ErrNotConfigured when the Manager has no outbox, and a *FieldError
// (ErrInvalidEmail) only for input that is not an address at all. The
// application shows the same "if the address is known, a link is on its
// way" message in every case.
func (m *Manager) RequestPasswordReset(ctx context.Context, email string) error {
	if m.outbox == nil {
		return fmt.Errorf("%w: password reset needs the outbox (WithOutboxKeys)", ErrNotConfigured)
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &m.resets
	w.mu.Lock()
	if !w.running {
		w.jobs, w.stop, w.running = make(chan string, resetQueueSize), make(chan struct{}), true
		go m.runResets(w.jobs, w.stop)
	}
	w.wg.Add(1)
	select {
	case w.jobs <- e:
	default:
		w.wg.Done()
		m.log.WarnContext(ctx, "usermgmt: password-reset queue full; request dropped")
	}
	w.mu.Unlock()
	return nil
}

func (m *Manager) runResets(jobs <-chan string, stop <-chan struct{}) {
	run := func(e string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.issueReset(ctx, e); err != nil {
			m.log.ErrorContext(ctx, "usermgmt: password-reset request failed", "error", err)
		}
		m.resets.wg.Done()
	}
	for {
		select {
		case <-stop:
			for { // what was queued before the stop still runs
				select {
				case e := <-jobs:
					run(e)
				default:
					return
				}
			}
		case e := <-jobs:
			run(e)
		}
	}
}

// Wait blocks until the background work queued so far — password-reset
// requests — is done. Tests use it before looking for the email.
func (m *Manager) Wait() { m.resets.wg.Wait() }

// Close waits for the Manager's background work (Wait) and stops its
// background worker; a later request starts it again. Call it on
// shutdown.
func (m *Manager) Close() error {
	m.Wait()
	w := &m.resets
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		close(w.stop)
		w.running = false
	}
	return nil
}

// issueReset issues a reset token to the Active or Locked user with the
// email, unless the hourly limit is reached; anyone else gets nothing.
func (m *Manager) issueReset(ctx context.Context, email string) error {
	u, err := m.store.UserByEmail(ctx, email)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = m.update(ctx, systemActor, u.ID, ActionPasswordReset, func(u *UserRecord, c *change) error {
		if u.Status != StatusActive && u.Status != StatusLocked {
			return errNoChange
		}
		now := m.now()
		recent := slices.DeleteFunc(slices.Clone(u.ResetRequests), func(t time.Time) bool { return !now.Before(t.Add(time.Hour)) })
		if len(recent) >= m.policy.ResetsPerHour {
			return errNoChange
		}
		u.ResetRequests = append(recent, now)
		n, err := issueToken(u, TokenPasswordReset, NotifyPasswordReset, now, m.policy.ResetTTL)
		if err != nil {
			return err
		}
		c.notices = append(c.notices, n)
		return nil
	})
	return ignoreNoChange(err)
}

func ignoreNoChange(err error) error {
	if err == errNoChange {
		return nil
	}
	return err
}

// ResetPassword uses a password-reset token: it sets the new password,
// resets the failure count and, unless Policy.ResetKeepsLock, makes a
// Locked user Active; it returns the user. The token works once, strictly
// before its expiry (ErrTokenInvalid, ErrTokenExpired); a weak password is
// a *PasswordError and spends nothing. Audited as ActionPasswordReset by
// the user.
func (m *Manager) ResetPassword(ctx context.Context, token, newPassword string) (User, error) {
	u, tok, err := m.userByToken(ctx, token, TokenPasswordReset, m.now())
	if err != nil {
		return User{}, err
	}
	hash, err := m.hashNewPassword(ctx, newPassword, u.Email)
	if err != nil {
		return User{}, err
	}
	return m.spendToken(ctx, u, tok, ActionPasswordReset, func(u *UserRecord, c *change, now time.Time) error {
		if u.Status == StatusRemoved || u.Status == StatusBanned || u.Status == StatusDisabled {
			return ErrTokenInvalid
		}
		u.PasswordHash = hash
		u.PasswordVersion++
		u.FailedAttempts = 0
		if u.Status == StatusLocked && !m.policy.ResetKeepsLock {
			activate(u, now)
		}
		c.notices = append(c.notices, notice{kind: NotifyPasswordChanged})
		return nil
	})
}
