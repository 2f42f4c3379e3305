package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var inactivityTests = map[string]func(*testing.T, *suite){
	"ThreeCalendarMonthsAtLogin":  testInactiveAtLogin,
	"MonthEndBoundary":            testMonthEnd,
	"SweepMovesOnlyIdleUsers":     testSweep,
	"SweepAtScale":                testSweepAtScale,
	"ReactivateStartsAfresh":      testReactivate,
	"SweepWhileIdleUsersLogIn":    testSweepWhileLogins,
	"TouchKeepsASessionUserAlive": testTouch,
	"SessionValidEndsSessions":    testSessionValid,
}

// testSweepWhileLogins sweeps on one handle while idle users log in on
// another: each user either logged in in time or ended Inactive; none is
// left Active and idle because the activity index moved under the sweep.
func testSweepWhileLogins(t *testing.T, su *suite) {
	e := su.env(t)
	n := 600
	if su.short {
		n = 200
	}
	var users []usermgmt.User
	for i := 0; i < n; i++ {
		users = append(users, e.user(e.root.ID, email("racer", i), usermgmt.RoleGeneral))
	}
	e.clock.Set(start.AddDate(0, 4, 0))
	ms := e.managers(2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i += 3 {
			_, err := ms[1].Authenticate(e.ctx, users[i].Email, Password)
			if err != nil && !errors.Is(err, usermgmt.ErrInactive) {
				t.Errorf("login: %v", err)
			}
		}
	}()
	_, err := ms[0].Sweep(e.ctx)
	ok(t, err)
	<-done
	for _, u := range users {
		got := e.get(u.ID)
		if got.Status == usermgmt.StatusActive && !got.LastActiveAt.After(start) {
			t.Fatalf("%s is still Active and idle after the sweep", got.Email)
		}
	}
}

func testInactiveAtLogin(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "idle@example.com", usermgmt.RoleGeneral) // active since start, 15 January
	v := e.user(e.root.ID, "busy@example.com", usermgmt.RoleGeneral)
	e.clock.Set(start.AddDate(0, 3, 0).Add(-time.Nanosecond))
	_, err := e.m.Authenticate(e.ctx, v.Email, Password) // just in time: the clock restarts
	ok(t, err)
	e.clock.Set(start.AddDate(0, 3, 0)) // 15 April, 10:00
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrInactive)
	got := e.get(u.ID)
	eq(t, "status", got.Status, usermgmt.StatusInactive)
	eq(t, "newest action", e.history(u.ID)[0].Action, usermgmt.ActionInactive)
	eq(t, "actor", e.history(u.ID)[0].ActorID, usermgmt.System)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrInactive)
	_, err = e.m.Authenticate(e.ctx, v.Email, Password)
	ok(t, err)
}

// testMonthEnd: last active 30 November 2026; three calendar months later
// is 30 February, which AddDate normalises to 2 March 2027.
func testMonthEnd(t *testing.T, su *suite) {
	e := su.envAt(t, time.Date(2026, time.November, 30, 12, 0, 0, 0, time.UTC))
	early := e.user(e.root.ID, "nov30-a@example.com", usermgmt.RoleGeneral)
	late := e.user(e.root.ID, "nov30-b@example.com", usermgmt.RoleGeneral)
	deadline := time.Date(2027, time.March, 2, 12, 0, 0, 0, time.UTC)
	e.clock.Set(time.Date(2026, time.December, 15, 0, 0, 0, 0, time.UTC))
	e.login(e.admin) // keeps the admin out of these sweeps

	e.clock.Set(time.Date(2027, time.March, 1, 12, 0, 0, 0, time.UTC)) // 1 March: not yet three months
	n, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved on 1 March", n.Inactive, 0)
	e.clock.Set(deadline.Add(-time.Nanosecond))
	n, err = e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved a nanosecond early", n.Inactive, 0)
	_, err = e.m.Authenticate(e.ctx, early.Email, Password)
	ok(t, err)
	e.clock.Set(deadline)
	n, err = e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved at the deadline", n.Inactive, 1)
	eq(t, "late status", e.get(late.ID).Status, usermgmt.StatusInactive)
	eq(t, "early status", e.get(early.ID).Status, usermgmt.StatusActive)
}

