package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/attempts"
)

// notFound is ErrNotFound naming what was missing (a kind, never a value).
func notFound(what string) error { return fmt.Errorf("%w: %s", usermgmt.ErrNotFound, what) }

// queueCreates queues the statements that store new users with their
// events and messages: one statement per table for the whole batch. With
// checkAccounts, a first statement fails (division by zero) when an
// account of the batch does not exist, so that a missing account is
// reported before a taken email, as the in-memory store does. Rows go in
// the batch's order, as memstore checks them; two batches sharing emails
// in opposite orders may deadlock on the unique index, which the server
// breaks and withConn retries.
func (s *Store) queueCreates(b *pgx.Batch, cs []usermgmt.UserCreate, checkAccounts bool) {
	if len(cs) == 0 {
		return
	}
	rows := make([][]any, len(cs))
	ids, accts := make([]string, len(cs)), make([]string, len(cs))
	var memberGroups, memberUsers, tokenHashes, tokenUsers []string
	var events [][]any
	var msgs [][]any
	for i := range cs {
		u := &cs[i].User
		rows[i] = userValues(u)
		ids[i], accts[i] = u.ID, u.AccountID
		for _, g := range u.Groups {
			memberGroups, memberUsers = append(memberGroups, g), append(memberUsers, u.ID)
		}
		for _, t := range u.Tokens {
			tokenHashes, tokenUsers = append(tokenHashes, t.Hash), append(tokenUsers, u.ID)
		}
		events = append(events, eventValues(&cs[i].Event))
		for j := range cs[i].Messages {
			msgs = append(msgs, messageValues(&cs[i].Messages[j]))
		}
	}
	if checkAccounts {
		distinct := slices.Compact(slices.Sorted(slices.Values(accts)))
		b.Queue(s.q.accountsExist, distinct)
	}
	b.Queue(s.q.insertUsers, columns(len(userWriteCols), rows)...)
	if len(tokenHashes) > 0 {
		b.Queue(s.q.insertTokens, tokenHashes, tokenUsers)
	}
	s.queueEvents(b, events)
	s.queueMessages(b, msgs)
	b.Queue(s.q.insertUserTree, ids, accts)
	if len(memberGroups) > 0 {
		b.Queue(s.q.insertMembers, memberGroups, memberUsers)
	}
}

// queueEvents queues one statement that inserts the events (rows of
// eventValues) and files each under its account and the accounts above.
func (s *Store) queueEvents(b *pgx.Batch, events [][]any) {
	if len(events) > 0 {
		b.Queue(s.q.insertEvents, columns(len(eventCols), events)...)
	}
}

// queueMessages queues one statement that inserts the messages (rows of
// messageValues).
func (s *Store) queueMessages(b *pgx.Batch, msgs [][]any) {
	if len(msgs) > 0 {
		b.Queue(s.q.insertMessages, columns(len(messageCols), msgs)...)
	}
}

// CreateAccount implements usermgmt.Store: the account, its place in the
// account tree, its event and its first user, in one transaction sent as
// one round trip.
func (s *Store) CreateAccount(ctx context.Context, c usermgmt.AccountCreate) error {
	a := c.Account
	if a.ParentID != "" && a.ParentID == a.ID {
		// The row would satisfy its own foreign key: an account named as
		// its own parent is refused as the in-memory store refuses it, a
		// taken ID first, else a parent that does not exist yet.
		if _, err := s.Account(ctx, a.ID); err == nil {
			return fmt.Errorf("%w: account", usermgmt.ErrDuplicateID)
		} else if !errors.Is(err, usermgmt.ErrNotFound) {
			return err
		}
		return notFound("parent account")
	}
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(s.q.insertAccount, a.ID, a.ParentID, nonNil(a.Ancestors), a.Name, nonNil(a.Departments), a.Locale,
			encTime(a.CreatedAt), encTime(a.UpdatedAt), a.Version)
		b.Queue(s.q.insertAcctTree, a.ID, append(slices.Clone(a.Ancestors), a.ID))
		if c.AccountEvent.ID != "" {
			s.queueEvents(b, [][]any{eventValues(&c.AccountEvent)})
		}
		check := b.Len()
		s.queueCreates(b, []usermgmt.UserCreate{c.Admin}, true)
		b.Queue("COMMIT")
		if k, err := exec(ctx, conn, b); err != nil {
			if k == check && isDivisionByZero(err) {
				return notFound("account")
			}
			return err
		}
		return nil
	})
}

