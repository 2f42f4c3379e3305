package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

var cheap = usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// fixture is a Manager on a store with an account, its admin, and users.
type fixture struct {
	m     *usermgmt.Manager
	admin usermgmt.User
	acct  usermgmt.Account
	users []string
}

func newFixture(t *testing.T, s *redisstore.Store, users int) fixture {
	t.Helper()
	ctx := context.Background()
	m, err := usermgmt.New(s, usermgmt.WithHashParams(cheap))
	if err != nil {
		t.Fatal(err)
	}
	acct, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Faults",
		Admin: usermgmt.NewUser{Email: "admin@faults.example", FirstName: "A", LastName: "D", Password: "correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{m: m, admin: c.User, acct: acct}
	emails := make([]string, users)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%04d@faults.example", i)
	}
	res, err := m.InviteUsers(ctx, c.User.ID, usermgmt.BulkInvite{AccountID: acct.ID, Emails: emails})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		f.users = append(f.users, r.UserID)
	}
	return f
}

// op runs one write chosen by i: every one of them changes a user and
// writes one audit event, and none touches the password attempt counters,
// so a user's version always equals its number of events.
func (f fixture) op(ctx context.Context, i int) error {
	id := f.users[i%len(f.users)]
	switch i % 5 {
	case 0:
		_, err := f.m.UpdateProfile(ctx, f.admin.ID, id, usermgmt.Profile{FirstName: "N" + strconv.Itoa(i)})
		return err
	case 1:
		return f.m.Grant(ctx, f.admin.ID, id, usermgmt.Grant{Permission: "module", Resource: strconv.Itoa(i)})
	case 2:
		_, err := f.m.Disable(ctx, f.admin.ID, id)
		if errors.Is(err, usermgmt.ErrInvalidTransition) {
			_, err = f.m.Enable(ctx, f.admin.ID, id)
		}
		if errors.Is(err, usermgmt.ErrInvalidTransition) {
			err = nil // another goroutine toggled the same user meanwhile
		}
		return err
	case 3:
		_, err := f.m.CreateUser(ctx, f.admin.ID, usermgmt.NewUser{AccountID: f.acct.ID, Email: fmt.Sprintf("new%06d@faults.example", i), FirstName: "N", LastName: "U"})
		return err
	default:
		_, err := f.m.ResendInvitation(ctx, f.admin.ID, id)
		if errors.Is(err, usermgmt.ErrInvalidTransition) {
			err = nil
		}
		return err
	}
}

// checkConsistent reads every key under prefix and checks that changes
// and events went together: each user has as many events as writes
// (its version), every event belongs to a stored user and is in its
// history, and the indexes agree with the users.
func checkConsistent(t *testing.T, c *redis.Client, prefix string) (users, events int) {
	t.Helper()
	ctx := context.Background()
	evs, err := c.HGetAll(ctx, prefix+"events").Result()
	if err != nil {
		t.Fatal(err)
	}
	iter := c.Scan(ctx, 0, prefix+"u:*", 1000).Iterator()
	seenEvents := 0
	for iter.Next(ctx) {
		key := iter.Val()
		id := strings.TrimPrefix(key, prefix+"u:")
		f, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		users++
		history, err := c.ZRange(ctx, prefix+"e:"+id, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(len(history)) != f["version"] {
			t.Errorf("user %s: version %s but %d events", id, f["version"], len(history))
		}
		for _, ev := range history {
			if _, ok := evs[ev]; !ok {
				t.Errorf("user %s: history lists event %s that is not stored", id, ev)
			}
			if !strings.Contains(evs[ev], `"user":"`+id+`"`) {
				t.Errorf("event %s in %s's history belongs to someone else", ev, id)
			}
		}
		seenEvents += len(history)
		if f["status"] != "removed" {
			if got := c.Get(ctx, prefix+"email:"+f["email"]).Val(); got != id {
				t.Errorf("user %s: email key points at %q", id, got)
			}
		}
		if f["token"] != "" {
			if got := c.Get(ctx, prefix+"token:"+f["token"]).Val(); got != id {
				t.Errorf("user %s: token key points at %q", id, got)
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if seenEvents != len(evs) {
		t.Errorf("%d events stored but %d in users' histories: events without their change", len(evs), seenEvents)
	}
	return users, len(evs)
}

// TestServerDiesMidRun kills redis-server (AOF on) while Managers write,
// checks that every operation fails promptly instead of panicking or
// hanging, restarts the server from its AOF, and checks that no change
// survived without its event nor any event without its change.
func TestServerDiesMidRun(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("this test starts its own redis-server: " + enableHint)
	}
	srv, err := startServer(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	c := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.Options{Prefix: "faults:"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s, 40)

	const timeout = 500 * time.Millisecond
	var (
		wg        sync.WaitGroup
		killed    atomic.Bool
		ok, fails atomic.Int64
		slowest   atomic.Int64
	)
	stopAt := time.Now().Add(3 * time.Second)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Now().Before(stopAt); i += 8 {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				began := time.Now()
				err := f.op(ctx, i)
				took := time.Since(began)
				cancel()
				if d := int64(took); d > slowest.Load() {
					slowest.Store(d)
				}
				switch {
				case err == nil:
					ok.Add(1)
				default:
					fails.Add(1)
					if !killed.Load() {
						t.Errorf("op %d failed before the server died: %v", i, err)
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	killed.Store(true)
	srv.stop()
	wg.Wait()
	t.Logf("%d operations succeeded, %d failed; slowest took %v", ok.Load(), fails.Load(), time.Duration(slowest.Load()))
	if fails.Load() == 0 {
		t.Fatal("no operation failed after the server died")
	}
	if d := time.Duration(slowest.Load()); d > timeout+time.Second {
		t.Fatalf("an operation took %v, past its %v deadline", d, timeout)
	}
	// After the kill, every operation fails.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := f.op(ctx, 1); err == nil {
		t.Fatal("an operation succeeded with the server down")
	}
	if _, err := f.m.Authenticate(ctx, f.admin.Email, "correct horse battery staple"); err == nil || errors.Is(err, usermgmt.ErrInvalidCredentials) {
		t.Fatalf("Authenticate with the server down: %v, want a store error", err)
	}

	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	// A fresh client: the old one's pool backs off from dialing a server
	// that refused it.
	c2 := redis.NewClient(&redis.Options{Addr: srv.addr})
	defer c2.Close()
	users, events := checkConsistent(t, c2, "faults:")
	checkLayout(t, c2, "faults:") // and every index agrees with the users
	t.Logf("after restart from AOF: %d users, %d events, consistent", users, events)
	if users < 41 {
		t.Fatalf("only %d users after restart: the AOF lost acknowledged writes", users)
	}
}

// TestCancelledMidOperation cancels operations at random points, hundreds
// of times, and checks that no change is stored without its event.
func TestCancelledMidOperation(t *testing.T) {
	s := newStore(t)
	f := newFixture(t, s, 30)
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 800; i += 8 {
				// Deadlines from 0 to 3 ms: before, during and after the store calls.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%13)*250*time.Microsecond)
				if err := f.op(ctx, i); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") &&
						!strings.Contains(err.Error(), "i/o timeout") {
						t.Errorf("op %d: %v", i, err)
					}
					cancelled.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if cancelled.Load() == 0 {
		t.Fatal("no operation was cancelled: the test proved nothing")
	}
	users, events := checkConsistent(t, s.Client().(*redis.Client), s.Prefix())
	checkLayout(t, s.Client().(*redis.Client), s.Prefix())
	t.Logf("%d of 800 operations cancelled; %d users, %d events, consistent", cancelled.Load(), users, events)
}
