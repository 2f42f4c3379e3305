package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

var seedTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func seedUser(id, account, email string) usermgmt.UserCreate {
	u := usermgmt.UserRecord{ID: id, AccountID: account, Email: email, FirstName: "F", LastName: "L", Role: usermgmt.RoleGeneral,
		Status: usermgmt.StatusActive, PasswordHash: "h", PasswordVersion: 1, CreatedAt: seedTime, UpdatedAt: seedTime,
		LastActiveAt: seedTime, Version: 1}
	return usermgmt.UserCreate{User: u, Event: usermgmt.AuditEvent{ID: "ev-" + id, At: seedTime, ActorID: usermgmt.System,
		Action: usermgmt.ActionCreate, UserID: id, AccountID: account}}
}

// causeText returns the text of the causes a store error wraps beside its
// sentinel: what the application's own logs get.
func causeText(err error) string {
	var w interface{ Unwrap() []error }
	if !errors.As(err, &w) {
		return ""
	}
	var texts []string
	for _, e := range w.Unwrap() {
		texts = append(texts, e.Error())
	}
	return strings.Join(texts, "; ")
}

// seed opens a store with one account and its first user.
func seed(t *testing.T, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s := open(t, path, opts...)
	a := usermgmt.Account{ID: "acct", Name: "Acct", CreatedAt: seedTime, UpdatedAt: seedTime, Version: 1}
	if err := s.CreateAccount(context.Background(), usermgmt.AccountCreate{Account: a, Admin: seedUser("u1", "acct", "first@example.com")}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notes.txt")
	content := bytes.Repeat([]byte("these are my notes, not a database\n"), 200)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := sqlitestore.Open(context.Background(), path)
	if !errors.Is(err, sqlitestore.ErrNotDatabase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a text file: %v, want ErrNotDatabase naming the path", err)
	}
	t.Log(err)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the text file changed (err %v)", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("Open left files beside the text file: %v", entries)
	}
}

func TestOpenRefusesNonPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if _, err := sqlitestore.Open(context.Background(), p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestPathWithQueryCharacters checks that a path holding '?', '#', '%' and
// spaces names that very file.
func TestPathWithQueryCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd name?x=1#frag%20.db")
	seed(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file not created at its path: %v", err)
	}
}

// TestLockedPastBusyTimeout holds the write lock from another connection:
// writes fail with ErrBusy after the busy timeout and store nothing, reads
// go on (WAL), a new Open fails the same way, and all works once the lock
// is released.
func TestLockedPastBusyTimeout(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "locked.db")
	s := seed(t, path, sqlitestore.WithBusyTimeout(150*time.Millisecond))

	other, err := sql.Open("sqlite", sqlitestore.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	u := seedUser("u2", "acct", "second@example.com")
	start := time.Now()
	err = s.CreateUsers(ctx, []usermgmt.UserCreate{u})
	waited := time.Since(start)
	if !errors.Is(err, sqlitestore.ErrBusy) || !errors.Is(err, usermgmt.ErrStore) {
		t.Fatalf("CreateUsers under another's lock: %v, want ErrBusy and usermgmt.ErrStore", err)
	}
	if waited < 100*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("gave up after %v; the busy timeout is 150ms", waited)
	}
	// The text is the sentinel's, fit for an administrator; the cause,
	// for the application's logs, names the file.
	if err.Error() != usermgmt.ErrStore.Error() {
		t.Fatalf("error text %q, want the sentinel's alone", err)
	}
	if cause := causeText(err); !strings.Contains(cause, path) {
		t.Fatalf("the cause does not name the file: %q", cause)
	}
	t.Log(causeText(err))
	lease := usermgmt.AttemptLease{ID: "lease-1", Until: seedTime.Add(time.Minute)}
	if _, _, err := s.ReserveAttempt(ctx, usermgmt.AttemptReservation{UserID: "u1", Limit: 10, Now: seedTime, Lease: lease}); !errors.Is(err, sqlitestore.ErrBusy) {
		t.Fatalf("ReserveAttempt under another's lock: %v, want ErrBusy", err)
	}
	if _, err := sqlitestore.Open(ctx, path, sqlitestore.WithBusyTimeout(50*time.Millisecond)); !errors.Is(err, sqlitestore.ErrBusy) {
		t.Fatalf("Open under another's lock: %v, want ErrBusy", err)
	}
	// Readers are not blocked by a writer in WAL mode.
	if got, err := s.User(ctx, "u1"); err != nil || len(got.AttemptLeases) != 0 {
		t.Fatalf("read under another's lock: %+v, %v", got, err)
	}
	// A cancelled context ends the wait before the timeout.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := s.CreateUsers(cctx, []usermgmt.UserCreate{u}); err == nil {
		t.Fatal("CreateUsers with an expiring context succeeded under another's lock")
	}
	if waited := time.Since(start); waited > 140*time.Millisecond {
		t.Fatalf("a cancelled wait took %v", waited)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, "u2"); !errors.Is(err, usermgmt.ErrNotFound) {
		t.Fatalf("a refused write left user u2: %v", err)
	}
	if got, _ := s.User(ctx, "u1"); len(got.AttemptLeases) != 0 || got.Version != 1 {
		t.Fatalf("a refused reservation was stored: %d leases, version %d", len(got.AttemptLeases), got.Version)
	}
	if err := s.CreateUsers(ctx, []usermgmt.UserCreate{u}); err != nil {
		t.Fatalf("CreateUsers after the lock is gone: %v", err)
	}
}

// TestReadOnlyFile opens, as an unprivileged user, a database file that
// user cannot write (the tests usually run as root, whom file modes do not
// stop, so the Open runs in a child process with another uid).
func TestReadOnlyFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A database in WAL mode, and one still in rollback-journal mode.
	wal := filepath.Join(dir, "wal.db")
	s, err := sqlitestore.Open(context.Background(), wal)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	plain := filepath.Join(dir, "plain.db")
	db, err := sql.Open("sqlite", plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	bin := filepath.Join(dir, "test.bin")
	copyFile(t, os.Args[0], bin, 0o755)
	for _, p := range []string{wal, plain} {
		if err := os.Chmod(p, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{wal, plain} {
		before, _ := os.ReadFile(p)
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childMode+"=readonly", childPath+"="+p)
		if os.Getuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		} else if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Skip("this user can write read-only files")
		}
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("cannot run the child as another user: %v", err)
		}
		msg := strings.TrimSpace(string(out))
		t.Logf("%s: %s", filepath.Base(p), msg)
		if !strings.Contains(msg, sqlitestore.ErrReadOnly.Error()) || !strings.Contains(msg, p) {
			t.Errorf("Open of read-only %s: %s; want ErrReadOnly naming the file", filepath.Base(p), msg)
		}
		if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
			t.Errorf("the read-only file %s changed", filepath.Base(p))
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNewOnCallersDB runs the store on a pool the application opened, and
// refuses pools without the settings the store needs.
func TestNewOnCallersDB(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", sqlitestore.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	m, err := usermgmt.New(s, usermgmt.WithHashParams(cheapHash))
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "App",
		Admin: usermgmt.NewUser{Email: "admin@app.example", FirstName: "A", LastName: "B", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(ctx, "admin@app.example", password); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close left the caller's pool open.
	var n int
	if err := db.QueryRow("SELECT count(*) FROM users WHERE id = ?", c.User.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("caller's pool after Close: %d rows, %v", n, err)
	}

	bare, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if _, err := sqlitestore.New(ctx, bare); err == nil || !strings.Contains(err.Error(), "foreign keys") {
		t.Fatalf("New on a pool without foreign keys: %v", err)
	}
}
