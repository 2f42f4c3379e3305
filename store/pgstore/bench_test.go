package pgstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/pgtest"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/pgstore"
)

// The benchmarks run on a cluster of their own, kept between runs under
// storebench.Dir (USERMGMT_BENCH_DIR, default $TMPDIR/usermgmt-bench) in
// pgstore-cluster, with PostgreSQL's durable defaults (fsync on), so that
// the 1,000,000-user dataset is built once; or on the server
// USERMGMT_TEST_POSTGRES_URL names.
//
//	go test -run '^$' -bench . -benchtime 1x ./store/pgstore/                 # sweep and bulk: 1x
//	go test -run '^$' -bench 'Authenticate|Lookup|Pages' -benchtime 3s ./store/pgstore/

var (
	benchOnce sync.Once
	benchURL  string
	benchErr  error
)

// benchDB returns the URL of the benchmark database.
func benchDB(b *testing.B) string {
	b.Helper()
	needServer(b)
	benchOnce.Do(func() {
		if server == nil {
			benchURL = testURL
			return
		}
		srv, err := pgtest.StartAt(filepath.Join(storebench.Dir(b), "pgstore-cluster"), true)
		if err != nil {
			benchErr = err
			return
		}
		benchURL = srv.URL("postgres")
		benchServer = srv
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchURL
}

var benchServer *pgtest.Server

// freshBenchStore opens a store in a new schema of the benchmark database,
// dropped when the benchmark ends.
func freshBenchStore(b *testing.B) *pgstore.Store {
	b.Helper()
	url := benchDB(b)
	schema := randomSchema(b)
	s, err := pgstore.Open(context.Background(), url, pgstore.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = s.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		s.Close()
	})
	return s
}

// BenchmarkAuthenticate is the shared Authenticate benchmark (default
// argon2id parameters) beside a bare verification.
func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, freshBenchStore(b)) }

// BenchmarkConcurrentLogins is the shared benchmark of many users logging
// in at once through one Manager.
func BenchmarkConcurrentLogins(b *testing.B) { storebench.ConcurrentLogins(b, freshBenchStore(b)) }

// BenchmarkCanOn is the shared permission-check benchmark.
func BenchmarkCanOn(b *testing.B) { storebench.CanOn(b, freshBenchStore(b)) }

var (
	dataOnce  sync.Once
	dataStore *pgstore.Store
	data      storebench.Dataset
)

// dataset is the shared benchmark population, 1,000,000 users unless
// USERMGMT_BENCH_PG_USERS says otherwise, in schema bench_<n> of the
// benchmark database, loaded with COPY on first use (about a minute) and
// kept for later runs.
func dataset(b *testing.B) (*pgstore.Store, storebench.Dataset) {
	dataOnce.Do(func() {
		ctx := context.Background()
		n := storebench.Size("USERMGMT_BENCH_PG_USERS", 1_000_000)
		d := storebench.NewDataset(n)
		schema := fmt.Sprintf("bench_%d", n)
		s, err := pgstore.Open(ctx, benchDB(b), pgstore.WithSchema(schema))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.User(ctx, d.Users[n-1].ID); err != nil {
			// New, or an interrupted build: start again.
			s.Close()
			conn, err := pgx.Connect(ctx, benchDB(b))
			if err != nil {
				b.Fatal(err)
			}
			_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if s, err = pgstore.Open(ctx, benchDB(b), pgstore.WithSchema(schema)); err != nil {
				b.Fatal(err)
			}
			began := time.Now()
			if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: d.Account, Admin: storebench.Create(d.Users[0])}); err != nil {
				b.Fatal(err)
			}
			const chunk = 100_000
			for start := 1; start < n; start += chunk {
				us := d.Users[start:min(start+chunk, n)]
				cs := make([]usermgmt.UserCreate, len(us))
				for i, u := range us {
					cs[i] = storebench.Create(u)
				}
				if err := pgstore.CopyUsers(ctx, s, cs); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.Pool().Exec(ctx, "ANALYZE"); err != nil {
				b.Fatal(err)
			}
			b.Logf("loaded %d users with COPY in %v", n, time.Since(began).Round(time.Millisecond))
		}
		dataStore, data = s, d
	})
	if dataStore == nil {
		b.Fatal("the dataset failed to load")
	}
	return dataStore, data
}

// BenchmarkLookup reads users by ID and by email beside a hand-written pgx
// query of the same row on the same pool, scanning every column the store
// reads (the lists left as raw JSON), which is what a hand-written
// PostgreSQL store would do.
func BenchmarkLookup(b *testing.B) {
	s, d := dataset(b)
	pool := s.Pool()
	from := " FROM " + s.Schema() + ".users WHERE "
	raw := func(ctx context.Context, where, arg string) error {
		var id, account, email, first, last, role, dept, locale, status, hash, pending, invitedBy string
		var groups, grants, leases, tokens, resets []byte
		var failed int32
		var pwVersion, invitedAt, created, updated, activated, login, active, locked, session, version int64
		return pool.QueryRow(ctx, "SELECT "+pgstore.UserColumns+from+where, arg).Scan(&id, &account, &email, &first, &last,
			&role, &dept, &groups, &locale, &status, &grants, &hash, &pwVersion, &failed, &leases, &tokens, &pending,
			&resets, &invitedBy, &invitedAt, &created, &updated, &activated, &login, &active, &locked, &session, &version)
	}
	storebench.Lookup(b, s, d,
		func(ctx context.Context, u usermgmt.UserRecord) error { return raw(ctx, "id = $1", u.ID) },
		func(ctx context.Context, u usermgmt.UserRecord) error {
			return raw(ctx, "email = $1 AND status <> 'removed'", u.Email)
		})
}

