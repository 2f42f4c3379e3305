package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/pgtest"
	"github.com/usermgmt/usermgmt/store/pgstore"
)

// fixture is a Manager on a store with an account, its admin, and users.
type faultFixture struct {
	m     *usermgmt.Manager
	admin usermgmt.User
	acct  usermgmt.Account
	users []string
	seq   atomic.Int64
}

func newFaultFixture(t *testing.T, s usermgmt.Store, users int) *faultFixture {
	t.Helper()
	ctx := context.Background()
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	acct, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Faults",
		Admin: usermgmt.NewUser{Email: "admin@faults.example", FirstName: "A", LastName: "D", Password: fixture.Password}})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultFixture{m: m, admin: c.User, acct: acct}
	for i := range users {
		cr, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: fmt.Sprintf("user%04d@faults.example", i),
			FirstName: "U", LastName: "Ser", Invite: true})
		if err != nil {
			t.Fatal(err)
		}
		f.users = append(f.users, cr.User.ID)
	}
	return f
}

// op runs one write chosen by i: each changes one user and writes one
// audit event, and none touches the password-attempt counters, so a
// user's version always equals its number of events.
func (f *faultFixture) op(ctx context.Context, i int) error {
	id := f.users[i%len(f.users)]
	var err error
	switch i % 5 {
	case 0:
		name := "N" + strconv.Itoa(i)
		_, err = f.m.UpdateProfile(ctx, f.admin.ID, id, usermgmt.Profile{FirstName: &name})
	case 1:
		_, err = f.m.Grant(ctx, f.admin.ID, id, usermgmt.Grant{Permission: "module", Resource: "insights:" + strconv.Itoa(i)})
	case 2:
		_, err = f.m.Disable(ctx, f.admin.ID, id)
		if errors.Is(err, usermgmt.ErrInvalidTransition) {
			_, err = f.m.Enable(ctx, f.admin.ID, id)
		}
	case 3:
		_, err = f.m.CreateUser(ctx, f.admin.ID, usermgmt.NewUser{Email: fmt.Sprintf("new%07d@faults.example", f.seq.Add(1)),
			FirstName: "N", LastName: "U", Invite: true})
	default:
		_, err = f.m.ResendInvitation(ctx, f.admin.ID, id)
	}
	if errors.Is(err, usermgmt.ErrInvalidTransition) {
		err = nil // another goroutine moved the same user meanwhile
	}
	return err
}

// checkConsistent reads the schema directly and checks that changes and
// events went together and that every index table agrees with the users:
// each user has as many events as writes (its version) when versions is
// set, every user event belongs to a stored user, and user_tree,
// user_tokens, group_members and account_events hold exactly what the
// users and events say.
func checkConsistent(t *testing.T, url, schema string, versions bool) (users, events int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	s := pgx.Identifier{schema}.Sanitize()
	checks := map[string]string{
		"events of users that are not stored": `SELECT count(*) FROM S.events e WHERE e.user_id <> '' AND NOT EXISTS (SELECT FROM S.users u WHERE u.id = e.user_id)`,
		"users filed wrongly in user_tree": `SELECT count(*) FROM S.users u JOIN S.accounts a ON a.id = u.account_id
			WHERE (SELECT array_agg(root_id ORDER BY root_id) FROM S.user_tree WHERE user_id = u.id)
			IS DISTINCT FROM (SELECT array_agg(r ORDER BY r) FROM unnest(a.ancestors || a.id) r)`,
		"user_tree rows of no user": `SELECT count(*) FROM S.user_tree t WHERE NOT EXISTS (SELECT FROM S.users u WHERE u.id = t.user_id)`,
		"users whose token index disagrees": `SELECT count(*) FROM S.users u
			WHERE (SELECT coalesce(array_agg(hash ORDER BY hash), '{}') FROM S.user_tokens WHERE user_id = u.id)
			IS DISTINCT FROM (SELECT coalesce(array_agg((x->>'h') COLLATE "C" ORDER BY (x->>'h') COLLATE "C"), '{}') FROM jsonb_array_elements(u.tokens) x)`,
		"users whose group index disagrees": `SELECT count(*) FROM S.users u
			WHERE (SELECT coalesce(array_agg(group_id ORDER BY group_id), '{}') FROM S.group_members WHERE user_id = u.id)
			IS DISTINCT FROM (SELECT coalesce(array_agg(DISTINCT g COLLATE "C" ORDER BY g COLLATE "C"), '{}') FROM jsonb_array_elements_text(u.groups) g)`,
		"events filed wrongly in account_events": `SELECT count(*) FROM S.events e JOIN S.accounts a ON a.id = e.account_id
			WHERE (SELECT array_agg(root_id ORDER BY root_id) FROM S.account_events WHERE event_id = e.id)
			IS DISTINCT FROM (SELECT array_agg(r ORDER BY r) FROM unnest(a.ancestors || a.id) r)`,
	}
	if versions {
		checks["users whose version is not their number of events"] = `SELECT count(*) FROM S.users u
			WHERE u.version <> (SELECT count(*) FROM S.events e WHERE e.user_id = u.id)`
	}
	for what, q := range checks {
		var n int
		if err := conn.QueryRow(ctx, strings.ReplaceAll(q, "S.", s+".")).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, what)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+s+".users), (SELECT count(*) FROM "+s+".events)").Scan(&users, &events); err != nil {
		t.Fatal(err)
	}
	return users, events
}

