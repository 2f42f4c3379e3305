package pgstore

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usermgmt/usermgmt"
)

// Times are stored as int64 Unix nanoseconds, exact where timestamptz
// keeps microseconds. The zero time.Time is stored as the smallest int64,
// below every time the Manager writes (1970 to 2262), so that it sorts
// first, as it does in Go, and compares before every real time.
const zeroTime = math.MinInt64

// encTime encodes a time for a bigint column.
func encTime(t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	return t.UnixNano()
}

// decTime decodes a bigint column into a UTC time.
func decTime(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// leaseJSON is an attempt lease as the attempt_leases column holds it (a
// user's lists are jsonb columns).
type leaseJSON struct {
	ID    string `json:"id"`
	Until int64  `json:"u"`
}

// tokenJSON is a token as the tokens column holds it.
type tokenJSON struct {
	Purpose   usermgmt.TokenPurpose `json:"p"`
	Hash      string                `json:"h"`
	IssuedAt  int64                 `json:"i"`
	ExpiresAt int64                 `json:"e"`
}

// jsonText marshals a list for a jsonb column; nil becomes [].
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs and strings always marshal
	}
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// leasesJSON encodes attempt leases for the attempt_leases column.
func leasesJSON(ls []usermgmt.AttemptLease) string {
	out := make([]leaseJSON, len(ls))
	for i, l := range ls {
		out[i] = leaseJSON{l.ID, encTime(l.Until)}
	}
	return jsonText(out)
}

// tokensJSON encodes tokens for the tokens column.
func tokensJSON(ts []usermgmt.Token) string {
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenJSON{t.Purpose, t.Hash, encTime(t.IssuedAt), encTime(t.ExpiresAt)}
	}
	return jsonText(out)
}

// timesJSON encodes times for a jsonb column, as Unix nanoseconds.
func timesJSON(ts []time.Time) string {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = encTime(t)
	}
	return jsonText(out)
}

// tokenHashes returns the hashes of the tokens, in order.
func tokenHashes(ts []usermgmt.Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Hash
	}
	return out
}

// userCols are the columns a user is read from, in userRow's order.
var userCols = []string{"id", "account_id", "email", "first_name", "last_name", "role", "department", "groups",
	"locale", "status", "grants", "password_hash", "password_version", "failed_attempts", "attempt_leases", "tokens",
	"pending_email", "reset_requests", "invited_by", "invited_at", "created_at", "updated_at", "activated_at",
	"last_login_at", "last_active_at", "locked_at", "session_version", "version"}

// userWriteCols are the columns a user is written to: userCols and the
// folded copies of the names and the email that search reads.
var userWriteCols = append(append([]string(nil), userCols...), "first_fold", "last_fold", "email_fold")

// userRow is one user as the columns hold it.
type userRow struct {
	id, accountID, email, first, last, role, dept string
	groups                                        []byte
	locale, status                                string
	grants                                        []byte
	hash                                          string
	pwVersion                                     int64
	failed                                        int32
	leases, tokens                                []byte
	pending                                       string
	resets                                        []byte
	invitedBy                                     string
	invitedAt, created, updated, activated        int64
	login, active, locked, sessionVersion, ver    int64
}

// dest returns the scan destinations in userCols order.
func (r *userRow) dest() []any {
	return []any{&r.id, &r.accountID, &r.email, &r.first, &r.last, &r.role, &r.dept, &r.groups, &r.locale,
		&r.status, &r.grants, &r.hash, &r.pwVersion, &r.failed, &r.leases, &r.tokens, &r.pending, &r.resets,
		&r.invitedBy, &r.invitedAt, &r.created, &r.updated, &r.activated, &r.login, &r.active, &r.locked,
		&r.sessionVersion, &r.ver}
}

