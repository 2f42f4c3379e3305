package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/usermgmt/usermgmt"
)

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms := migrations()
	if len(ms) == 0 || ms[0].Version != 1 || !strings.HasSuffix(ms[0].Name, ".sql") {
		t.Fatalf("embedded migrations = %+v", ms)
	}
	for _, bad := range []fstest.MapFS{
		{"migrations/init.sql": {Data: []byte("SELECT 1")}},
		{"migrations/0002_b.sql": {Data: []byte("SELECT 1")}},
		{"migrations/0001_a.sql": {Data: []byte("SELECT 1")}, "migrations/0003_c.sql": {Data: []byte("SELECT 1")}},
	} {
		if _, err := loadMigrations(bad); err == nil {
			t.Errorf("loadMigrations accepted %v", bad)
		}
	}
}

func countRows(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.write.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestMigrationsUpgradeInOrder opens a file at version 1, then with a second
// migration added, then with a failing third: the second is applied and
// recorded, the failing one leaves neither its changes nor its record.
func TestMigrationsUpgradeInOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := migrations()
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(base) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(base))
	}

	next := len(base) + 1
	withSecond := append(append([]migration(nil), base...), migration{Version: next, Name: "x_add_notes.sql",
		SQL: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\nINSERT INTO notes (body) VALUES ('hello');"})
	if err := s.migrateTo(ctx, withSecond); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if n := countRows(t, s, "SELECT count(*) FROM notes"); n != 1 {
		t.Fatalf("notes rows = %d", n)
	}
	if v, _ := s.SchemaVersion(ctx); v != next {
		t.Fatalf("version after upgrade = %d, want %d", v, next)
	}
	// Running it again is a no-op.
	if err := s.migrateTo(ctx, withSecond); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := countRows(t, s, "SELECT count(*) FROM notes"); n != 1 {
		t.Fatalf("notes rows after a second run = %d", n)
	}

	failing := append(withSecond, migration{Version: next + 1, Name: "y_broken.sql",
		SQL: "CREATE TABLE more_notes (id INTEGER PRIMARY KEY);\nINSERT INTO notes (nope) VALUES (1);"})
	err = s.migrateTo(ctx, failing)
	if err == nil || !strings.Contains(err.Error(), "y_broken.sql") {
		t.Fatalf("failing migration: %v", err)
	}
	if n := countRows(t, s, "SELECT count(*) FROM sqlite_master WHERE name = 'more_notes'"); n != 0 {
		t.Fatal("a failed migration left its table behind")
	}
	if v, _ := s.SchemaVersion(ctx); v != next {
		t.Fatalf("version after a failed migration = %d, want %d", v, next)
	}

	// The code of version 1 refuses the file now at version 2, writing nothing.
	before := countRows(t, s, "SELECT count(*) FROM schema_migrations")
	err = s.migrateTo(ctx, base)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprint("schema version ", next)) {
		t.Fatalf("older code on a newer file: %v", err)
	}
	if after := countRows(t, s, "SELECT count(*) FROM schema_migrations"); after != before {
		t.Fatalf("refusal changed schema_migrations: %d rows, was %d", after, before)
	}
}

// TestSchemaTooNewRefusedByOpen marks a file as written by a future version
// and checks that Open refuses it with ErrSchemaTooNew.
func TestSchemaTooNewRefusedByOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (99, '0099_future.sql')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a future schema: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "99") {
		t.Fatalf("error does not name the version: %v", err)
	}
}

// TestPragmas checks the settings of both pools' connections.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), WithBusyTimeout(1234e6))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(db *sql.DB, pragma string) string {
		t.Helper()
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		return v
	}
	for _, c := range []struct {
		db           *sql.DB
		pragma, want string
	}{
		{s.write, "journal_mode", "wal"},
		{s.write, "busy_timeout", "1234"},
		{s.write, "foreign_keys", "1"},
		{s.write, "synchronous", "2"}, // FULL
		{s.write, "query_only", "0"},
		{s.read, "journal_mode", "wal"},
		{s.read, "busy_timeout", "1234"},
		{s.read, "foreign_keys", "1"},
		{s.read, "query_only", "1"},
	} {
		if got := get(c.db, c.pragma); got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	if n := s.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool holds %d connections, want 1", n)
	}
	if _, err := s.read.ExecContext(ctx, "CREATE TABLE nope (x)"); err == nil {
		t.Error("the reader pool can write")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "q.db"), WithSynchronous("sometimes")); err == nil {
		t.Error("Open accepted synchronous=sometimes")
	}
}

