package sqlitestore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// TestUpgradeFromVersion1 writes a file with the version 1 schema and rows
// as the version 1 code wrote them (two accounts, an active user with a
// password, a pending invitation, a locked user, a removed one, a user
// whose email folds beyond ASCII, and their events), opens it with the
// current code, and checks that every record reads back through the new
// contract, that the indexes of version 2 know the old rows, and that a
// Manager carries on with them.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path, db := fileAtVersion(t, "v1.db", 1)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 123, time.UTC)
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	raw := strings.Repeat("A", 43) // an invitation token as handed out
	sum := sha256.Sum256([]byte(raw))
	tokenHash := hex.EncodeToString(sum[:])
	const (
		root   = "01900000-0000-7000-8000-a00000000001"
		client = "01900000-0000-7000-8000-a00000000002"
	)
	stmts := []string{
		`INSERT INTO accounts (seq, id, parent_id, ancestors, ancestor_seqs, name, created_at) VALUES
			(1, '` + root + `', NULL, '[]', '[]', 'All Clients', ?1),
			(2, '` + client + `', '` + root + `', '["` + root + `"]', '[1]', 'Client', ?1)`,
		`INSERT INTO users (id, account_id, email, first_name, last_name, first_lc, last_lc, role, status, grants,
			password_hash, failed_attempts, invite_token_hash, invited_at, invite_expires_at, created_at, updated_at,
			activated_at, last_login_at, last_active_at, version) VALUES
			('u1', '` + root + `', 'admin@example.com', 'Ada', 'Admin', 'ada', 'admin', 'admin', 'active', '[{"p":"reports.view","r":"insight:7"}]',
				'$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U', 0, NULL, 0, 0, ?1, ?1, ?1, ?1, ?1, 3),
			('u2', '` + client + `', 'invitee@example.com', 'Ivy', 'Invitee', 'ivy', 'invitee', 'general', 'invited', '',
				'', 0, '` + tokenHash + `', ?2, ?3, ?2, ?2, 0, 0, 0, 1),
			('u3', '` + client + `', 'locked@example.com', 'Lou', 'Locked', 'lou', 'locked', 'general', 'locked', '',
				'$argon2id$x', 10, NULL, 0, 0, ?1, ?4, ?1, 0, ?1, 12),
			('u4', '` + client + `', 'gone@example.com', 'Gus', 'Gone', 'gus', 'gone', 'general', 'removed', '',
				'', 0, NULL, 0, 0, ?1, ?4, 0, 0, 0, 2),
			('u5', '` + client + `', 'ωmega@example.com', 'ÉLODIE', 'Ωhm', 'élodie', 'ωhm', 'general', 'active', '',
				'$argon2id$y', 0, NULL, 0, 0, ?1, ?1, ?1, 0, ?1, 1)`,
		`INSERT INTO user_tree (account_seq, user_id) VALUES (1, 'u1'), (1, 'u2'), (2, 'u2'), (1, 'u3'), (2, 'u3'),
			(1, 'u4'), (2, 'u4'), (1, 'u5'), (2, 'u5')`,
		`INSERT INTO audit_events (id, user_id, account_id, at, actor_id, action, changes) VALUES
			('01800000-0000-7000-9000-000000000001', 'u1', '` + root + `', ?1, 'system', 'create', '[{"f":"email","n":"admin@example.com"}]'),
			('01800000-0000-7000-9000-000000000002', 'u2', '` + client + `', ?2, 'u1', 'invite', ''),
			('01800000-0000-7000-9000-000000000003', 'u3', '` + client + `', ?4, 'system', 'lock', '[{"f":"status","o":"active","n":"locked"}]'),
			('01800000-0000-7000-9000-000000000004', 'u4', '` + client + `', ?4, 'u1', 'remove', '')`,
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q, ns(0), ns(time.Hour), ns(time.Hour+168*time.Hour), ns(2*time.Hour)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := openUpgraded(t, path, db, 1, len(migrations()))
	if n := countRows(t, s, "SELECT count(*) FROM sqlite_master WHERE name = 'audit_events'"); n != 0 {
		t.Fatal("audit_events is still there")
	}

	a, err := s.Account(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if a.ParentID != root || len(a.Ancestors) != 1 || a.Ancestors[0] != root || a.Name != "Client" || a.Version != 1 ||
		!a.CreatedAt.Equal(t0) || !a.UpdatedAt.Equal(t0) {
		t.Fatalf("client account after the upgrade: %+v", a)
	}
	as, err := s.Accounts(ctx, usermgmt.AccountQuery{RootID: root, Limit: 10})
	if err != nil || len(as) != 2 {
		t.Fatalf("Accounts of the root: %d, %v; want 2", len(as), err)
	}

	admin, err := s.User(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if admin.Email != "admin@example.com" || admin.Role != usermgmt.RoleAdmin || admin.Status != usermgmt.StatusActive ||
		admin.PasswordVersion != 1 || admin.Version != 3 || len(admin.Grants) != 1 || admin.Grants[0].Resource != "insight:7" ||
		!admin.LastActiveAt.Equal(t0) || admin.LastActiveAt.Location() != time.UTC || len(admin.Tokens) != 0 {
		t.Fatalf("admin after the upgrade: %+v", admin)
	}

	inv, err := s.UserByToken(ctx, tokenHash)
	if err != nil {
		t.Fatalf("the pending invitation's token: %v", err)
	}
	if inv.ID != "u2" || len(inv.Tokens) != 1 || inv.Tokens[0].Purpose != usermgmt.TokenInvitation ||
		!inv.Tokens[0].IssuedAt.Equal(t0.Add(time.Hour)) || !inv.Tokens[0].ExpiresAt.Equal(t0.Add(169*time.Hour)) ||
		inv.PasswordVersion != 0 {
		t.Fatalf("invitee after the upgrade: %+v", inv)
	}

	locked, err := s.StaleUsers(ctx, usermgmt.StaleQuery{Status: usermgmt.StatusLocked, Before: t0.Add(3 * time.Hour), Limit: 10})
	if err != nil || len(locked) != 1 || locked[0].ID != "u3" || !locked[0].LockedAt.Equal(t0.Add(2*time.Hour)) ||
		locked[0].FailedAttempts != 10 {
		t.Fatalf("locked users after the upgrade: %+v, %v", locked, err)
	}
	active, err := s.StaleUsers(ctx, usermgmt.StaleQuery{Status: usermgmt.StatusActive, Before: t0.Add(time.Second), Limit: 10})
	if err != nil || len(active) != 2 {
		t.Fatalf("active users idle since t0: %d, %v; want 2", len(active), err)
	}

	list, err := s.ListUsers(ctx, usermgmt.ListQuery{AccountID: client, Limit: 10})
	if err != nil || len(list) != 3 {
		t.Fatalf("client's users (the removed one hidden): %d, %v; want 3", len(list), err)
	}
	for _, term := range []string{"ωmega", "élodie", "ωhm", "invitee@"} {
		got, err := s.ListUsers(ctx, usermgmt.ListQuery{AccountID: root, Search: term, Limit: 10})
		if err != nil || len(got) != 1 {
			t.Fatalf("search %q after the upgrade: %d users, %v; want 1", term, len(got), err)
		}
	}
	if got, err := s.ListUsers(ctx, usermgmt.ListQuery{AccountID: root, Search: "ΩMEGA", Limit: 10}); err != nil || len(got) != 0 {
		t.Fatalf("an unfolded term matched: %d, %v", len(got), err)
	}

	evs, err := s.History(ctx, usermgmt.HistoryQuery{UserID: "u1", Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Action != usermgmt.ActionCreate || len(evs[0].Changes) != 1 || !evs[0].At.Equal(t0) {
		t.Fatalf("admin's history after the upgrade: %+v, %v", evs, err)
	}
	if evs, err := s.History(ctx, usermgmt.HistoryQuery{AccountID: root, Limit: 10}); err != nil || len(evs) != 4 || evs[0].ID != "01800000-0000-7000-9000-000000000004" {
		t.Fatalf("root's subtree history after the upgrade: %+v, %v; want the 4 events, newest first", evs, err)
	}
	if evs, err := s.History(ctx, usermgmt.HistoryQuery{AccountID: client, Limit: 10}); err != nil || len(evs) != 3 {
		t.Fatalf("client's history after the upgrade: %d, %v; want 3", len(evs), err)
	}

	// A Manager carries on: the invitation is accepted with its old token,
	// and a removed user's email is free while a live one's is not.
	m, err := usermgmt.New(s, usermgmt.WithClock(usermgmt.NewFakeClock(t0.Add(2*time.Hour))),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.AcceptInvitation(ctx, raw, usermgmt.Acceptance{Password: "correct horse battery staple"})
	if err != nil {
		t.Fatalf("accepting a version 1 invitation: %v", err)
	}
	if u.Status != usermgmt.StatusActive {
		t.Fatalf("accepted invitee is %s", u.Status)
	}
	if _, err := s.UserByToken(ctx, tokenHash); !errors.Is(err, usermgmt.ErrNotFound) {
		t.Fatalf("the used token still finds a user: %v", err)
	}
	if _, err := m.Authenticate(ctx, "invitee@example.com", "correct horse battery staple"); err != nil {
		t.Fatalf("login after accepting: %v", err)
	}
	if _, err := m.CreateUser(ctx, "u1", usermgmt.NewUser{AccountID: client, Email: "gone@example.com", FirstName: "G", LastName: "B", Invite: true}); err != nil {
		t.Fatalf("inviting a removed user's email again: %v", err)
	}
	if _, err := m.CreateUser(ctx, "u1", usermgmt.NewUser{AccountID: client, Email: "locked@example.com", FirstName: "L", LastName: "B", Invite: true}); !errors.Is(err, usermgmt.ErrDuplicateEmail) {
		t.Fatalf("inviting a live user's email: %v, want ErrDuplicateEmail", err)
	}
	if evs, err := s.History(ctx, usermgmt.HistoryQuery{UserID: "u2", Limit: 10}); err != nil || len(evs) < 2 || evs[len(evs)-1].ID != "01800000-0000-7000-9000-000000000002" {
		t.Fatalf("invitee's history: %+v, %v", evs, err)
	}
}

// TestUpgradeKeepsWaitingMessages writes outbox messages into a file at
// schema version 2 (a rowid table beside a unique index on the ID) and
// opens it with this code: version 3 keys them by ID, and every message —
// waiting, leased or dead — is read, listed and claimed as it was.
func TestUpgradeKeepsWaitingMessages(t *testing.T) {
	ctx := context.Background()
	path, db := fileAtVersion(t, "v2.db", 2)
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).UnixNano()
	const ins = `INSERT INTO messages (id, kind, to_addr, user_id, account_id, payload, state, created_at, due_at,
		attempts, last_error, lease_owner, lease_until, dead_at) VALUES (?, 'invitation', ?, 'u1', 'a1', ?, ?, ?, ?, ?, ?, '', 0, ?)`
	rows := [][]any{
		{"01900000-0000-7000-8000-000000000003", "c@x.example", []byte{3}, "pending", t0, t0 + 2, 0, []byte{}, 0},
		{"01900000-0000-7000-8000-000000000001", "a@x.example", []byte{1, 0}, "pending", t0, t0, 1, []byte("421 busy"), 0},
		{"01900000-0000-7000-8000-000000000002", "b@x.example", []byte{2}, "dead", t0, t0, 10, []byte("550\x00no"), t0 + 5},
	}
	for _, r := range rows {
		if _, err := db.ExecContext(ctx, ins, r...); err != nil {
			t.Fatal(err)
		}
	}
	s := openUpgraded(t, path, db, 2, 3)
	dead, err := s.Message(ctx, "01900000-0000-7000-8000-000000000002")
	if err != nil || dead.State != usermgmt.MessageDead || dead.LastError != "550\x00no" || dead.Attempts != 10 || dead.DeadAt.UnixNano() != t0+5 {
		t.Fatalf("dead message after the upgrade: %+v, %v", dead, err)
	}
	if ds, err := s.Messages(ctx, usermgmt.MessageQuery{State: usermgmt.MessageDead, Limit: 10}); err != nil || len(ds) != 1 || ds[0].ID != dead.ID {
		t.Fatalf("dead letters after the upgrade: %+v, %v", ds, err)
	}
	now := time.Unix(0, t0).Add(time.Minute)
	got, err := s.ClaimMessages(ctx, usermgmt.MessageClaim{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("claimed %+v, %v; want the two waiting messages", got, err)
	}
	if got[0].ID != "01900000-0000-7000-8000-000000000001" || string(got[0].Payload) != "\x01\x00" || got[0].Attempts != 2 ||
		got[1].ID != "01900000-0000-7000-8000-000000000003" || got[1].To != "c@x.example" {
		t.Fatalf("claimed in due order: %+v", got)
	}
}

// openUpgraded closes db, the handle that wrote the file at version from,
// opens path with this code, which upgrades it, and checks that the
// schema is then at version want. The Store is closed when the test ends.
func openUpgraded(t *testing.T, path string, db *sql.DB, from, want int) *Store {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version %d file: %v", from, err)
	}
	t.Cleanup(func() { s.Close() })
	if v, err := s.SchemaVersion(ctx); err != nil || v != want {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, want)
	}
	return s
}

// fileAtVersion creates a database file with the schema of the given
// version, as the code of that version left it, and returns its path and
// a handle to write rows as that code did; the caller closes it.
func fileAtVersion(t *testing.T, name string, version int) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	old := &Store{path: path, read: db, write: db, timeout: 5 * time.Second}
	if err := old.migrateTo(context.Background(), migrations()[:version]); err != nil {
		t.Fatal(err)
	}
	return path, db
}
