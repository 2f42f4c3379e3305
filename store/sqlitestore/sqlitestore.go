// Package sqlitestore is a usermgmt.Store on SQLite, through the pure-Go
// driver modernc.org/sqlite: no cgo, so an application using it builds with
// CGO_ENABLED=0. It is the library's embedded default: one file holds the
// accounts, users, groups, audit history and outgoing messages, and any
// number of Managers, in any number of processes, may share that file.
//
// # Guarantees
//
// The Store passes store/storetest, the conformance suite of the
// usermgmt.Store contract, under the race detector, with Managers on
// separate Stores opened on the same file (as separate processes have);
// TestLockoutAcrossProcesses runs the lockout race from two OS processes.
// In particular:
//
//   - Every write runs in one transaction begun with BEGIN IMMEDIATE: a
//     change, its audit event and its outgoing messages (the outbox) are
//     committed together or not at all, and the indexes beside the users
//     (the account subtrees, tokens, group members, search) follow in the
//     same transaction.
//   - Decisions are taken under SQLite's write lock, which serialises
//     writers of every process on the file: version checks (a stale write
//     gets ErrConflict), email uniqueness among non-removed users (a
//     partial unique index), the last active admin, attempt reservations
//     (FailedAttempts plus the leases held never exceed the limit, however
//     many processes reserve at once) and message claims (a due message is
//     leased to one worker at a time).
//   - Errors match the root package's sentinels. Any other failure matches
//     usermgmt.ErrStore; its text is the sentinel's alone, while errors.Is
//     still finds this package's ErrBusy, ErrReadOnly and the like, and
//     errors.As the driver's error, for the application's logs.
//   - A cancelled context ends a wait for the lock; a call that fails
//     leaves nothing of its writes behind.
//
// # Opening
//
// Open opens (creating it when missing) a database file by path; New wraps
// an existing *sql.DB from the "sqlite" driver, for an application that keeps
// its own tables in the same file. Either way the schema is created or
// upgraded before the Store is returned (see the Migrations section), and
// Close releases what the Store opened.
//
// # Connection settings
//
// Open configures every connection for concurrent use by several goroutines
// and several processes:
//
//   - journal_mode=WAL: readers never block the writer nor the writer them;
//     the mode is stored in the file, so it holds for every process.
//   - busy_timeout (default 5s, WithBusyTimeout): a connection that finds the
//     file locked by another one waits, retrying, up to this long before it
//     fails with ErrBusy. A cancelled context ends the wait early.
//   - foreign_keys=ON: users and groups must belong to a stored account.
//   - synchronous=FULL (WithSynchronous): a committed change survives a power
//     loss. NORMAL is faster and, in WAL mode, never corrupts the file, but a
//     power loss may undo the last commits. The password steps that write no
//     audit event or message (ReserveAttempt; FinishAttempt when it records
//     no event; RecordActivity) always commit at NORMAL: they are
//     bookkeeping, not changes (see Store.tx in the source), and an fsync
//     each would add a millisecond or more to every login.
//   - mmap_size (1 GiB) and a 16 MiB page cache per connection, and a WAL
//     checkpointed every 8,000 pages: reads go through the OS's page cache
//     without a system call per page, and a page written by many
//     transactions is copied back into the file once.
//   - Every write runs in a transaction begun with BEGIN IMMEDIATE, which
//     takes the write lock at once (waiting under busy_timeout). A deferred
//     transaction would start as a reader and could fail with SQLITE_BUSY
//     when it tried to become the writer after another connection wrote;
//     IMMEDIATE never does.
//
// Open keeps two connection pools on the file: a writer pool of exactly one
// connection and a reader pool (default max(4, GOMAXPROCS) connections,
// WithReadConns) whose connections are query_only. SQLite admits one writer
// at a time anyway; queueing this process's writers in Go, in front of one
// connection, is fair, where several writing connections contend for the
// file lock through busy_timeout's sleep-and-retry loop, which favours
// whoever polls at the right moment. Other processes still contend through
// the file lock and busy_timeout, which is what makes the guarantees hold
// across processes. WAL lets the readers run beside the writer.
//
// New cannot change the settings of a pool it did not open. It checks that
// the pool's connections have foreign_keys on and a busy timeout (build the
// DSN with DSN to get all of the settings above), and runs every write
// transaction with BEGIN IMMEDIATE itself; the caller's pool serves both
// reads and writes.
//
// # Migrations
//
// The schema is created and upgraded by versioned SQL files embedded in the
// package (migrations/NNNN_name.sql), some followed by a step in Go in the
// same transaction. The versions applied are recorded in the table
// schema_migrations. Pending migrations run in one IMMEDIATE transaction,
// which also serialises processes that open the same new file at once: the
// second one waits for the first and then finds nothing to do. A file whose
// schema is newer than this code knows is refused with ErrSchemaTooNew, and
// nothing is written to it. Open takes the write lock once even when there
// is nothing to migrate, so that a read-only file (ErrReadOnly) or one held
// locked by another connection (ErrBusy) is reported by Open rather than by
// the first write.
//
// Version 2 (the 1.0 contract) upgrades a version 1 file in place, keeping
// every account, user and audit event: a pending invitation becomes the
// user's invitation token, a user with a password gets PasswordVersion 1,
// and a locked user's LockedAt is its last update time (version 1 kept no
// lock time). Take a copy of the file before upgrading: version 1 code
// cannot open it afterwards.
//
// # Indexes and cost
//
// Email uniqueness is a partial unique index over email among non-removed
// users. Lists walk user_tree, an index that files each user under its
// account and under every ancestor account, in user ID order, so any
// subtree pages by keyset and a deep page costs what the first does; a
// group's members page the same way through group_members, accounts
// through account_tree, an account subtree's history through
// account_events, and a user's history through (user_id, id) of the
// events. The inactivity sweep walks a partial index over (last_active_at,
// id) of Active users, and the lock sweep one over (locked_at, id) of
// Locked users, so each reads the users it returns and nothing else. The
// outbox claims due messages through a partial index over (due_at, id) of
// pending messages.
//
// Search goes through an FTS5 trigram index over the folded names and
// email when the term has three or more characters and matches few users
// (see ListUsers); a common term is served faster by walking the subtree,
// where matches come quickly. Terms of one or two characters cannot use a
// trigram index and always walk: fast when they are common, as nearly all
// are, but a page of a rare one (say "qz") reads the whole subtree.
//
// BENCHMARKS.md (SQLite section) has the figures of the benchmarks in
// bench_test.go; TestScale in this package measures reads on a large file:
//
//	SQLITESTORE_SCALE=1000000 SQLITESTORE_SCALE_SWEEP=1 go test -run TestScale -timeout 60m -v ./store/sqlitestore/
package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of the store itself. Each is wrapped with the path and the
// driver's message; match them with errors.Is.
var (
	// ErrNotDatabase reports a file that is not a SQLite database.
	ErrNotDatabase = errors.New("sqlitestore: file is not a SQLite database")
	// ErrReadOnly reports a database that cannot be written: a read-only
	// file or directory, or a read-only mount.
	ErrReadOnly = errors.New("sqlitestore: database is read-only")
	// ErrBusy reports a database that another connection kept locked for
	// longer than the busy timeout.
	ErrBusy = errors.New("sqlitestore: database is locked by another connection")
	// ErrSchemaTooNew reports a database whose schema was written by a newer
	// version of this package than the one running.
	ErrSchemaTooNew = errors.New("sqlitestore: database schema is newer than this code supports")
)

