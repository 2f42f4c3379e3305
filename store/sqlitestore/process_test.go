package sqlitestore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/proctest"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// Some tests re-run this test binary as a child process, so that two OS
// processes, each with its own SQLite connections and file locks, work on
// one file. A child is told what to do by these environment variables.
const (
	childMode = "SQLITESTORE_CHILD" // what the child does
	childPath = "SQLITESTORE_CHILD_PATH"
	childArg  = "SQLITESTORE_CHILD_ARG"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childMode); mode != "" {
		if err := runChild(mode, os.Getenv(childPath), os.Getenv(childArg)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cheapHash keeps argon2id real but quick, as store/storetest does.
var cheapHash = usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const password = "correct horse battery staple"

// runChild is the child's side. It prints "ready", waits for a line on
// stdin, does its work and prints its result.
func runChild(mode, path, arg string) error {
	ctx := context.Background()
	in := bufio.NewReader(os.Stdin)
	wait := func() error {
		fmt.Println("ready")
		_, err := in.ReadString('\n')
		return err
	}
	switch mode {
	case "open": // open a (new) file at the same moment as other children
		if err := wait(); err != nil {
			return err
		}
		s, err := sqlitestore.Open(ctx, path)
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
	case "logins", "writes": // the multi-instance benchmark's work, for arg (a duration)
		d, err := time.ParseDuration(arg)
		if err != nil {
			return err
		}
		s, err := sqlitestore.Open(ctx, path)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := wait(); err != nil {
			return err
		}
		n, err := storebench.InstanceWork(ctx, s, mode, d)
		if err != nil {
			return err
		}
		fmt.Println("done", n)
		return nil
	case "lockout": // fire wrong passwords at the user with email arg
		s, err := sqlitestore.Open(ctx, path)
		if err != nil {
			return err
		}
		defer s.Close()
		m, err := usermgmt.New(s, usermgmt.WithHashParams(cheapHash))
		if err != nil {
			return err
		}
		if err := wait(); err != nil {
			return err
		}
		if err := fixture.WrongPasswordFlood(ctx, m, arg, 64); err != nil {
			return err
		}
		fmt.Println("verified", m.Stats().PasswordVerifications)
		return nil
	case "readonly": // open a file this (unprivileged) process cannot write
		_, err := sqlitestore.Open(ctx, path)
		fmt.Println("error", err)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// startChild starts a child process of the given mode on the file.
func startChild(t testing.TB, mode, path, arg string) *proctest.Child {
	t.Helper()
	return proctest.Start(t, childMode+"="+mode, childPath+"="+path, childArg+"="+arg)
}

// TestLockoutAcrossProcesses runs the lockout race from two OS processes,
// 64 goroutines each, on one file: at most (and here exactly) ten password
// hashes are verified in all, and the user ends Locked with one lock event.
func TestLockoutAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	s := open(t, path)
	m, err := usermgmt.New(s, usermgmt.WithHashParams(cheapHash))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Root",
		Admin: usermgmt.NewUser{Email: "admin@example.com", FirstName: "Ada", LastName: "Admin", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := s.UserByEmail(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.CreateUser(ctx, usermgmt.System, usermgmt.NewUser{AccountID: admin.AccountID, Email: "victim@example.com",
		FirstName: "Vic", LastName: "Tim", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	victim := c.User

	children := []*proctest.Child{startChild(t, "lockout", path, victim.Email), startChild(t, "lockout", path, victim.Email)}
	for _, ch := range children {
		ch.Go(t)
	}
	var verified uint64
	for i, ch := range children {
		line := ch.Finish(t)
		n, err := strconv.ParseUint(strings.TrimPrefix(line, "verified "), 10, 64)
		if err != nil {
			t.Fatalf("child %d said %q", i, line)
		}
		t.Logf("process %d verified %d hashes", i, n)
		verified += n
	}
	if verified != 10 {
		t.Fatalf("%d password hashes verified across two processes, want exactly 10", verified)
	}
	got, err := s.User(ctx, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != usermgmt.StatusLocked || got.FailedAttempts != 10 {
		t.Fatalf("victim is %s with %d failed attempts, want locked with 10", got.Status, got.FailedAttempts)
	}
	evs, err := s.History(ctx, usermgmt.HistoryQuery{UserID: victim.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	locks := 0
	for _, e := range evs {
		if e.Action == usermgmt.ActionLock {
			locks++
		}
	}
	if locks != 1 {
		t.Fatalf("%d lock events, want 1", locks)
	}
	if _, err := m.Authenticate(ctx, victim.Email, password); !errors.Is(err, usermgmt.ErrLocked) {
		t.Fatalf("the right password after the lock: %v, want ErrLocked", err)
	}
}

// TestProcessesOpenNewFileAtOnce starts four processes that open the same
// file, which does not exist yet, at the same moment: each sees the current
// schema. (A second run of a migration would have failed that child on
// schema_migrations' primary key or on CREATE TABLE.)
func TestProcessesOpenNewFileAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "new.db")
	var children []*proctest.Child
	for i := 0; i < 4; i++ {
		children = append(children, startChild(t, "open", path, ""))
	}
	for _, ch := range children {
		ch.Go(t)
	}
	s := open(t, path)
	want, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, ch := range children {
		if line := ch.Finish(t); line != fmt.Sprint("version ", want) {
			t.Fatalf("child %d said %q, want version %d", i, line, want)
		}
	}
}

// BenchmarkInstances is pgstore's multi-instance figure on one SQLite
// file: four OS processes, each with its own Manager and connections, log
// users in for five seconds (right password, default argon2id parameters,
// 16 goroutines each), then edit profiles as an admin for five seconds
// (storebench.InstanceWork). It reports logins/s and writes/s for all four
// together. Run it with -benchtime 1x.
func BenchmarkInstances(b *testing.B) {
	path := filepath.Join(b.TempDir(), "instances.db")
	s := open(b, path)
	if err := storebench.SetupInstances(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	const d = 5 * time.Second
	for range b.N {
		for _, mode := range []string{"logins", "writes"} {
			var children []*proctest.Child
			for range 4 {
				children = append(children, startChild(b, mode, path, d.String()))
			}
			for _, ch := range children {
				ch.Go(b)
			}
			total := 0
			for i, ch := range children {
				line := ch.Finish(b)
				n, err := strconv.Atoi(strings.TrimPrefix(line, "done "))
				if err != nil {
					b.Fatalf("child %d said %q", i, line)
				}
				total += n
			}
			b.ReportMetric(float64(total)/d.Seconds(), mode+"/s")
		}
	}
}
