package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/usermgmt/usermgmt"
)

// Errors of the store itself, from Open and New.
var (
	// ErrSchemaTooNew reports a schema written by a newer version of this
	// package than the one running: upgrade before opening it.
	ErrSchemaTooNew = errors.New("pgstore: database schema is newer than this code supports")
)

// CancelDelay is how long past a context's end a statement of a pool Open
// made may keep its caller waiting: the server is asked to cancel the
// statement at once, and the connection is abandoned (closed) when it has
// not answered by then.
const CancelDelay = 200 * time.Millisecond

// DefaultSchema is the schema a Store keeps its tables in unless
// WithSchema names another.
const DefaultSchema = "usermgmt"

// Store is a usermgmt.Store on PostgreSQL. It is safe for concurrent use
// by many goroutines; any number of Stores, in any number of processes,
// may share one schema. Create it with Open or New.
type Store struct {
	pool   *pgxpool.Pool
	owned  bool // Close closes pool
	schema string
	q      queries

	reserved reservedRows // see FinishAttempt
}

// The interfaces the Store implements.
var (
	_ usermgmt.Store   = (*Store)(nil)
	_ usermgmt.Counter = (*Store)(nil)
)

// Option configures Open and New.
type Option func(*config)

// config is what the options set.
type config struct {
	schema   string
	maxConns int32
}

// WithSchema sets the schema that holds the store's tables (default
// "usermgmt"): a lower-case SQL identifier of letters, digits and
// underscores, at most 63 bytes. Several stores may share a database in
// schemas of their own.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithMaxConns sets the size of the connection pool Open makes (default:
// pgxpool's, the greater of 4 and the number of CPUs, or pool_max_conns in
// the DSN). New ignores it.
func WithMaxConns(n int32) Option { return func(c *config) { c.maxConns = n } }

// schemaName is what WithSchema accepts: a plain identifier that needs no
// quoting in any tool an operator uses.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// newConfig applies the options and checks the result.
func newConfig(opts []Option) (config, error) {
	c := config{schema: DefaultSchema}
	for _, o := range opts {
		o(&c)
	}
	if !schemaName.MatchString(c.schema) || len(c.schema) >= 3 && c.schema[:3] == "pg_" {
		return c, fmt.Errorf("pgstore: schema %q is not a lower-case identifier (letters, digits, _; not pg_…)", c.schema)
	}
	if c.maxConns < 0 {
		return c, fmt.Errorf("pgstore: %d connections", c.maxConns)
	}
	return c, nil
}

// Open connects to the database named by dsn (a URL such as
// postgres://user:pass@host:5432/db?sslmode=verify-full, or a key=value
// string; see pgxpool.ParseConfig), creates or upgrades the store's schema
// (see the Migrations section), and returns a Store that owns its pool:
// Close closes it. Open's errors carry the server's message, for the
// operator; ErrSchemaTooNew refuses a schema newer than this code.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: bad DSN: %w", err)
	}
	if c.maxConns > 0 {
		pc.MaxConns = c.maxConns
	}
	// When a context ends mid-statement, ask the server to cancel the
	// statement at once (so that a statement waiting on a lock does not run
	// on after the caller gave up) and give up on the connection CancelDelay
	// later should the server not answer.
	pc.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: CancelDelay}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s, err := newStore(ctx, pool, c)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New returns a Store on an existing pool, after creating or upgrading the
// schema. Close leaves the pool open. The tests run pgx's default query
// exec mode (prepared, cached statements); see the package documentation
// for the context handler a pool should have.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, pool, c)
}

// newStore makes the Store on pool and brings its schema up to date.
func newStore(ctx context.Context, pool *pgxpool.Pool, c config) (*Store, error) {
	s := &Store{pool: pool, schema: c.schema, q: newQueries(quoteIdent(c.schema))}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Schema returns the name of the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool Open made; a Store from New leaves the caller's
// pool open. The Store must not be used afterwards.
func (s *Store) Close() {
	if s.owned {
		s.pool.Close()
	}
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// sqlDivisionByZero is the SQLSTATE of the store's checks (a missing
// account, the last admin), which divide by zero to end the transaction
// they run in; the caller knows which check it queued where.
const sqlDivisionByZero = "22012"

// fail turns an error from the driver into the store's error: a context
// error passes through as the context's own error; a constraint violation
// becomes the sentinel it stands for; anything else matches
// usermgmt.ErrStore, with text free of SQL and data, the driver's error
// still reachable through errors.As.
func (s *Store) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !isSentinel(err) {
		return ctx.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, context.Canceled) {
			return context.Canceled
		}
		return context.DeadlineExceeded
	}
	if isSentinel(err) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if sentinel := constraintSentinel(pe); sentinel != nil {
			return usermgmt.StoreError(sentinel, err)
		}
	}
	return usermgmt.StoreError(usermgmt.ErrStore, err)
}

// isSentinel reports whether err is already one of the root package's
// errors (a sentinel the store decided on, or one it mapped).
func isSentinel(err error) bool {
	var e *usermgmt.Error
	return errors.As(err, &e)
}

// constraintSentinel maps a violated constraint onto the sentinel the
// Store contract names for it.
func constraintSentinel(pe *pgconn.PgError) error {
	switch pe.Code {
	case "23505": // unique_violation
		switch pe.ConstraintName {
		case "users_email_key":
			return usermgmt.ErrDuplicateEmail
		case "groups_name_key":
			return usermgmt.ErrDuplicateName
		case "accounts_pkey", "users_pkey", "groups_pkey", "events_pkey", "messages_pkey", "user_tokens_pkey":
			return usermgmt.ErrDuplicateID
		}
	case "23503": // foreign_key_violation
		switch pe.ConstraintName {
		case "accounts_parent_fk", "users_account_fk", "groups_account_fk":
			return usermgmt.ErrNotFound
		}
	}
	return nil
}

// retryable reports whether a transaction failed only because of a
// concurrent one and may simply run again: a deadlock the server broke, or
// a serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// maxTxRetries bounds the re-runs of a transaction after retryable failures.
const maxTxRetries = 5

// withConn runs f on a connection of the pool. When f leaves a transaction
// open (it failed mid-way), the transaction is rolled back; a connection
// whose rollback fails is closed, so the pool never hands out one in an
// unknown state. Retryable failures run f again on a fresh transaction.
func (s *Store) withConn(ctx context.Context, f func(conn *pgx.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.onConn(ctx, f)
		if err != nil && retryable(err) && attempt < maxTxRetries && ctx.Err() == nil {
			continue
		}
		return s.fail(ctx, err)
	}
}

// onConn runs f once on a connection of the pool, as withConn describes.
func (s *Store) onConn(ctx context.Context, f func(conn *pgx.Conn) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release() // even when f panics: a connection never released would hang Close
	conn := c.Conn()
	err = f(conn)
	if !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			_ = conn.Close(rctx)
		}
		cancel()
	}
	return err
}

// exec runs a batch of statements that must all succeed, in order, as one
// round trip, and returns the first error with the index of the statement
// that failed (-1 for none).
func exec(ctx context.Context, conn *pgx.Conn, b *pgx.Batch) (int, error) {
	br := conn.SendBatch(ctx, b)
	for i := range b.QueuedQueries {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return i, err
		}
	}
	return -1, br.Close()
}
