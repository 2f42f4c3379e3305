package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// TestEmailRaceAcrossClients: users race to take one email through
// updates, and new users through creates, each on a client of its own (as
// separate processes would), while the email's first holder gives it up.
// Exactly one write may take it; every other is refused with
// ErrDuplicateEmail and writes nothing; the email index ends pointing at
// the winner.
func TestEmailRaceAcrossClients(t *testing.T) {
	s, first := seeded(t)
	ctx := context.Background()
	const target = "first@errors.example" // held by first until it is removed
	const racers = 24
	var users []usermgmt.UserRecord
	var cs []usermgmt.UserCreate
	for i := range racers {
		u := first
		u.ID, u.Email, u.Role = fmt.Sprintf("u-racer-%02d", i), fmt.Sprintf("racer%02d@errors.example", i), usermgmt.RoleGeneral
		users = append(users, u)
		cs = append(cs, usermgmt.UserCreate{User: u, Event: event("ev-racer-"+u.ID, u)})
	}
	if err := s.CreateUsers(ctx, cs); err != nil {
		t.Fatal(err)
	}
	stores := make([]*redisstore.Store, 2*racers+1)
	for i := range stores {
		c := redis.NewClient(serverOptions)
		t.Cleanup(func() { c.Close() })
		var err error
		if stores[i], err = redisstore.New(c, redisstore.Options{Prefix: s.Prefix()}); err != nil {
			t.Fatal(err)
		}
	}
	// Each racer tries until it has tried once after the removal, so every
	// racer meets the freed email at least once.
	errs := make([]error, 2*racers+1)
	var removed atomic.Bool
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range 2 * racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			for try := 0; ; try++ {
				last := removed.Load()
				if i < racers { // an update onto the email
					u := users[i]
					u.Email = target
					errs[i] = stores[i].UpdateUser(ctx, usermgmt.UserUpdate{User: u, Event: event(fmt.Sprint("ev-take-", u.ID, "-", try), u)})
				} else {
					n := usermgmt.UserRecord{ID: fmt.Sprintf("u-new-%02d", i), AccountID: first.AccountID, Email: target,
						Role: usermgmt.RoleGeneral, Status: usermgmt.StatusInvited, CreatedAt: t0, UpdatedAt: t0, Version: 1}
					errs[i] = stores[i].CreateUsers(ctx, []usermgmt.UserCreate{{User: n, Event: event(fmt.Sprint("ev-new-", n.ID, "-", try), n)}})
				}
				if errs[i] == nil || last {
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the holder is removed meanwhile, freeing the email
		defer wg.Done()
		start.Wait()
		gone := first
		gone.Status = usermgmt.StatusRemoved
		errs[2*racers] = stores[2*racers].UpdateUser(ctx, usermgmt.UserUpdate{User: gone, Event: event("ev-remove", first)})
		removed.Store(true)
	}()
	start.Done()
	wg.Wait()

	if errs[2*racers] != nil {
		t.Fatalf("removing the holder: %v", errs[2*racers])
	}
	winners := 0
	var winner string
	for i, err := range errs[:2*racers] {
		switch {
		case err == nil:
			winners++
			if i < racers {
				winner = users[i].ID
			} else {
				winner = fmt.Sprintf("u-new-%02d", i)
			}
		case !errors.Is(err, usermgmt.ErrDuplicateEmail):
			t.Fatalf("racer %d: %v, want ErrDuplicateEmail", i, err)
		}
	}
	holder, err := s.UserByEmail(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if winners != 1 || holder.ID != winner {
		t.Fatalf("%d writes took the freed email; the index points at %s, the winner is %q", winners, holder.ID, winner)
	}
	l := checkLayout(t, s)
	for _, u := range users {
		if got := l.users[u.ID]; u.ID != winner && (got.Email != u.Email || got.Version != 1) {
			t.Fatalf("losing racer %s was changed: %+v", u.ID, got)
		}
	}
	for i := racers; i < 2*racers; i++ {
		if id := fmt.Sprintf("u-new-%02d", i); id != winner && l.users[id].ID != "" {
			t.Fatalf("losing create %s was stored", id)
		}
	}
	t.Logf("winner %s", winner)
}
