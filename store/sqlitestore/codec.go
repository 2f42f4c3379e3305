package sqlitestore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Times are stored as Unix nanoseconds, 0 standing for the zero time.

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos converts times for storage, remembering the first one out of range.
type nanos struct{ err error }

func (n *nanos) of(field string, t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Before(minTime) || t.After(maxTime) {
		if n.err == nil {
			n.err = fmt.Errorf("sqlitestore: %s %v is outside the storable range %v to %v", field, t, minTime.UTC(), maxTime.UTC())
		}
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type grantJSON struct {
	P string `json:"p"`
	R string `json:"r,omitempty"`
}

func encodeGrants(gs []usermgmt.Grant) string {
	if len(gs) == 0 {
		return ""
	}
	js := make([]grantJSON, len(gs))
	for i, g := range gs {
		js[i] = grantJSON{P: string(g.Permission), R: g.Resource}
	}
	b, _ := json.Marshal(js) // strings only: cannot fail
	return string(b)
}

func decodeGrants(s string) ([]usermgmt.Grant, error) {
	if s == "" {
		return nil, nil
	}
	var js []grantJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, fmt.Errorf("sqlitestore: stored grants %q: %w", s, err)
	}
	gs := make([]usermgmt.Grant, len(js))
	for i, g := range js {
		gs[i] = usermgmt.Grant{Permission: usermgmt.Permission(g.P), Resource: g.R}
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
	b, _ := json.Marshal(js)
	return string(b)
}

func decodeChanges(s string) ([]usermgmt.Change, error) {
	if s == "" {
		return nil, nil
	}
	var js []changeJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, fmt.Errorf("sqlitestore: stored changes %q: %w", s, err)
	}
	cs := make([]usermgmt.Change, len(js))
	for i, c := range js {
		cs[i] = usermgmt.Change{Field: c.F, Old: c.O, New: c.N}
	}
	return cs, nil
}

func encodeStrings(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	b, _ := json.Marshal(ss)
	return string(b)
}

func decodeStrings(s string) ([]string, error) {
	var ss []string
	if err := json.Unmarshal([]byte(s), &ss); err != nil {
		return nil, fmt.Errorf("sqlitestore: stored list %q: %w", s, err)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	return ss, nil
}

// userColumns are the columns a user is read from, in scanUser's order.
var userColumns = []string{"id", "account_id", "email", "first_name", "last_name", "role", "status", "grants",
	"password_hash", "failed_attempts", "invite_token_hash", "invited_at", "invite_expires_at",
	"created_at", "updated_at", "activated_at", "last_login_at", "last_active_at", "version"}

// userCols is userColumns for a select list; userColsOf qualifies them.
var userCols = strings.Join(userColumns, ", ")

func userColsOf(alias string) string {
	return alias + "." + strings.Join(userColumns, ", "+alias+".")
}

type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (usermgmt.User, error) {
	var u usermgmt.User
	var status, grants string
	var token sql.NullString
	var invited, expires, created, updated, activated, login, active int64
	err := sc.Scan(&u.ID, &u.AccountID, &u.Email, &u.FirstName, &u.LastName, &u.Role, &status, &grants,
		&u.PasswordHash, &u.FailedAttempts, &token, &invited, &expires,
		&created, &updated, &activated, &login, &active, &u.Version)
	if err != nil {
		return usermgmt.User{}, err
	}
	u.Status = usermgmt.Status(status)
	u.InviteTokenHash = token.String
	u.InvitedAt, u.InviteExpiresAt = fromNanos(invited), fromNanos(expires)
	u.CreatedAt, u.UpdatedAt, u.ActivatedAt = fromNanos(created), fromNanos(updated), fromNanos(activated)
	u.LastLoginAt, u.LastActiveAt = fromNanos(login), fromNanos(active)
	if u.Grants, err = decodeGrants(grants); err != nil {
		return usermgmt.User{}, err
	}
	return u, nil
}

// writeColumns are the columns a user is written to, in userValues' order:
// every column but id and seq.
var writeColumns = []string{"account_id", "email", "first_name", "last_name", "first_lc", "last_lc", "role", "status",
	"grants", "password_hash", "failed_attempts", "invite_token_hash", "invited_at", "invite_expires_at",
	"created_at", "updated_at", "activated_at", "last_login_at", "last_active_at", "version"}

// userValues returns the values of writeColumns for u, storing version.
func userValues(u usermgmt.User, version int64) ([]any, error) {
	var n nanos
	var token any
	if u.InviteTokenHash != "" {
		token = u.InviteTokenHash
	}
	vs := []any{u.AccountID, u.Email, u.FirstName, u.LastName, strings.ToLower(u.FirstName), strings.ToLower(u.LastName),
		u.Role, string(u.Status), encodeGrants(u.Grants), u.PasswordHash, u.FailedAttempts, token,
		n.of("InvitedAt", u.InvitedAt), n.of("InviteExpiresAt", u.InviteExpiresAt),
		n.of("CreatedAt", u.CreatedAt), n.of("UpdatedAt", u.UpdatedAt), n.of("ActivatedAt", u.ActivatedAt),
		n.of("LastLoginAt", u.LastLoginAt), n.of("LastActiveAt", u.LastActiveAt), version}
	return vs, n.err
}

var eventCols = "id, user_id, account_id, at, actor_id, action, changes"

func scanEvent(sc scanner) (usermgmt.AuditEvent, error) {
	var e usermgmt.AuditEvent
	var at int64
	var action, changes string
	if err := sc.Scan(&e.ID, &e.UserID, &e.AccountID, &at, &e.ActorID, &action, &changes); err != nil {
		return usermgmt.AuditEvent{}, err
	}
	e.At, e.Action = fromNanos(at), usermgmt.Action(action)
	var err error
	if e.Changes, err = decodeChanges(changes); err != nil {
		return usermgmt.AuditEvent{}, err
	}
	return e, nil
}

func eventValues(e usermgmt.AuditEvent) ([]any, error) {
	var n nanos
	vs := []any{e.ID, e.UserID, e.AccountID, n.of("event At", e.At), e.ActorID, string(e.Action), encodeChanges(e.Changes)}
	return vs, n.err
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func encodeSeqs(seqs []int64) string {
	b, _ := json.Marshal(seqs)
	return string(b)
}

func decodeSeqs(s string) ([]int64, error) {
	var seqs []int64
	if err := json.Unmarshal([]byte(s), &seqs); err != nil {
		return nil, fmt.Errorf("sqlitestore: stored account path %q: %w", s, err)
	}
	return seqs, nil
}
