package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/attempts"
)

// The statements of user writes. The role and statuses are literals, not
// parameters, so that the partial indexes apply.
var (
	insertUserSQL = "INSERT INTO users (" + strings.Join(writeColumns, ", ") + ") VALUES (" + placeholders(len(writeColumns)) + ")"
	updateUserSQL = "UPDATE users SET " + strings.Join(writeColumns[1:], " = ?, ") + " = ? WHERE seq = ?"
	insertTreeSQL = "INSERT INTO user_tree (account_seq, user_id) VALUES (?, ?)"
	insertEvSQL   = "INSERT INTO events (" + eventCols + ") VALUES (" + placeholders(len(eventColumns)) + ")"
	insertAcEvSQL = "INSERT INTO account_events (root_seq, event_id) VALUES (?, ?)"
	insertTokSQL  = "INSERT INTO user_tokens (hash, user_id) VALUES (?, ?)"
	insertMemSQL  = "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)"
	activeAdmin   = "SELECT EXISTS (SELECT 1 FROM users WHERE account_id = ? AND role = '" + usermgmt.RoleAdmin +
		"' AND status = 'active')"
	userForWrite = "SELECT seq, " + userCols + " FROM users WHERE id = ?"
	userStateSQL = "SELECT seq, version, account_id, groups, tokens FROM users WHERE id = ?"
)

// writer runs the statements of one write transaction on its connection,
// preparing each statement once per transaction, and caches the accounts'
// paths (the seqs of the account and those above it) it has read.
type writer struct {
	s     *Store
	ctx   context.Context
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	paths map[string][]int64
}

func (s *Store) newWriter(ctx context.Context, conn *sql.Conn) *writer {
	return &writer{s: s, ctx: ctx, conn: conn, stmts: map[string]*sql.Stmt{}, paths: map[string][]int64{}}
}

// close releases the prepared statements.
func (w *writer) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *writer) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		// A Row whose Scan reports the preparation's error.
		return w.conn.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

// path returns the seqs of the account and the accounts above it, or nil
// when there is no such account.
func (w *writer) path(id string) ([]int64, error) {
	if p, ok := w.paths[id]; ok {
		return p, nil
	}
	var seq int64
	var anc string
	err := w.queryRow("SELECT seq, ancestor_seqs FROM accounts WHERE id = ?", id).Scan(&seq, &anc)
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
	p := append(seqs, seq)
	w.paths[id] = p
	return p, nil
}

// event inserts an event and files it under its account and those above
// it (an event of an account that does not exist is filed under none).
func (w *writer) event(e *usermgmt.AuditEvent) error {
	if _, err := w.exec(insertEvSQL, eventValues(e)...); err != nil {
		return err
	}
	p, err := w.path(e.AccountID)
	if err != nil {
		return err
	}
	for _, seq := range p {
		if _, err := w.exec(insertAcEvSQL, seq, e.ID); err != nil {
			return err
		}
	}
	return nil
}

