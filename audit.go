package usermgmt

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// System is the actor recorded for changes the library makes on its own
// (locking after failed passwords, the inactivity sweep) and the actor an
// application passes for trusted, non-user operations such as creating a
// top-level account. It is never a user ID.
const System = "system"

// Action names a kind of change to a user.
type Action string

// The actions recorded in the audit history.
const (
	ActionCreate        Action = "create"         // created with a password
	ActionInvite        Action = "invite"         // created without a password; invitation issued
	ActionAccept        Action = "accept"         // invitation accepted, password set
	ActionResend        Action = "resend"         // invitation re-issued with a new token
	ActionRevoke        Action = "revoke"         // invitation revoked; the invited user removed
	ActionRoleChange    Action = "role_change"    // role changed
	ActionProfileChange Action = "profile_change" // first or last name changed
	ActionPasswordSet   Action = "password_set"   // password set by an admin or changed by the user
	ActionLock          Action = "lock"           // locked after too many wrong passwords
	ActionUnlock        Action = "unlock"         // unlocked by an admin
	ActionBan           Action = "ban"
	ActionUnban         Action = "unban"
	ActionDisable       Action = "disable"
	ActionEnable        Action = "enable"
	ActionInactive      Action = "inactive"   // made inactive after a long absence
	ActionReactivate    Action = "reactivate" // reactivated by an admin
	ActionRemove        Action = "remove"
	ActionGrant         Action = "grant"        // permission or resource granted
	ActionRevokeGrant   Action = "revoke_grant" // grant withdrawn
)

// AuditEvent records one change to one user: when, who, what, and which
// fields moved. It never holds a password, a hash or a token.
type AuditEvent struct {
	ID        string // UUIDv7; events of a user sort by ID in the order they were written
	At        time.Time
	ActorID   string // the user who made the change, or System
	Action    Action
	UserID    string // the user changed
	AccountID string // the account of the user changed
	Changes   []Change
}

// Change is one field's move from Old to New, as display strings.
type Change struct {
	Field string
	Old   string
	New   string
}

// diff lists the fields that differ between two states of a user, as
// display strings. A new password or invitation token is recorded as
// changed, issued or voided, never by value or hash.
func diff(old, u User) []Change {
	var cs []Change
	add := func(field, o, n string) {
		if o != n {
			cs = append(cs, Change{Field: field, Old: o, New: n})
		}
	}
	add("account_id", old.AccountID, u.AccountID)
	add("email", old.Email, u.Email)
	add("first_name", old.FirstName, u.FirstName)
	add("last_name", old.LastName, u.LastName)
	add("role", old.Role, u.Role)
	add("status", string(old.Status), string(u.Status))
	add("grants", grantsString(old.Grants), grantsString(u.Grants))
	add("failed_attempts", itoa(old.FailedAttempts, old.ID == ""), itoa(u.FailedAttempts, false))
	add("invitation_expires_at", timeString(old.InviteExpiresAt), timeString(u.InviteExpiresAt))
	if old.PasswordHash != u.PasswordHash {
		cs = append(cs, Change{Field: "password", New: "changed"})
	}
	if old.InviteTokenHash != u.InviteTokenHash {
		state := "issued"
		if u.InviteTokenHash == "" {
			state = "voided"
		}
		cs = append(cs, Change{Field: "invitation_token", New: state})
	}
	return cs
}

func itoa(n int, none bool) string {
	if none {
		return ""
	}
	return strconv.Itoa(n)
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func grantsString(gs []Grant) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = g.String()
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// History returns a page of the user's audit events, newest first. Users may
// read their own history; reading anyone else's takes PermManageUsers over
// their account. The history of a removed user stays readable. Pass the
// previous page's Next as cursor to continue; limit 0 means 50.
func (m *Manager) History(ctx context.Context, actorID, userID, cursor string, limit int) (Page[AuditEvent], error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	before, err := decodeCursor(cursor)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	if actorID != userID {
		act, err := m.actor(ctx, actorID)
		if err != nil {
			return Page[AuditEvent]{}, err
		}
		target, err := m.store.User(ctx, userID)
		if err != nil {
			return Page[AuditEvent]{}, err
		}
		if err := m.authorizeOn(ctx, act, target); err != nil {
			return Page[AuditEvent]{}, err
		}
	} else if _, err := m.store.User(ctx, userID); err != nil {
		return Page[AuditEvent]{}, err
	}
	evs, err := m.store.History(ctx, HistoryQuery{UserID: userID, Before: before, Limit: limit + 1})
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	return newPage(evs, limit, func(e AuditEvent) string { return e.ID }), nil
}