// nonNil returns ss, or an empty slice for nil (a text[] must not be NULL).
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// copyThreshold is the batch size from which CreateUsers writes with COPY.
const copyThreshold = 64

// CreateUsers implements usermgmt.Store: the whole batch in one
// transaction, sent as one round trip, one statement per table. A batch of
// copyThreshold users or more (a bulk invitation writes 500 at a time) is
// written with COPY instead, one per table, which PostgreSQL takes in
// multi-row steps: 1.5 times faster than INSERT … SELECT FROM unnest for
// 500 users.
func (s *Store) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	if len(cs) == 0 {
		return ctx.Err()
	}
	if len(cs) >= copyThreshold {
		return s.withConn(ctx, func(conn *pgx.Conn) error { return s.copyCreates(ctx, conn, cs) })
	}
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		s.queueCreates(b, cs, true)
		b.Queue("COMMIT")
		if k, err := exec(ctx, conn, b); err != nil {
			if k == 1 && isDivisionByZero(err) {
				return notFound("account")
			}
			return err
		}
		return nil
	})
}

// copyCreates writes new users, their events and messages with COPY, in
// one transaction on conn: it reads the paths of their accounts (a missing
// account of a user is ErrNotFound), then copies the users, their tokens,
// the events, the messages, and the index rows the INSERTs would derive
// (user_tree, account_events, group_members).
func (s *Store) copyCreates(ctx context.Context, conn *pgx.Conn, cs []usermgmt.UserCreate) error {
	var accts []string
	for i := range cs {
		accts = append(accts, cs[i].User.AccountID, cs[i].Event.AccountID)
	}
	accts = slices.Compact(slices.Sorted(slices.Values(accts)))
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(s.q.accountPaths, accts)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	paths := make(map[string][]string, len(accts))
	rows, err := br.Query()
	if err == nil {
		var id string
		var path []string
		_, err = pgx.ForEachRow(rows, []any{&id, &path}, func() error {
			paths[id] = slices.Clone(path)
			return nil
		})
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var users, tree, members, tokens, events, acctEvents, msgs [][]any
	for i := range cs {
		u := &cs[i].User
		path, ok := paths[u.AccountID]
		if !ok {
			return notFound("account")
		}
		users = append(users, userValues(u))
		for _, r := range path {
			tree = append(tree, []any{r, u.ID})
		}
		for _, g := range slices.Compact(slices.Sorted(slices.Values(u.Groups))) {
			members = append(members, []any{g, u.ID})
		}
		for _, t := range u.Tokens {
			tokens = append(tokens, []any{t.Hash, u.ID})
		}
		ev := &cs[i].Event
		events = append(events, eventValues(ev))
		for _, r := range paths[ev.AccountID] {
			acctEvents = append(acctEvents, []any{r, ev.ID})
		}
		for j := range cs[i].Messages {
			msgs = append(msgs, messageValues(&cs[i].Messages[j]))
		}
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"users", userWriteCols, users},
		{"user_tokens", []string{"hash", "user_id"}, tokens},
		{"events", eventCols, events},
		{"messages", messageCols, msgs},
		{"user_tree", []string{"root_id", "user_id"}, tree},
		{"account_events", []string{"root_id", "event_id"}, acctEvents},
		{"group_members", []string{"group_id", "user_id"}, members},
	} {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{s.schema, c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, "COMMIT")
	return err
}

// UpdateUser implements usermgmt.Store (see UpdateUsers for how).
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	errs, err := s.UpdateUsers(ctx, []usermgmt.UserUpdate{up})
	if err != nil {
		return err
	}
	return errs[0]
}

