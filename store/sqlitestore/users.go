package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	insertUserSQL = "INSERT INTO users (id, " + strings.Join(writeColumns, ", ") + ") VALUES (" +
		placeholders(len(writeColumns)+1) + ")"
	updateUserSQL = "UPDATE users SET " + strings.Join(writeColumns, " = ?, ") + " = ? WHERE id = ? AND version = ?"
	insertTreeSQL = "INSERT INTO user_tree (account_seq, user_id) VALUES (?, ?)"
	insertEvSQL   = "INSERT INTO audit_events (" + eventCols + ") VALUES (" + placeholders(7) + ")"
	// The role is a literal, not a parameter, so that the partial index
	// users_active_admins (WHERE role = 'admin' AND status = 'active') applies.
	activeAdminSQL = "SELECT EXISTS (SELECT 1 FROM users WHERE account_id = ? AND role = '" + usermgmt.RoleAdmin +
		"' AND status = 'active')"
)

// writeErr maps a failed insert or update onto the contract's sentinels:
// the unique email index to ErrDuplicateEmail, a unique ID to
// ErrDuplicateID, a missing account to ErrNotFound.
func (s *Store) writeErr(err error, what string) error {
	code, msg, ok := constraintErr(err)
	if !ok {
		return s.mapErr(err)
	}
	switch {
	case strings.Contains(msg, "users.email"):
		return fmt.Errorf("%w: %s: %v", usermgmt.ErrDuplicateEmail, what, err)
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %s: %v", usermgmt.ErrDuplicateID, what, err)
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %s refers to a missing record: %v", usermgmt.ErrNotFound, what, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", what, err)
}

