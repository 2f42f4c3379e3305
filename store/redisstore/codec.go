package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt"
)

// Times are stored as 20-digit zero-padded decimal Unix nanoseconds, the
// zero time as 20 zeros: they keep full precision (a float score would
// not), sort as text (ZRANGEBYLEX over "<time>:<id>" members is time
// order) and compare in Lua without Lua numbers. The instant
// 1970-01-01T00:00:00Z itself is therefore read back as the zero time.
const zeroTime = "00000000000000000000"

var maxTime = time.Unix(0, math.MaxInt64)

var (
	// errNotUTF8 refuses a string the store keeps inside JSON (lists, grants,
	// audit events) that is not valid UTF-8: encoding/json would replace its
	// bad bytes and so store something other than what was given.
	errNotUTF8 = errors.New("redisstore: text stored as JSON is not valid UTF-8")
	// errTimeRange refuses a non-zero time outside 1970 to 2262, which int64
	// Unix nanoseconds cannot hold.
	errTimeRange = errors.New("redisstore: time outside 1970 to 2262")
	// errBadID refuses an account or group ID holding a colon, which would
	// make its keys ambiguous (a:<id>:users).
	errBadID = errors.New("redisstore: account or group ID contains a colon")
)

// encoder turns records into the strings the store writes, remembering the
// first value it cannot store faithfully.
type encoder struct{ err error }

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) time(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	n := t.UnixNano()
	if n < 0 || t.After(maxTime) {
		e.fail(errTimeRange)
		return zeroTime
	}
	return padded(n)
}

// padded formats n (not negative) as 20 zero-padded digits.
func padded(n int64) string {
	var b [20]byte
	for i := 19; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

// text checks a string that goes into JSON.
func (e *encoder) text(ss ...string) {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			e.fail(errNotUTF8)
		}
	}
}

// key checks an account or group ID.
func (e *encoder) key(id string) string {
	if strings.Contains(id, ":") {
		e.fail(errBadID)
	}
	return id
}

// json encodes a list, "" when empty.
func (e *encoder) json(n int, v any) string {
	if n == 0 {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.fail(err)
	}
	return string(b)
}

func (e *encoder) strings(ss []string) string {
	e.text(ss...)
	return e.json(len(ss), ss)
}

