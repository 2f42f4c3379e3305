package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt"
)

// Times are stored as decimal Unix nanoseconds, "0" for the zero time, so
// they keep full precision (a float score would not) and sort as text once
// zero-padded to 20 digits (see activeMember).

func encodeTime(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func decodeTime(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("redisstore: bad time %q: %w", s, err)
	}
	return time.Unix(0, n).UTC(), nil
}

// padTime is a time as 20 zero-padded digits: text order is time order.
func padTime(t time.Time) string {
	s := encodeTime(t)
	return strings.Repeat("0", 20-len(s)) + s
}

// activeMember is a user's member of the activity index (see the package
// documentation): its last activity as 20 digits, ':', its ID.
func activeMember(lastActive time.Time, id string) string {
	return padTime(lastActive) + ":" + id
}

// searchText is what ListQuery.Search is matched against: lower-cased
// names and email, one per line, so a term cannot match across two fields.
func searchText(u usermgmt.User) string {
	return strings.ToLower(u.FirstName) + "\n" + strings.ToLower(u.LastName) + "\n" + u.Email
}

// errNotUTF8 refuses text that JSON cannot carry. Users and accounts reach
// the scripts as JSON and events are stored as JSON; encoding/json would
// replace invalid UTF-8 with U+FFFD and so store something other than what
// was given, so such a write is refused whole instead.
var errNotUTF8 = errors.New("redisstore: text is not valid UTF-8")

// checkText returns errNotUTF8, naming what, when any of ss is not valid UTF-8.
func checkText(what string, ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: %s %q", errNotUTF8, what, s)
		}
	}
	return nil
}

// userFields is a user as the field/value pairs of its hash.
func userFields(u usermgmt.User) ([]string, error) {
	if err := checkText("user "+u.ID, u.ID, u.AccountID, u.Email, u.FirstName, u.LastName, u.Role, u.PasswordHash, u.InviteTokenHash); err != nil {
		return nil, err
	}
	for _, g := range u.Grants {
		if err := checkText("grant of user "+u.ID, string(g.Permission), g.Resource); err != nil {
			return nil, err
		}
	}
	grants := ""
	if len(u.Grants) > 0 {
		b, err := json.Marshal(u.Grants)
		if err != nil {
			return nil, err
		}
		grants = string(b)
	}
	return []string{
		"id", u.ID, "account", u.AccountID, "email", u.Email, "first", u.FirstName, "last", u.LastName,
		"role", u.Role, "status", string(u.Status), "grants", grants, "hash", u.PasswordHash,
		"failed", strconv.Itoa(u.FailedAttempts), "token", u.InviteTokenHash,
		"invited", encodeTime(u.InvitedAt), "expires", encodeTime(u.InviteExpiresAt),
		"created", encodeTime(u.CreatedAt), "updated", encodeTime(u.UpdatedAt), "activated", encodeTime(u.ActivatedAt),
		"login", encodeTime(u.LastLoginAt), "active", encodeTime(u.LastActiveAt),
		"version", strconv.FormatInt(u.Version, 10), "search", searchText(u),
	}, nil
}

// decodeUser reads a user from its hash's fields.
func decodeUser(f map[string]string) (usermgmt.User, error) {
	u := usermgmt.User{ID: f["id"], AccountID: f["account"], Email: f["email"], FirstName: f["first"], LastName: f["last"],
		Role: f["role"], Status: usermgmt.Status(f["status"]), PasswordHash: f["hash"], InviteTokenHash: f["token"]}
	var err error
	if g := f["grants"]; g != "" {
		if err = json.Unmarshal([]byte(g), &u.Grants); err != nil {
			return usermgmt.User{}, fmt.Errorf("redisstore: user %s grants: %w", u.ID, err)
		}
	}
	if u.FailedAttempts, err = strconv.Atoi(f["failed"]); err != nil {
		return usermgmt.User{}, fmt.Errorf("redisstore: user %s failed attempts: %w", u.ID, err)
	}
	if u.Version, err = strconv.ParseInt(f["version"], 10, 64); err != nil {
		return usermgmt.User{}, fmt.Errorf("redisstore: user %s version: %w", u.ID, err)
	}
	for _, t := range []struct {
		dst   *time.Time
		field string
	}{{&u.InvitedAt, "invited"}, {&u.InviteExpiresAt, "expires"}, {&u.CreatedAt, "created"}, {&u.UpdatedAt, "updated"},
		{&u.ActivatedAt, "activated"}, {&u.LastLoginAt, "login"}, {&u.LastActiveAt, "active"}} {
		if *t.dst, err = decodeTime(f[t.field]); err != nil {
			return usermgmt.User{}, err
		}
	}
	return u, nil
}

// pairs turns a flat [field, value, ...] reply into a map.
func pairs(flat []any) (map[string]string, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("redisstore: odd hash reply of %d items", len(flat))
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		v, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("redisstore: unexpected hash reply item %T/%T", flat[i], flat[i+1])
		}
		m[k] = v
	}
	return m, nil
}

// storedEvent is an audit event as stored, JSON-encoded.
type storedEvent struct {
	ID        string            `json:"id"`
	At        string            `json:"at"`
	ActorID   string            `json:"actor"`
	Action    usermgmt.Action   `json:"action"`
	UserID    string            `json:"user"`
	AccountID string            `json:"account"`
	Changes   []usermgmt.Change `json:"changes,omitempty"`
}

func encodeEvent(e usermgmt.AuditEvent) (string, error) {
	if err := checkText("event "+e.ID, e.ID, e.ActorID, string(e.Action), e.UserID, e.AccountID); err != nil {
		return "", err
	}
	for _, c := range e.Changes {
		if err := checkText("change in event "+e.ID, c.Field, c.Old, c.New); err != nil {
			return "", err
		}
	}
	b, err := json.Marshal(storedEvent{ID: e.ID, At: encodeTime(e.At), ActorID: e.ActorID, Action: e.Action,
		UserID: e.UserID, AccountID: e.AccountID, Changes: e.Changes})
	return string(b), err
}

func decodeEvent(s string) (usermgmt.AuditEvent, error) {
	var se storedEvent
	if err := json.Unmarshal([]byte(s), &se); err != nil {
		return usermgmt.AuditEvent{}, fmt.Errorf("redisstore: bad event: %w", err)
	}
	at, err := decodeTime(se.At)
	if err != nil {
		return usermgmt.AuditEvent{}, err
	}
	return usermgmt.AuditEvent{ID: se.ID, At: at, ActorID: se.ActorID, Action: se.Action, UserID: se.UserID,
		AccountID: se.AccountID, Changes: se.Changes}, nil
}

// accountFields is an account as the field/value pairs of its hash.
func accountFields(a usermgmt.Account) []string {
	return []string{"id", a.ID, "parent", a.ParentID, "ancestors", strings.Join(a.Ancestors, " "), "name", a.Name, "created", encodeTime(a.CreatedAt)}
}

func decodeAccount(f map[string]string) (usermgmt.Account, error) {
	a := usermgmt.Account{ID: f["id"], ParentID: f["parent"], Name: f["name"]}
	if s := f["ancestors"]; s != "" {
		a.Ancestors = strings.Split(s, " ")
	}
	var err error
	a.CreatedAt, err = decodeTime(f["created"])
	return a, err
}