// Store is a usermgmt.Store on a SQLite database. It is safe for concurrent
// use. Create it with Open or New.
type Store struct {
	path    string
	read    *sql.DB // reads
	write   *sql.DB // writes; Open gives it one connection
	owned   bool    // Close closes read and write
	timeout time.Duration
	// level is the writer connection's PRAGMA synchronous as Open set it
	// (1 NORMAL, 2 FULL, 3 EXTRA), so that a bookkeeping step need not
	// read it back; 0 for a Store from New, whose connections may differ.
	level int
	// searchCandidates is the bound of ListUsers' trigram path; tests
	// change it to drive one path or the other.
	searchCandidates int
	// stmts holds the read pool's prepared statements for the hot point
	// reads, by query text (see readStmt).
	stmts sync.Map
}

// The interfaces the Store implements.
var (
	_ usermgmt.Store   = (*Store)(nil)
	_ usermgmt.Counter = (*Store)(nil)
)

// Option configures Open.
type Option func(*config)

type config struct {
	busyTimeout time.Duration
	readConns   int
	synchronous string
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another connection before failing with ErrBusy. Default 5s.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithReadConns sets the size of the reader pool. Default max(4, GOMAXPROCS).
func WithReadConns(n int) Option { return func(c *config) { c.readConns = n } }

// WithSynchronous sets PRAGMA synchronous: "FULL" (the default), "NORMAL"
// or "EXTRA".
func WithSynchronous(mode string) Option {
	return func(c *config) { c.synchronous = strings.ToUpper(mode) }
}

func newConfig(opts []Option) (config, error) {
	c := config{busyTimeout: 5 * time.Second, readConns: max(4, runtime.GOMAXPROCS(0)), synchronous: "FULL"}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.busyTimeout < time.Millisecond:
		return c, fmt.Errorf("sqlitestore: busy timeout %v is under a millisecond", c.busyTimeout)
	case c.readConns < 1:
		return c, fmt.Errorf("sqlitestore: %d read connections; need at least 1", c.readConns)
	case c.synchronous != "FULL" && c.synchronous != "NORMAL" && c.synchronous != "EXTRA":
		return c, fmt.Errorf("sqlitestore: synchronous %q is not FULL, NORMAL or EXTRA", c.synchronous)
	}
	return c, nil
}