// cleanStoreError fails the test when err is a store failure whose text
// shows more than the sentinel's words.
func cleanStoreError(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, usermgmt.ErrStore) && err.Error() != usermgmt.ErrStore.Error() {
		t.Errorf("store failure with text %q, want %q alone", err, usermgmt.ErrStore)
	}
}

// hammer runs f.op from 8 goroutines until stop is closed, each call with
// its own deadline, and counts what happened.
type hammer struct {
	ok, fails atomic.Int64
	slowest   atomic.Int64
	wg        sync.WaitGroup
}

func (h *hammer) run(t *testing.T, f *faultFixture, timeout time.Duration, stop <-chan struct{}) {
	for g := range 8 {
		h.wg.Go(func() {
			for i := g; ; i += 8 {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				began := time.Now()
				err := f.op(ctx, i)
				took := time.Since(began)
				cancel()
				for d := int64(took); d > h.slowest.Load() && !h.slowest.CompareAndSwap(h.slowest.Load(), d); {
				}
				if err == nil {
					h.ok.Add(1)
					continue
				}
				h.fails.Add(1)
				cleanStoreError(t, err)
				if !errors.Is(err, usermgmt.ErrStore) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("op %d: %v, want a store failure or the deadline", i, err)
				}
				time.Sleep(5 * time.Millisecond) // a down server answers at once: do not spin
			}
		})
	}
}