// UpdateUsers implements usermgmt.Store. The updates run in one
// transaction of two round trips: the first locks every user (in ID order,
// so that concurrent calls cannot deadlock on them) and reads their
// versions; the second writes every update whose version matches, with
// its events and messages, and commits. When a write fails on a
// constraint (an email taken meanwhile, say), the transaction is rolled
// back and the batch split around the failing update, which gets its
// error alone: no savepoints, which would cost a subtransaction per
// update.
func (s *Store) UpdateUsers(ctx context.Context, ups []usermgmt.UserUpdate) ([]error, error) {
	errs := make([]error, len(ups))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	idx := make([]int, len(ups))
	for i := range idx {
		idx[i] = i
	}
	if err := s.updateBatch(ctx, ups, idx, errs, true); err != nil {
		return nil, err
	}
	return errs, nil
}

// updateBatch applies ups[idx...] in one transaction, splitting it when
// one of them fails on a constraint. With together, a batch of plain
// updates (distinct users, none moving, changing groups, tokens or which
// emails live users hold, or keeping an admin; the sweep's) is written
// set-wise: one UPDATE for all the rows, one INSERT for all the events,
// one for all the messages. When that fails on a constraint, the batch
// runs again update by update, which tells which one failed.
func (s *Store) updateBatch(ctx context.Context, ups []usermgmt.UserUpdate, idx []int, errs []error, together bool) error {
	if len(idx) == 0 {
		return nil
	}
	failed := -1 // position in idx of an update that failed on a constraint
	var failure error
	setWise := false
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		failed, failure, setWise = -1, nil, false
		ids := make([]string, 0, len(idx))
		for _, i := range idx {
			ids = append(ids, ups[i].User.ID)
		}
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(s.q.usersForUpdate, ids)
		br := conn.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		stored, err := scanUsers(rows)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		old := make(map[string]usermgmt.UserRecord, len(stored))
		for _, u := range stored {
			old[u.ID] = u
		}
		if together {
			if plain := s.plainUpdates(ups, idx, old, errs); plain != nil {
				setWise = true
				b = &pgx.Batch{}
				s.queueSetWise(b, plain)
				b.Queue("COMMIT")
				_, err := exec(ctx, conn, b)
				if err != nil && isSentinel(s.fail(ctx, err)) && !errors.Is(s.fail(ctx, err), usermgmt.ErrStore) {
					failed = 0 // rolled back by withConn; run again update by update
					return nil
				}
				return err
			}
		}
		b = &pgx.Batch{}
		b.Queue("SELECT") // keeps statement k+1 of the batch at owner[k]
		var owner []stmt  // owner[k]: the update statement k belongs to, and what it is
		for pos, i := range idx {
			up := &ups[i]
			o, ok := old[up.User.ID]
			switch {
			case !ok:
				errs[i] = notFound("user")
				continue
			case o.Version != up.User.Version:
				errs[i] = fmt.Errorf("%w: user", usermgmt.ErrConflict)
				continue
			}
			errs[i] = nil
			for _, kind := range s.queueUpdate(b, &o, up) {
				owner = append(owner, stmt{pos, kind})
			}
			// A later update of the same user in this call applies to
			// this one's result, as it would in sequence.
			next := up.User
			next.Version = o.Version + 1
			old[o.ID] = next
		}
		b.Queue("COMMIT")
		k, err := exec(ctx, conn, b)
		if err != nil && k > 0 && k <= len(owner) {
			st := owner[k-1]
			sentinel := s.fail(ctx, err)
			switch {
			case st.kind == checkAccount && isDivisionByZero(err):
				sentinel = notFound("account")
			case st.kind == checkAdmin && isDivisionByZero(err):
				sentinel = fmt.Errorf("%w: account", usermgmt.ErrLastAdmin)
			case st.kind == checkTokens && isDivisionByZero(err):
				sentinel = fmt.Errorf("%w: token", usermgmt.ErrDuplicateID)
			}
			if isSentinel(sentinel) && !errors.Is(sentinel, usermgmt.ErrStore) {
				failed, failure = st.pos, sentinel
				return nil // rolled back by withConn; the split follows
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if failed < 0 {
		return nil
	}
	for _, i := range idx {
		errs[i] = nil
	}
	if setWise {
		return s.updateBatch(ctx, ups, idx, errs, false)
	}
	if len(idx) == 1 {
		errs[idx[0]] = failure
		return nil
	}
	if err := s.updateBatch(ctx, ups, idx[:failed], errs, false); err != nil {
		return err
	}
	if err := s.updateBatch(ctx, ups, idx[failed:failed+1], errs, false); err != nil {
		return err
	}
	return s.updateBatch(ctx, ups, idx[failed+1:], errs, false)
}

// plainUpdates returns the updates of idx whose version matches, when
// there are several and every one of them is plain (see updateBatch),
// with the errors of the others set; nil otherwise.
func (s *Store) plainUpdates(ups []usermgmt.UserUpdate, idx []int, old map[string]usermgmt.UserRecord, errs []error) []*usermgmt.UserUpdate {
	if len(idx) < 2 {
		return nil
	}
	seen := make(map[string]bool, len(idx))
	for _, i := range idx {
		up := &ups[i]
		o, ok := old[up.User.ID]
		if seen[up.User.ID] || ok && o.Version == up.User.Version && (up.KeepAdmin || up.User.AccountID != o.AccountID ||
			!slices.Equal(up.User.Groups, o.Groups) || !slices.Equal(tokenHashes(up.User.Tokens), tokenHashes(o.Tokens)) ||
			changesLiveEmail(o, up.User)) {
			return nil
		}
		seen[up.User.ID] = true
	}
	var plain []*usermgmt.UserUpdate
	for _, i := range idx {
		up := &ups[i]
		switch o, ok := old[up.User.ID]; {
		case !ok:
			errs[i] = notFound("user")
		case o.Version != up.User.Version:
			errs[i] = fmt.Errorf("%w: user", usermgmt.ErrConflict)
		default:
			errs[i] = nil
			plain = append(plain, up)
		}
	}
	return plain
}

// changesLiveEmail reports whether writing u over o changes which email
// addresses live users hold: a new address, or a move into or out of
// Removed. One statement checks the unique index row by row in an order of
// its own, so a batch where one update frees an address that another takes
// could succeed set-wise where the updates in order refuse the taker (or
// the reverse); such batches are written update by update.
func changesLiveEmail(o, u usermgmt.UserRecord) bool {
	return u.Email != o.Email || (u.Status == usermgmt.StatusRemoved) != (o.Status == usermgmt.StatusRemoved)
}

// queueSetWise queues plain updates as one statement per table.
func (s *Store) queueSetWise(b *pgx.Batch, plain []*usermgmt.UserUpdate) {
	if len(plain) == 0 {
		return
	}
	users := make([][]any, len(plain))
	events := make([][]any, len(plain))
	var msgs [][]any
	for k, up := range plain {
		users[k] = userValues(&up.User)
		events[k] = eventValues(&up.Event)
		for j := range up.Messages {
			msgs = append(msgs, messageValues(&up.Messages[j]))
		}
	}
	s.queueEvents(b, events)
	s.queueMessages(b, msgs)
	b.Queue(s.q.updateUsers, columns(len(userWriteCols), users)...)
}

// stmt is a statement of an update batch: the update it belongs to (a
// position in the batch) and what it checks.
type stmt struct {
	pos  int
	kind stmtKind
}

// stmtKind says what a statement of an update batch checks.
type stmtKind int

const (
	write        stmtKind = iota // a write, whose constraints say what failed
	checkAccount                 // fails (division by zero) when the user's new account does not exist
	checkAdmin                   // fails (division by zero) when the account would lose its last active admin
	checkTokens                  // fails (division by zero) when a hash names two of the user's tokens
)

// isDivisionByZero reports whether err is the failure of one of the
// store's checks (see sqlDivisionByZero).
func isDivisionByZero(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == sqlDivisionByZero
}

// queueUpdate queues the statements of one update of o, which the
// transaction holds locked, and returns what each is. Their order follows
// the in-memory store's checks, so that an update breaking two rules is
// refused for the same one: reused event and message IDs, a missing
// account, a taken email, a token held by another user, the last admin.
func (s *Store) queueUpdate(b *pgx.Batch, o *usermgmt.UserRecord, up *usermgmt.UserUpdate) []stmtKind {
	u := &up.User
	var kinds []stmtKind
	queue := func(kind stmtKind, query string, args ...any) {
		b.Queue(query, args...)
		kinds = append(kinds, kind)
	}
	queue(write, s.q.insertEvents, columns(len(eventCols), [][]any{eventValues(&up.Event)})...)
	if len(up.Messages) > 0 {
		msgs := make([][]any, len(up.Messages))
		for i := range up.Messages {
			msgs[i] = messageValues(&up.Messages[i])
		}
		queue(write, s.q.insertMessages, columns(len(messageCols), msgs)...)
	}
	if u.AccountID != o.AccountID {
		queue(checkAccount, s.q.accountsExist, []string{u.AccountID})
	}
	queue(write, s.q.updateUser, userValues(u)...)
	if hashes := tokenHashes(u.Tokens); !slices.Equal(hashes, tokenHashes(o.Tokens)) {
		queue(checkTokens, s.q.tokensDistinct, hashes)
		queue(write, s.q.tokensDelete, u.ID, hashes)
		queue(write, s.q.tokensInsert, u.ID, hashes)
	}
	if up.KeepAdmin {
		self := int64(0)
		if u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive && u.AccountID == o.AccountID {
			self = 1
		}
		queue(write, s.q.lockAccount, o.AccountID)
		queue(checkAdmin, s.q.lastAdminCheck, o.AccountID, self, o.ID)
	}
	if u.AccountID != o.AccountID {
		queue(write, s.q.moveTreeDelete, u.ID)
		queue(write, s.q.moveTreeInsert, u.ID, u.AccountID)
	}
	if !slices.Equal(u.Groups, o.Groups) {
		queue(write, s.q.membersDelete, u.ID, nonNil(u.Groups))
		queue(write, s.q.membersInsert, u.ID, nonNil(u.Groups))
	}
	return kinds
}

// User implements usermgmt.Store.
func (s *Store) User(ctx context.Context, id string) (usermgmt.UserRecord, error) {
	return s.oneUser(ctx, s.q.userByID, id, "user")
}

// UserByEmail implements usermgmt.Store through the unique index on the
// email of non-removed users.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.UserRecord, error) {
	return s.oneUser(ctx, s.q.userByEmail, email, "user")
}

// UserByToken implements usermgmt.Store through the token-hash index.
func (s *Store) UserByToken(ctx context.Context, hash string) (usermgmt.UserRecord, error) {
	return s.oneUser(ctx, s.q.userByToken, hash, "token")
}

// oneUser reads the user query selects by arg, or ErrNotFound naming what.
func (s *Store) oneUser(ctx context.Context, query, arg, what string) (usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, query, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return usermgmt.UserRecord{}, notFound(what)
	}
	if err != nil {
		return usermgmt.UserRecord{}, s.fail(ctx, err)
	}
	return u, nil
}

