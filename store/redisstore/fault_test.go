package redisstore_test

import (
	"context"
	"encoding/json"
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

// faultEnv is a Manager (outbox on) on a store with an account, its admin,
// and invited users.
type faultEnv struct {
	m     *usermgmt.Manager
	admin usermgmt.User
	acct  usermgmt.Account
	users []string
}

func newFaultEnv(t *testing.T, s usermgmt.Store, users int, opts ...usermgmt.Option) faultEnv {
	t.Helper()
	ctx := context.Background()
	m, err := usermgmt.New(s, append([]usermgmt.Option{usermgmt.WithHashParams(cheap), usermgmt.WithOutboxKeys(outboxKey)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	acct, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Faults",
		Admin: usermgmt.NewUser{Email: "admin@faults.example", FirstName: "A", LastName: "D", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	f := faultEnv{m: m, admin: c.User, acct: acct}
	rows := make([]usermgmt.NewUser, users)
	for i := range rows {
		rows[i] = usermgmt.NewUser{Email: fmt.Sprintf("user%04d@faults.example", i), FirstName: "U", LastName: strconv.Itoa(i)}
	}
	res, err := m.InviteUsers(ctx, c.User.ID, usermgmt.BulkInvite{AccountID: acct.ID, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Outcome != usermgmt.Invited {
			t.Fatalf("row %d: %s", r.Row, r.Outcome)
		}
		f.users = append(f.users, r.UserID)
	}
	return f
}

// op runs one write chosen by i. Each changes one user with one audit
// event, and the invitations (a new invited user, a resend) store one
// message with it; none touches the password attempt counters. So in a
// consistent store every user's version is its number of events, and its
// invitation messages are its invite and resend events.
func (f faultEnv) op(ctx context.Context, i int) error {
	id := f.users[i%len(f.users)]
	switch i % 5 {
	case 0:
		_, err := f.m.UpdateProfile(ctx, f.admin.ID, id, usermgmt.Profile{FirstName: ptr("N" + strconv.Itoa(i))})
		return err
	case 1:
		_, err := f.m.Grant(ctx, f.admin.ID, id, usermgmt.Grant{Permission: "module", Resource: "insight:" + strconv.Itoa(i)})
		return err
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
		_, err := f.m.CreateUser(ctx, f.admin.ID, usermgmt.NewUser{AccountID: f.acct.ID, Email: fmt.Sprintf("new%06d@faults.example", i),
			FirstName: "N", LastName: "U", Invite: true})
		return err
	default:
		_, err := f.m.ResendInvitation(ctx, f.admin.ID, id)
		if errors.Is(err, usermgmt.ErrInvalidTransition) {
			err = nil
		}
		return err
	}
}

// checkConsistent reads every user, event and message under the store's
// prefix and checks that changes, events and messages went together:
// each user has as many events as writes (its version), as many invitation
// messages as invite and resend events, and every event and message
// belongs to a stored user. Then it checks every index (checkLayout).
func checkConsistent(t *testing.T, s *redisstore.Store) (users, events, messages int) {
	t.Helper()
	l := checkLayout(t, s)
	ctx := context.Background()
	type event struct{ User, Action string }
	raw := s.Client().HGetAll(ctx, s.Prefix()+"events").Val()
	perUser := map[string][]event{}
	for id, js := range raw {
		var ev event
		if err := json.Unmarshal([]byte(js), &ev); err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		if ev.User == "" {
			continue // the account's own event
		}
		if _, ok := l.users[ev.User]; !ok {
			t.Errorf("event %s belongs to user %s, who is not stored", id, ev.User)
		}
		perUser[ev.User] = append(perUser[ev.User], ev)
	}
	invitations := map[string]int{}
	for _, m := range l.messages {
		if _, ok := l.users[m.UserID]; !ok {
			t.Errorf("message %s is about user %s, who is not stored", m.ID, m.UserID)
		}
		if m.Kind == usermgmt.NotifyInvitation {
			invitations[m.UserID]++
		}
	}
	for id, u := range l.users {
		evs := perUser[id]
		if int64(len(evs)) != u.Version {
			t.Errorf("user %s: version %d but %d events", id, u.Version, len(evs))
		}
		invites := 0
		for _, ev := range evs {
			if ev.Action == string(usermgmt.ActionInvite) || ev.Action == string(usermgmt.ActionResend) {
				invites++
			}
		}
		if invites != invitations[id] {
			t.Errorf("user %s: %d invitation events but %d invitation messages", id, invites, invitations[id])
		}
	}
	return len(l.users), len(raw), len(l.messages)
}

// TestServerDiesMidRun kills redis-server (AOF on, fsync always) while
// Managers write, checks that every operation fails promptly instead of
// panicking or hanging, restarts the server from its AOF, and checks that
// no change survived without its event or its message, nor any event or
// message without its change, and that every index agrees.
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
	f := newFaultEnv(t, s, 40)

	const timeout = 500 * time.Millisecond
	var (
		wg        sync.WaitGroup
		killed    atomic.Bool
		ok, fails atomic.Int64
		slowest   atomic.Int64
	)
	stopAt := time.Now().Add(3 * time.Second)
	for g := range 8 {
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
	// With the server gone, every operation fails, with an error that
	// matches ErrStore and shows nothing of the driver's.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := f.op(ctx, 1); err == nil {
		t.Fatal("an operation succeeded with the server down")
	}
	_, err = f.m.Authenticate(ctx, f.admin.Email, password)
	if !errors.Is(err, usermgmt.ErrStore) || err.Error() != usermgmt.ErrStore.Error() {
		t.Fatalf("Authenticate with the server down: %v, want exactly ErrStore's text", err)
	}
	var netErr interface{ Timeout() bool }
	if _, err := s.User(ctx, f.admin.ID); !errors.Is(err, usermgmt.ErrStore) || !errors.As(err, &netErr) {
		t.Fatalf("User with the server down: %v (%T), want ErrStore wrapping the network error", err, err)
	}

	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	// A fresh client: the old one's pool backs off from dialing a server
	// that refused it.
	c2 := redis.NewClient(&redis.Options{Addr: srv.addr, ContextTimeoutEnabled: true})
	defer c2.Close()
	s2, err := redisstore.New(c2, redisstore.Options{Prefix: "faults:"})
	if err != nil {
		t.Fatal(err)
	}
	users, events, messages := checkConsistent(t, s2)
	t.Logf("after restart from AOF: %d users, %d events, %d messages, consistent", users, events, messages)
	if users < 41 || !strings.HasPrefix(s2.Prefix(), "faults") {
		t.Fatalf("only %d users after restart: the AOF lost acknowledged writes", users)
	}
}

// TestCancelledMidOperation cancels operations at random points, hundreds
// of times, and checks that no change is stored without its event and
// message, and every index agrees.
func TestCancelledMidOperation(t *testing.T) {
	s := newStore(t)
	f := newFaultEnv(t, s, 30)
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 800; i += 8 {
				// Deadlines from 0 to 60 ms: before, during and after the store calls.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%13)*5*time.Millisecond)
				if err := f.op(ctx, i); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("op %d: %v, want a context deadline error (%s)", i, err, causes(err))
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
	users, events, messages := checkConsistent(t, s)
	t.Logf("%d of 800 operations cancelled; %d users, %d events, %d messages, consistent", cancelled.Load(), users, events, messages)
}

// causes lists the errors of err's tree, for failure messages.
func causes(err error) string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, fmt.Sprintf("%T: %v", e, e))
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return strings.Join(out, " / ")
}