// TestServerCrashMidRun crashes PostgreSQL (an immediate shutdown: no
// checkpoint, backends killed) while Managers write, checks that every
// operation then fails promptly (within its deadline) instead of hanging,
// restarts the server, checks that the pool recovers by itself, and that
// the WAL recovery left every change whole: no change without its event,
// no event without its change, every index table agreeing with the users.
func TestServerCrashMidRun(t *testing.T) {
	needServer(t)
	if server == nil {
		t.Skip("crashes a server: needs the throwaway cluster, not " + pgtest.EnvURL)
	}
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	srv, err := pgtest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Remove()
	url := srv.URL("postgres")
	ctx := context.Background()
	s, err := pgstore.Open(ctx, url, pgstore.WithSchema("faults"), pgstore.WithMaxConns(8))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := newFaultFixture(t, s, 40)

	const timeout = time.Second
	var h hammer
	stop := make(chan struct{})
	h.run(t, f, timeout, stop)
	time.Sleep(time.Second)
	before := h.ok.Load()
	srv.Crash()
	crashed := h.fails.Load()
	time.Sleep(time.Second)
	down := h.fails.Load() - crashed
	okDown := h.ok.Load()
	if err := srv.Start(); err != nil {
		close(stop)
		h.wg.Wait()
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for h.ok.Load() < okDown+50 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	h.wg.Wait()
	t.Logf("%d operations succeeded before the crash, %d failed while the server was down, %d succeeded after the restart; slowest %v",
		before, down, h.ok.Load()-okDown, time.Duration(h.slowest.Load()))
	if down == 0 {
		t.Fatal("no operation failed while the server was down")
	}
	if h.ok.Load() < okDown+50 {
		t.Fatalf("only %d operations succeeded in 15s after the restart: the pool did not recover", h.ok.Load()-okDown)
	}
	if d := time.Duration(h.slowest.Load()); d > timeout+pgstore.CancelDelay+500*time.Millisecond {
		t.Fatalf("an operation took %v, past its %v deadline", d, timeout)
	}
	users, events := checkConsistent(t, url, "faults", true)
	t.Logf("after crash recovery: %d users, %d events, consistent", users, events)
	if users < 41 {
		t.Fatalf("only %d users after recovery: committed writes were lost", users)
	}
}

// TestBackendTerminated kills the store's server processes with
// pg_terminate_backend, over and over, while Managers write: operations
// on a killed connection fail cleanly (ErrStore, no SQL or data in the
// text, the server's error reachable), nothing is left half-written, and
// once the killing stops the pool replaces its connections by itself.
func TestBackendTerminated(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	schema := randomSchema(t)
	t.Cleanup(func() { dropSchema(t, schema) })
	app := "pgstore-victim-" + schema
	url := testURL + sep(testURL) + "application_name=" + app
	s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema), pgstore.WithMaxConns(8))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := newFaultFixture(t, s, 30)
	killer, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)

	var h hammer
	stop := make(chan struct{})
	h.run(t, f, 5*time.Second, stop)
	killed := 0
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		var n int
		if err := killer.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
	}
	close(stop)
	h.wg.Wait()
	t.Logf("%d backends terminated; %d operations succeeded, %d failed", killed, h.ok.Load(), h.fails.Load())
	if killed == 0 || h.fails.Load() == 0 {
		t.Fatal("no backend was terminated mid-operation: the test proved nothing")
	}
	// pgxpool pings a connection idle for more than a second before
	// handing it out; after that every operation must succeed.
	time.Sleep(1500 * time.Millisecond)
	for i := range 50 {
		if err := f.op(ctx, i); err != nil {
			t.Fatalf("op %d after the killing stopped: %v", i, err)
		}
	}
	_, err = f.m.UserByEmail(ctx, f.admin.ID, f.admin.Email)
	if err != nil {
		t.Fatal(err)
	}
	users, events := checkConsistent(t, testURL, schema, true)
	t.Logf("%d users, %d events, consistent", users, events)
}

// sep returns the separator that appends a parameter to a URL.
func sep(url string) string {
	if strings.Contains(url, "?") {
		return "&"
	}
	return "?"
}