// UserAccess implements usermgmt.Store: the user and the versions of its
// live groups in one query.
func (s *Store) UserAccess(ctx context.Context, id string) (usermgmt.UserRecord, []usermgmt.GroupStamp, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, nil, err
	}
	var r userRow
	var stamps []byte
	err := s.pool.QueryRow(ctx, s.q.userAccess, id).Scan(append(r.dest(), &stamps)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return usermgmt.UserRecord{}, nil, notFound("user")
	}
	if err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	u, err := r.record()
	if err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	var pairs [][2]json.RawMessage
	if err := json.Unmarshal(stamps, &pairs); err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	var out []usermgmt.GroupStamp
	for _, p := range pairs {
		var st usermgmt.GroupStamp
		if err := json.Unmarshal(p[0], &st.ID); err != nil {
			return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
		}
		if err := json.Unmarshal(p[1], &st.Version); err != nil {
			return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
		}
		out = append(out, st)
	}
	return u, out, nil
}

// listSQL builds ListUsers' query (count: CountUsers'), with its
// arguments. It walks user_tree, or group_members for a group, by keyset;
// a search term goes through the trigram index when the planner finds
// that cheaper. The cursor bounds both sides of the join: the planner
// carries equalities across a join, not inequalities, and would otherwise
// walk users from the first.
func (s *Store) listSQL(q usermgmt.ListQuery, count bool) (string, []any) {
	sch := s.q.schema
	args := []any{q.AccountID, q.After}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	if count {
		b.WriteString("SELECT count(*)")
	} else {
		b.WriteString("SELECT " + cols(userCols, "u."))
	}
	key := "t.user_id"
	if q.GroupID != "" {
		key = "m.user_id"
		b.WriteString(" FROM " + sch + ".group_members m JOIN " + sch + ".users u ON u.id = m.user_id WHERE m.group_id = " + arg(q.GroupID) +
			" AND m.user_id > $2 AND u.id > $2 AND EXISTS (SELECT FROM " + sch + ".user_tree t WHERE t.root_id = $1 AND t.user_id = m.user_id)")
	} else {
		b.WriteString(" FROM " + sch + ".user_tree t JOIN " + sch + ".users u ON u.id = t.user_id WHERE t.root_id = $1 AND t.user_id > $2 AND u.id > $2")
	}
	if len(q.Statuses) == 0 {
		b.WriteString(" AND u.status <> 'removed'")
	} else {
		ss := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			ss[i] = string(st)
		}
		b.WriteString(" AND u.status = ANY(" + arg(ss) + "::text[])")
	}
	if len(q.Roles) > 0 {
		b.WriteString(" AND u.role = ANY(" + arg(q.Roles) + "::text[])")
	}
	if q.Department != "" {
		b.WriteString(" AND u.department = " + arg(q.Department))
	}
	if q.Search != "" {
		p := arg("%" + likeEscaper.Replace(q.Search) + "%")
		b.WriteString(" AND (u.first_fold LIKE " + p + " OR u.last_fold LIKE " + p + " OR u.email_fold LIKE " + p + ")")
	}
	if !count {
		b.WriteString(" ORDER BY " + key + " LIMIT " + arg(q.Limit))
	}
	return b.String(), args
}