// BenchmarkPages is the shared first-versus-deep page benchmark.
func BenchmarkPages(b *testing.B) {
	s, d := dataset(b)
	storebench.Pages(b, s, d)
}

// BenchmarkSweep is the shared sweep benchmark; run it with -benchtime 1x.
// It vacuums the users first: an earlier run's sweep leaves the index of
// Active users full of entries for rows that are no longer Active, which
// autovacuum clears in time, and which the first scan after it would walk.
func BenchmarkSweep(b *testing.B) {
	s, d := dataset(b)
	if _, err := s.Pool().Exec(context.Background(), "VACUUM ANALYZE "+s.Schema()+".users"); err != nil {
		b.Fatal(err)
	}
	storebench.Sweep(b, s, d, nil)
}

// BenchmarkBulk invites 100,000 users (USERMGMT_BENCH_BULK_USERS) into a
// fresh schema, twice per iteration: the baseline COPYs ready-made rows
// (invited users with their token, the subtree index, the token index,
// the events and their account index) in one transaction; the library is
// Manager.InviteUsers (validation, tokens, events, the store's batched
// transactions of 500). It reports base-ns/op, lib-ns/op and their ratio,
// and store-ns/op: Store.CreateUsers of the baseline's ready-made rows in
// batches of 500, which tells the store's share from the Manager's.
// Run it with -benchtime 1x.
func BenchmarkBulk(b *testing.B) {
	n := storebench.Size("USERMGMT_BENCH_BULK_USERS", 100_000)
	ctx := context.Background()
	fresh := func(b *testing.B) (*pgstore.Store, *usermgmt.Manager, usermgmt.Account) {
		s := freshBenchStore(b)
		m, err := usermgmt.New(s)
		if err != nil {
			b.Fatal(err)
		}
		a, _, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Bulk",
			Admin: usermgmt.NewUser{Email: "admin@bulk.example", FirstName: "Bulk", LastName: "Admin", Invite: true}})
		if err != nil {
			b.Fatal(err)
		}
		return s, m, a
	}
	b.Run("invite_users", func(b *testing.B) {
		var base, lib, store time.Duration
		for i := 0; i < b.N; i++ {
			s, _, acct := fresh(b)
			at := storebench.Epoch
			cs := make([]usermgmt.UserCreate, n)
			for k := range cs {
				sum := sha256.Sum256([]byte(fmt.Sprint("token", k)))
				u := usermgmt.UserRecord{ID: fmt.Sprintf("01900000-0000-7000-8000-%012d", k), AccountID: acct.ID,
					Email: fmt.Sprintf("invitee%07d@bulk.example", k), Role: usermgmt.RoleGeneral, Status: usermgmt.StatusInvited,
					Tokens:    []usermgmt.Token{{Purpose: usermgmt.TokenInvitation, Hash: hex.EncodeToString(sum[:]), IssuedAt: at, ExpiresAt: at.Add(168 * time.Hour)}},
					InvitedBy: usermgmt.System, InvitedAt: at, CreatedAt: at, UpdatedAt: at, Version: 1}
				cs[k] = storebench.Create(u)
				cs[k].Event.Action = usermgmt.ActionInvite
			}
			t0 := time.Now()
			if err := pgstore.CopyUsers(ctx, s, cs); err != nil {
				b.Fatal(err)
			}
			base += time.Since(t0)

			s, _, acct = fresh(b)
			for k := range cs {
				cs[k].User.AccountID, cs[k].Event.AccountID = acct.ID, acct.ID
			}
			t0 = time.Now()
			for start := 0; start < n; start += 500 {
				if err := s.CreateUsers(ctx, cs[start:min(start+500, n)]); err != nil {
					b.Fatal(err)
				}
			}
			store += time.Since(t0)

			_, m, acct := fresh(b)
			rows := make([]usermgmt.NewUser, n)
			for k := range rows {
				rows[k] = usermgmt.NewUser{Email: fmt.Sprintf("invitee%07d@bulk.example", k)}
			}
			t0 = time.Now()
			res, err := m.InviteUsers(ctx, usermgmt.System, usermgmt.BulkInvite{AccountID: acct.ID, Rows: rows})
			lib += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if res[n-1].Outcome != usermgmt.Invited {
				b.Fatalf("last row: %+v", res[n-1])
			}
		}
		b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "base-ns/op")
		b.ReportMetric(float64(lib.Nanoseconds())/float64(b.N), "lib-ns/op")
		b.ReportMetric(float64(store.Nanoseconds())/float64(b.N), "store-ns/op")
		b.ReportMetric(float64(lib)/float64(base), "ratio")
	})
}
