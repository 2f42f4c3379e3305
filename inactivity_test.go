package usermgmt_test

import (
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// TestIdleBoundCoversEveryIdleUser checks, hour by hour over four years
// (leap year and every month end included), that every user the inactivity
// rule calls idle is active before the bound the sweep asks the store for,
// and that the bound is no more than a few days wider than needed.
func TestIdleBoundCoversEveryIdleUser(t *testing.T) {
	for _, months := range []int{1, 3, 6} {
		m := newManager(t, usermgmt.WithPolicy(usermgmt.Policy{InactiveAfterMonths: months}))
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for now := from.AddDate(0, 6, 0); now.Before(from.AddDate(4, 0, 0)); now = now.Add(37 * time.Hour) {
			bound := usermgmt.IdleBound(m, now)
			// Users active at or after the bound must not be idle.
			for last := bound; last.Before(bound.AddDate(0, 0, 10)); last = last.Add(time.Hour) {
				if usermgmt.Idle(m, last, now) {
					t.Fatalf("months=%d now=%v: user last active %v is idle but not before the bound %v", months, now, last, bound)
				}
			}
			// The bound is tight: users a week before it are idle.
			if !usermgmt.Idle(m, bound.AddDate(0, 0, -7), now) {
				t.Fatalf("months=%d now=%v: bound %v is more than a week too wide", months, now, bound)
			}
		}
	}
}

func TestIdleIsCalendarMonths(t *testing.T) {
	m := newManager(t)
	nov30 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now  time.Time
		idle bool
	}{
		{time.Date(2027, 2, 28, 9, 0, 0, 0, time.UTC), false},
		{time.Date(2027, 3, 2, 8, 59, 59, 999999999, time.UTC), false},
		{time.Date(2027, 3, 2, 9, 0, 0, 0, time.UTC), true}, // 30 February 2027 is 2 March
	} {
		if got := usermgmt.Idle(m, nov30, c.now); got != c.idle {
			t.Errorf("last active %v, now %v: idle=%v, want %v", nov30, c.now, got, c.idle)
		}
	}
	// In a leap year 30 February is 1 March.
	nov30 = time.Date(2027, 11, 30, 9, 0, 0, 0, time.UTC)
	if !usermgmt.Idle(m, nov30, time.Date(2028, 3, 1, 9, 0, 0, 0, time.UTC)) {
		t.Error("30 November 2027 + 3 months should be 1 March 2028")
	}
	// Time zones do not move the rule: the Manager works in UTC.
	tokyo := time.FixedZone("JST", 9*3600)
	if usermgmt.Idle(m, nov30.In(tokyo), time.Date(2028, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Error("an hour early is not idle, whatever the zone of the stored time")
	}
}