// customPlan runs a listing as an unnamed statement, which PostgreSQL
// plans for the values at hand every time. A cached prepared statement
// would switch to a generic plan after five runs, and a generic plan
// cannot tell a first page (walk the index from the start) from a page of
// a rare term (the trigram index) or a cursor deep in the walk.
const customPlan = pgx.QueryExecModeCacheDescribe

// likeEscaper escapes LIKE's wildcards (and its escape character) in a
// search term, which matches literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListUsers implements usermgmt.Store.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query, args := s.listSQL(q, false)
	return queryRows(ctx, s, scanUsers, query, append([]any{customPlan}, args...)...)
}

// CountUsers implements usermgmt.Counter: its cost follows the number of
// users in the subtree (or group), as ListUsers' walk would.
func (s *Store) CountUsers(ctx context.Context, q usermgmt.ListQuery) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q.After = ""
	query, args := s.listSQL(q, true)
	var n int64
	if err := s.pool.QueryRow(ctx, query, append([]any{customPlan}, args...)...).Scan(&n); err != nil {
		return 0, s.fail(ctx, err)
	}
	return int(n), nil
}

// StaleUsers implements usermgmt.Store from the partial indexes of Active
// users by (last_active_at, id) and Locked users by (locked_at, id).
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query := s.q.staleActive
	switch q.Status {
	case usermgmt.StatusActive:
	case usermgmt.StatusLocked:
		query = s.q.staleLocked
	default:
		return nil, nil
	}
	return queryRows(ctx, s, scanUsers, query, encTime(q.Before), encTime(q.AfterTime), q.AfterID, q.Limit)
}