// messages inserts outbox messages, up to msgChunk a statement: a bulk
// invitation stores one per row, and one multi-row INSERT costs SQLite and
// database/sql far less than as many single ones. Messages never tried yet
// (every message a change causes) bind only the values that differ
// between them; any other list is written with every column bound.
//
// The statements are INSERT OR FAIL: a conflict ends the statement without
// undoing its earlier rows, which spares SQLite the statement journal a
// multi-row INSERT OR ABORT keeps (a copy of every page it changes). Every
// caller rolls the whole transaction back on an error, so nothing of a
// failed statement remains.
func (w *writer) messages(ms []usermgmt.Message) error {
	fresh := true
	for i := range ms {
		fresh = fresh && isFresh(&ms[i])
	}
	stmts, cols, values := insertMsgsSQL, len(messageColumns), messageValues
	if fresh {
		stmts, cols, values = insertFreshMsgsSQL, freshMessageParams, freshMessageValues
	}
	for len(ms) > 0 {
		n := min(len(ms), msgChunk)
		args := make([]any, 0, n*cols)
		for i := range ms[:n] {
			args = append(args, values(&ms[i])...)
		}
		if _, err := w.exec(stmts[n-1], args...); err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}

// msgChunk is the most messages one INSERT writes (at most 14 parameters
// each, far below SQLite's limit of 32,766).
const msgChunk = 64

// insertMsgsSQL[n-1] inserts n messages, every column bound;
// insertFreshMsgsSQL[n-1] inserts n messages never tried (see isFresh).
var insertMsgsSQL, insertFreshMsgsSQL = insertManySQL("(" + placeholders(len(messageColumns)) + ")"),
	insertManySQL("(?, ?, ?, ?, ?, ?, '" + string(usermgmt.MessagePending) + "', ?, ?, 0, x'', '', 0, 0)")

// insertManySQL returns the INSERT OR FAIL statements of 1 to msgChunk
// messages whose values are row.
func insertManySQL(row string) []string {
	out := make([]string, msgChunk)
	for n := 1; n <= msgChunk; n++ {
		out[n-1] = "INSERT OR FAIL INTO messages (" + messageCols + ") VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	}
	return out
}

// exists reports whether the query (SELECT EXISTS …) answers true.
func (w *writer) exists(query string, args ...any) (bool, error) {
	var ok bool
	err := w.queryRow(query, args...).Scan(&ok)
	return ok, err
}

// createUsers inserts new users with their events, then their messages. The
// caller's transaction is rolled back on any error, so the first failure
// ends the batch; a failure on a constraint is mapped to its sentinel.
func (w *writer) createUsers(cs []usermgmt.UserCreate) error {
	var msgs []usermgmt.Message
	for i := range cs {
		c := &cs[i]
		u := &c.User
		path, err := w.path(u.AccountID)
		if err != nil {
			return err
		}
		if path == nil {
			return notFound("account")
		}
		if _, err := w.exec(insertUserSQL, userValues(u)...); err != nil {
			if sentinelOf(err) == usermgmt.ErrDuplicateID && u.Status != usermgmt.StatusRemoved {
				// The ID is taken; so may the email be, which the
				// in-memory store reports first.
				if taken, xerr := w.exists("SELECT EXISTS (SELECT 1 FROM users WHERE email = ? AND status <> 'removed')", u.Email); xerr == nil && taken {
					return usermgmt.ErrDuplicateEmail
				}
			}
			return err
		}
		for _, seq := range path {
			if _, err := w.exec(insertTreeSQL, seq, u.ID); err != nil {
				return err
			}
		}
		if err := w.event(&c.Event); err != nil {
			return err
		}
		for _, h := range tokenHashes(u.Tokens) {
			if _, err := w.exec(insertTokSQL, h, u.ID); err != nil {
				return err
			}
		}
		msgs = append(msgs, c.Messages...)
		for _, g := range u.Groups {
			if _, err := w.exec(insertMemSQL, g, u.ID); err != nil {
				return err
			}
		}
	}
	// The batch's messages last, many to a statement.
	return w.messages(msgs)
}

// CreateAccount implements usermgmt.Store: the account, its place in the
// account tree, its event, its first user with that user's event and
// messages, in one IMMEDIATE transaction.
func (s *Store) CreateAccount(ctx context.Context, c usermgmt.AccountCreate) error {
	a := c.Account
	return s.tx(ctx, false, func(w *writer) error {
		seqs := []int64{}
		var parent any
		if a.ParentID != "" {
			parent = a.ParentID
			p, err := w.path(a.ParentID)
			if err != nil {
				return err
			}
			if p == nil {
				if ok, err := w.exists("SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?)", a.ID); err == nil && ok {
					return fmt.Errorf("%w: account", usermgmt.ErrDuplicateID)
				}
				return notFound("parent account")
			}
			seqs = p
		}
		res, err := w.exec("INSERT INTO accounts (id, parent_id, ancestors, ancestor_seqs, name, departments, locale,"+
			" created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			a.ID, parent, encodeStrings(a.Ancestors), encodeSeqs(seqs), a.Name, encodeStrings(a.Departments), a.Locale,
			encTime(a.CreatedAt), encTime(a.UpdatedAt), a.Version)
		if err != nil {
			return err
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, r := range append(slices.Clone(seqs), seq) {
			if _, err := w.exec("INSERT INTO account_tree (root_seq, account_id) VALUES (?, ?)", r, a.ID); err != nil {
				return err
			}
		}
		if c.AccountEvent.ID != "" {
			if err := w.event(&c.AccountEvent); err != nil {
				return err
			}
		}
		return w.createUsers([]usermgmt.UserCreate{c.Admin})
	})
}

// CreateUsers implements usermgmt.Store: the whole batch in one IMMEDIATE
// transaction, each statement prepared once for the batch.
func (s *Store) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	if len(cs) == 0 {
		return ctx.Err()
	}
	return s.tx(ctx, false, func(w *writer) error { return w.createUsers(cs) })
}

// UpdateUser implements usermgmt.Store (see UpdateUsers).
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	errs, err := s.UpdateUsers(ctx, []usermgmt.UserUpdate{up})
	if err != nil {
		return err
	}
	return errs[0]
}

// UpdateUsers implements usermgmt.Store: every update of the call in one
// IMMEDIATE transaction, in order. Each update reads the stored user,
// refuses a missing user or a stale version, and then writes its event,
// messages and row with the indexes that follow it; the constraints of
// those writes (a reused event or message ID, a taken email or token) and
// the checks of a missing account and of the last admin refuse it with a
// sentinel. A refused update's partial writes are undone by running the
// transaction again without it, so each update is applied whole or not
// at all.
func (s *Store) UpdateUsers(ctx context.Context, ups []usermgmt.UserUpdate) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := make([]error, len(ups))
	refused := make(map[int]error)
	for {
		failed := -1
		err := s.tx(ctx, false, func(w *writer) error {
			failed = -1
			for i := range ups {
				if e, ok := refused[i]; ok {
					errs[i] = e
					continue
				}
				checked, err := w.updateUser(&ups[i])
				if err != nil {
					failed = i
					return err
				}
				errs[i] = checked
			}
			return nil
		})
		if err == nil {
			return errs, nil
		}
		if failed < 0 || !isRefusal(err) {
			return nil, err
		}
		refused[failed] = err
	}
}