// DSN returns the data source name Open uses for a writing connection to
// the file at path, for an application that opens its own *sql.DB with the
// "sqlite" driver and passes it to New: WAL, foreign keys, a 5s busy timeout,
// synchronous FULL, the memory map, page cache and checkpoint interval of
// the package documentation, and IMMEDIATE transactions.
func DSN(path string) string {
	return dsn(path, config{busyTimeout: 5 * time.Second, synchronous: "FULL"}, false)
}

// mmapSize is the most of the file each connection maps (1 GiB), and
// cacheKiB the size of each connection's page cache (16 MiB).
const (
	mmapSize = 1 << 30
	cacheKiB = 16 << 10
)

func dsn(path string, c config, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", c.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// Reads through a memory map of the file (shared with every connection
	// and process through the OS's page cache) instead of a read call per
	// page, and a larger page cache per connection: the sweep and the
	// batched writes touch many pages.
	q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", mmapSize))
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKiB))
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+c.synchronous+")")
		// Checkpoint every 8,000 pages (32 MiB of WAL at 4 KiB pages)
		// rather than every 1,000: a page written by many transactions
		// between checkpoints is copied into the file once.
		q.Add("_pragma", "wal_autocheckpoint(8000)")
		q.Set("_txlock", "immediate")
	}
	// A file: URI, so that a path holding '?' or '#' is not cut short.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens the SQLite database file at path, creating it when it does not
// exist, brings its schema up to date, and returns a Store on it. It returns
// an error matching ErrNotDatabase when the file is not a SQLite database,
// ErrReadOnly when it cannot be written, ErrBusy when another connection
// holds it locked past the busy timeout, and ErrSchemaTooNew when its schema
// is newer than this package. Close the Store when done.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if path == "" || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("sqlitestore: %q is not a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
	}
	write, err := sql.Open("sqlite", dsn(abs, c, false))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	s := &Store{path: abs, write: write, read: write, owned: true, timeout: c.busyTimeout, searchCandidates: searchCandidates,
		level: map[string]int{"NORMAL": 1, "FULL": 2, "EXTRA": 3}[c.synchronous]}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, openErr(path, err)
	}
	read, err := sql.Open("sqlite", dsn(abs, c, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(c.readConns)
	read.SetMaxIdleConns(c.readConns)
	if err := read.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, openErr(path, s.mapErr(err))
	}
	s.read = read
	return s, nil
}

// openErr names the path in an error of Open, unless the error is one of
// the package's own, which name it already.
func openErr(path string, err error) error {
	for _, own := range []error{ErrNotDatabase, ErrReadOnly, ErrBusy, ErrSchemaTooNew} {
		if errors.Is(err, own) {
			return err
		}
	}
	return fmt.Errorf("sqlitestore: open %s: %w", path, err)
}

// New returns a Store on db, a pool from the "sqlite" driver (import
// modernc.org/sqlite), after bringing the schema up to date. The pool's
// connections must have foreign keys on and a busy timeout; build its DSN
// with DSN. Close does not close db.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlitestore: nil *sql.DB")
	}
	if _, ok := db.Driver().(*sqlite.Driver); !ok {
		return nil, fmt.Errorf("sqlitestore: the *sql.DB uses driver %T, not modernc.org/sqlite", db.Driver())
	}
	s := &Store{read: db, write: db, searchCandidates: searchCandidates}
	var fk, busy int64
	var file string
	err := s.withConn(ctx, db, func(conn *sql.Conn) error {
		if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			return err
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			return err
		}
		var seq int
		var name string
		return conn.QueryRowContext(ctx, "SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'").Scan(&seq, &name, &file)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", s.mapErr(err))
	}
	if fk != 1 {
		return nil, errors.New("sqlitestore: the *sql.DB must enable foreign keys (DSN _pragma=foreign_keys(1); see DSN)")
	}
	if busy <= 0 {
		return nil, errors.New("sqlitestore: the *sql.DB must set a busy timeout (DSN _pragma=busy_timeout(5000); see DSN)")
	}
	s.path, s.timeout = file, time.Duration(busy)*time.Millisecond
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	return s, nil
}

// Path returns the absolute path of the database file ("" for an in-memory
// database given to New).
func (s *Store) Path() string { return s.path }