// ReserveAttempt implements usermgmt.Store in one statement: an UPDATE …
// RETURNING on the user's row, locked for its duration, so that however
// many processes reserve at once each sees the leases of those before it.
// It commits as bookkeeping (see bookkeeping), in one round trip.
func (s *Store) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	var row userRow
	var res int32
	found := false
	lease := leasesJSON([]usermgmt.AttemptLease{r.Lease})
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(bookkeeping)
		b.Queue(s.q.reserve, r.UserID, encTime(r.Now), int32(r.Limit), lease)
		b.Queue("COMMIT")
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		err := br.QueryRow().Scan(append(row.dest(), &res)...)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		found = err == nil
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return usermgmt.UserRecord{}, 0, err
	}
	if !found {
		return usermgmt.UserRecord{}, 0, notFound("user")
	}
	u, err := row.record()
	if err != nil {
		return usermgmt.UserRecord{}, 0, s.fail(ctx, err)
	}
	if usermgmt.ReserveResult(res) == usermgmt.ReserveOK {
		s.reserved.put(r.Lease.ID, row)
	}
	return u, usermgmt.ReserveResult(res), nil
}

// reservedRows remembers, by lease ID, the row each ReserveAttempt of this
// Store returned with its lease, as read (decoded afresh when used, so
// nothing the caller does to the record it got changes it), so that
// FinishAttempt can write the outcome in one round trip, without reading
// the row again, when the row is unchanged since: every write of a user
// raises its version, and the write checks it. It holds at most
// maxReservedRows rows (the attempts in flight in this process; one whose
// finish never comes is dropped with the rest when the map fills).
type reservedRows struct {
	mu   sync.Mutex
	rows map[string]userRow
}