// isRefusal reports whether err refuses one update (a sentinel of the
// contract) rather than failing the call.
func isRefusal(err error) bool {
	for _, e := range []error{usermgmt.ErrNotFound, usermgmt.ErrConflict, usermgmt.ErrDuplicateEmail,
		usermgmt.ErrDuplicateID, usermgmt.ErrLastAdmin} {
		if errors.Is(err, e) {
			return !errors.Is(err, usermgmt.ErrStore)
		}
	}
	return false
}

// updateUser applies one update. A refusal found before anything is
// written comes back as checked; err is a failure after writing began,
// which must roll the transaction back.
func (w *writer) updateUser(up *usermgmt.UserUpdate) (checked, err error) {
	u := up.User
	// Only what the write compares against: the version, and what the
	// indexes beside the row (user_tree, user_tokens, group_members) follow.
	var seq, version int64
	var account, groupsText, tokensText string
	err = w.queryRow(userStateSQL, u.ID).Scan(&seq, &version, &account, &groupsText, &tokensText)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("user"), nil
	}
	if err != nil {
		return nil, err
	}
	if version != u.Version {
		return fmt.Errorf("%w: user", usermgmt.ErrConflict), nil
	}
	r := userRow{groups: groupsText, tokens: tokensText}
	old, err := r.record()
	if err != nil {
		return nil, err
	}
	old.AccountID, old.Version = account, version
	// Writes in the in-memory store's order of checks: event, messages,
	// account, email, tokens, last admin.
	if err := w.event(&up.Event); err != nil {
		return nil, err
	}
	if err := w.messages(up.Messages); err != nil {
		return nil, err
	}
	var newPath []int64
	if u.AccountID != old.AccountID {
		if newPath, err = w.path(u.AccountID); err != nil {
			return nil, err
		}
		if newPath == nil {
			return nil, notFound("account")
		}
	}
	u.Version = old.Version + 1
	vals := userValues(&u)
	if _, err := w.exec(updateUserSQL, append(vals[1:], seq)...); err != nil {
		return nil, err
	}
	if hashes, oldHashes := tokenHashes(u.Tokens), tokenHashes(old.Tokens); !slices.Equal(hashes, oldHashes) {
		if repeats(hashes) {
			// A hash names one token, even among one user's.
			return nil, fmt.Errorf("%w: token", usermgmt.ErrDuplicateID)
		}
		for _, h := range oldHashes {
			if !slices.Contains(hashes, h) {
				if _, err := w.exec("DELETE FROM user_tokens WHERE hash = ? AND user_id = ?", h, u.ID); err != nil {
					return nil, err
				}
			}
		}
		for _, h := range hashes {
			if !slices.Contains(oldHashes, h) {
				if _, err := w.exec(insertTokSQL, h, u.ID); err != nil {
					return nil, err
				}
			}
		}
	}
	if up.KeepAdmin {
		ok, err := w.exists(activeAdmin, old.AccountID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: account", usermgmt.ErrLastAdmin)
		}
	}
	if newPath != nil {
		if _, err := w.exec("DELETE FROM user_tree WHERE user_id = ?", u.ID); err != nil {
			return nil, err
		}
		for _, s := range newPath {
			if _, err := w.exec(insertTreeSQL, s, u.ID); err != nil {
				return nil, err
			}
		}
	}
	if !slices.Equal(u.Groups, old.Groups) {
		for _, g := range old.Groups {
			if !slices.Contains(u.Groups, g) {
				if _, err := w.exec("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", g, u.ID); err != nil {
					return nil, err
				}
			}
		}
		for _, g := range u.Groups {
			if _, err := w.exec(insertMemSQL, g, u.ID); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// tokenHashes returns the hashes of the tokens, in order.
func tokenHashes(ts []usermgmt.Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Hash
	}
	return out
}

// repeats reports whether a value occurs twice in ss.
func repeats(ss []string) bool {
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}

// oneUser reads one user from the reader pool, or ErrNotFound naming what.
func (s *Store) oneUser(ctx context.Context, what, query string, args ...any) (usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, err
	}
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return usermgmt.UserRecord{}, s.fail(ctx, err)
	}
	u, err := scanUser(st.QueryRowContext(ctx, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return usermgmt.UserRecord{}, notFound(what)
	}
	if err != nil {
		return usermgmt.UserRecord{}, s.fail(ctx, err)
	}
	return u, nil
}

