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
	"github.com/usermgmt/usermgmt/store/storetest"
)

// open opens a Store on path and closes it when the test ends.
func open(t testing.TB, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestConformance runs the shared suite on a fresh file per subtest; the
// cross-Manager cases get handles of their own on the same file, each with
// its own connection pools, as separate processes would have.
func TestConformance(t *testing.T) {
	var opts []storetest.Option
	opts = append(opts, storetest.Reopen(func(t *testing.T, s usermgmt.Store) usermgmt.Store {
		return open(t, s.(*sqlitestore.Store).Path())
	}))
	if testing.Short() {
		opts = append(opts, storetest.Short())
	}
	storetest.Run(t, func(t *testing.T) usermgmt.Store {
		return open(t, filepath.Join(t.TempDir(), "users.db"))
	}, opts...)
}

// BenchmarkAuthenticate is the shared Authenticate benchmark on a file.
func BenchmarkAuthenticate(b *testing.B) {
	storebench.Authenticate(b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}

var (
	dataOnce  sync.Once
	dataStore *sqlitestore.Store
	data      storebench.Dataset
)

// dataset is the shared benchmark population, 1,000,000 users unless
// USERMGMT_BENCH_SQLITE_USERS says otherwise, in a file cached under
// storebench.Dir (USERMGMT_BENCH_DIR) and built on first use. It stays
// open for the rest of the run.
func dataset(b *testing.B) (*sqlitestore.Store, storebench.Dataset) {
	dataOnce.Do(func() {
		ctx := context.Background()
		n := storebench.Size("USERMGMT_BENCH_SQLITE_USERS", 1_000_000)
		d := storebench.NewDataset(n)
		path := filepath.Join(storebench.Dir(b), fmt.Sprintf("sqlitestore-%d.db", n))
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
	const cols = "id, account_id, email, first_name, last_name, role, status, grants, password_hash, failed_attempts," +
		" invite_token_hash, invited_at, invite_expires_at, created_at, updated_at, activated_at, last_login_at, last_active_at, version"
	raw := func(ctx context.Context, where string, arg string) error {
		var id, account, email, first, last, role, status, grants, hash string
		var token sql.NullString
		var failed, invited, expires, created, updated, activated, login, active, version int64
		return db.QueryRowContext(ctx, "SELECT "+cols+" FROM users WHERE "+where, arg).Scan(&id, &account, &email, &first, &last,
			&role, &status, &grants, &hash, &failed, &token, &invited, &expires, &created, &updated, &activated, &login, &active, &version)
	}
	storebench.Lookup(b, s, d,
		func(ctx context.Context, u usermgmt.User) error { return raw(ctx, "id = ?", u.ID) },
		func(ctx context.Context, u usermgmt.User) error {
			return raw(ctx, "email = ? AND status <> 'removed'", u.Email)
		})
}

// BenchmarkPages is the shared first-versus-deep page benchmark.
func BenchmarkPages(b *testing.B) {
	s, d := dataset(b)
	storebench.Pages(b, s, d)
}

// BenchmarkSweep is the shared sweep benchmark; run it with -benchtime 1x.
func BenchmarkSweep(b *testing.B) {
	s, d := dataset(b)
	storebench.Sweep(b, s, d)
}
