package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	Version int    // from the file name's leading number, counting from 1
	Name    string // the file name
	SQL     string // with {schema} where the schema's quoted name goes
}

// migrations returns the embedded migrations in version order; the last
// one's Version is the schema version this package writes.
func migrations() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return ms
}

// loadMigrations reads and orders the migrations of fsys, checking that
// their versions run 1, 2, 3… without a gap.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("pgstore: migration %s is not named NNNN_name.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("pgstore: migration %s: want version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// lockKey is the advisory lock that serialises the migrations of one
// schema across every process that opens it.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/usermgmt/usermgmt/store/pgstore:" + schema))
	return int64(h.Sum64())
}

// SchemaVersion returns the schema version of the store's schema: the
// highest migration recorded in it (0 before the first).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.pool, s.schema)
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	return v, nil
}

// querier is what schemaVersion needs: a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion reads the highest version recorded, 0 when the schema or
// its migrations table does not exist yet.
func schemaVersion(ctx context.Context, q querier, schema string) (int, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations')`, schema).Scan(&exists)
	if err != nil || !exists {
		return 0, err
	}
	var v *int
	if err := q.QueryRow(ctx, "SELECT max(version) FROM "+quoteIdent(schema)+".schema_migrations").Scan(&v); err != nil {
		return 0, err
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// migrate brings the schema up to date. A schema already current is only
// read, so that many instances starting at once, and roles without DDL
// rights, cost one query each. Otherwise the pending migrations run in one
// transaction under a transaction-level advisory lock on the schema's
// name, which serialises every process that migrates it: the second one
// re-reads the version under the lock and finds the work done. A schema
// newer than this code is refused before anything is written.
func (s *Store) migrate(ctx context.Context) error {
	ms := migrations()
	latest := len(ms)
	check := func(v int) error {
		if v > latest {
			return fmt.Errorf("%w: schema %s has version %d, this code knows up to %d; upgrade github.com/usermgmt/usermgmt",
				ErrSchemaTooNew, s.schema, v, latest)
		}
		return nil
	}
	current, err := schemaVersion(ctx, s.pool, s.schema)
	if err != nil {
		return s.fail(ctx, err)
	}
	if err := check(current); err != nil || current == latest {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.schema)); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", s.schema).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			// Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
			// privilege on the database even when the schema exists.
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+quoteIdent(s.schema)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+quoteIdent(s.schema)+`.schema_migrations (
			version integer PRIMARY KEY,
			name    text NOT NULL
		)`); err != nil {
			return err
		}
		v, err := schemaVersion(ctx, tx, s.schema)
		if err != nil {
			return err
		}
		if err := check(v); err != nil {
			return err
		}
		for _, m := range ms[v:] {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.SQL, "{schema}", quoteIdent(s.schema))); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+quoteIdent(s.schema)+".schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return fmt.Errorf("pgstore: recording migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
	if errors.Is(err, ErrSchemaTooNew) {
		return err
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pgstore: migrating schema %s: %w", s.schema, err)
	}
	return nil
}

// SearchIndexed reports whether the schema has the trigram index that
// serves ListQuery.Search (see the package documentation): false when
// pg_trgm was neither installed nor installable when the schema was
// created.
func (s *Store) SearchIndexed(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_indexes WHERE schemaname = $1 AND indexname = 'users_search_idx')`, s.schema).Scan(&ok)
	if err != nil {
		return false, s.fail(ctx, err)
	}
	return ok, nil
}
