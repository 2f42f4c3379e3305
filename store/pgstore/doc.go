// Package pgstore is a usermgmt.Store on PostgreSQL, through pgx v5
// (pgxpool): the store for applications that outgrow one machine, with any
// number of application instances on any number of machines sharing one
// database. It needs PostgreSQL 13 or later.
//
// # Opening
//
// Open connects with a DSN and owns its pool; New takes a *pgxpool.Pool
// the application already has. Either creates or upgrades the schema
// first (see Migrations). The tables live in one schema, "usermgmt" unless
// WithSchema names another, so that several stores, or the application's
// own tables, can share a database.
//
// When a context ends mid-statement, a pool from Open asks the server to
// cancel the statement at once and abandons the connection if the server
// has not answered within CancelDelay: a call returns at most CancelDelay
// after its context's deadline, and a statement waiting on a lock does not
// run on after its caller gave up. (pgx's default only closes the socket,
// which a backend waiting on a lock does not notice.) A pool given to New
// keeps its own setting; install pgconn.CancelRequestContextWatcherHandler
// in its ConnConfig.BuildContextWatcherHandler for the same behaviour.
//
// # Layout
//
// Accounts, users, groups, audit events and outbox messages each have a
// table; a user's lists (groups, grants, attempt leases, tokens, reset
// requests) are jsonb columns of its row. Four index tables let listings
// walk a B-tree in keyset order instead of filtering and sorting:
//
//   - account_tree (root_id, account_id): every account under itself and
//     each account above it; Accounts walks a subtree.
//   - user_tree (root_id, user_id): every user under their account and each
//     account above it; ListUsers walks a subtree by user ID, so the page
//     10,000 deep costs what the first does.
//   - group_members (group_id, user_id), the users' Groups: ListQuery.GroupID.
//   - account_events (root_id, event_id): every event under its account and
//     each account above it; History of an account subtree walks down from
//     HistoryQuery.Before. A user's history walks events (user_id, id).
//
// user_tokens (hash) indexes the token hashes for UserByToken and keeps a
// hash to one user. Partial indexes serve the rest: the canonical email
// among non-removed users (unique), Active users by (last_active_at, id)
// and Locked users by (locked_at, id) for the sweep (StaleUsers reads the
// users it returns and nothing else), the active admins of an account,
// group names per account among live groups (unique), pending messages by
// (due_at, id) and dead letters by id.
//
// Every ID and key column is COLLATE "C", so pagination orders byte-wise
// whatever the database's collation. Times are int64 Unix nanoseconds
// (timestamptz keeps microseconds; the contract asks for nanoseconds), the
// zero time.Time the smallest int64. Outbox error texts are bytea, since a
// mail server's reply may hold a NUL; every other text column is text,
// which refuses NUL: the Manager never sends one (names, emails and search
// terms are checked), and a NUL from elsewhere fails that call with
// ErrStore, writing nothing.
//
// # Transactions and costs
//
// Every change runs at READ COMMITTED, with its audit event and its
// messages, in one statement or one transaction; no SERIALIZABLE, so no
// retry storms. Conflicts are settled by row locks and checks:
//
//   - Versions: UpdateUsers locks its users (SELECT … FOR UPDATE, in ID
//     order, so concurrent calls cannot deadlock on them), compares their
//     versions, and writes. UpdateAccount and UpdateGroup write WHERE
//     version = the one read, and tell ErrNotFound from ErrConflict only
//     when nothing was written.
//   - Email and group-name uniqueness are unique partial indexes, which
//     hold across every process and every transaction.
//   - The last active admin: a write that must keep one locks the
//     account's row (FOR NO KEY UPDATE, which leaves foreign-key checks
//     free) before counting, so two demotions cannot both pass.
//   - ReserveAttempt is one UPDATE … RETURNING on the user's row, which
//     drops lapsed leases, decides and appends the lease while holding the
//     row: however many processes reserve at once, each sees the leases of
//     those before it. FinishAttempt locks the row, decides as the
//     in-memory store does, and writes the outcome with the lock's event
//     and messages; an outcome that writes the row alone (a login, a
//     failure that does not lock) is decided on the row the same Store's
//     reservation returned and written only if the row's version is
//     unchanged, else as above. Every write of a user raises its version.
//   - ClaimMessages selects due messages FOR UPDATE SKIP LOCKED and leases
//     them in the same statement: concurrent workers take disjoint
//     messages without waiting for each other.
//
// Round trips (pgx pipelines a batch of statements into one): a lookup,
// UserAccess (the user and its live groups' versions), a listing,
// ReserveAttempt, RecordActivity, ClaimMessages, FinishMessage and
// UpdateAccount take one; CreateUsers (one statement per table, whatever
// the batch's size), CreateAccount, CreateGroup and UpdateGroup take one
// transaction sent as one round trip, except that CreateUsers COPYs a
// batch of 64 users or more (a bulk invitation's batches of 500), a COPY
// per table in one transaction; UpdateUser, UpdateUsers (a whole
// sweep page of 500) and FinishAttempt take two, FinishAttempt one for a
// login or a failure that does not lock (without AuditLogins) when the
// same Store reserved the attempt and the user is unchanged since. A page of plain updates
// (distinct users, none moving or changing groups or tokens: the sweep's)
// is written set-wise, one UPDATE for every row and one INSERT for every
// event, about 0.3 ms per idle user at 1,000,000 users. When a write of a batch
// fails on a constraint, UpdateUsers rolls back and splits the batch
// around the failing update rather than using savepoints, which would cost
// a subtransaction per update.
//
// Durability: every change commits with synchronous_commit as the server
// has it (on by default: the commit waits for its WAL on disk). The
// password steps' bookkeeping — ReserveAttempt, RecordActivity, and a
// FinishAttempt that writes no event, message or lock — commits with
// synchronous_commit off for its own transaction: a crash of the server
// may undo the last fraction of a second of leases, failure counts and
// last-login times (each whole), never a change with its audit event.
// Two disk syncs per login would otherwise add a third or more to it on a
// durable server (BenchmarkAuthenticate on a busy 2-core machine: 1.51
// times a bare argon2id verification with them, 1.13 without). The SQLite
// store makes the same choice.
//
// A call whose transaction the server ended because of a deadlock or a
// serialization failure runs again, up to five times. Anything else that
// fails fails the call, whole: nothing of a failed transaction is kept.
// A connection the server dropped fails the call that used it (ErrStore);
// the pool replaces it.
//
// # Search
//
// ListQuery.Search matches the folded first name, last name and email
// (columns kept beside the originals, folded by usermgmt.FoldSearch) with
// LIKE '%term%' through a pg_trgm GIN index over the three, when the
// extension is there; the planner chooses between that index and walking
// the subtree in order, whichever its statistics say is cheaper. Without
// pg_trgm (see Migrations), search walks the subtree and filters: fast for
// common terms, but a page of a rare term reads the subtree.
// SearchIndexed reports which.
//
// # Migrations
//
// The schema is created and upgraded by versioned SQL files embedded in the
// package (migrations/NNNN_name.sql); schema_migrations records the versions
// applied. A schema already current is only read, so many instances
// starting at once cost a query each and a runtime role needs no DDL
// rights. Otherwise the pending migrations run in one transaction under a
// transaction-level advisory lock keyed by the schema's name: of several
// instances starting at once one migrates, the others wait and find the
// work done. A schema newer than this code is refused with
// ErrSchemaTooNew before anything is written.
//
// The first migration needs CREATE on the database (or a schema the role
// owns) and tries CREATE EXTENSION pg_trgm, which PostgreSQL 13 and later
// allow any role with CREATE on the database (a trusted extension); when
// that fails, the schema is created without the search index. An
// extension created in the store's own schema goes with it when the schema
// is dropped, so create it beforehand in a shared schema (CREATE EXTENSION
// pg_trgm SCHEMA public) when several stores share a database.
//
// # Errors
//
// Methods return the root package's sentinels for the cases the Store
// contract names: unique violations map by index (the email to
// ErrDuplicateEmail, a group name to ErrDuplicateName, primary keys to
// ErrDuplicateID), foreign keys and explicit checks to ErrNotFound, the
// last-admin check to ErrLastAdmin. Every other failure matches
// usermgmt.ErrStore; its text is the sentinel's alone (no SQL, no data),
// and errors.As still reaches the *pgconn.PgError. Context errors are
// returned as the context's own.
package pgstore