// User implements usermgmt.Store.
func (s *Store) User(ctx context.Context, id string) (usermgmt.UserRecord, error) {
	return s.oneUser(ctx, "user", "SELECT "+userCols+" FROM users WHERE id = ?", id)
}

// UserByEmail implements usermgmt.Store through the unique index of
// non-removed users' emails.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.UserRecord, error) {
	return s.oneUser(ctx, "user", "SELECT "+userCols+" FROM users WHERE email = ? AND status <> 'removed'", email)
}

// UserByToken implements usermgmt.Store through user_tokens.
func (s *Store) UserByToken(ctx context.Context, hash string) (usermgmt.UserRecord, error) {
	return s.oneUser(ctx, "token", "SELECT "+userColsOf("u")+" FROM user_tokens t CROSS JOIN users u ON u.id = t.user_id WHERE t.hash = ?", hash)
}

// UserAccess implements usermgmt.Store: the user and the versions of its
// live groups in one statement, so from one snapshot.
func (s *Store) UserAccess(ctx context.Context, id string) (usermgmt.UserRecord, []usermgmt.GroupStamp, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, nil, err
	}
	st, err := s.readStmt(ctx, userAccessSQL)
	if err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	var r userRow
	var stamps sql.NullString
	err = st.QueryRowContext(ctx, id).Scan(append(r.dest(), &stamps)...)
	if errors.Is(err, sql.ErrNoRows) {
		return usermgmt.UserRecord{}, nil, notFound("user")
	}
	if err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	u, err := r.record()
	if err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	var out []usermgmt.GroupStamp
	for _, st := range strings.Split(stamps.String, ",") {
		gid, v, ok := strings.Cut(st, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
		}
		out = append(out, usermgmt.GroupStamp{ID: gid, Version: n})
	}
	return u, out, nil
}

