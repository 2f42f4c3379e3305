package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

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
// It reports ns/idle-user beside bareSweep's on the same users.
func BenchmarkSweep(b *testing.B) {
	s, d := dataset(b)
	db, err := sql.Open("sqlite", sqlitestore.DSN(s.Path()))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	storebench.Sweep(b, s, d, bareSweep(db))
}

// bareSweep is the sweep a program written for this one job on the store's
// schema would run, set-wise: per batch of 500 candidates, in one IMMEDIATE
// transaction committed with an fsync (synchronous FULL, as the store
// commits every change), the candidates read by keyset through the sweep's
// index, then one UPDATE of the columns that change for the whole batch,
// one INSERT of its events and one of their places under the accounts, the
// batch passed as a JSON array. It skips what the library adds: the whole
// row read and decoded, the version check, the event's changes computed,
// the Manager's rules, a statement per user.
func bareSweep(db *sql.DB) storebench.SweepBaseline {
	const changes = `[{"field":"status","old":"active","new":"inactive"}]`
	return func(ctx context.Context, before, now time.Time) (int, error) {
		moved := 0
		afterT, afterID := int64(math.MinInt64), ""
		for {
			n, err := func() (n int, err error) {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return 0, err
				}
				defer func() {
					if err != nil {
						tx.Rollback()
					}
				}()
				rows, err := tx.QueryContext(ctx, "SELECT u.seq, u.id, u.account_id, u.last_active_at, a.seq FROM users u"+
					" INDEXED BY users_stale JOIN accounts a ON a.id = u.account_id WHERE u.status = 'active'"+
					" AND u.last_active_at < ? AND (u.last_active_at, u.id) > (?, ?) ORDER BY u.last_active_at, u.id LIMIT 500",
					before.UnixNano(), afterT, afterID)
				if err != nil {
					return 0, err
				}
				// Each element: [user seq, event ID, user ID, account ID, account seq].
				var batch []any
				for rows.Next() {
					var seq, accountSeq int64
					var id, account string
					if err := rows.Scan(&seq, &id, &account, &afterT, &accountSeq); err != nil {
						rows.Close()
						return 0, err
					}
					afterID = id
					ev, err := uuid.NewV7()
					if err != nil {
						rows.Close()
						return 0, err
					}
					batch = append(batch, []any{seq, ev.String(), id, account, accountSeq})
				}
				if err := rows.Close(); err != nil {
					return 0, err
				}
				if len(batch) == 0 {
					return 0, tx.Commit()
				}
				list, err := json.Marshal(batch)
				if err != nil {
					return 0, err
				}
				at := now.UnixNano()
				for _, st := range []struct {
					query string
					args  []any
				}{
					{"UPDATE users SET status = 'inactive', updated_at = ?, session_version = session_version + 1," +
						" version = version + 1 WHERE seq IN (SELECT value ->> 0 FROM json_each(?))", []any{at, list}},
					{"INSERT INTO events (id, at, actor_id, action, user_id, account_id, changes)" +
						" SELECT value ->> 1, ?, 'system', 'inactive', value ->> 2, value ->> 3, ? FROM json_each(?)",
						[]any{at, changes, list}},
					{"INSERT INTO account_events (root_seq, event_id) SELECT value ->> 4, value ->> 1 FROM json_each(?)",
						[]any{list}},
				} {
					if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
						return 0, err
					}
				}
				return len(batch), tx.Commit()
			}()
			moved += n
			if err != nil || n < 500 {
				return moved, err
			}
		}
	}
}