// CreateAccount implements usermgmt.Store: the account, its first user and
// that user's event in one transaction.
func (s *Store) CreateAccount(ctx context.Context, a usermgmt.Account, first usermgmt.User, ev usermgmt.AuditEvent) error {
	var n nanos
	created := n.of("account CreatedAt", a.CreatedAt)
	if n.err != nil {
		return n.err
	}
	return s.tx(ctx, func(conn *sql.Conn) error {
		seqs := []int64{}
		var parent any
		if a.ParentID != "" {
			parent = a.ParentID
			path, err := accountPath(ctx, conn, a.ParentID)
			if err != nil {
				return s.mapErr(err)
			}
			if path == nil {
				return fmt.Errorf("%w: parent account %s", usermgmt.ErrNotFound, a.ParentID)
			}
			seqs = path
		}
		_, err := conn.ExecContext(ctx,
			"INSERT INTO accounts (id, parent_id, ancestors, ancestor_seqs, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			a.ID, parent, encodeStrings(a.Ancestors), encodeSeqs(seqs), a.Name, created)
		if err != nil {
			return s.writeErr(err, "account "+a.ID)
		}
		return s.createUsers(ctx, conn, []usermgmt.User{first}, []usermgmt.AuditEvent{ev})
	})
}

// accountPath returns the seqs of the account's ancestors and of the
// account itself, top-level first; nil when there is no such account.
func accountPath(ctx context.Context, conn *sql.Conn, id string) ([]int64, error) {
	var seq int64
	var anc string
	err := conn.QueryRowContext(ctx, "SELECT seq, ancestor_seqs FROM accounts WHERE id = ?", id).Scan(&seq, &anc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seqs, err := decodeSeqs(anc)
	if err != nil {
		return nil, err
	}
	return append(seqs, seq), nil
}

// Account implements usermgmt.Store.
func (s *Store) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	var a usermgmt.Account
	var parent sql.NullString
	var anc string
	var created int64
	err := s.read.QueryRowContext(ctx, "SELECT id, parent_id, ancestors, name, created_at FROM accounts WHERE id = ?", id).
		Scan(&a.ID, &parent, &anc, &a.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return usermgmt.Account{}, fmt.Errorf("%w: account %s", usermgmt.ErrNotFound, id)
	}
	if err != nil {
		return usermgmt.Account{}, s.mapErr(err)
	}
	a.ParentID, a.CreatedAt = parent.String, fromNanos(created)
	if a.Ancestors, err = decodeStrings(anc); err != nil {
		return usermgmt.Account{}, err
	}
	return a, nil
}

// CreateUsers implements usermgmt.Store: the whole batch in one transaction.
func (s *Store) CreateUsers(ctx context.Context, users []usermgmt.User, events []usermgmt.AuditEvent) error {
	if len(users) != len(events) {
		return fmt.Errorf("sqlitestore: %d users but %d events", len(users), len(events))
	}
	return s.tx(ctx, func(conn *sql.Conn) error { return s.createUsers(ctx, conn, users, events) })
}

func (s *Store) createUsers(ctx context.Context, conn *sql.Conn, users []usermgmt.User, events []usermgmt.AuditEvent) error {
	if len(users) != len(events) {
		return fmt.Errorf("sqlitestore: %d users but %d events", len(users), len(events))
	}
	prep := func(q string) (*sql.Stmt, error) {
		if len(users) == 1 {
			return nil, nil // not worth preparing
		}
		st, err := conn.PrepareContext(ctx, q)
		return st, s.mapErr(err)
	}
	exec := func(st *sql.Stmt, q string, args ...any) error {
		var err error
		if st != nil {
			_, err = st.ExecContext(ctx, args...)
		} else {
			_, err = conn.ExecContext(ctx, q, args...)
		}
		return err
	}
	insUser, err := prep(insertUserSQL)
	if err != nil {
		return err
	}
	if insUser != nil {
		defer insUser.Close()
	}
	insTree, err := prep(insertTreeSQL)
	if err != nil {
		return err
	}
	if insTree != nil {
		defer insTree.Close()
	}
	insEv, err := prep(insertEvSQL)
	if err != nil {
		return err
	}
	if insEv != nil {
		defer insEv.Close()
	}
	paths := map[string][]int64{}
	for i, u := range users {
		path, ok := paths[u.AccountID]
		if !ok {
			if path, err = accountPath(ctx, conn, u.AccountID); err != nil {
				return s.mapErr(err)
			}
			if path == nil {
				return fmt.Errorf("%w: account %s", usermgmt.ErrNotFound, u.AccountID)
			}
			paths[u.AccountID] = path
		}
		vals, err := userValues(u, u.Version)
		if err != nil {
			return err
		}
		if err := exec(insUser, insertUserSQL, append([]any{u.ID}, vals...)...); err != nil {
			return s.writeErr(err, "user "+u.ID+" <"+u.Email+">")
		}
		for _, seq := range path {
			if err := exec(insTree, insertTreeSQL, seq, u.ID); err != nil {
				return s.writeErr(err, "user "+u.ID)
			}
		}
		evVals, err := eventValues(events[i])
		if err != nil {
			return err
		}
		if err := exec(insEv, insertEvSQL, evVals...); err != nil {
			return s.writeErr(err, "event "+events[i].ID)
		}
	}
	return nil
}

// UpdateUser implements usermgmt.Store: the versioned write, its event and
// the last-admin check in one IMMEDIATE transaction.
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	u := up.User
	vals, err := userValues(u, u.Version+1)
	if err != nil {
		return err
	}
	evVals, err := eventValues(up.Event)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(conn *sql.Conn) error {
		var account string
		var version int64
		err := conn.QueryRowContext(ctx, "SELECT account_id, version FROM users WHERE id = ?", u.ID).Scan(&account, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s", usermgmt.ErrNotFound, u.ID)
		}
		if err != nil {
			return s.mapErr(err)
		}
		if version != u.Version {
			return fmt.Errorf("%w: user %s is at version %d, not %d", usermgmt.ErrConflict, u.ID, version, u.Version)
		}
		res, err := conn.ExecContext(ctx, updateUserSQL, append(vals, u.ID, u.Version)...)
		if err != nil {
			return s.writeErr(err, "user "+u.ID)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: user %s changed during the write (%d rows, %v)", usermgmt.ErrConflict, u.ID, n, err)
		}
		if account != u.AccountID {
			if err := s.moveUser(ctx, conn, u.ID, account, u.AccountID); err != nil {
				return err
			}
		}
		if _, err := conn.ExecContext(ctx, insertEvSQL, evVals...); err != nil {
			return s.writeErr(err, "event "+up.Event.ID)
		}
		if up.KeepAdmin {
			var ok bool
			err := conn.QueryRowContext(ctx, activeAdminSQL, u.AccountID).Scan(&ok)
			if err != nil {
				return s.mapErr(err)
			}
			if !ok {
				return fmt.Errorf("%w: account %s", usermgmt.ErrLastAdmin, u.AccountID)
			}
		}
		return nil
	})
}

// moveUser re-files a user under a new account in user_tree. The Manager
// never moves users; the Store supports it because UpdateUser replaces
// every field.
func (s *Store) moveUser(ctx context.Context, conn *sql.Conn, userID, from, to string) error {
	oldPath, err := accountPath(ctx, conn, from)
	if err != nil {
		return s.mapErr(err)
	}
	newPath, err := accountPath(ctx, conn, to)
	if err != nil {
		return s.mapErr(err)
	}
	if newPath == nil {
		return fmt.Errorf("%w: account %s", usermgmt.ErrNotFound, to)
	}
	for _, seq := range oldPath {
		if _, err := conn.ExecContext(ctx, "DELETE FROM user_tree WHERE account_seq = ? AND user_id = ?", seq, userID); err != nil {
			return s.mapErr(err)
		}
	}
	for _, seq := range newPath {
		if _, err := conn.ExecContext(ctx, insertTreeSQL, seq, userID); err != nil {
			return s.writeErr(err, "user "+userID)
		}
	}
	return nil
}