// userAccessSQL reads a user and "groupID version" of each of its live
// groups, comma-separated, through group_members (IDs hold no comma or
// space: they are UUIDs).
var userAccessSQL = "SELECT " + userColsOf("u") + `,
	(SELECT group_concat(g.id || ' ' || g.version, ',') FROM group_members m
	 CROSS JOIN groups g ON g.id = m.group_id AND g.deleted = 0 WHERE m.user_id = u.id)
	FROM users u WHERE u.id = ?`

// searchCandidates bounds the trigram path of ListUsers: when a search term
// of three or more characters matches at most this many users in the whole
// database, ListUsers reads those users through the FTS5 index and sorts
// them by ID; when it matches more, the term is common, and walking the
// subtree in ID order reaches a page of matches sooner.
const searchCandidates = 2000

// ListUsers implements usermgmt.Store. It walks the subtree's users in ID
// order from q.After through the user_tree index (account, user ID), or a
// group's through group_members (group, user ID), so a deep page costs
// what the first does, and filters them as it goes. A search term of three
// or more characters that matches few users (at most 2,000 in the whole
// database) goes the other way: the FTS5 trigram index finds the
// candidates, which are then checked exactly (substring of the folded
// names or email), kept within the subtree and after q.After, and sorted by
// ID. Shorter terms, which a trigram index cannot serve, always walk.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit < 1 {
		return nil, nil
	}
	query, args, ok, err := s.listSQL(ctx, q, false)
	if err != nil || !ok {
		return nil, err
	}
	return s.users(ctx, query, args...)
}

// CountUsers implements usermgmt.Counter: its cost follows the number of
// users in the subtree (or group), as ListUsers' walk would.
func (s *Store) CountUsers(ctx context.Context, q usermgmt.ListQuery) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q.After = ""
	query, args, ok, err := s.listSQL(ctx, q, true)
	if err != nil || !ok {
		return 0, err
	}
	var n int
	if err := s.read.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, s.fail(ctx, err)
	}
	return n, nil
}

// listSQL builds ListUsers' (count: CountUsers') query; ok is false when
// the account does not exist.
func (s *Store) listSQL(ctx context.Context, q usermgmt.ListQuery, count bool) (string, []any, bool, error) {
	var seq int64
	err := s.read.QueryRowContext(ctx, "SELECT seq FROM accounts WHERE id = ?", q.AccountID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, s.fail(ctx, err)
	}
	useFTS := false
	if utf8.RuneCountInString(q.Search) >= 3 && q.GroupID == "" {
		var n int
		err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM users_fts WHERE users_fts MATCH ? LIMIT ?)",
			ftsPhrase(q.Search), s.searchCandidates+1).Scan(&n)
		if err != nil {
			return "", nil, false, s.fail(ctx, err)
		}
		useFTS = n <= s.searchCandidates
	}
	query, args := listSQL(q, seq, useFTS, count)
	return query, args, true, nil
}

