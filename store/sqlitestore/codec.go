package sqlitestore

import (
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Times are stored as Unix nanoseconds, 0 standing for the zero time. The
// Store contract keeps every real time strictly after the Unix epoch and
// before 2262, so every real time is a positive int64 and sorts after the
// zero time, as it does in Go.

// encTime encodes a time for an INTEGER column.
func encTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// decTime decodes an INTEGER column into a UTC time.
func decTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// grantJSON is a grant as the grants columns hold it. Schema version 1
// wrote p and r; d came with version 2.
type grantJSON struct {
	P string `json:"p"`
	R string `json:"r,omitempty"`
	D string `json:"d,omitempty"`
}

// encodeGrants encodes grants; no grants are the empty string, as version
// 1 wrote them.
func encodeGrants(gs []usermgmt.Grant) string {
	if len(gs) == 0 {
		return ""
	}
	js := make([]grantJSON, len(gs))
	for i, g := range gs {
		js[i] = grantJSON{P: string(g.Permission), R: g.Resource, D: g.Department}
	}
	return mustJSON(js)
}

func decodeGrants(s string) ([]usermgmt.Grant, error) {
	if s == "" {
		return nil, nil
	}
	var js []grantJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, nil
	}
	gs := make([]usermgmt.Grant, len(js))
	for i, g := range js {
		gs[i] = usermgmt.Grant{Permission: usermgmt.Permission(g.P), Resource: g.R, Department: g.D}
	}
	return gs, nil
}

type changeJSON struct {
	F string `json:"f"`
	O string `json:"o,omitempty"`
	N string `json:"n,omitempty"`
}

func encodeChanges(cs []usermgmt.Change) string {
	if len(cs) == 0 {
		return ""
	}
	js := make([]changeJSON, len(cs))
	for i, c := range cs {
		js[i] = changeJSON{F: c.Field, O: c.Old, N: c.New}
	}
	return mustJSON(js)
}

func decodeChanges(s string) ([]usermgmt.Change, error) {
	if s == "" {
		return nil, nil
	}
	var js []changeJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, nil
	}
	cs := make([]usermgmt.Change, len(js))
	for i, c := range js {
		cs[i] = usermgmt.Change{Field: c.F, Old: c.O, New: c.N}
	}
	return cs, nil
}

// mustJSON marshals plain structs, strings and numbers, which cannot fail;
// nil slices become [].
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func encodeStrings(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	return mustJSON(ss)
}

func decodeStrings(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	if ss, ok := plainStrings(s); ok {
		return ss, nil
	}
	var ss []string
	if err := json.Unmarshal([]byte(s), &ss); err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, nil
	}
	return ss, nil
}

// plainStrings decodes a JSON array of strings that holds no escape (the
// group IDs of a user, say) without encoding/json, which costs more than
// the read of the row on the permission check's path; ok is false for
// anything else, which json.Unmarshal then decodes.
func plainStrings(s string) (ss []string, ok bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' || strings.IndexByte(s, '\\') >= 0 {
		return nil, false
	}
	rest := s[1 : len(s)-1]
	for {
		if len(rest) < 2 || rest[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		ss = append(ss, rest[1:1+end])
		rest = rest[end+2:]
		if rest == "" {
			return ss, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		rest = rest[1:]
	}
}

func encodeSeqs(seqs []int64) string { return mustJSON(seqs) }

func decodeSeqs(s string) ([]int64, error) {
	var seqs []int64
	err := json.Unmarshal([]byte(s), &seqs)
	return seqs, err
}

// leaseJSON is an attempt lease as attempt_leases holds it.
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

func encodeLeases(ls []usermgmt.AttemptLease) string {
	out := make([]leaseJSON, len(ls))
	for i, l := range ls {
		out[i] = leaseJSON{l.ID, encTime(l.Until)}
	}
	return mustJSON(out)
}

func encodeTokens(ts []usermgmt.Token) string {
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenJSON{t.Purpose, t.Hash, encTime(t.IssuedAt), encTime(t.ExpiresAt)}
	}
	return mustJSON(out)
}

func encodeTimes(ts []time.Time) string {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = encTime(t)
	}
	return mustJSON(out)
}