// Close closes the connection pools Open made; a Store from New leaves the
// caller's *sql.DB open. The Store must not be used afterwards.
func (s *Store) Close() error {
	var errs []error
	s.stmts.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	if s.owned {
		errs = append(errs, s.read.Close(), s.write.Close())
	}
	return errors.Join(errs...)
}

// readStmt returns the read pool's prepared statement for query, preparing
// it on first use. The point reads that every login and permission check
// makes (User, UserByEmail, UserByToken, UserAccess) go through it: SQLite
// parsing and planning their statement each time took a third of a
// CanOn's time. Only constant query texts may be given, so the cache stays
// as small as the set of them.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// withConn runs f on one connection of db, which it then returns to the pool.
func (s *Store) withConn(ctx context.Context, db *sql.DB, f func(*sql.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return f(conn)
}

// tx runs f in a transaction begun with BEGIN IMMEDIATE on a writer
// connection, committing when f returns nil and rolling back otherwise,
// and maps the error it returns (see fail). A connection whose rollback
// fails (its state is then unknown) is discarded rather than returned to
// the pool.
//
// With bookkeeping, the transaction commits at synchronous NORMAL, the
// connection's level restored afterwards. The password steps use it when
// they record an attempt, a lease, a login or activity but write no audit
// event, message or lock: a power loss may undo the last few of them (a
// lease or a failure count drops back, a last-login time is older), never
// a change with its audit event, and in WAL mode never the file's
// integrity. Sparing them an fsync keeps a login within a few percent of
// the password hash's own cost; the next fully synced commit makes them
// durable too.
func (s *Store) tx(ctx context.Context, bookkeeping bool, f func(w *writer) error) error {
	return s.fail(ctx, s.rawTx(ctx, bookkeeping, f))
}

// rawTx is tx without the mapping of its error onto the contract's: the
// driver's errors come back through mapErr, for Open and the migrations.
func (s *Store) rawTx(ctx context.Context, bookkeeping bool, f func(w *writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return s.mapErr(err)
	}
	defer conn.Close()
	if bookkeeping {
		level := s.level
		if level == 0 {
			if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
				return s.mapErr(err)
			}
		}
		const normal = 1
		if level > normal {
			if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
				return s.mapErr(err)
			}
			defer func() {
				if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+strconv.Itoa(level)); err != nil {
					// A connection left at NORMAL must not serve a change: drop it.
					_ = conn.Raw(func(any) error { return driver.ErrBadConn })
				}
			}()
		}
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return s.mapErr(err)
	}
	w := s.newWriter(ctx, conn)
	err = f(w)
	w.close()
	if err == nil {
		if err = ctx.Err(); err == nil {
			if _, err = conn.ExecContext(ctx, "COMMIT"); err == nil {
				return nil
			}
		}
	}
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
		// An interrupted statement may have rolled the transaction back
		// already; anything else leaves the connection in doubt. Either
		// way, do not reuse it.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return s.mapErr(err)
}

// fail turns an error into the store's error: a context error passes
// through as the context's own error; an error that already matches one of
// the root package's sentinels passes through; a constraint violation
// becomes the sentinel it stands for; anything else matches
// usermgmt.ErrStore, with text free of SQL and data, and the package's own
// errors (ErrBusy, ErrReadOnly, …) and the driver's error still reachable
// through errors.Is and errors.As.
func (s *Store) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if isSentinel(err) {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	if sentinel := sentinelOf(err); sentinel != nil {
		return usermgmt.StoreError(sentinel, err)
	}
	return usermgmt.StoreError(usermgmt.ErrStore, s.mapErr(err))
}

// isSentinel reports whether err is already one of the root package's
// errors (a sentinel the store decided on, or one it mapped).
func isSentinel(err error) bool {
	var e *usermgmt.Error
	return errors.As(err, &e)
}

// sentinelOf maps a violated constraint onto the sentinel the Store
// contract names for it; nil for any other error.
func sentinelOf(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return nil
	}
	msg := se.Error()
	switch {
	case strings.Contains(msg, "users.email"):
		return usermgmt.ErrDuplicateEmail
	case strings.Contains(msg, "groups.account_id, groups.name_key"):
		return usermgmt.ErrDuplicateName
	case se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return usermgmt.ErrDuplicateID
	case se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return usermgmt.ErrNotFound
	}
	return nil
}

// mapErr turns driver errors into the package's errors, keeping the
// driver's message. Context errors pass through.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: %s: %v", ErrNotDatabase, s.path, err)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%w: %s: %v", ErrReadOnly, s.path, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %s (busy timeout %v): %v", ErrBusy, s.path, s.timeout, err)
	}
	return err
}
