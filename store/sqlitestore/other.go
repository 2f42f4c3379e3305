package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// notFound is ErrNotFound naming what was missing (a kind, never a value).
func notFound(what string) error { return fmt.Errorf("%w: %s", usermgmt.ErrNotFound, what) }

// Account implements usermgmt.Store.
func (s *Store) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.Account{}, err
	}
	a, err := scanAccount(s.read.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return usermgmt.Account{}, notFound("account")
	}
	if err != nil {
		return usermgmt.Account{}, s.fail(ctx, err)
	}
	return a, nil
}

// Accounts implements usermgmt.Store by walking account_tree by keyset.
func (s *Store) Accounts(ctx context.Context, q usermgmt.AccountQuery) ([]usermgmt.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+prefixed(accountCols, "a.")+" FROM accounts r"+
		" CROSS JOIN account_tree t ON t.root_seq = r.seq CROSS JOIN accounts a ON a.id = t.account_id"+
		" WHERE r.id = ? AND t.account_id > ? ORDER BY t.account_id LIMIT ?", q.RootID, q.After, q.Limit)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	defer rows.Close()
	var out []usermgmt.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err)
	}
	return out, nil
}

// prefixed qualifies a comma-separated column list.
func prefixed(cols, prefix string) string {
	return prefix + strings.ReplaceAll(cols, ", ", ", "+prefix)
}

// UpdateAccount implements usermgmt.Store: the row, provided its version
// matches, and the event, in one IMMEDIATE transaction.
func (s *Store) UpdateAccount(ctx context.Context, up usermgmt.AccountUpdate) error {
	a := up.Account
	return s.tx(ctx, false, func(w *writer) error {
		var v int64
		err := w.queryRow("SELECT version FROM accounts WHERE id = ?", a.ID).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("account")
		}
		if err != nil {
			return err
		}
		if v != a.Version {
			return fmt.Errorf("%w: account", usermgmt.ErrConflict)
		}
		if err := w.event(&up.Event); err != nil {
			return err
		}
		_, err = w.exec("UPDATE accounts SET name = ?, departments = ?, locale = ?, created_at = ?, updated_at = ?,"+
			" version = version + 1 WHERE id = ?", a.Name, encodeStrings(a.Departments), a.Locale,
			encTime(a.CreatedAt), encTime(a.UpdatedAt), a.ID)
		return err
	})
}

// History implements usermgmt.Store: a user's events through the index on
// (user_id, id), an account subtree's through account_events, which files
// each event under its account and every account above it; both walk
// downwards from q.Before.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var b strings.Builder
	var args []any
	key := "e.id"
	switch {
	case q.UserID != "":
		b.WriteString("SELECT " + prefixed(eventCols, "e.") + " FROM events e WHERE e.user_id = ?")
		args = append(args, q.UserID)
	case q.AccountID != "":
		key = "x.event_id"
		b.WriteString("SELECT " + prefixed(eventCols, "e.") + " FROM accounts a CROSS JOIN account_events x ON x.root_seq = a.seq" +
			" CROSS JOIN events e ON e.id = x.event_id WHERE a.id = ?")
		args = append(args, q.AccountID)
	default:
		return nil, nil
	}
	if q.Before != "" {
		b.WriteString(" AND " + key + " < ?")
		args = append(args, q.Before)
	}
	if len(q.Actions) > 0 {
		b.WriteString(" AND e.action IN (" + placeholders(len(q.Actions)) + ")")
		for _, a := range q.Actions {
			args = append(args, string(a))
		}
	}
	if q.ActorID != "" {
		b.WriteString(" AND e.actor_id = ?")
		args = append(args, q.ActorID)
	}
	if !q.Since.IsZero() {
		b.WriteString(" AND e.at >= ?")
		args = append(args, encTime(q.Since))
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND e.at < ?")
		args = append(args, encTime(q.Until))
	}
	b.WriteString(" ORDER BY " + key + " DESC LIMIT ?")
	args = append(args, q.Limit)
	rows, err := s.read.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	defer rows.Close()
	var out []usermgmt.AuditEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err)
	}
	return out, nil
}

// CreateGroup implements usermgmt.Store in one IMMEDIATE transaction,
// refusing a missing account, a reused group ID, a reused event ID and a
// taken name, in that order (the in-memory store's).
func (s *Store) CreateGroup(ctx context.Context, g usermgmt.Group, ev usermgmt.AuditEvent) error {
	return s.tx(ctx, false, func(w *writer) error {
		p, err := w.path(g.AccountID)
		if err != nil {
			return err
		}
		if p == nil {
			return notFound("account")
		}
		if taken, err := w.exists("SELECT EXISTS (SELECT 1 FROM groups WHERE id = ?)", g.ID); err != nil || taken {
			if err == nil {
				err = fmt.Errorf("%w: group", usermgmt.ErrDuplicateID)
			}
			return err
		}
		if err := w.event(&ev); err != nil {
			return err
		}
		_, err = w.exec("INSERT INTO groups ("+groupCols+") VALUES ("+placeholders(10)+")",
			g.ID, g.AccountID, g.Name, g.NameKey, g.Description, encodeGrants(g.Grants), g.Deleted,
			encTime(g.CreatedAt), encTime(g.UpdatedAt), g.Version)
		return err
	})
}