// userColumns are the columns a user is read from, in userRow.dest's order.
var userColumns = []string{"id", "account_id", "email", "first_name", "last_name", "role", "department", "groups",
	"locale", "status", "grants", "password_hash", "password_version", "failed_attempts", "attempt_leases", "tokens",
	"pending_email", "reset_requests", "invited_by", "invited_at", "created_at", "updated_at", "activated_at",
	"last_login_at", "last_active_at", "locked_at", "session_version", "version"}

// writeColumns are the columns a user is written to, in userValues' order:
// userColumns and the folded copies search reads.
var writeColumns = append(append([]string(nil), userColumns...), "first_lc", "last_lc", "email_fold")

// userCols is userColumns for a select list; userColsOf qualifies them.
var userCols = strings.Join(userColumns, ", ")

func userColsOf(alias string) string {
	return alias + "." + strings.Join(userColumns, ", "+alias+".")
}

type scanner interface{ Scan(dest ...any) error }

// userRow is one user as the columns hold it.
type userRow struct {
	id, accountID, email, first, last, role, dept, groups string
	locale, status, grants, hash                          string
	pwVersion, failed                                     int64
	leases, tokens, pending, resets, invitedBy            string
	invitedAt, created, updated, activated                int64
	login, active, locked, sessionVersion, ver            int64
}

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
	var err error
	if u.Groups, err = decodeStrings(r.groups); err != nil {
		return usermgmt.UserRecord{}, err
	}
	if u.Grants, err = decodeGrants(r.grants); err != nil {
		return usermgmt.UserRecord{}, err
	}
	var leases []leaseJSON
	var tokens []tokenJSON
	var resets []int64
	for _, f := range []struct {
		s string
		v any
	}{{r.leases, &leases}, {r.tokens, &tokens}, {r.resets, &resets}} {
		if f.s == "" || f.s == "[]" {
			continue
		}
		if err := json.Unmarshal([]byte(f.s), f.v); err != nil {
			return usermgmt.UserRecord{}, err
		}
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

func scanUser(sc scanner) (usermgmt.UserRecord, error) {
	var r userRow
	if err := sc.Scan(r.dest()...); err != nil {
		return usermgmt.UserRecord{}, err
	}
	return r.record()
}

// userValues returns u's values in writeColumns order.
func userValues(u *usermgmt.UserRecord) []any {
	return []any{u.ID, u.AccountID, u.Email, u.FirstName, u.LastName, u.Role, u.Department, encodeStrings(u.Groups),
		u.Locale, string(u.Status), encodeGrants(u.Grants), u.PasswordHash, u.PasswordVersion, int64(u.FailedAttempts),
		encodeLeases(u.AttemptLeases), encodeTokens(u.Tokens), u.PendingEmail, encodeTimes(u.ResetRequests), u.InvitedBy,
		encTime(u.InvitedAt), encTime(u.CreatedAt), encTime(u.UpdatedAt), encTime(u.ActivatedAt),
		encTime(u.LastLoginAt), encTime(u.LastActiveAt), encTime(u.LockedAt), u.SessionVersion, u.Version,
		usermgmt.FoldSearch(u.FirstName), usermgmt.FoldSearch(u.LastName), usermgmt.FoldSearch(u.Email)}
}

// Events.

var eventColumns = []string{"id", "at", "actor_id", "actor_email", "action", "user_id", "group_id", "account_id",
	"changes", "ip", "user_agent", "reason"}

var eventCols = strings.Join(eventColumns, ", ")

func eventValues(e *usermgmt.AuditEvent) []any {
	return []any{e.ID, encTime(e.At), e.ActorID, e.ActorEmail, string(e.Action), e.UserID, e.GroupID, e.AccountID,
		encodeChanges(e.Changes), e.IP, e.UserAgent, e.Reason}
}

func scanEvent(sc scanner) (usermgmt.AuditEvent, error) {
	var e usermgmt.AuditEvent
	var at int64
	var action, changes string
	if err := sc.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &action, &e.UserID, &e.GroupID, &e.AccountID,
		&changes, &e.IP, &e.UserAgent, &e.Reason); err != nil {
		return usermgmt.AuditEvent{}, err
	}
	e.At, e.Action = decTime(at), usermgmt.Action(action)
	var err error
	if e.Changes, err = decodeChanges(changes); err != nil {
		return usermgmt.AuditEvent{}, err
	}
	return e, nil
}