const maxReservedRows = 4096

func (m *reservedRows) put(lease string, row userRow) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil || len(m.rows) >= maxReservedRows {
		m.rows = make(map[string]userRow)
	}
	m.rows[lease] = row
}

// take returns and forgets the row reserved with lease.
func (m *reservedRows) take(lease string) (userRow, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	row, ok := m.rows[lease]
	delete(m.rows, lease)
	return row, ok
}

// bookkeeping makes the transaction it runs in commit without waiting for
// its WAL to reach the disk. The password steps use it when they record
// attempts and logins but write no audit event, message or lock: a crash
// of the server may undo the last fraction of a second of them (a lease,
// a failure count, a last-login time), never a change with its event, and
// never leaves anything half-written. Waiting for the flush would add a
// disk sync or two to every login.
const bookkeeping = "SET LOCAL synchronous_commit TO off"

// FinishAttempt implements usermgmt.Store: the user is locked and read,
// the outcome decided as the in-memory store does, and the row, the
// events and the lock's messages written and committed, in two round
// trips. An outcome that writes no event, message or lock commits as
// bookkeeping (see bookkeeping), and takes one round trip when this Store
// reserved the attempt and the row is unchanged since (see
// finishReserved).
func (s *Store) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	if row, ok := s.reserved.take(o.LeaseID); ok && row.id == o.UserID {
		if r, err := row.record(); err == nil {
			if u, recorded, done, err := s.finishReserved(ctx, r, o); done || err != nil {
				return u, recorded, err
			}
		}
	}
	var out usermgmt.UserRecord
	var recorded bool
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(s.q.userByID+" FOR UPDATE", o.UserID)
		br := conn.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		old, err := scanUser(br.QueryRow())
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		u := old
		effects := attempts.Finish(&u, &o)
		recorded = effects.Recorded
		out = u
		if !effects.Changed {
			return nil // the read-only transaction ends with the connection's rollback
		}
		evs := make([][]any, len(effects.Events))
		for i, ev := range effects.Events {
			evs[i] = eventValues(ev)
		}
		msgs := make([][]any, len(effects.Messages))
		for i := range effects.Messages {
			msgs[i] = messageValues(&effects.Messages[i])
		}
		b = &pgx.Batch{}
		if rowOnly(effects, old, u) {
			b.Queue(bookkeeping)
		}
		b.Queue(s.q.updateUser, userValues(&u)...)
		s.queueEvents(b, evs)
		s.queueMessages(b, msgs)
		b.Queue("COMMIT")
		if _, err := exec(ctx, conn, b); err != nil {
			return err
		}
		out.Version++
		return nil
	})
	if err != nil {
		return usermgmt.UserRecord{}, false, err
	}
	return out, recorded, nil
}

