package usermgmt

import (
	"context"
	"errors"
	"time"
)

// Inactivity: an Active user whose last activity (last login, or the last
// move into Active) lies Policy.InactiveAfterMonths calendar months or more
// in the past is Inactive. "Calendar months" is time.AddDate: three months
// after 30 November is 2 March (1 March in a leap year), as Go normalises
// 30 February. The rule is enforced at login and by Sweep.

// idle reports whether u's last activity is the inactivity period or more
// before now.
func (m *Manager) idle(u User, now time.Time) bool {
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
	_, err := m.update(ctx, System, userID, ActionInactive, func(u *User) (bool, error) {
		if u.Status != StatusActive || !m.idle(*u, m.now()) {
			return false, errNoChange
		}
		u.Status = StatusInactive
		return false, nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// sweepBatch is how many candidates Sweep reads per store call.
const sweepBatch = 500

// Sweep moves every Active user whose last activity is the inactivity
// period or more ago to Inactive, as System, and returns how many it moved.
// Run it periodically (daily, say); any number of Managers may sweep at
// once. Its cost follows the number of idle users, not of all users.
func (m *Manager) Sweep(ctx context.Context) (int, error) {
	now := m.now()
	q := StaleQuery{ActiveBefore: m.idleBound(now), Limit: sweepBatch}
	moved := 0
	for {
		candidates, err := m.store.StaleUsers(ctx, q)
		if err != nil {
			return moved, err
		}
		for _, u := range candidates {
			if !m.idle(u, now) {
				continue
			}
			ok, err := m.markInactive(ctx, u.ID)
			if err != nil {
				return moved, err
			}
			if ok {
				moved++
			}
		}
		if len(candidates) < q.Limit {
			break
		}
		last := candidates[len(candidates)-1]
		q.AfterActive, q.AfterID = last.LastActiveAt, last.ID
	}
	if moved > 0 {
		m.log.InfoContext(ctx, "usermgmt: inactivity sweep", "moved", moved)
	}
	return moved, nil
}

// Reactivate makes an Inactive user Active, with a fresh inactivity clock.
// It takes PermManageUsers over the user.
func (m *Manager) Reactivate(ctx context.Context, actorID, userID string) (User, error) {
	return m.transition(ctx, actorID, userID, reactivateTransition)
}

var reactivateTransition = transition{ActionReactivate, is(StatusInactive), activate, false}