// listSQL builds ListUsers' query over the subtree of the account with seq:
// the trigram path when useFTS is set, the walk otherwise.
func listSQL(q usermgmt.ListQuery, seq int64, useFTS, count bool) (string, []any) {
	filter, fargs := listFilter(q)
	sel := "SELECT " + userColsOf("u")
	if count {
		sel = "SELECT count(*)"
	}
	var query, key string
	var args []any
	switch {
	case q.GroupID != "":
		key = "m.user_id"
		query = sel + " FROM group_members m CROSS JOIN users u ON u.id = m.user_id" +
			" WHERE m.group_id = ? AND m.user_id > ?" +
			" AND EXISTS (SELECT 1 FROM user_tree t WHERE t.account_seq = ? AND t.user_id = m.user_id)" + filter
		args = append([]any{q.GroupID, q.After, seq}, fargs...)
	case useFTS:
		key = "u.id"
		query = sel + " FROM users_fts CROSS JOIN users u ON u.seq = users_fts.rowid" +
			" WHERE users_fts MATCH ? AND u.id > ?" +
			" AND EXISTS (SELECT 1 FROM user_tree t WHERE t.account_seq = ? AND t.user_id = u.id)" + filter
		args = append([]any{ftsPhrase(q.Search), q.After, seq}, fargs...)
	default:
		key = "t.user_id"
		query = sel + " FROM user_tree t CROSS JOIN users u ON u.id = t.user_id" +
			" WHERE t.account_seq = ? AND t.user_id > ?" + filter
		args = append([]any{seq, q.After}, fargs...)
	}
	if count {
		return query, args
	}
	return query + " ORDER BY " + key + " LIMIT ?", append(args, q.Limit)
}

// listFilter returns the status, role, department and search conditions
// of q (ListQuery.Matches).
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
	if q.Department != "" {
		b.WriteString(" AND u.department = ?")
		args = append(args, q.Department)
	}
	if q.Search != "" {
		b.WriteString(" AND (instr(u.first_lc, ?) > 0 OR instr(u.last_lc, ?) > 0 OR instr(u.email_fold, ?) > 0)")
		args = append(args, q.Search, q.Search, q.Search)
	}
	return b.String(), args
}