// TestQueryPlansUseIndexes checks that the queries behind lists, search,
// the sweep, lookups and history are served by indexes: no plan scans the
// users or audit tables, and none sorts except the trigram search path,
// whose candidates are few by construction.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	all := usermgmt.ListQuery{AccountID: "a", Limit: 10}
	search := usermgmt.ListQuery{AccountID: "a", Search: "abc", Statuses: []usermgmt.Status{usermgmt.StatusLocked},
		Roles: []string{"admin"}, Department: "Sales", After: "x", Limit: 10}
	group := usermgmt.ListQuery{AccountID: "a", GroupID: "g", After: "x", Limit: 10}
	walkQ, walkArgs := listSQL(search, 1, false, false)
	listQ, listArgs := listSQL(all, 1, false, false)
	ftsQ, ftsArgs := listSQL(search, 1, true, false)
	groupQ, groupArgs := listSQL(group, 1, false, false)
	countQ, countArgs := listSQL(all, 1, false, true)
	staleQ, _ := staleSQL(usermgmt.StatusActive)
	lockedQ, _ := staleSQL(usermgmt.StatusLocked)
	staleArgs := []any{int64(2e18), int64(1e18), "x", 10}
	for _, c := range []struct {
		name, query string
		args        []any
		sortOK      bool
	}{
		{"list", listQ, listArgs, false},
		{"count", countQ, countArgs, false},
		{"search by walking", walkQ, walkArgs, false},
		{"search by trigrams", ftsQ, ftsArgs, true},
		{"group members", groupQ, groupArgs, false},
		{"stale", staleQ, staleArgs, false},
		{"locked", lockedQ, staleArgs, false},
		{"email", "SELECT " + userCols + " FROM users WHERE email = ? AND status <> 'removed'", []any{"a@b.c"}, false},
		{"token", "SELECT " + userColsOf("u") + " FROM user_tokens t CROSS JOIN users u ON u.id = t.user_id WHERE t.hash = ?", []any{"ab"}, false},
		{"user history", "SELECT " + eventCols + " FROM events e WHERE e.user_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?", []any{"u", "z", 10}, false},
		{"account history", "SELECT " + prefixed(eventCols, "e.") + " FROM accounts a CROSS JOIN account_events x ON x.root_seq = a.seq" +
			" CROSS JOIN events e ON e.id = x.event_id WHERE a.id = ? AND x.event_id < ? ORDER BY x.event_id DESC LIMIT ?", []any{"a", "z", 10}, false},
		{"admins", activeAdmin, []any{"a"}, false},
		{"groups", "SELECT " + groupCols + " FROM groups WHERE account_id = ? AND id > ? AND deleted = 0 ORDER BY id LIMIT ?", []any{"a", "", 10}, false},
		{"due messages", "SELECT id FROM messages INDEXED BY messages_due WHERE state = 'pending' AND due_at <= ? AND lease_until <= ? ORDER BY due_at, id LIMIT ?", []any{1, 1, 10}, false},
		{"dead messages", "SELECT " + messageCols + " FROM messages INDEXED BY messages_dead WHERE state = 'dead' AND id > ? ORDER BY id LIMIT ?", []any{"", 10}, false},
	} {
		p := plan(c.query, c.args...)
		t.Logf("%s:\n%s", c.name, p)
		for _, line := range strings.Split(strings.TrimSpace(p), "\n") {
			if strings.HasPrefix(line, "SCAN") && line != "SCAN CONSTANT ROW" && !strings.Contains(line, "VIRTUAL TABLE") && !strings.Contains(line, "USING") {
				t.Errorf("%s: full scan: %s\n%s", c.name, line, p)
			}
		}
		if strings.Contains(p, "TEMP B-TREE") && !c.sortOK {
			t.Errorf("%s: sorts:\n%s", c.name, p)
		}
	}
}

// TestBookkeepingRestoresSynchronous: the password steps commit at NORMAL,
// and leave the writer connection at FULL for the changes that follow,
// even when their context is cancelled.
func TestBookkeepingRestoresSynchronous(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	level := func() string {
		t.Helper()
		var v string
		if err := s.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var seen string
	if err := s.tx(ctx, true, func(w *writer) error {
		return w.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&seen)
	}); err != nil {
		t.Fatal(err)
	}
	if seen != "1" {
		t.Fatalf("synchronous inside bookkeeping = %s, want 1 (NORMAL)", seen)
	}
	if got := level(); got != "2" {
		t.Fatalf("synchronous after bookkeeping = %s, want 2 (FULL)", got)
	}
	if err := s.tx(ctx, false, func(w *writer) error {
		return w.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&seen)
	}); err != nil {
		t.Fatal(err)
	}
	if seen != "2" {
		t.Fatalf("synchronous inside a change = %s, want 2 (FULL)", seen)
	}
	cctx, cancel := context.WithCancel(ctx)
	_ = s.tx(cctx, true, func(*writer) error { cancel(); return cctx.Err() })
	if got := level(); got != "2" {
		t.Fatalf("synchronous after a cancelled bookkeeping step = %s, want 2 (FULL)", got)
	}
	r := usermgmt.AttemptReservation{UserID: "no-such-user", Limit: 10, Now: time.Unix(100, 0),
		Lease: usermgmt.AttemptLease{ID: "l", Until: time.Unix(200, 0)}}
	if _, _, err := s.ReserveAttempt(ctx, r); !errors.Is(err, usermgmt.ErrNotFound) {
		t.Fatalf("ReserveAttempt of an unknown user: %v, want ErrNotFound", err)
	}
	if got := level(); got != "2" {
		t.Fatalf("synchronous after ReserveAttempt = %s, want 2 (FULL)", got)
	}
}