// UpdateGroup implements usermgmt.Store in one IMMEDIATE transaction.
// AccountID never changes.
func (s *Store) UpdateGroup(ctx context.Context, up usermgmt.GroupUpdate) error {
	g := up.Group
	return s.tx(ctx, false, func(w *writer) error {
		var v int64
		err := w.queryRow("SELECT version FROM groups WHERE id = ?", g.ID).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("group")
		}
		if err != nil {
			return err
		}
		if v != g.Version {
			return fmt.Errorf("%w: group", usermgmt.ErrConflict)
		}
		if err := w.event(&up.Event); err != nil {
			return err
		}
		_, err = w.exec("UPDATE groups SET name = ?, name_key = ?, description = ?, grants = ?, deleted = ?,"+
			" created_at = ?, updated_at = ?, version = version + 1 WHERE id = ?",
			g.Name, g.NameKey, g.Description, encodeGrants(g.Grants), g.Deleted, encTime(g.CreatedAt), encTime(g.UpdatedAt), g.ID)
		return err
	})
}

// Groups implements usermgmt.Store.
func (s *Store) Groups(ctx context.Context, ids []string) ([]usermgmt.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.groups(ctx, "SELECT "+groupCols+" FROM groups WHERE id IN (SELECT value FROM json_each(?))", encodeStrings(ids))
}

// ListGroups implements usermgmt.Store through the index on (account_id, id).
func (s *Store) ListGroups(ctx context.Context, q usermgmt.GroupQuery) ([]usermgmt.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query := "SELECT " + groupCols + " FROM groups WHERE account_id = ? AND id > ?"
	if !q.Deleted {
		query += " AND deleted = 0"
	}
	return s.groups(ctx, query+" ORDER BY id LIMIT ?", q.AccountID, q.After, q.Limit)
}

func (s *Store) groups(ctx context.Context, query string, args ...any) ([]usermgmt.Group, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	defer rows.Close()
	var out []usermgmt.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err)
	}
	return out, nil
}

// ClaimMessages implements usermgmt.Store with one UPDATE … RETURNING over
// the due messages, in an IMMEDIATE transaction: SQLite's write lock makes
// claims of every process take disjoint messages.
func (s *Store) ClaimMessages(ctx context.Context, c usermgmt.MessageClaim) ([]usermgmt.Message, error) {
	var out []usermgmt.Message
	err := s.tx(ctx, false, func(w *writer) error {
		out = out[:0]
		rows, err := w.conn.QueryContext(ctx, "UPDATE messages SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"+
			" WHERE id IN (SELECT id FROM messages INDEXED BY messages_due WHERE state = 'pending' AND due_at <= ?"+
			" AND lease_until <= ? ORDER BY due_at, id LIMIT ?) RETURNING "+messageCols,
			c.Owner, encTime(c.LeaseUntil), encTime(c.Now), encTime(c.Now), c.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b usermgmt.Message) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// FinishMessage implements usermgmt.Store in one statement, which checks
// the lease.
func (s *Store) FinishMessage(ctx context.Context, r usermgmt.MessageResult) error {
	const lease = " WHERE id = ? AND state = 'pending' AND lease_owner = ? AND lease_until > ?"
	var query string
	var args []any
	switch r.State {
	case usermgmt.MessageSent:
		query = "DELETE FROM messages" + lease
	case usermgmt.MessageDead:
		query = "UPDATE messages SET state = 'dead', dead_at = ?, last_error = ?, lease_owner = '', lease_until = 0" + lease
		args = []any{encTime(r.At), []byte(r.Error)}
	default:
		query = "UPDATE messages SET due_at = ?, last_error = ?, lease_owner = '', lease_until = 0" + lease
		args = []any{encTime(r.DueAt), []byte(r.Error)}
	}
	args = append(args, r.ID, r.Owner, encTime(r.At))
	return s.tx(ctx, false, func(w *writer) error {
		res, err := w.exec(query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return w.missingOrConflict(r.ID, "message lease")
	})
}

// missingOrConflict tells why a conditional write of a message wrote
// nothing: ErrNotFound when there is no such message, else ErrConflict.
func (w *writer) missingOrConflict(id, what string) error {
	ok, err := w.exists("SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?)", id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("message")
	}
	return fmt.Errorf("%w: %s", usermgmt.ErrConflict, what)
}

// Messages implements usermgmt.Store: dead letters through their partial
// index, pending messages by ID.
func (s *Store) Messages(ctx context.Context, q usermgmt.MessageQuery) ([]usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var query string
	switch q.State {
	case usermgmt.MessageDead:
		query = "SELECT " + messageCols + " FROM messages INDEXED BY messages_dead WHERE state = 'dead' AND id > ? ORDER BY id LIMIT ?"
	case usermgmt.MessagePending:
		query = "SELECT " + messageCols + " FROM messages WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?"
	default:
		return nil, nil
	}
	return s.messages(ctx, query, q.After, q.Limit)
}

func (s *Store) messages(ctx context.Context, query string, args ...any) ([]usermgmt.Message, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	defer rows.Close()
	var out []usermgmt.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err)
	}
	return out, nil
}

// Message implements usermgmt.Store.
func (s *Store) Message(ctx context.Context, id string) (usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.Message{}, err
	}
	ms, err := s.messages(ctx, "SELECT "+messageCols+" FROM messages WHERE id = ?", id)
	if err != nil {
		return usermgmt.Message{}, err
	}
	if len(ms) == 0 {
		return usermgmt.Message{}, notFound("message")
	}
	return ms[0], nil
}

// RequeueMessage implements usermgmt.Store in one statement.
func (s *Store) RequeueMessage(ctx context.Context, id string, dueAt time.Time) error {
	return s.tx(ctx, false, func(w *writer) error {
		res, err := w.exec("UPDATE messages SET state = 'pending', due_at = ?, attempts = 0, dead_at = 0"+
			" WHERE id = ? AND state = 'dead'", encTime(dueAt), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return w.missingOrConflict(id, "message is not dead")
	})
}