// record decodes the row. The lists are what this package wrote, so a
// decoding failure is a damaged row, reported as a store failure.
func (r *userRow) record() (usermgmt.UserRecord, error) {
	u := usermgmt.UserRecord{ID: r.id, AccountID: r.accountID, Email: r.email, FirstName: r.first, LastName: r.last,
		Role: r.role, Department: r.dept, Locale: r.locale, Status: usermgmt.Status(r.status), PasswordHash: r.hash,
		PasswordVersion: r.pwVersion, FailedAttempts: int(r.failed), PendingEmail: r.pending, InvitedBy: r.invitedBy,
		InvitedAt: decTime(r.invitedAt), CreatedAt: decTime(r.created), UpdatedAt: decTime(r.updated),
		ActivatedAt: decTime(r.activated), LastLoginAt: decTime(r.login), LastActiveAt: decTime(r.active),
		LockedAt: decTime(r.locked), SessionVersion: r.sessionVersion, Version: r.ver}
	var leases []leaseJSON
	var tokens []tokenJSON
	var resets []int64
	for _, f := range []struct {
		b []byte
		v any
	}{{r.groups, &u.Groups}, {r.grants, &u.Grants}, {r.leases, &leases}, {r.tokens, &tokens}, {r.resets, &resets}} {
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return usermgmt.UserRecord{}, err
		}
	}
	if len(u.Groups) == 0 {
		u.Groups = nil
	}
	if len(u.Grants) == 0 {
		u.Grants = nil
	}
	for _, l := range leases {
		u.AttemptLeases = append(u.AttemptLeases, usermgmt.AttemptLease{ID: l.ID, Until: decTime(l.Until)})
	}
	for _, t := range tokens {
		u.Tokens = append(u.Tokens, usermgmt.Token{Purpose: t.Purpose, Hash: t.Hash, IssuedAt: decTime(t.IssuedAt), ExpiresAt: decTime(t.ExpiresAt)})
	}
	for _, n := range resets {
		u.ResetRequests = append(u.ResetRequests, decTime(n))
	}
	return u, nil
}

// userValues returns u's column values in userWriteCols order.
func userValues(u *usermgmt.UserRecord) []any {
	return []any{u.ID, u.AccountID, u.Email, u.FirstName, u.LastName, u.Role, u.Department, jsonText(u.Groups),
		u.Locale, string(u.Status), jsonText(u.Grants), u.PasswordHash, u.PasswordVersion, int32(u.FailedAttempts),
		leasesJSON(u.AttemptLeases), tokensJSON(u.Tokens), u.PendingEmail, timesJSON(u.ResetRequests), u.InvitedBy,
		encTime(u.InvitedAt), encTime(u.CreatedAt), encTime(u.UpdatedAt), encTime(u.ActivatedAt),
		encTime(u.LastLoginAt), encTime(u.LastActiveAt), encTime(u.LockedAt), u.SessionVersion, u.Version,
		usermgmt.FoldSearch(u.FirstName), usermgmt.FoldSearch(u.LastName), usermgmt.FoldSearch(u.Email)}
}

// userColTypes are the SQL types of userWriteCols, for unnest.
var userColTypes = []string{"text", "text", "text", "text", "text", "text", "text", "jsonb", "text", "text",
	"jsonb", "text", "bigint", "integer", "jsonb", "jsonb", "text", "jsonb", "text", "bigint", "bigint", "bigint",
	"bigint", "bigint", "bigint", "bigint", "bigint", "bigint", "text", "text", "text"}

// scanUser reads one user row.
func scanUser(row pgx.Row) (usermgmt.UserRecord, error) {
	var r userRow
	if err := row.Scan(r.dest()...); err != nil {
		return usermgmt.UserRecord{}, err
	}
	return r.record()
}

