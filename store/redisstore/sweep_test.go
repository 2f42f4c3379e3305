package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// TestSweepWhileLoginsMoveUsers runs the inactivity sweep while logins of
// idle users move some of them to Inactive themselves. The sweep stops at
// the first page shorter than it asked for, so StaleUsers must read its
// page of the activity index and the users on it in one step: a user who
// moved between two separate reads would shorten the page and end the
// sweep with stale users still Active (an earlier version left up to half
// of 3,000 behind).
func TestSweepWhileLoginsMoveUsers(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	begin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := usermgmt.NewFakeClock(begin)
	m, err := usermgmt.New(s, usermgmt.WithClock(clock), usermgmt.WithHashParams(cheap))
	if err != nil {
		t.Fatal(err)
	}
	acct, _, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Sweep",
		Admin: usermgmt.NewUser{Email: "admin@sweep.example", FirstName: "A", LastName: "D", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	const n, batch = 3000, 500
	emails := make([]string, 0, n)
	for b := 0; b < n; b += batch {
		var cs []usermgmt.UserCreate
		for i := b; i < b+batch; i++ {
			id := fmt.Sprintf("01900000-0000-7000-8000-%012d", i)
			u := usermgmt.UserRecord{ID: id, AccountID: acct.ID, Email: fmt.Sprintf("u%05d@sweep.example", i), Role: usermgmt.RoleGeneral,
				Status: usermgmt.StatusActive, PasswordHash: "not-a-phc-string", PasswordVersion: 1, CreatedAt: begin, UpdatedAt: begin,
				ActivatedAt: begin, LastActiveAt: begin.Add(time.Duration(i) * time.Second), Version: 1}
			cs = append(cs, usermgmt.UserCreate{User: u, Event: usermgmt.AuditEvent{ID: fmt.Sprintf("01900000-0000-7000-9000-%012d", i),
				At: begin, ActorID: usermgmt.System, Action: usermgmt.ActionCreate, UserID: id, AccountID: acct.ID}})
			emails = append(emails, u.Email)
		}
		if err := s.CreateUsers(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(200 * 24 * time.Hour) // every user is idle now

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// An idle user's login moves them to Inactive before any
				// password check.
				_, _ = m.Authenticate(ctx, emails[rand.IntN(n)], "whatever")
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	moved, err := m.Sweep(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	left, err := s.StaleUsers(ctx, usermgmt.StaleQuery{Status: usermgmt.StatusActive, Before: clock.Now(), Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the sweep moved %d users; logins moved the others", moved.Inactive)
	if len(left) > 0 {
		t.Fatalf("%d idle users still Active after the sweep returned", len(left))
	}
	checkLayout(t, s)
}