// rowOnly reports whether an attempt's outcome, taking the user from
// before to after, writes the user's row alone: no event, no message, no
// lock. Such an outcome commits as bookkeeping.
func rowOnly(effects attempts.Outcome, before, after usermgmt.UserRecord) bool {
	return len(effects.Events) == 0 && len(effects.Messages) == 0 && after.Status == before.Status
}

// finishReserved is FinishAttempt's one round trip for the common
// outcomes, those that write the user's row alone (a login or a failure
// that does not lock, without Policy.AuditLogins): it decides the outcome
// on r, the row as its reservation returned it, and writes it as
// bookkeeping only if the row still has r's version. done is false when it
// wrote nothing: the outcome writes more than the row, or the row changed
// since; FinishAttempt then reads the row under lock.
func (s *Store) finishReserved(ctx context.Context, r usermgmt.UserRecord, o usermgmt.AttemptOutcome) (u usermgmt.UserRecord, recorded, done bool, err error) {
	u = r
	effects := attempts.Finish(&u, &o)
	if !effects.Changed || !rowOnly(effects, r, u) {
		return usermgmt.UserRecord{}, false, false, nil
	}
	n, err := s.execBookkeeping(ctx, s.q.updateUser, userValues(&u)...)
	if err != nil || n == 0 {
		return usermgmt.UserRecord{}, false, false, err
	}
	u.Version++
	return u, effects.Recorded, true, nil
}

// execBookkeeping runs one statement in a transaction of its own,
// committed as bookkeeping (see bookkeeping), in one round trip, and
// returns the rows it affected.
func (s *Store) execBookkeeping(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(bookkeeping)
		b.Queue(sql, args...)
		b.Queue("COMMIT")
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		for k := range 4 {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if k == 2 {
				n = tag.RowsAffected()
			}
		}
		return br.Close()
	})
	return n, err
}

// RecordActivity implements usermgmt.Store in one UPDATE, committed as
// bookkeeping (see bookkeeping).
func (s *Store) RecordActivity(ctx context.Context, a usermgmt.ActivityUpdate) (bool, error) {
	n, err := s.execBookkeeping(ctx, s.q.recordActivity, a.UserID, encTime(a.At), encTime(a.IfBefore))
	if err != nil {
		return false, err
	}
	if n == 1 {
		return true, nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q.userExists, a.UserID).Scan(&exists); err != nil {
		return false, s.fail(ctx, err)
	}
	if !exists {
		return false, notFound("user")
	}
	return false, nil
}