// scanUsers reads every user of rows.
func scanUsers(rows pgx.Rows) ([]usermgmt.UserRecord, error) {
	defer rows.Close()
	var out []usermgmt.UserRecord
	var r userRow
	for rows.Next() {
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		u, err := r.record()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Events.

// eventCols are the columns of an event, in eventValues' order.
var eventCols = []string{"id", "at", "actor_id", "actor_email", "action", "user_id", "group_id", "account_id",
	"changes", "ip", "user_agent", "reason"}

// eventColTypes are the SQL types of eventCols, for unnest.
var eventColTypes = []string{"text", "bigint", "text", "text", "text", "text", "text", "text", "jsonb", "text", "text", "text"}

// eventValues returns an event's column values in eventCols order.
func eventValues(e *usermgmt.AuditEvent) []any {
	return []any{e.ID, encTime(e.At), e.ActorID, e.ActorEmail, string(e.Action), e.UserID, e.GroupID, e.AccountID,
		jsonText(e.Changes), e.IP, e.UserAgent, e.Reason}
}

// scanEvents reads every event of rows (eventCols).
func scanEvents(rows pgx.Rows) ([]usermgmt.AuditEvent, error) {
	defer rows.Close()
	var out []usermgmt.AuditEvent
	for rows.Next() {
		var e usermgmt.AuditEvent
		var at int64
		var action string
		var changes []byte
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &action, &e.UserID, &e.GroupID, &e.AccountID,
			&changes, &e.IP, &e.UserAgent, &e.Reason); err != nil {
			return nil, err
		}
		e.At, e.Action = decTime(at), usermgmt.Action(action)
		if err := json.Unmarshal(changes, &e.Changes); err != nil {
			return nil, err
		}
		if len(e.Changes) == 0 {
			e.Changes = nil
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Messages.

// messageCols are the columns of a message, in messageValues' order.
var messageCols = []string{"id", "kind", "to_addr", "user_id", "account_id", "payload", "state", "created_at",
	"due_at", "attempts", "last_error", "lease_owner", "lease_until", "dead_at"}

// messageColTypes are the SQL types of messageCols, for unnest.
var messageColTypes = []string{"text", "text", "text", "text", "text", "bytea", "text", "bigint", "bigint",
	"integer", "bytea", "text", "bigint", "bigint"}

// messageValues returns a message's column values in messageCols order.
func messageValues(m *usermgmt.Message) []any {
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return []any{m.ID, string(m.Kind), m.To, m.UserID, m.AccountID, payload, string(m.State), encTime(m.CreatedAt),
		encTime(m.DueAt), int32(m.Attempts), []byte(m.LastError), m.LeaseOwner, encTime(m.LeaseUntil), encTime(m.DeadAt)}
}

// scanMessages reads every message of rows (messageCols).
func scanMessages(rows pgx.Rows) ([]usermgmt.Message, error) {
	defer rows.Close()
	var out []usermgmt.Message
	for rows.Next() {
		var m usermgmt.Message
		var kind, state string
		var attempts int32
		var lastError []byte
		var created, due, lease, dead int64
		if err := rows.Scan(&m.ID, &kind, &m.To, &m.UserID, &m.AccountID, &m.Payload, &state, &created, &due,
			&attempts, &lastError, &m.LeaseOwner, &lease, &dead); err != nil {
			return nil, err
		}
		m.LastError = string(lastError)
		m.Kind, m.State, m.Attempts = usermgmt.NotificationKind(kind), usermgmt.MessageState(state), int(attempts)
		m.CreatedAt, m.DueAt, m.LeaseUntil, m.DeadAt = decTime(created), decTime(due), decTime(lease), decTime(dead)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Accounts and groups.

// accountCols are the columns an account is read from.
var accountCols = []string{"id", "parent_id", "ancestors", "name", "departments", "locale", "created_at", "updated_at", "version"}

// scanAccounts reads every account of rows (accountCols).
func scanAccounts(rows pgx.Rows) ([]usermgmt.Account, error) {
	defer rows.Close()
	var out []usermgmt.Account
	for rows.Next() {
		var a usermgmt.Account
		var parent *string
		var created, updated int64
		if err := rows.Scan(&a.ID, &parent, &a.Ancestors, &a.Name, &a.Departments, &a.Locale, &created, &updated, &a.Version); err != nil {
			return nil, err
		}
		if parent != nil {
			a.ParentID = *parent
		}
		if len(a.Ancestors) == 0 {
			a.Ancestors = nil
		}
		if len(a.Departments) == 0 {
			a.Departments = nil
		}
		a.CreatedAt, a.UpdatedAt = decTime(created), decTime(updated)
		out = append(out, a)
	}
	return out, rows.Err()
}

// groupCols are the columns of a group.
var groupCols = []string{"id", "account_id", "name", "name_key", "description", "grants", "deleted", "created_at", "updated_at", "version"}

// scanGroups reads every group of rows (groupCols).
func scanGroups(rows pgx.Rows) ([]usermgmt.Group, error) {
	defer rows.Close()
	var out []usermgmt.Group
	for rows.Next() {
		var g usermgmt.Group
		var grants []byte
		var created, updated int64
		if err := rows.Scan(&g.ID, &g.AccountID, &g.Name, &g.NameKey, &g.Description, &grants, &g.Deleted, &created, &updated, &g.Version); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(grants, &g.Grants); err != nil {
			return nil, err
		}
		if len(g.Grants) == 0 {
			g.Grants = nil
		}
		g.CreatedAt, g.UpdatedAt = decTime(created), decTime(updated)
		out = append(out, g)
	}
	return out, rows.Err()
}

// columns returns arrays of the values of many rows, one array per column,
// for INSERT … SELECT FROM unnest(…): one statement writes them all.
func columns(n int, rows [][]any) []any {
	cols := make([]any, n)
	for c := 0; c < n; c++ {
		switch rows0 := rows[0][c].(type) {
		case string:
			a := make([]string, len(rows))
			for i, r := range rows {
				a[i] = r[c].(string)
			}
			cols[c] = a
		case int64:
			a := make([]int64, len(rows))
			for i, r := range rows {
				a[i] = r[c].(int64)
			}
			cols[c] = a
		case int32:
			a := make([]int32, len(rows))
			for i, r := range rows {
				a[i] = r[c].(int32)
			}
			cols[c] = a
		case []byte:
			a := make([][]byte, len(rows))
			for i, r := range rows {
				a[i] = r[c].([]byte)
			}
			cols[c] = a
		default:
			panic(fmt.Sprintf("pgstore: no array for %T", rows0))
		}
	}
	return cols
}