// TestDeadlineBoundsStatements holds a user's row locked from another
// connection and calls every store method that must wait for that lock,
// each with a short deadline: each returns the context's error within the
// deadline and CancelDelay, the server cancels the waiting statement (no
// backend is left waiting, nothing is applied once the lock goes), and
// the store serves the next call.
func TestDeadlineBoundsStatements(t *testing.T) {
	s := newStore(t)
	f := newFaultFixture(t, s, 0)
	ctx := context.Background()
	victim := fixture.Record(f.acct.ID, "victim@example.com", fixture.Start)
	if err := s.CreateUsers(ctx, []usermgmt.UserCreate{{User: victim, Event: fixture.Event(victim, usermgmt.ActionCreate)}}); err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT FROM "+pgx.Identifier{s.Schema()}.Sanitize()+".users WHERE id = $1 FOR UPDATE", victim.ID); err != nil {
		t.Fatal(err)
	}
	now := fixture.Start
	up := victim
	up.FirstName = "Blocked"
	calls := map[string]func(ctx context.Context) error{
		"UpdateUser": func(ctx context.Context) error {
			return s.UpdateUser(ctx, usermgmt.UserUpdate{User: up, Event: fixture.Event(up, usermgmt.ActionProfileChange)})
		},
		"ReserveAttempt": func(ctx context.Context) error {
			_, _, err := s.ReserveAttempt(ctx, usermgmt.AttemptReservation{UserID: victim.ID, Limit: 10, Now: now,
				Lease: usermgmt.AttemptLease{ID: "lease", Until: now.Add(time.Minute)}})
			return err
		},
		"FinishAttempt": func(ctx context.Context) error {
			_, _, err := s.FinishAttempt(ctx, usermgmt.AttemptOutcome{UserID: victim.ID, LeaseID: "lease", At: now, Limit: 10})
			return err
		},
		"RecordActivity": func(ctx context.Context) error {
			_, err := s.RecordActivity(ctx, usermgmt.ActivityUpdate{UserID: victim.ID, At: now, IfBefore: now.Add(time.Hour)})
			return err
		},
	}
	const deadline = 300 * time.Millisecond
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, deadline)
		began := time.Now()
		err := call(cctx)
		took := time.Since(began)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s behind a lock: %v, want context.DeadlineExceeded", name, err)
		}
		if took > deadline+pgstore.CancelDelay+200*time.Millisecond {
			t.Errorf("%s took %v, past its %v deadline", name, took, deadline)
		}
	}
	var waiting int
	for range 50 {
		err := holder.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waiting != 0 {
		t.Fatalf("%d statements still wait for the lock after their callers gave up", waiting)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(ctx, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != victim.Version || got.FirstName != victim.FirstName || len(got.AttemptLeases) != 0 {
		t.Fatalf("a call that gave up was applied once the lock went: %+v", got)
	}
	if err := calls["UpdateUser"](ctx); err != nil {
		t.Fatalf("UpdateUser after the lock went: %v", err)
	}
}

// TestCancelledMidOperation gives hundreds of operations deadlines from 0
// to 3ms, so that they end before, during and after their statements, and
// checks that nothing is left half-written and the store still works.
func TestCancelledMidOperation(t *testing.T) {
	s := newStore(t)
	f := newFaultFixture(t, s, 30)
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < 800; i += 8 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%13)*250*time.Microsecond)
				if err := f.op(ctx, i); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("op %d: %v, want the deadline", i, err)
					}
					cancelled.Add(1)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if cancelled.Load() == 0 {
		t.Fatal("no operation was cancelled: the test proved nothing")
	}
	for i := range 20 {
		if err := f.op(context.Background(), i); err != nil {
			t.Fatalf("op %d after the cancellations: %v", i, err)
		}
	}
	users, events := checkConsistent(t, testURL, s.Schema(), true)
	t.Logf("%d of 800 operations cancelled; %d users, %d events, consistent", cancelled.Load(), users, events)
}

// TestStoreErrorsKeepTheDriverError checks that a backend failure matches
// ErrStore, shows only the sentinel's words, and still reaches the
// server's error through errors.As.
func TestStoreErrorsKeepTheDriverError(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// A NUL byte is refused by PostgreSQL's text type: a backend failure.
	_, err := s.UserByEmail(ctx, "nul\x00@example.com")
	if !errors.Is(err, usermgmt.ErrStore) {
		t.Fatalf("lookup of an email with a NUL: %v, want ErrStore", err)
	}
	cleanStoreError(t, err)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22021" {
		t.Fatalf("errors.As did not reach the server's error: %#v", err)
	}
	if strings.Contains(err.Error(), "nul") || strings.Contains(err.Error(), "SELECT") {
		t.Fatalf("error text %q shows data or SQL", err)
	}
}