// ftsPhrase quotes a search term as one FTS5 phrase: with the trigram
// tokenizer it matches the rows holding the term as a substring of a column.
func ftsPhrase(term string) string {
	return `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
}

// users runs a query of users on the reader pool.
func (s *Store) users(ctx context.Context, query string, args ...any) ([]usermgmt.UserRecord, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	defer rows.Close()
	var out []usermgmt.UserRecord
	var r userRow
	for rows.Next() {
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, s.fail(ctx, err)
		}
		u, err := r.record()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err)
	}
	return out, nil
}

// StaleUsers implements usermgmt.Store by walking the partial index of
// Active users on (last_active_at, id), or of Locked users on (locked_at,
// id), from the keyset: it reads the users it returns and nothing else.
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query, ok := staleSQL(q.Status)
	if !ok {
		return nil, nil
	}
	return s.users(ctx, query, encTime(q.Before), encTime(q.AfterTime), q.AfterID, q.Limit)
}

// staleSQL returns StaleUsers' query for the status, pinned to its partial
// index; its parameters are Before, the keyset (time, ID) and Limit.
func staleSQL(status usermgmt.Status) (string, bool) {
	col, index := "last_active_at", "users_stale"
	switch status {
	case usermgmt.StatusActive:
	case usermgmt.StatusLocked:
		col, index = "locked_at", "users_locked"
	default:
		return "", false
	}
	return "SELECT " + userCols + " FROM users INDEXED BY " + index + " WHERE status = '" + string(status) + "'" +
		" AND " + col + " < ? AND (" + col + ", id) > (?, ?) ORDER BY " + col + ", id LIMIT ?", true
}

// ReserveAttempt implements usermgmt.Store in one IMMEDIATE transaction:
// SQLite's write lock makes the read, the decision and the write one step
// for every connection, in this process and in any other. It commits as
// bookkeeping (see Store.tx).
func (s *Store) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	var out usermgmt.UserRecord
	var res usermgmt.ReserveResult
	err := s.tx(ctx, true, func(w *writer) error {
		var seq int64
		var row userRow
		err := w.queryRow(userForWrite, r.UserID).Scan(append([]any{&seq}, row.dest()...)...)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		u, err := row.record()
		if err != nil {
			return err
		}
		var changed bool
		res, changed = attempts.Reserve(&u, r)
		if changed {
			u.Version++
			if _, err := w.exec("UPDATE users SET attempt_leases = ?, version = ? WHERE seq = ?",
				encodeLeases(u.AttemptLeases), u.Version, seq); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	if err != nil {
		return usermgmt.UserRecord{}, 0, err
	}
	return out, res, nil
}

// errDurable ends a bookkeeping transaction of FinishAttempt that found it
// must write an event, a message or a lock: those commit at the
// connection's own synchronous level, which cannot change inside a
// transaction, so the attempt runs again as a change.
var errDurable = errors.New("sqlitestore: the outcome is a change, not bookkeeping")

// FinishAttempt implements usermgmt.Store in one IMMEDIATE transaction, the
// outcome decided as the in-memory store does. An outcome that writes no
// event, message or lock commits as bookkeeping (see Store.tx): the
// Manager prepares a lock's event and messages with every failure, but
// only the store knows whether this failure locks, so a failure runs as
// bookkeeping first and, when it locks, is rolled back and run again as
// a change.
func (s *Store) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	bookkeeping := o.LoginEvent.ID == "" && o.FailureEvent.ID == ""
	u, recorded, err := s.finishAttempt(ctx, o, bookkeeping)
	if bookkeeping && errors.Is(err, errDurable) {
		u, recorded, err = s.finishAttempt(ctx, o, false)
	}
	return u, recorded, err
}

func (s *Store) finishAttempt(ctx context.Context, o usermgmt.AttemptOutcome, bookkeeping bool) (usermgmt.UserRecord, bool, error) {
	var out usermgmt.UserRecord
	var recorded bool
	err := s.tx(ctx, bookkeeping, func(w *writer) error {
		var seq int64
		var row userRow
		err := w.queryRow(userForWrite, o.UserID).Scan(append([]any{&seq}, row.dest()...)...)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		old, err := row.record()
		if err != nil {
			return err
		}
		u := old
		effects := attempts.Finish(&u, &o)
		recorded = effects.Recorded
		out = u
		if !effects.Changed {
			return nil
		}
		if bookkeeping && (len(effects.Messages) > 0 || u.Status != old.Status || len(effects.Events) > 0) {
			return errDurable
		}
		for _, ev := range effects.Events {
			if err := w.event(ev); err != nil {
				return err
			}
		}
		if err := w.messages(effects.Messages); err != nil {
			return err
		}
		u.Version++
		vals := userValues(&u)
		if _, err := w.exec(updateUserSQL, append(vals[1:], seq)...); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return usermgmt.UserRecord{}, false, err
	}
	return out, recorded, nil
}

// RecordActivity implements usermgmt.Store in one UPDATE, committed as
// bookkeeping (see Store.tx).
func (s *Store) RecordActivity(ctx context.Context, a usermgmt.ActivityUpdate) (bool, error) {
	var done bool
	err := s.tx(ctx, true, func(w *writer) error {
		res, err := w.exec("UPDATE users SET last_active_at = ?, version = version + 1"+
			" WHERE id = ? AND status = 'active' AND last_active_at < ?", encTime(a.At), a.UserID, encTime(a.IfBefore))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			done = true
			return nil
		}
		ok, err := w.exists("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)", a.UserID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("user")
		}
		return nil
	})
	return done, err
}
