package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	Version int    // from the file name's leading number, counting from 1
	Name    string // the file name
	SQL     string
}

// migrations returns the embedded migrations in version order. The last
// one's Version is the schema version this package writes.
func migrations() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return ms
}

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
			return nil, fmt.Errorf("sqlitestore: migration %s is not named NNNN_name.sql", base)
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
			return nil, fmt.Errorf("sqlitestore: migration %s: want version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion returns the schema version of the open database: the
// highest migration recorded in it.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.withConn(ctx, s.read, func(conn *sql.Conn) error {
		var err error
		v, err = schemaVersion(ctx, conn)
		return err
	})
	return v, s.mapErr(err)
}

// schemaVersion reads the highest version recorded, 0 for a database that
// has no migrations table yet.
func schemaVersion(ctx context.Context, conn *sql.Conn) (int, error) {
	var n int
	err := conn.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// migrate brings the schema up to date. The pending migrations run in one
// IMMEDIATE transaction, which re-reads the version once it holds the write
// lock, so that of two processes opening a new file at once the second
// finds the work done. A schema newer than the code is refused before
// anything is written.
//
// Setting up a new file can also fail at once with SQLITE_BUSY, without
// waiting: while two processes both switch a new file to WAL, SQLite's
// deadlock avoidance refuses one of them rather than invoking its busy
// handler. migrate retries such failures, with growing, jittered pauses,
// until the busy timeout has passed.
func (s *Store) migrate(ctx context.Context) error {
	deadline := time.Now().Add(s.timeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := s.migrateTo(ctx, migrations())
		if err == nil || !errors.Is(err, ErrBusy) || time.Now().Add(pause).After(deadline) {
			return err
		}
		t := time.NewTimer(pause + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Store) migrateTo(ctx context.Context, ms []migration) error {
	latest := len(ms)
	check := func(v int) error {
		if v > latest {
			return fmt.Errorf("%w: %s has schema version %d, this code knows up to %d; upgrade github.com/usermgmt/usermgmt",
				ErrSchemaTooNew, s.path, v, latest)
		}
		return nil
	}
	var current int
	err := s.withConn(ctx, s.write, func(conn *sql.Conn) error {
		var err error
		current, err = schemaVersion(ctx, conn)
		return err
	})
	if err != nil {
		return s.mapErr(err)
	}
	if err := check(current); err != nil {
		return err
	}
	// Even when the schema is current, take the write lock once: that
	// proves the file writable (ErrReadOnly) and free (ErrBusy) now rather
	// than at the first write.
	return s.rawTx(ctx, false, func(w *writer) error {
		conn := w.conn
		if current == latest {
			return nil
		}
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name    TEXT NOT NULL
		)`); err != nil {
			return s.mapErr(err)
		}
		v, err := schemaVersion(ctx, conn)
		if err != nil {
			return s.mapErr(err)
		}
		if err := check(v); err != nil {
			return err
		}
		for _, m := range ms[v:] {
			if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("sqlitestore: migration %s: %w", m.Name, s.mapErr(err))
			}
			if fix := fixups[m.Version]; fix != nil && m.Name == migrations()[m.Version-1].Name {
				if err := fix(ctx, conn); err != nil {
					return fmt.Errorf("sqlitestore: migration %s: %w", m.Name, s.mapErr(err))
				}
			}
			if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name); err != nil {
				return fmt.Errorf("sqlitestore: recording migration %s: %w", m.Name, s.mapErr(err))
			}
		}
		return nil
	})
}

// fixups are steps in Go that follow an embedded migration of the same
// version, in its transaction, for what SQL alone cannot do.
var fixups = map[int]func(ctx context.Context, conn *sql.Conn) error{
	2: refold,
}

// refold recomputes the folded copies of the names and the email that
// search reads with usermgmt.FoldSearch, which folds more than SQLite's
// lower(): migration 2 copied the email unfolded.
func refold(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, "SELECT seq, first_name, last_name, email, first_lc, last_lc, email_fold FROM users")
	if err != nil {
		return err
	}
	type fix struct {
		seq                int64
		first, last, email string
	}
	var fixes []fix
	for rows.Next() {
		var f fix
		var first, last, email, firstLC, lastLC, emailFold string
		if err := rows.Scan(&f.seq, &first, &last, &email, &firstLC, &lastLC, &emailFold); err != nil {
			rows.Close()
			return err
		}
		f.first, f.last, f.email = usermgmt.FoldSearch(first), usermgmt.FoldSearch(last), usermgmt.FoldSearch(email)
		if f.first != firstLC || f.last != lastLC || f.email != emailFold {
			fixes = append(fixes, f)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fixes {
		if _, err := conn.ExecContext(ctx, "UPDATE users SET first_lc = ?, last_lc = ?, email_fold = ? WHERE seq = ?",
			f.first, f.last, f.email, f.seq); err != nil {
			return err
		}
	}
	return nil
}