func testSweep(t *testing.T, su *suite) {
	e := su.env(t)
	var idle []usermgmt.User
	for i := 0; i < 3; i++ {
		idle = append(idle, e.user(e.root.ID, email("idle", i), usermgmt.RoleGeneral))
	}
	banned := e.user(e.root.ID, "banned-idle@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Ban(e.ctx, e.admin.ID, banned.ID)
	ok(t, err)
	e.clock.Advance(45 * 24 * time.Hour)
	var fresh []usermgmt.User
	for i := 0; i < 4; i++ {
		fresh = append(fresh, e.user(e.root.ID, email("fresh", i), usermgmt.RoleGeneral))
	}
	_, err = e.m.Authenticate(e.ctx, e.admin.Email, Password) // the admin logs in: not idle
	ok(t, err)
	e.clock.Set(start.AddDate(0, 3, 0))
	n, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved", n.Inactive, 3)
	for _, u := range idle {
		eq(t, u.Email, e.get(u.ID).Status, usermgmt.StatusInactive)
	}
	for _, u := range fresh {
		eq(t, u.Email, e.get(u.ID).Status, usermgmt.StatusActive)
	}
	eq(t, "banned user", e.get(banned.ID).Status, usermgmt.StatusBanned)
	n, err = e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved by a second sweep", n.Inactive, 0)
}

// testSweepAtScale sweeps more users than one store page, with 10 % idle.
func testSweepAtScale(t *testing.T, su *suite) {
	e := su.env(t)
	total := 1200
	if su.short {
		total = 300
	}
	staleCount, batchFirst := 0, ""
	for i := 0; i < total; i += 100 {
		batch := make([]usermgmt.UserRecord, 0, 100)
		for j := i; j < i+100; j++ {
			u := e.rawUser(e.root.ID, email("scale", j))
			if j%10 == 0 {
				u.LastActiveAt = start.AddDate(0, -4, 0).Add(time.Duration(j) * time.Second)
				staleCount++
				if batchFirst == "" {
					batchFirst = u.ID
				}
			}
			batch = append(batch, u)
		}
		e.createRaw(batch...)
	}
	n, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved", n.Inactive, staleCount)
	eq(t, "events of a swept user", e.actions(batchFirst), "create,inactive")
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Statuses: []usermgmt.Status{usermgmt.StatusInactive}, Limit: 1000})
	ok(t, err)
	eq(t, "inactive users listed", len(page.Items), staleCount)
}

func testReactivate(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "comeback@example.com", usermgmt.RoleGeneral)
	e.clock.Set(start.AddDate(0, 2, 0))
	e.login(e.admin)
	e.clock.Set(start.AddDate(0, 4, 0))
	_, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "status", e.get(u.ID).Status, usermgmt.StatusInactive)
	_, err = e.m.Unban(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrInvalidTransition)
	got, err := e.m.Reactivate(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	eq(t, "status", got.Status, usermgmt.StatusActive)
	n, err := e.m.Sweep(e.ctx) // not swept again at once
	ok(t, err)
	eq(t, "moved after reactivation", n.Inactive, 0)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
}

// testTouch: a user who works every day in one long session, never
// logging in again, is not swept to Inactive; Touch writes at most once an
// interval.
func testTouch(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "long-session@example.com", usermgmt.RoleGeneral)
	idle := e.user(e.root.ID, "gone-home@example.com", usermgmt.RoleGeneral)
	v := e.get(u.ID).Version
	ok(t, e.m.Touch(e.ctx, u.ID))
	eq(t, "version after a touch within the interval", e.get(u.ID).Version, v)
	for day := 1; day <= 120; day++ {
		e.clock.Set(start.AddDate(0, 0, day))
		ok(t, e.m.Touch(e.ctx, u.ID))
		ok(t, e.m.Touch(e.ctx, u.ID)) // the second one in the same hour costs no write
	}
	eq(t, "writes for 120 days of touches", e.get(u.ID).Version-v, int64(120))
	sameTime(t, "last activity", e.get(u.ID).LastActiveAt, e.clock.Now())
	res, err := e.m.Sweep(e.ctx)
	ok(t, err)
	eq(t, "moved", res.Inactive, 2) // the idle user and the root admin
	eq(t, "status of the session user", e.get(u.ID).Status, usermgmt.StatusActive)
	eq(t, "status of the idle user", e.get(idle.ID).Status, usermgmt.StatusInactive)
	eq(t, "events of touches", len(e.history(u.ID)), 1)
	isErr(t, e.m.Touch(e.ctx, idle.ID), usermgmt.ErrInactive)
	isErr(t, e.m.Touch(e.ctx, newID()), usermgmt.ErrNotFound)
	// An idle user touched before the sweep finds them is moved, not revived.
	w := e.user(e.root.ID, "idle-toucher@example.com", usermgmt.RoleGeneral)
	e.clock.Set(e.clock.Now().AddDate(0, 3, 1))
	isErr(t, e.m.Touch(e.ctx, w.ID), usermgmt.ErrInactive)
	eq(t, "status of the idle toucher", e.get(w.ID).Status, usermgmt.StatusInactive)
}

func testSessionValid(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "session@example.com", usermgmt.RoleGeneral)
	check := func(what string, version int64, want bool) {
		t.Helper()
		got, err := e.m.SessionValid(e.ctx, u.ID, version)
		ok(t, err)
		eq(t, what, got, want)
	}
	v := u.SessionVersion
	check("a fresh session", v, true)
	_, err := e.m.UpdateProfile(e.ctx, u.ID, u.ID, usermgmt.Profile{FirstName: ptr("Renamed")})
	ok(t, err)
	check("after a profile change", v, true)
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"password set", func() error {
			_, err := e.m.SetPassword(e.ctx, e.admin.ID, u.ID, "a fresh admin-set passphrase")
			return err
		}},
		{"role change", func() error { _, err := e.m.ChangeRole(e.ctx, e.admin.ID, u.ID, usermgmt.RoleAdmin); return err }},
		{"ban", func() error { _, err := e.m.Ban(e.ctx, e.admin.ID, u.ID); return err }},
	} {
		ok(t, step.do())
		check("the old session after a "+step.name, v, false)
		v = e.get(u.ID).SessionVersion
		if step.name != "ban" {
			check("a session started after a "+step.name, v, true)
		}
	}
	check("a banned user's current version", v, false)
	got, err := e.m.SessionValid(e.ctx, newID(), 1)
	ok(t, err)
	eq(t, "an unknown user's session", got, false)
	_ = time.Second
}