// Messages.

var messageColumns = []string{"id", "kind", "to_addr", "user_id", "account_id", "payload", "state", "created_at",
	"due_at", "attempts", "last_error", "lease_owner", "lease_until", "dead_at"}

var messageCols = strings.Join(messageColumns, ", ")

// messageValues returns a message's values in messageColumns order. The
// last error is a BLOB: a mail server's reply may hold a NUL.
func messageValues(m *usermgmt.Message) []any {
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return []any{m.ID, string(m.Kind), m.To, m.UserID, m.AccountID, payload, string(m.State), encTime(m.CreatedAt),
		encTime(m.DueAt), int64(m.Attempts), []byte(m.LastError), m.LeaseOwner, encTime(m.LeaseUntil), encTime(m.DeadAt)}
}

// freshMessageParams is how many values a fresh message binds (see
// freshMessageValues); its other columns hold their starting values in
// insertFreshMsgsSQL.
const freshMessageParams = 8

// isFresh reports whether m is as a change creates it: pending, never
// tried, leased or dead.
func isFresh(m *usermgmt.Message) bool {
	return m.State == usermgmt.MessagePending && m.Attempts == 0 && m.LastError == "" && m.LeaseOwner == "" &&
		m.LeaseUntil.IsZero() && m.DeadAt.IsZero()
}

// freshMessageValues returns the values of a fresh message's bound
// columns: messageColumns up to due_at, state left out.
func freshMessageValues(m *usermgmt.Message) []any {
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return []any{m.ID, string(m.Kind), m.To, m.UserID, m.AccountID, payload, encTime(m.CreatedAt), encTime(m.DueAt)}
}

func scanMessage(sc scanner) (usermgmt.Message, error) {
	var m usermgmt.Message
	var kind, state string
	var lastError []byte
	var created, due, lease, dead, attempts int64
	if err := sc.Scan(&m.ID, &kind, &m.To, &m.UserID, &m.AccountID, &m.Payload, &state, &created, &due,
		&attempts, &lastError, &m.LeaseOwner, &lease, &dead); err != nil {
		return usermgmt.Message{}, err
	}
	m.LastError = string(lastError)
	m.Kind, m.State, m.Attempts = usermgmt.NotificationKind(kind), usermgmt.MessageState(state), int(attempts)
	m.CreatedAt, m.DueAt, m.LeaseUntil, m.DeadAt = decTime(created), decTime(due), decTime(lease), decTime(dead)
	return m, nil
}

// Accounts and groups.

var accountCols = "id, parent_id, ancestors, name, departments, locale, created_at, updated_at, version"

func scanAccount(sc scanner) (usermgmt.Account, error) {
	var a usermgmt.Account
	var parent sql.NullString
	var anc, depts string
	var created, updated int64
	if err := sc.Scan(&a.ID, &parent, &anc, &a.Name, &depts, &a.Locale, &created, &updated, &a.Version); err != nil {
		return usermgmt.Account{}, err
	}
	a.ParentID, a.CreatedAt, a.UpdatedAt = parent.String, decTime(created), decTime(updated)
	var err error
	if a.Ancestors, err = decodeStrings(anc); err != nil {
		return usermgmt.Account{}, err
	}
	if a.Departments, err = decodeStrings(depts); err != nil {
		return usermgmt.Account{}, err
	}
	return a, nil
}

var groupCols = "id, account_id, name, name_key, description, grants, deleted, created_at, updated_at, version"

func scanGroup(sc scanner) (usermgmt.Group, error) {
	var g usermgmt.Group
	var grants string
	var created, updated int64
	if err := sc.Scan(&g.ID, &g.AccountID, &g.Name, &g.NameKey, &g.Description, &grants, &g.Deleted, &created, &updated, &g.Version); err != nil {
		return usermgmt.Group{}, err
	}
	g.CreatedAt, g.UpdatedAt = decTime(created), decTime(updated)
	var err error
	if g.Grants, err = decodeGrants(grants); err != nil {
		return usermgmt.Group{}, err
	}
	return g, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
