package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// The benchmarks run on files under storebench.Dir (USERMGMT_BENCH_DIR,
// default $TMPDIR/usermgmt-bench); the 1,000,000-user dataset
// (USERMGMT_BENCH_SQLITE_USERS) is built there once and kept.
//
//	USERMGMT_BENCH_SQLITE_USERS=1000000 go test -run '^$' -bench Sweep -benchtime 1x ./store/sqlitestore/
//	go test -run '^$' -bench 'Authenticate|ConcurrentLogins|CanOn' ./store/sqlitestore/
//	go test -run '^$' -bench Bulk -benchtime 1x ./store/sqlitestore/

// fresh opens a Store on a new file of the benchmark.
func fresh(b *testing.B) *sqlitestore.Store {
	return open(b, filepath.Join(b.TempDir(), "bench.db"))
}

// BenchmarkAuthenticate is the shared Authenticate benchmark (default
// argon2id parameters) beside a bare verification.
func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, fresh(b)) }

// BenchmarkConcurrentLogins is the shared benchmark of many users logging
// in at once through one Manager.
func BenchmarkConcurrentLogins(b *testing.B) { storebench.ConcurrentLogins(b, fresh(b)) }

// BenchmarkCanOn is the shared permission-check benchmark: a user in 20
// groups of 50 grants (UserAccess reads the user and its groups' versions
// in one statement).
func BenchmarkCanOn(b *testing.B) { storebench.CanOn(b, fresh(b)) }

var (
	dataOnce  sync.Once
	dataStore *sqlitestore.Store
	data      storebench.Dataset
)

// dataset is the shared benchmark population, 1,000,000 users unless
// USERMGMT_BENCH_SQLITE_USERS says otherwise, in a file cached under
// storebench.Dir and built on first use. It stays open for the rest of the
// run.
func dataset(b *testing.B) (*sqlitestore.Store, storebench.Dataset) {
	dataOnce.Do(func() {
		ctx := context.Background()
		n := storebench.Size("USERMGMT_BENCH_SQLITE_USERS", 1_000_000)
		d := storebench.NewDataset(n)
		path := filepath.Join(storebench.Dir(b), fmt.Sprintf("sqlitestore-%d-v2.db", n))
		s, err := sqlitestore.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		_, errLast := s.User(ctx, d.Users[n-1].ID)
		if _, err := s.Account(ctx, d.Account.ID); err == nil && errLast != nil {
			// An interrupted build: start again.
			s.Close()
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			if s, err = sqlitestore.Open(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
		d.Load(b, s)
		dataStore, data = s, d
	})
	if dataStore == nil {
		b.Fatal("the dataset failed to load")
	}
	return dataStore, data
}

// BenchmarkLookup reads users by ID and by email beside a bare query of the
// same row through database/sql on a pool of its own, scanning every
// column, which is what a hand-written SQLite store would do.
func BenchmarkLookup(b *testing.B) {
	s, d := dataset(b)
	db, err := sql.Open("sqlite", sqlitestore.DSN(s.Path()))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const cols = "id, account_id, email, first_name, last_name, role, department, groups, locale, status, grants," +
		" password_hash, password_version, failed_attempts, attempt_leases, tokens, pending_email, reset_requests," +
		" invited_by, invited_at, created_at, updated_at, activated_at, last_login_at, last_active_at, locked_at," +
		" session_version, version"
	raw := func(ctx context.Context, where string, arg string) error {
		var s [16]string
		var n [12]int64
		return db.QueryRowContext(ctx, "SELECT "+cols+" FROM users WHERE "+where, arg).Scan(&s[0], &s[1], &s[2], &s[3],
			&s[4], &s[5], &s[6], &s[7], &s[8], &s[9], &s[10], &s[11], &n[0], &n[1], &s[12], &s[13], &s[14], &s[15],
			&s[0], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8], &n[9], &n[10])
	}
	storebench.Lookup(b, s, d,
		func(ctx context.Context, u usermgmt.UserRecord) error { return raw(ctx, "id = ?", u.ID) },
		func(ctx context.Context, u usermgmt.UserRecord) error {
			return raw(ctx, "email = ? AND status <> 'removed'", u.Email)
		})
}

// BenchmarkPages is the shared first-versus-deep page benchmark.
func BenchmarkPages(b *testing.B) {
	s, d := dataset(b)
	storebench.Pages(b, s, d)
}

// BenchmarkSweep is the shared sweep benchmark; run it with -benchtime 1x.
// It reports ns/idle-user.
func BenchmarkSweep(b *testing.B) {
	s, d := dataset(b)
	storebench.Sweep(b, s, d)
}
