package usermgmt

import (
	"context"
	"errors"
	"time"
)

// Inactivity: an Active user whose last activity — last login, activity
// recorded from a session (Touch), or the last move into Active (activation
// when they never logged in) — lies Policy.InactiveAfterMonths calendar
// months or more in the past is Inactive. "Calendar months" is
// time.AddDate: three months after 30 November is 2 March (1 March in a
// leap year), as Go normalises 30 February. The rule is enforced at login
// and by Sweep, which a sweeper runs by itself (RunSweeper).

// idle reports whether u's last activity is the inactivity period or more
// before now.
func (m *Manager) idle(u UserRecord, now time.Time) bool {
	return !now.Before(u.LastActiveAt.UTC().AddDate(0, m.policy.InactiveAfterMonths, 0))
}

// idleBound returns an instant that every idle user's last activity lies
// before. AddDate's month arithmetic is not monotonic at month ends (30
// November + 3 months is after 1 December + 3 months), so the sweep asks the
// store for the slightly wider set of users active before this bound and
// applies idle to each.
func (m *Manager) idleBound(now time.Time) time.Time {
	// A user active at t is idle from t.AddDate(0, n, 0) on, which is never
	// more than 3 days after t plus n months counted back from now.
	return now.AddDate(0, -m.policy.InactiveAfterMonths, 4)
}

// markInactive moves an idle Active user to Inactive, as System, and
// reports whether it did. A user who is no longer Active and idle when the
// write happens (reactivated meanwhile, say) is left alone.
func (m *Manager) markInactive(ctx context.Context, userID string) (bool, error) {
	_, err := m.update(ctx, systemActor, userID, ActionInactive, func(u *UserRecord, _ *change) error {
		if u.Status != StatusActive || !m.idle(*u, m.now()) {
			return errNoChange
		}
		u.Status = StatusInactive
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// sweepBatch is how many users Sweep reads and writes per store call.
const sweepBatch = 500

// SweepResult counts what Sweep did.
type SweepResult struct {
	Inactive int `json:"inactive"` // Active users made Inactive
	Unlocked int `json:"unlocked"` // locks that lapsed (Policy.LockDuration) lifted
}

// Sweep applies the rules that move users with time, as System: every
// Active user whose last activity is the inactivity period or more ago
// becomes Inactive, and, with Policy.LockDuration set, every lock older
// than it lifts. It reads and writes in batches — one store call per page
// of users, each user still written with its own audit event, atomically —
// so its cost follows the number of users it moves, not of all users. Any
// number of Managers may sweep at once; a user changed meanwhile is judged
// again as it stands.
func (m *Manager) Sweep(ctx context.Context) (SweepResult, error) {
	now := m.now()
	var res SweepResult
	n, err := m.sweep(ctx, StaleQuery{Status: StatusActive, Before: m.idleBound(now)}, ActionInactive, now,
		func(u UserRecord) bool { return m.idle(u, now) },
		func(u *UserRecord) { u.Status = StatusInactive })
	res.Inactive = n
	if err != nil {
		return res, err
	}
	if m.policy.LockDuration > 0 {
		n, err = m.sweep(ctx, StaleQuery{Status: StatusLocked, Before: now.Add(-m.policy.LockDuration).Add(time.Nanosecond)}, ActionUnlock, now,
			func(u UserRecord) bool { return m.lockLapsed(u, now) },
			func(u *UserRecord) { activate(u, now) })
		res.Unlocked = n
	}
	if res.Inactive+res.Unlocked > 0 {
		m.log.InfoContext(ctx, "usermgmt: sweep", "inactive", res.Inactive, "unlocked", res.Unlocked)
	}
	return res, err
}

// sweep walks the users q selects, moving those due with move in batches.
func (m *Manager) sweep(ctx context.Context, q StaleQuery, action Action, now time.Time, due func(UserRecord) bool, move func(*UserRecord)) (int, error) {
	q.Limit = sweepBatch
	moved := 0
	for {
		candidates, err := m.store.StaleUsers(ctx, q)
		if err != nil {
			return moved, err
		}
		ups := make([]UserUpdate, 0, len(candidates))
		for _, old := range candidates {
			if !due(old) {
				continue
			}
			u := cloneRecord(old)
			move(&u)
			settle(&old, &u, now)
			ev, err := m.userEvent(ctx, now, systemActor, action, old, u)
			if err != nil {
				return moved, err
			}
			ups = append(ups, UserUpdate{User: u, Event: ev})
		}
		if len(ups) > 0 {
			errs, err := m.store.UpdateUsers(ctx, ups)
			if err != nil {
				return moved, err
			}
			for i, e := range errs {
				switch {
				case e == nil:
					moved++
					m.observe(ctx, ups[i].Event)
				case errors.Is(e, ErrConflict):
					// Changed meanwhile: judge it again as it stands.
					ok, err := m.moveOne(ctx, ups[i].User.ID, action, due, move)
					if err != nil {
						return moved, err
					}
					if ok {
						moved++
					}
				case !isNotFound(e):
					return moved, e
				}
			}
		}
		if len(candidates) < q.Limit {
			return moved, nil
		}
		last := candidates[len(candidates)-1]
		q.AfterID = last.ID
		q.AfterTime = last.LastActiveAt
		if q.Status == StatusLocked {
			q.AfterTime = last.LockedAt
		}
	}
}

// moveOne applies a sweep's move to one user with the usual retries.
func (m *Manager) moveOne(ctx context.Context, id string, action Action, due func(UserRecord) bool, move func(*UserRecord)) (bool, error) {
	_, err := m.update(ctx, systemActor, id, action, func(u *UserRecord, _ *change) error {
		want := StatusActive
		if action == ActionUnlock {
			want = StatusLocked
		}
		if u.Status != want || !due(*u) {
			return errNoChange
		}
		move(u)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// SweeperOptions tune RunSweeper.
type SweeperOptions struct {
	// Interval is the real time between sweeps; default 1 hour. Each wait
	// is drawn within ±10% of it, so that instances started together do
	// not sweep in step.
	Interval time.Duration
}

// RunSweeper sweeps (see Sweep) at once and then every Interval until ctx
// ends, logging what each sweep moved and any failure, and returns ctx's
// error. Any number of instances may run one.
func (m *Manager) RunSweeper(ctx context.Context, opts SweeperOptions) error {
	if opts.Interval <= 0 {
		opts.Interval = time.Hour
	}
	for {
		if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "usermgmt: sweep failed", "error", err)
		}
		t := time.NewTimer(jitter(opts.Interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
