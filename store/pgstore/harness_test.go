package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/pgtest"
	"github.com/usermgmt/usermgmt/store/pgstore"
)

// The tests run against a real PostgreSQL: the server at
// USERMGMT_TEST_POSTGRES_URL when set, otherwise a throwaway cluster this
// test binary creates (internal/pgtest) on a free loopback port and
// removes at the end. Each store gets a schema of its own, dropped when
// its test ends. Without PostgreSQL the tests skip, with a hint, unless
// USERMGMT_REQUIRE_POSTGRES=1 (CI) makes that a failure.

var (
	testURL    string         // the database the tests use
	skipReason string         // set when there is no server to test against
	server     *pgtest.Server // the throwaway cluster, when this binary started one
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childMode); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if url := os.Getenv(pgtest.EnvURL); url != "" {
		testURL = url
		return m.Run()
	}
	srv, err := pgtest.Start("")
	if errors.Is(err, pgtest.ErrNoBinaries) {
		if os.Getenv(pgtest.EnvRequire) == "1" {
			fmt.Fprintf(os.Stderr, "pgstore: %s=1 but %v: %s\n", pgtest.EnvRequire, err, pgtest.Hint)
			return 1
		}
		skipReason = err.Error() + ": " + pgtest.Hint
		return m.Run()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgstore: starting PostgreSQL: %v\n", err)
		return 1
	}
	defer srv.Remove()
	defer func() {
		// The benchmarks' cluster outlives the run: stop it cleanly, so that
		// the next run neither recovers it from its WAL nor finds the
		// killed postmaster's lock file still held.
		if benchServer != nil {
			benchServer.Stop()
		}
	}()
	server, testURL = srv, srv.URL("postgres")
	// pg_trgm once, in public, for every test schema: created by the
	// first schema's migration instead, it would live in that schema and
	// go (with every other schema's search index) when the schema is dropped.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgstore: %v\n", err)
		return 1
	}
	_, err = conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
	conn.Close(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgstore: creating pg_trgm: %v\n", err)
		return 1
	}
	return m.Run()
}

// needServer skips the test when there is no PostgreSQL to test against.
func needServer(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func randomSchema(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t_" + hex.EncodeToString(b)
}

// openSchema opens a store with a pool of its own on schema, closed when
// the test ends.
func openSchema(t testing.TB, schema string, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgstore.Open(ctx, testURL, append([]pgstore.Option{pgstore.WithSchema(schema), pgstore.WithMaxConns(4)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newStore returns a store in a fresh schema, dropped when the test ends.
func newStore(t testing.TB) *pgstore.Store {
	t.Helper()
	schema := randomSchema(t)
	t.Cleanup(func() { dropSchema(t, schema) })
	return openSchema(t, schema)
}

func dropSchema(t testing.TB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Errorf("dropping schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("dropping schema %s: %v", schema, err)
	}
}

// reopen opens another store, with a pool of its own, on the schema of s:
// another application instance.
func reopen(t *testing.T, s usermgmt.Store) usermgmt.Store {
	return openSchema(t, s.(*pgstore.Store).Schema())
}