func (e *encoder) grants(gs []usermgmt.Grant) string {
	for _, g := range gs {
		e.text(string(g.Permission), g.Resource, g.Department)
	}
	return e.json(len(gs), gs)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// record appends a count-prefixed run of field/value pairs: the form the
// scripts read records in (see lua/prelude.lua). It appends pointers into
// pairs, which go-redis reads as strings: boxing a string into an
// interface allocates, a pointer does not. pairs must not change after.
func record(args []any, pairs ...string) []any {
	args = append(args, len(pairs))
	for i := range pairs {
		args = append(args, &pairs[i])
	}
	return args
}

// searchText is what ListQuery.Search is matched against inside Redis:
// the folded names and email, one per line. A term found in one of them is
// found here; the Go side checks every listed user with ListQuery.Matches.
func searchText(u usermgmt.UserRecord) string {
	return usermgmt.FoldSearch(u.FirstName) + "\n" + usermgmt.FoldSearch(u.LastName) + "\n" + usermgmt.FoldSearch(u.Email)
}

// userRecord appends a user's hash as a record: copies of the fields the
// scripts filter and index on, the first ten in the order the scripts read
// them (newUser in lua/prelude.lua), then rec, the whole record as a
// msgpack map of strings, which is what reads decode.
func (e *encoder) userRecord(args []any, u *usermgmt.UserRecord) []any {
	tokens := make([][4]string, len(u.Tokens))
	for i, t := range u.Tokens {
		e.text(string(t.Purpose), t.Hash)
		tokens[i] = [4]string{string(t.Purpose), t.Hash, e.time(t.IssuedAt), e.time(t.ExpiresAt)}
	}
	leases := make([][2]string, len(u.AttemptLeases))
	for i, l := range u.AttemptLeases {
		e.text(l.ID)
		leases[i] = [2]string{l.ID, e.time(l.Until)}
	}
	resets := make([]string, len(u.ResetRequests))
	for i, t := range u.ResetRequests {
		resets[i] = e.time(t)
	}
	groups, toks := e.strings(u.Groups), e.json(len(tokens), tokens)
	active, locked, version := e.time(u.LastActiveAt), e.time(u.LockedAt), itoa(u.Version)
	fields := [...]string{
		"id", u.ID, "account", u.AccountID, "email", u.Email, "status", string(u.Status), "role", u.Role,
		"groups", groups, "tokens", toks, "active", active, "locked", locked, "version", version,
		"first", u.FirstName, "last", u.LastName, "dept", u.Department, "locale", u.Locale,
		"grants", e.grants(u.Grants), "hash", u.PasswordHash, "pwver", itoa(u.PasswordVersion),
		"failed", strconv.Itoa(u.FailedAttempts), "leases", e.json(len(leases), leases),
		"pending", u.PendingEmail, "resets", e.json(len(resets), resets),
		"invby", u.InvitedBy, "invat", e.time(u.InvitedAt),
		"created", e.time(u.CreatedAt), "updated", e.time(u.UpdatedAt), "activated", e.time(u.ActivatedAt),
		"login", e.time(u.LastLoginAt), "sessver", itoa(u.SessionVersion),
	}
	size := 0
	for _, f := range fields {
		size += len(f) + 5
	}
	var rec strings.Builder // its String shares the buffer: no copy
	rec.Grow(size + 5)
	writeMsgpackMap(&rec, len(fields)/2)
	for _, f := range fields {
		writeMsgpackString(&rec, f)
	}
	return record(args,
		"id", u.ID, "account", u.AccountID, "email", u.Email, "status", string(u.Status), "role", u.Role,
		"groups", groups, "tokens", toks, "active", active, "locked", locked, "version", version,
		"dept", u.Department, "search", searchText(*u), "rec", rec.String())
}

// storedEvent is an audit event as stored: JSON, times as in hashes.
type storedEvent struct {
	ID         string            `json:"id"`
	At         string            `json:"at"`
	ActorID    string            `json:"actor"`
	ActorEmail string            `json:"actor_email,omitempty"`
	Action     usermgmt.Action   `json:"action"`
	UserID     string            `json:"user,omitempty"`
	GroupID    string            `json:"group,omitempty"`
	AccountID  string            `json:"account"`
	Changes    []usermgmt.Change `json:"changes,omitempty"`
	IP         string            `json:"ip,omitempty"`
	UserAgent  string            `json:"user_agent,omitempty"`
	Reason     string            `json:"reason,omitempty"`
}

// event appends an event as the scripts take it: ID, user ID, account ID,
// JSON. An event whose ID is empty is passed as four empty strings when
// optional is set (the scripts skip it). The JSON is storedEvent's, written
// by hand: an event is written with every change and read far less often,
// and encoding/json's reflection was a good part of a batch update's cost.
func (e *encoder) event(args []any, ev usermgmt.AuditEvent, optional bool) []any {
	if optional && ev.ID == "" {
		return append(args, "", "", "", "")
	}
	e.text(ev.ID, ev.ActorID, ev.ActorEmail, string(ev.Action), ev.UserID, ev.GroupID, ev.AccountID, ev.IP, ev.UserAgent, ev.Reason)
	var b strings.Builder // its String shares the buffer: no copy
	b.Grow(256)
	b.WriteString(`{"id":`)
	writeJSONString(&b, ev.ID)
	b.WriteString(`,"at":"`)
	b.WriteString(e.time(ev.At))
	b.WriteString(`","actor":`)
	writeJSONString(&b, ev.ActorID)
	jsonField(&b, "actor_email", ev.ActorEmail)
	b.WriteString(`,"action":`)
	writeJSONString(&b, string(ev.Action))
	jsonField(&b, "user", ev.UserID)
	jsonField(&b, "group", ev.GroupID)
	b.WriteString(`,"account":`)
	writeJSONString(&b, ev.AccountID)
	if len(ev.Changes) > 0 {
		b.WriteString(`,"changes":[`)
		for i, c := range ev.Changes {
			e.text(c.Field, c.Old, c.New)
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"field":`)
			writeJSONString(&b, c.Field)
			jsonField(&b, "old", c.Old)
			jsonField(&b, "new", c.New)
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	jsonField(&b, "ip", ev.IP)
	jsonField(&b, "user_agent", ev.UserAgent)
	jsonField(&b, "reason", ev.Reason)
	b.WriteByte('}')
	four := []string{ev.ID, ev.UserID, ev.AccountID, b.String()}
	return append(args, &four[0], &four[1], &four[2], &four[3])
}

// jsonField writes ,"name":value when value is not empty (omitempty).
func jsonField(b *strings.Builder, name, value string) {
	if value == "" {
		return
	}
	b.WriteString(`,"`)
	b.WriteString(name)
	b.WriteString(`":`)
	writeJSONString(b, value)
}

// writeJSONString writes s, valid UTF-8, as a JSON string.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '"', '\\':
			b.Write([]byte{'\\', c})
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.Write([]byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]})
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// messages appends a count and each message's record (1 id, 2 state, 3 due
// first, as lua/prelude.lua reads them).
func (e *encoder) messages(args []any, ms []usermgmt.Message) []any {
	args = append(args, len(ms))
	for i := range ms {
		m := &ms[i]
		args = record(args, "id", m.ID, "state", string(m.State), "due", e.time(m.DueAt), "until", e.time(m.LeaseUntil),
			"kind", string(m.Kind), "to", m.To, "user", m.UserID, "account", m.AccountID, "payload", string(m.Payload),
			"created", e.time(m.CreatedAt), "attempts", strconv.Itoa(m.Attempts), "error", m.LastError,
			"owner", m.LeaseOwner, "dead", e.time(m.DeadAt))
	}
	return args
}

// accountFields are an account's own fields, those UpdateAccount writes.
func (e *encoder) accountFields(a *usermgmt.Account, version int64) []string {
	return []string{"name", a.Name, "departments", e.strings(a.Departments), "locale", a.Locale,
		"created", e.time(a.CreatedAt), "updated", e.time(a.UpdatedAt), "version", itoa(version)}
}

// accountRecord appends a new account's hash as a record (1 id, 2 parent,
// 3 ancestors first).
func (e *encoder) accountRecord(args []any, a *usermgmt.Account) []any {
	for _, id := range a.Ancestors {
		e.key(id)
	}
	pairs := append([]string{"id", e.key(a.ID), "parent", e.key(a.ParentID), "ancestors", e.strings(a.Ancestors)},
		e.accountFields(a, a.Version)...)
	return record(args, pairs...)
}

// groupRecord appends a group's hash as a record (1 id, 2 account, 3 name
// key, 4 deleted first).
func (e *encoder) groupRecord(args []any, g *usermgmt.Group, version int64) []any {
	return record(args, "id", e.key(g.ID), "account", e.key(g.AccountID), "namekey", g.NameKey, "deleted", flag(g.Deleted),
		"version", itoa(version), "name", g.Name, "desc", g.Description, "grants", e.grants(g.Grants),
		"created", e.time(g.CreatedAt), "updated", e.time(g.UpdatedAt))
}

// decoder reads records back, remembering the first field it cannot
// read. Its errors name the field, never its value.
type decoder struct {
	f    map[string]string // the hash, for records kept as hashes
	what string
	err  error
}

func (d *decoder) fail(field string) {
	if d.err == nil {
		d.err = fmt.Errorf("redisstore: stored %s field %q is unreadable", d.what, field)
	}
}

func (d *decoder) time(field string) time.Time { return d.timeOf(field, d.f[field]) }

func (d *decoder) timeOf(field, s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		d.fail(field)
		return time.Time{}
	}
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) int64(field string) int64 { return d.int64Of(field, d.f[field]) }