// userWhere reads one user from the reader pool.
func (s *Store) userWhere(ctx context.Context, what, where string, args ...any) (usermgmt.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return usermgmt.User{}, fmt.Errorf("%w: %s", usermgmt.ErrNotFound, what)
	}
	return u, s.mapErr(err)
}

// User implements usermgmt.Store.
func (s *Store) User(ctx context.Context, id string) (usermgmt.User, error) {
	return s.userWhere(ctx, "user "+id, "id = ?", id)
}

// UserByEmail implements usermgmt.Store through the unique index of
// non-removed users' emails.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.User, error) {
	return s.userWhere(ctx, "user with that email", "email = ? AND status <> 'removed'", email)
}

// UserByInviteToken implements usermgmt.Store.
func (s *Store) UserByInviteToken(ctx context.Context, tokenHash string) (usermgmt.User, error) {
	if tokenHash == "" {
		if err := ctx.Err(); err != nil {
			return usermgmt.User{}, err
		}
		return usermgmt.User{}, fmt.Errorf("%w: invitation", usermgmt.ErrNotFound)
	}
	return s.userWhere(ctx, "invitation", "invite_token_hash = ? LIMIT 1", tokenHash)
}

// searchCandidates bounds the trigram path of ListUsers: when a search term
// of three or more characters matches at most this many users in the whole
// database, ListUsers reads those users through the FTS5 index and sorts
// them by ID; when it matches more, the term is common, and walking the
// subtree in ID order reaches a page of matches sooner.
const searchCandidates = 2000

// ListUsers implements usermgmt.Store. It walks the subtree's users in ID
// order from q.After through the user_tree index (account, user ID), so a
// deep page costs what the first does, and filters them by status, role
// and search as it goes. A search term of three or more characters that
// matches few users (at most 2,000 in the whole database) goes the other
// way: the FTS5 trigram index finds the candidates, which are then checked
// exactly (substring of the lower-cased names or the email), kept within
// the subtree and after q.After, and sorted by ID. Shorter terms, which a
// trigram index cannot serve, always take the walk.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.User, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("sqlitestore: list limit %d; need at least 1", q.Limit)
	}
	var seq int64
	err := s.read.QueryRowContext(ctx, "SELECT seq FROM accounts WHERE id = ?", q.AccountID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	useFTS := false
	if utf8.RuneCountInString(q.Search) >= 3 {
		var n int
		err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM users_fts WHERE users_fts MATCH ? LIMIT ?)",
			ftsPhrase(q.Search), s.searchCandidates+1).Scan(&n)
		if err != nil {
			return nil, s.mapErr(err)
		}
		useFTS = n <= s.searchCandidates
	}
	query, args := listSQL(q, seq, useFTS)
	return s.users(ctx, query, args...)
}

// listSQL builds ListUsers' query over the subtree of the account with seq:
// the trigram path when useFTS is set, the walk otherwise.
func listSQL(q usermgmt.ListQuery, seq int64, useFTS bool) (string, []any) {
	filter, fargs := listFilter(q)
	var query string
	var args []any
	if useFTS {
		query = "SELECT " + userColsOf("u") + " FROM users_fts CROSS JOIN users u ON u.seq = users_fts.rowid" +
			" WHERE users_fts MATCH ? AND u.id > ?" +
			" AND EXISTS (SELECT 1 FROM user_tree t WHERE t.account_seq = ? AND t.user_id = u.id)" +
			filter + " ORDER BY u.id LIMIT ?"
		args = append([]any{ftsPhrase(q.Search), q.After, seq}, fargs...)
	} else {
		query = "SELECT " + userColsOf("u") + " FROM user_tree t CROSS JOIN users u ON u.id = t.user_id" +
			" WHERE t.account_seq = ? AND t.user_id > ?" + filter + " ORDER BY t.user_id LIMIT ?"
		args = append([]any{seq, q.After}, fargs...)
	}
	return query, append(args, q.Limit)
}

