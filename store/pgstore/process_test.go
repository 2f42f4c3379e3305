package pgstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/proctest"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/pgstore"
)

// Some tests re-run this test binary as child processes, so that several
// OS processes, each with its own Manager and connection pool, share one
// schema as application instances on several machines would. A child is
// told what to do by these environment variables.
const (
	childMode   = "PGSTORE_CHILD" // what the child does
	childURL    = "PGSTORE_CHILD_URL"
	childSchema = "PGSTORE_CHILD_SCHEMA"
	childArg    = "PGSTORE_CHILD_ARG"
)

// runChild is the child's side. It prints "ready", waits for a line on
// stdin (so that every child starts its work at once), does its work and
// prints its result on one line. It returns the exit code.
func runChild(mode string) int {
	if err := child(mode, os.Getenv(childURL), os.Getenv(childSchema), os.Getenv(childArg)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func child(mode, url, schema, arg string) error {
	ctx := context.Background()
	in := bufio.NewReader(os.Stdin)
	wait := func() error {
		fmt.Println("ready")
		_, err := in.ReadString('\n')
		return err
	}
	if mode == "open" { // open a new schema at the same moment as the others
		if err := wait(); err != nil {
			return err
		}
		s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema))
		if err != nil {
			return err
		}
		defer s.Close()
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Println("version", v)
		return nil
	}
	s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema), pgstore.WithMaxConns(8))
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	switch mode {
	case "lockout": // fire wrong passwords at the user with email arg
		if err := fixture.WrongPasswordFlood(ctx, m, arg, 64); err != nil {
			return err
		}
		fmt.Println("verified", m.Stats().PasswordVerifications)
		return nil
	case "logins", "writes": // the multi-instance benchmark's work, for arg (a duration)
		d, err := time.ParseDuration(arg)
		if err != nil {
			return err
		}
		n, err := storebench.InstanceWork(ctx, s, mode, d)
		if err != nil {
			return err
		}
		fmt.Println("done", n)
		return nil
	case "create": // create the users race0..race19@example.com in account arg, 4 tries each
		adminID, account, _ := strings.Cut(arg, "/")
		var mu sync.Mutex
		created := 0
		for i := range 80 {
			wg.Go(func() {
				_, err := m.CreateUser(ctx, adminID, usermgmt.NewUser{AccountID: account, Email: fixture.Email("race", i%20),
					FirstName: "Race", LastName: "Runner", Invite: true})
				switch {
				case err == nil:
					mu.Lock()
					created++
					mu.Unlock()
				case !errors.Is(err, usermgmt.ErrDuplicateEmail):
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return fmt.Errorf("create: %w", err)
		}
		fmt.Println("created", created)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// startChild starts a child process of the given mode on the schema.
func startChild(t *testing.T, mode, schema, arg string) *proctest.Child {
	t.Helper()
	return proctest.Start(t, childMode+"="+mode, childURL+"="+testURL, childSchema+"="+schema, childArg+"="+arg)
}

// run starts n children, lets them go at once, and returns the number
// each printed after prefix.
func runChildren(t *testing.T, n int, mode, schema, arg, prefix string) []int {
	t.Helper()
	var children []*proctest.Child
	for range n {
		children = append(children, startChild(t, mode, schema, arg))
	}
	for _, ch := range children {
		ch.Go(t)
	}
	var out []int
	for i, ch := range children {
		line := ch.Finish(t)
		v, err := strconv.Atoi(strings.TrimPrefix(line, prefix+" "))
		if err != nil || !strings.HasPrefix(line, prefix+" ") {
			t.Fatalf("child %d said %q, want %q and a number", i, line, prefix)
		}
		out = append(out, v)
	}
	return out
}

// processFixture is a schema with an account, its admin and a victim user.
func processFixture(t *testing.T) (*pgstore.Store, *usermgmt.Manager, usermgmt.User, usermgmt.User) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	s := newStore(t)
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Root",
		Admin: usermgmt.NewUser{Email: "admin@example.com", FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: "victim@example.com", FirstName: "Vic", LastName: "Tim", Password: fixture.Password})
	if err != nil {
		t.Fatal(err)
	}
	return s, m, c.User, v.User
}

// TestLockoutAcrossProcesses runs the lockout race from four OS processes,
// 64 goroutines each, each process with its own Manager and pool on one
// schema: exactly ten password hashes are verified in all, and the user
// ends Locked with one lock event.
func TestLockoutAcrossProcesses(t *testing.T) {
	s, m, _, victim := processFixture(t)
	ctx := context.Background()
	verified := 0
	for i, n := range runChildren(t, 4, "lockout", s.Schema(), victim.Email, "verified") {
		t.Logf("process %d verified %d hashes", i, n)
		verified += n
	}
	if verified != 10 {
		t.Fatalf("%d password hashes verified across four processes, want exactly 10", verified)
	}
	got, err := s.User(ctx, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != usermgmt.StatusLocked || got.FailedAttempts != 10 || len(got.AttemptLeases) != 0 {
		t.Fatalf("victim is %s with %d failed attempts and %d leases, want locked with 10 and none", got.Status, got.FailedAttempts, len(got.AttemptLeases))
	}
	evs, err := s.History(ctx, usermgmt.HistoryQuery{UserID: victim.ID, Actions: []usermgmt.Action{usermgmt.ActionLock}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d lock events, want 1", len(evs))
	}
	if _, err := m.Authenticate(ctx, victim.Email, fixture.Password); !errors.Is(err, usermgmt.ErrLocked) {
		t.Fatalf("the right password after the lock: %v, want ErrLocked", err)
	}
}

// TestEmailUniqueAcrossProcesses has four OS processes create the same
// twenty users at once, each email 16 times in all: exactly one creation
// of each email wins, and the schema holds twenty users besides the
// fixture's.
func TestEmailUniqueAcrossProcesses(t *testing.T) {
	s, _, admin, _ := processFixture(t)
	ctx := context.Background()
	created := 0
	for _, n := range runChildren(t, 4, "create", s.Schema(), admin.ID+"/"+admin.AccountID, "created") {
		created += n
	}
	if created != 20 {
		t.Fatalf("%d creations succeeded across four processes, want 20: one per email", created)
	}
	for i := range 20 {
		u, err := s.UserByEmail(ctx, fixture.Email("race", i))
		if err != nil {
			t.Fatalf("%s: %v", fixture.Email("race", i), err)
		}
		evs, err := s.History(ctx, usermgmt.HistoryQuery{UserID: u.ID, Limit: 10})
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events (%v), want its invitation alone", u.Email, len(evs), err)
		}
	}
	n, err := s.CountUsers(ctx, usermgmt.ListQuery{AccountID: admin.AccountID})
	if err != nil || n != 22 {
		t.Fatalf("%d users (%v), want 22", n, err)
	}
}

// TestProcessesOpenNewSchemaAtOnce starts four processes that open the same
// schema, which does not exist yet, at the same moment: the advisory lock
// lets one migrate while the others wait, and each sees the current
// version (a second run of the migration would fail its process on
// CREATE TABLE).
func TestProcessesOpenNewSchemaAtOnce(t *testing.T) {
	needServer(t)
	if testing.Short() {
		t.Skip("starts child processes")
	}
	schema := randomSchema(t)
	t.Cleanup(func() { dropSchema(t, schema) })
	versions := runChildren(t, 4, "open", schema, "", "version")
	s := openSchema(t, schema)
	want, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range versions {
		if v != want || v < 1 {
			t.Fatalf("child %d saw version %d, want %d", i, v, want)
		}
	}
}

// BenchmarkInstances is the multi-instance figure: four OS processes,
// each with its own Manager and pool on one schema (as four application
// instances on four machines would be), log users in (right password,
// default argon2id parameters, 16 goroutines each) for five seconds, then
// edit profiles as an admin (a versioned write with its audit event each)
// for five seconds (storebench.InstanceWork). It reports logins/s and
// writes/s for all four together; sqlitestore's BenchmarkInstances does the
// same on one file. Run it with -benchtime 1x.
func BenchmarkInstances(b *testing.B) {
	url := benchDB(b)
	ctx := context.Background()
	schema := randomSchema(b)
	s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_, _ = s.Pool().Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		s.Close()
	}()
	if err := storebench.SetupInstances(ctx, s); err != nil {
		b.Fatal(err)
	}
	const d = 5 * time.Second
	for range b.N {
		for _, mode := range []string{"logins", "writes"} {
			total := 0
			for _, n := range runBenchChildren(b, 4, mode, url, schema, d.String()) {
				total += n
			}
			b.ReportMetric(float64(total)/d.Seconds(), mode+"/s")
		}
	}
}

// runBenchChildren is runChildren for a benchmark, on the database url.
func runBenchChildren(b *testing.B, n int, mode, url, schema, arg string) []int {
	b.Helper()
	var children []*proctest.Child
	for range n {
		children = append(children, proctest.Start(b, childMode+"="+mode, childURL+"="+url, childSchema+"="+schema, childArg+"="+arg))
	}
	for _, ch := range children {
		ch.Go(b)
	}
	var res []int
	for i, ch := range children {
		line := ch.Finish(b)
		v, err := strconv.Atoi(strings.TrimPrefix(line, "done "))
		if err != nil {
			b.Fatalf("child %d said %q", i, line)
		}
		res = append(res, v)
	}
	return res
}
