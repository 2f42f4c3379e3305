package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usermgmt/usermgmt"
)

// Account implements usermgmt.Store.
func (s *Store) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.Account{}, err
	}
	as, err := queryRows(ctx, s, scanAccounts, s.q.account, id)
	if err != nil {
		return usermgmt.Account{}, err
	}
	if len(as) == 0 {
		return usermgmt.Account{}, notFound("account")
	}
	return as[0], nil
}

// Accounts implements usermgmt.Store by walking account_tree by keyset.
func (s *Store) Accounts(ctx context.Context, q usermgmt.AccountQuery) ([]usermgmt.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return queryRows(ctx, s, scanAccounts, s.q.accounts, q.RootID, q.After, q.Limit)
}

// versioned runs one statement that writes a versioned row with its event
// and returns how many rows it wrote; when none, it tells a missing row
// (ErrNotFound) from a stale version (ErrConflict) by reading the version.
func (s *Store) versioned(ctx context.Context, what, query, versionQuery, id string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return s.fail(ctx, err)
	}
	if n == 1 {
		return nil
	}
	var v int64
	err := s.pool.QueryRow(ctx, versionQuery, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(what)
	}
	if err != nil {
		return s.fail(ctx, err)
	}
	return fmt.Errorf("%w: %s", usermgmt.ErrConflict, what)
}

// UpdateAccount implements usermgmt.Store in one statement: the row,
// provided its version matches, and the event.
func (s *Store) UpdateAccount(ctx context.Context, up usermgmt.AccountUpdate) error {
	a := up.Account
	args := append([]any{a.ID, a.Name, nonNil(a.Departments), a.Locale, encTime(a.CreatedAt), encTime(a.UpdatedAt), a.Version},
		eventValues(&up.Event)...)
	return s.versioned(ctx, "account", s.q.updateAccount, s.q.accountVersion, a.ID, args...)
}

// History implements usermgmt.Store: a user's events through the index on
// (user_id, id), an account subtree's through account_events, which files
// each event under its account and every account above it; both walk
// downwards from q.Before.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sch := s.q.schema
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	key := "e.id"
	switch {
	case q.UserID != "":
		b.WriteString("SELECT " + cols(eventCols, "e.") + " FROM " + sch + ".events e WHERE e.user_id = " + arg(q.UserID))
	case q.AccountID != "":
		key = "x.event_id"
		b.WriteString("SELECT " + cols(eventCols, "e.") + " FROM " + sch + ".account_events x JOIN " + sch +
			".events e ON e.id = x.event_id WHERE x.root_id = " + arg(q.AccountID))
	default:
		return nil, nil
	}
	if q.Before != "" {
		p := arg(q.Before)
		b.WriteString(" AND " + key + " < " + p)
		if key != "e.id" {
			b.WriteString(" AND e.id < " + p) // bound both sides of the join (see listSQL)
		}
	}
	if len(q.Actions) > 0 {
		as := make([]string, len(q.Actions))
		for i, a := range q.Actions {
			as[i] = string(a)
		}
		b.WriteString(" AND e.action = ANY(" + arg(as) + "::text[])")
	}
	if q.ActorID != "" {
		b.WriteString(" AND e.actor_id = " + arg(q.ActorID))
	}
	if !q.Since.IsZero() {
		b.WriteString(" AND e.at >= " + arg(encTime(q.Since)))
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND e.at < " + arg(encTime(q.Until)))
	}
	b.WriteString(" ORDER BY " + key + " DESC LIMIT " + arg(q.Limit))
	return queryRows(ctx, s, scanEvents, b.String(), append([]any{customPlan}, args...)...)
}

// CreateGroup implements usermgmt.Store: one transaction, sent as one
// round trip, whose statements refuse a missing account, a reused group
// ID, a reused event ID and a taken name, in that order (the in-memory
// store's).
func (s *Store) CreateGroup(ctx context.Context, g usermgmt.Group, ev usermgmt.AuditEvent) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(s.q.accountsExist, []string{g.AccountID})
		b.Queue(s.q.groupIDFree, g.ID)
		b.Queue(s.q.insertEvents, columns(len(eventCols), [][]any{eventValues(&ev)})...)
		b.Queue(s.q.insertGroup, g.ID, g.AccountID, g.Name, g.NameKey, g.Description, jsonText(g.Grants), g.Deleted,
			encTime(g.CreatedAt), encTime(g.UpdatedAt), g.Version)
		b.Queue("COMMIT")
		k, err := exec(ctx, conn, b)
		switch {
		case k == 1 && isDivisionByZero(err):
			return notFound("account")
		case k == 2 && isDivisionByZero(err):
			return fmt.Errorf("%w: group", usermgmt.ErrDuplicateID)
		}
		return err
	})
}