// listFilter returns the status, role and search conditions of q.
func listFilter(q usermgmt.ListQuery) (string, []any) {
	var b strings.Builder
	var args []any
	if len(q.Statuses) == 0 {
		b.WriteString(" AND u.status <> 'removed'")
	} else {
		b.WriteString(" AND u.status IN (" + placeholders(len(q.Statuses)) + ")")
		for _, st := range q.Statuses {
			args = append(args, string(st))
		}
	}
	if len(q.Roles) > 0 {
		b.WriteString(" AND u.role IN (" + placeholders(len(q.Roles)) + ")")
		for _, r := range q.Roles {
			args = append(args, r)
		}
	}
	if q.Search != "" {
		b.WriteString(" AND (instr(u.first_lc, ?) > 0 OR instr(u.last_lc, ?) > 0 OR instr(u.email, ?) > 0)")
		args = append(args, q.Search, q.Search, q.Search)
	}
	return b.String(), args
}

// ftsPhrase quotes a search term as one FTS5 phrase: with the trigram
// tokenizer it matches the rows holding the term as a substring of a column.
func ftsPhrase(term string) string {
	return `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
}

func (s *Store) users(ctx context.Context, query string, args ...any) ([]usermgmt.User, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer rows.Close()
	var out []usermgmt.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.mapErr(err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(err)
	}
	return out, nil
}

// StaleUsers implements usermgmt.Store by walking the partial index of
// active users on (last_active_at, id) from the keyset: it reads the users
// it returns and nothing else.
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.User, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("sqlitestore: stale limit %d; need at least 1", q.Limit)
	}
	if q.ActiveBefore.IsZero() {
		return nil, ctx.Err() // nothing is before the zero time
	}
	query, args, err := staleSQL(q)
	if err != nil {
		return nil, err
	}
	return s.users(ctx, query, args...)
}

// staleSQL builds StaleUsers' query, pinned to the partial index of active
// users by (last_active_at, id).
func staleSQL(q usermgmt.StaleQuery) (string, []any, error) {
	var n nanos
	query := "SELECT " + userCols + " FROM users INDEXED BY users_stale WHERE status = 'active' AND last_active_at < ?"
	args := []any{n.of("ActiveBefore", q.ActiveBefore)}
	if !q.AfterActive.IsZero() || q.AfterID != "" {
		query += " AND (last_active_at, id) > (?, ?)"
		args = append(args, n.of("AfterActive", q.AfterActive), q.AfterID)
	}
	return query + " ORDER BY last_active_at, id LIMIT ?", append(args, q.Limit), n.err
}

// ReserveAttempt implements usermgmt.Store with one UPDATE … RETURNING: the
// condition and the increment are a single atomic step under SQLite's write
// lock, in this process and in any other.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, limit int) (usermgmt.User, bool, error) {
	var u usermgmt.User
	err := s.bookkeeping(ctx, func(conn *sql.Conn) error {
		var err error
		u, err = scanUser(conn.QueryRowContext(ctx,
			"UPDATE users SET failed_attempts = failed_attempts + 1, version = version + 1"+
				" WHERE id = ? AND status = 'active' AND failed_attempts < ? RETURNING "+userCols, userID, limit))
		return err
	})
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return usermgmt.User{}, false, s.mapErr(err)
	}
	u, err = s.User(ctx, userID)
	return u, false, err
}

// RecordLogin implements usermgmt.Store with one UPDATE … RETURNING.
func (s *Store) RecordLogin(ctx context.Context, l usermgmt.Login) (usermgmt.User, bool, error) {
	var n nanos
	at := n.of("login At", l.At)
	if n.err != nil {
		return usermgmt.User{}, false, n.err
	}
	var u usermgmt.User
	err := s.bookkeeping(ctx, func(conn *sql.Conn) error {
		var err error
		u, err = scanUser(conn.QueryRowContext(ctx,
			"UPDATE users SET failed_attempts = 0, last_login_at = ?1, last_active_at = ?1,"+
				" password_hash = CASE WHEN ?2 <> '' THEN ?2 ELSE password_hash END, version = version + 1"+
				" WHERE id = ?3 AND status = 'active' AND password_hash = ?4 RETURNING "+userCols,
			at, l.NewHash, l.UserID, l.VerifiedHash))
		return err
	})
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return usermgmt.User{}, false, s.mapErr(err)
	}
	u, err = s.User(ctx, l.UserID)
	return u, false, err
}

// History implements usermgmt.Store through the (user_id, id) index.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("sqlitestore: history limit %d; need at least 1", q.Limit)
	}
	query := "SELECT " + eventCols + " FROM audit_events WHERE user_id = ?"
	args := []any{q.UserID}
	if q.Before != "" {
		query += " AND id < ?"
		args = append(args, q.Before)
	}
	rows, err := s.read.QueryContext(ctx, query+" ORDER BY id DESC LIMIT ?", append(args, q.Limit)...)
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer rows.Close()
	var out []usermgmt.AuditEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, s.mapErr(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(err)
	}
	return out, nil
}
