package usermgmt

import (
	"context"
	"sync"
	"time"
)

// Sessions stay the application's; the library tells it when one must end.
// Each user carries a SessionVersion that moves whenever their sessions
// must end: a password set, changed or reset, a lock, a ban, a disable,
// inactivity, a removal, a role change, a move, an email change. An
// application stores the version in the session at login and checks it on
// each request with SessionValid (one store read), ending the session when
// it answers false; a signed-in user's activity is recorded with Touch, so
// that someone who works every day in one long session is not swept to
// Inactive.

// SessionValid reports whether a session of the user that was started at
// sessionVersion may go on: the user exists, is Active, and their
// SessionVersion is still sessionVersion. It returns false, nil for an
// unknown user; an error only when the store fails.
func (m *Manager) SessionValid(ctx context.Context, userID string, sessionVersion int64) (bool, error) {
	u, err := m.store.User(ctx, userID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Status == StatusActive && u.SessionVersion == sessionVersion && !m.idle(u, m.now()), nil
}

// Touch records that a signed-in user is active, for the inactivity rule,
// writing at most once per user per Policy.ActivityInterval (one hour): a
// recent touch in this process costs nothing, and one in another process
// costs a read. It returns ErrInactive (and moves the user to Inactive) for
// an Active user idle for the inactivity period, the status error of a
// user who is not Active, and ErrNotFound for an unknown one.
func (m *Manager) Touch(ctx context.Context, userID string) error {
	now := m.now()
	if m.touched.recent(userID, now, m.policy.ActivityInterval) {
		return nil
	}
	u, err := m.store.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.Status == StatusActive && m.idle(u, now) {
		if _, err := m.markInactive(ctx, u.ID); err != nil {
			return err
		}
		return ErrInactive
	}
	if u.Status != StatusActive {
		if u.Status == StatusRemoved || u.Status == StatusInvited {
			return ErrNotFound
		}
		return statusError(u.Status)
	}
	if now.Before(u.LastActiveAt.Add(m.policy.ActivityInterval)) {
		m.touched.mark(userID, u.LastActiveAt)
		return nil
	}
	if _, err := m.store.RecordActivity(ctx, ActivityUpdate{UserID: userID, At: now, IfBefore: now.Add(-m.policy.ActivityInterval)}); err != nil {
		return err
	}
	m.touched.mark(userID, now)
	return nil
}

// touchCache remembers when this process last saw each user active, so
// that Touch skips the store within the interval. It holds at most
// touchCacheSize users; when full it drops every entry older than the
// interval, or everything.
type touchCache struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const touchCacheSize = 100_000

func (c *touchCache) recent(id string, now time.Time, interval time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.last[id]
	return ok && now.Before(t.Add(interval)) && !now.Before(t)
}

func (c *touchCache) mark(id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = make(map[string]time.Time)
	}
	if len(c.last) >= touchCacheSize {
		clear(c.last)
	}
	c.last[id] = at
}