// UpdateGroup implements usermgmt.Store: one transaction, sent as one
// round trip, that locks the group, writes the event when the version
// matches, then the group. AccountID never changes.
func (s *Store) UpdateGroup(ctx context.Context, up usermgmt.GroupUpdate) error {
	g := up.Group
	var found bool
	var n int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(s.q.lockGroup, g.ID)
		b.Queue(s.q.groupEvent, append(eventValues(&up.Event), g.ID, g.Version)...)
		b.Queue(s.q.updateGroup, g.ID, g.Name, g.NameKey, g.Description, jsonText(g.Grants), g.Deleted, encTime(g.CreatedAt),
			encTime(g.UpdatedAt), g.Version)
		b.Queue("COMMIT")
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		var v int64
		err := br.QueryRow().Scan(&v)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		found = err == nil
		if _, err := br.Exec(); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.Close()
	})
	switch {
	case err != nil:
		return err
	case !found:
		return notFound("group")
	case n == 0:
		return fmt.Errorf("%w: group", usermgmt.ErrConflict)
	}
	return nil
}

// Groups implements usermgmt.Store.
func (s *Store) Groups(ctx context.Context, ids []string) ([]usermgmt.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return queryRows(ctx, s, scanGroups, s.q.groupsByID, ids)
}

// ListGroups implements usermgmt.Store through the index on (account_id, id).
func (s *Store) ListGroups(ctx context.Context, q usermgmt.GroupQuery) ([]usermgmt.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query := "SELECT " + cols(groupCols, "") + " FROM " + s.q.schema + ".groups WHERE account_id = $1 AND id > $2"
	if !q.Deleted {
		query += " AND NOT deleted"
	}
	query += " ORDER BY id LIMIT $3"
	return queryRows(ctx, s, scanGroups, query, q.AccountID, q.After, q.Limit)
}

// ClaimMessages implements usermgmt.Store: one UPDATE over the due
// messages selected FOR UPDATE SKIP LOCKED, so concurrent claimers in any
// number of processes take disjoint messages without waiting.
func (s *Store) ClaimMessages(ctx context.Context, c usermgmt.MessageClaim) ([]usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ms, err := queryRows(ctx, s, scanMessages, s.q.claimMessages, encTime(c.Now), c.Limit, c.Owner, encTime(c.LeaseUntil))
	if err != nil {
		return nil, err
	}
	sort.Slice(ms, func(i, j int) bool {
		if c := ms[i].DueAt.Compare(ms[j].DueAt); c != 0 {
			return c < 0
		}
		return ms[i].ID < ms[j].ID
	})
	return ms, nil
}

// FinishMessage implements usermgmt.Store in one statement, which checks
// the lease.
func (s *Store) FinishMessage(ctx context.Context, r usermgmt.MessageResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var query string
	args := []any{r.ID, r.Owner, encTime(r.At)}
	switch r.State {
	case usermgmt.MessageSent:
		query = s.q.sentMessage
	case usermgmt.MessageDead:
		query = s.q.deadMessage
		args = append(args, []byte(r.Error), int64(zeroTime))
	default:
		query = s.q.retryMessage
		args = append(args, encTime(r.DueAt), []byte(r.Error), int64(zeroTime))
	}
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return s.fail(ctx, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return s.missingOrConflict(ctx, r.ID, "message lease")
}

// missingOrConflict tells why a conditional write of a message wrote
// nothing: ErrNotFound when there is no such message, else ErrConflict.
func (s *Store) missingOrConflict(ctx context.Context, id, what string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q.messageExists, id).Scan(&exists); err != nil {
		return s.fail(ctx, err)
	}
	if !exists {
		return notFound("message")
	}
	return fmt.Errorf("%w: %s", usermgmt.ErrConflict, what)
}

// Messages implements usermgmt.Store: dead letters through their partial
// index, pending messages by the primary key.
func (s *Store) Messages(ctx context.Context, q usermgmt.MessageQuery) ([]usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var query string
	switch q.State {
	case usermgmt.MessageDead:
		query = s.q.deadMessages
	case usermgmt.MessagePending:
		query = s.q.pendingMessages
	default:
		return nil, nil
	}
	return queryRows(ctx, s, scanMessages, query, q.After, q.Limit)
}

// Message implements usermgmt.Store.
func (s *Store) Message(ctx context.Context, id string) (usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.Message{}, err
	}
	ms, err := queryRows(ctx, s, scanMessages, s.q.message, id)
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
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q.requeueMessage, id, encTime(dueAt), int64(zeroTime))
	if err != nil {
		return s.fail(ctx, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return s.missingOrConflict(ctx, id, "message is not dead")
}

// queryRows runs one statement and scans the rows it returns, with errors
// mapped by fail.
func queryRows[T any](ctx context.Context, s *Store, scan func(pgx.Rows) ([]T, error), sql string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out, err := scan(rows)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return out, nil
}