func (d *decoder) int64Of(field, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		d.fail(field)
	}
	return n
}

func (d *decoder) jsonOf(field, s string, v any) {
	if s != "" {
		if err := json.Unmarshal([]byte(s), v); err != nil {
			d.fail(field)
		}
	}
}

func (d *decoder) stringsOf(field, s string) []string {
	var ss []string
	d.jsonOf(field, s, &ss)
	return ss
}

func (d *decoder) grantsOf(field, s string) []usermgmt.Grant {
	var gs []usermgmt.Grant
	d.jsonOf(field, s, &gs)
	return gs
}

func (d *decoder) strings(field string) []string { return d.stringsOf(field, d.f[field]) }

func (d *decoder) grants(field string) []usermgmt.Grant { return d.grantsOf(field, d.f[field]) }

// decodeUser reads a user from its record (the rec field of its hash).
// The strings of the result share rec's memory.
func decodeUser(rec string) (usermgmt.UserRecord, error) {
	d := decoder{what: "user"}
	r := msgpackReader{s: rec}
	var u usermgmt.UserRecord
	seen := 0
	for n := r.mapLen(); n > 0 && r.err == nil; n-- {
		k, v := r.str(), r.str()
		seen++
		switch k {
		case "id":
			u.ID = v
		case "account":
			u.AccountID = v
		case "email":
			u.Email = v
		case "status":
			u.Status = usermgmt.Status(v)
		case "role":
			u.Role = v
		case "groups":
			u.Groups = d.stringsOf(k, v)
		case "tokens":
			var tokens [][4]string
			d.jsonOf(k, v, &tokens)
			for _, t := range tokens {
				u.Tokens = append(u.Tokens, usermgmt.Token{Purpose: usermgmt.TokenPurpose(t[0]), Hash: t[1],
					IssuedAt: d.timeOf(k, t[2]), ExpiresAt: d.timeOf(k, t[3])})
			}
		case "active":
			u.LastActiveAt = d.timeOf(k, v)
		case "locked":
			u.LockedAt = d.timeOf(k, v)
		case "version":
			u.Version = d.int64Of(k, v)
		case "first":
			u.FirstName = v
		case "last":
			u.LastName = v
		case "dept":
			u.Department = v
		case "locale":
			u.Locale = v
		case "grants":
			u.Grants = d.grantsOf(k, v)
		case "hash":
			u.PasswordHash = v
		case "pwver":
			u.PasswordVersion = d.int64Of(k, v)
		case "failed":
			u.FailedAttempts = int(d.int64Of(k, v))
		case "leases":
			var leases [][2]string
			d.jsonOf(k, v, &leases)
			for _, l := range leases {
				u.AttemptLeases = append(u.AttemptLeases, usermgmt.AttemptLease{ID: l[0], Until: d.timeOf(k, l[1])})
			}
		case "pending":
			u.PendingEmail = v
		case "resets":
			for _, t := range d.stringsOf(k, v) {
				u.ResetRequests = append(u.ResetRequests, d.timeOf(k, t))
			}
		case "invby":
			u.InvitedBy = v
		case "invat":
			u.InvitedAt = d.timeOf(k, v)
		case "created":
			u.CreatedAt = d.timeOf(k, v)
		case "updated":
			u.UpdatedAt = d.timeOf(k, v)
		case "activated":
			u.ActivatedAt = d.timeOf(k, v)
		case "login":
			u.LastLoginAt = d.timeOf(k, v)
		case "sessver":
			u.SessionVersion = d.int64Of(k, v)
		default:
			seen--
		}
	}
	switch {
	case r.err != nil:
		return usermgmt.UserRecord{}, r.err
	case seen != userFields:
		return usermgmt.UserRecord{}, errors.New("redisstore: a stored user record lacks fields")
	case d.err != nil:
		return usermgmt.UserRecord{}, d.err
	}
	return u, nil
}

// userFields is the number of fields of a user's record.
const userFields = 28

func decodeEvent(s string) (usermgmt.AuditEvent, error) {
	var se storedEvent
	if err := json.Unmarshal([]byte(s), &se); err != nil {
		return usermgmt.AuditEvent{}, errors.New("redisstore: a stored audit event is unreadable")
	}
	d := decoder{what: "audit event"}
	ev := usermgmt.AuditEvent{ID: se.ID, At: d.timeOf("at", se.At), ActorID: se.ActorID, ActorEmail: se.ActorEmail,
		Action: se.Action, UserID: se.UserID, GroupID: se.GroupID, AccountID: se.AccountID, Changes: se.Changes,
		IP: se.IP, UserAgent: se.UserAgent, Reason: se.Reason}
	return ev, d.err
}

func decodeAccount(f map[string]string) (usermgmt.Account, error) {
	d := decoder{f: f, what: "account"}
	a := usermgmt.Account{ID: f["id"], ParentID: f["parent"], Ancestors: d.strings("ancestors"), Name: f["name"],
		Departments: d.strings("departments"), Locale: f["locale"], CreatedAt: d.time("created"), UpdatedAt: d.time("updated"),
		Version: d.int64("version")}
	return a, d.err
}

func decodeGroup(f map[string]string) (usermgmt.Group, error) {
	d := decoder{f: f, what: "group"}
	g := usermgmt.Group{ID: f["id"], AccountID: f["account"], Name: f["name"], NameKey: f["namekey"], Description: f["desc"],
		Grants: d.grants("grants"), Deleted: f["deleted"] == "1", CreatedAt: d.time("created"), UpdatedAt: d.time("updated"),
		Version: d.int64("version")}
	return g, d.err
}

func decodeMessage(f map[string]string) (usermgmt.Message, error) {
	d := decoder{f: f, what: "message"}
	m := usermgmt.Message{ID: f["id"], Kind: usermgmt.NotificationKind(f["kind"]), To: f["to"], UserID: f["user"],
		AccountID: f["account"], State: usermgmt.MessageState(f["state"]), CreatedAt: d.time("created"), DueAt: d.time("due"),
		Attempts: int(d.int64("attempts")), LastError: f["error"], LeaseOwner: f["owner"], LeaseUntil: d.time("until"),
		DeadAt: d.time("dead")}
	if p := f["payload"]; p != "" {
		m.Payload = []byte(p)
	}
	return m, d.err
}

// pairs turns a flat [field, value, ...] script reply into a map.
func pairs(reply any) (map[string]string, error) {
	flat, ok := reply.([]any)
	if !ok || len(flat)%2 != 0 {
		return nil, errors.New("redisstore: unexpected script reply")
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		v, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("redisstore: unexpected script reply")
		}
		m[k] = v
	}
	return m, nil
}
