package usermgmt

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// System is the actor recorded for changes the library makes on its own
// (locking after failed passwords, the inactivity sweep, locks that lift
// by themselves) and the actor an application passes for trusted,
// non-user operations such as creating a top-level account or unlocking
// an account whose admins are all locked. It is never a user ID.
const System = "system"

// Action names a kind of change.
type Action string

// The actions recorded in the audit history.
const (
	ActionCreate          Action = "create"           // created with a password (or an imported hash)
	ActionInvite          Action = "invite"           // created without a password; invitation issued
	ActionAccept          Action = "accept"           // invitation accepted, password set
	ActionResend          Action = "resend"           // invitation re-issued with a new token
	ActionRevoke          Action = "revoke"           // invitation revoked; the invited user removed
	ActionRoleChange      Action = "role_change"      // role changed
	ActionProfileChange   Action = "profile_change"   // names, locale or department changed
	ActionEmailChange     Action = "email_change"     // email change requested, or confirmed
	ActionMove            Action = "move"             // moved to another account
	ActionPasswordSet     Action = "password_set"     // password set by an admin or changed by the user
	ActionPasswordReset   Action = "password_reset"   // password reset requested, or reset by the user through the emailed link
	ActionLock            Action = "lock"             // locked after too many wrong passwords
	ActionUnlock          Action = "unlock"           // unlocked by an admin, or by System when the lock lapsed
	ActionBan             Action = "ban"              // banned by an admin
	ActionUnban           Action = "unban"            // unbanned
	ActionDisable         Action = "disable"          // disabled by an admin
	ActionEnable          Action = "enable"           // enabled
	ActionInactive        Action = "inactive"         // made inactive after a long absence
	ActionReactivate      Action = "reactivate"       // reactivated by an admin
	ActionRemove          Action = "remove"           // removed from the account
	ActionGrant           Action = "grant"            // permission granted, to a user or a group
	ActionRevokeGrant     Action = "revoke_grant"     // grant withdrawn
	ActionGroupMembership Action = "group_membership" // added to or removed from a group
	ActionLogin           Action = "login"            // a successful login (Policy.AuditLogins)
	ActionLoginFailed     Action = "login_failed"     // a wrong password (Policy.AuditLogins)

	ActionAccountCreate Action = "account_create" // account created
	ActionAccountUpdate Action = "account_update" // account renamed, departments changed
	ActionGroupCreate   Action = "group_create"   // group created
	ActionGroupUpdate   Action = "group_update"   // group renamed or described
	ActionGroupDelete   Action = "group_delete"   // group deleted
)

// AuditEvent records one change: when, who, what, to whom, and which fields
// moved. It never holds a password, a hash or a token. A change of a user
// has UserID set; a change of a group has GroupID set; both carry the
// account they happened in.
type AuditEvent struct {
	ID         string    `json:"id"` // UUIDv7; events sort by ID in the order they were written
	At         time.Time `json:"at"`
	ActorID    string    `json:"actor_id"`              // the user who made the change, or System
	ActorEmail string    `json:"actor_email,omitempty"` // the actor's email when the change was made
	Action     Action    `json:"action"`
	UserID     string    `json:"user_id,omitempty"`    // the user changed
	GroupID    string    `json:"group_id,omitempty"`   // the group changed
	AccountID  string    `json:"account_id"`           // the account of the user or group changed, or the account itself
	Changes    []Change  `json:"changes"`              // [] when no field moved (a login); never nil from the Manager
	IP         string    `json:"ip,omitempty"`         // from WithRequestMeta
	UserAgent  string    `json:"user_agent,omitempty"` // from WithRequestMeta
	Reason     string    `json:"reason,omitempty"`     // from WithRequestMeta
}

// Change is one field's move from Old to New, as display strings.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// RequestMeta is what an application knows of the request behind a change,
// recorded on its audit event.
type RequestMeta struct {
	IP        string // the client's address
	UserAgent string // the client's User-Agent
	Reason    string // why, in the admin's words ("left the company")
}

type metaKey struct{}

// WithRequestMeta returns a context whose changes record meta on their
// audit events. Each field is cut to 256 bytes and stripped of control
// characters.
func WithRequestMeta(ctx context.Context, meta RequestMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, RequestMeta{IP: cleanMeta(meta.IP), UserAgent: cleanMeta(meta.UserAgent), Reason: cleanMeta(meta.Reason)})
}

func cleanMeta(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	for len(s) > 256 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// diff lists the fields that differ between two states of a user, as
// display strings. A new password or token is recorded as set, issued or
// voided, never by value or hash. A new user (old.ID empty) lists only the
// fields a person cares about.
func diff(old, u UserRecord) []Change {
	var cs []Change
	add := func(field, o, n string) {
		if o != n {
			cs = append(cs, Change{Field: field, Old: o, New: n})
		}
	}
	add("account_id", old.AccountID, u.AccountID)
	add("email", old.Email, u.Email)
	add("pending_email", old.PendingEmail, u.PendingEmail)
	add("first_name", old.FirstName, u.FirstName)
	add("last_name", old.LastName, u.LastName)
	add("role", old.Role, u.Role)
	add("department", old.Department, u.Department)
	add("locale", old.Locale, u.Locale)
	add("groups", strings.Join(old.Groups, ","), strings.Join(u.Groups, ","))
	add("status", string(old.Status), string(u.Status))
	add("grants", grantsString(old.Grants), grantsString(u.Grants))
	if old.ID != "" && old.FailedAttempts != u.FailedAttempts {
		add("failed_attempts", strconv.Itoa(old.FailedAttempts), strconv.Itoa(u.FailedAttempts))
	}
	if old.PasswordVersion != u.PasswordVersion || (old.PasswordHash == "") != (u.PasswordHash == "") {
		cs = append(cs, Change{Field: "password", New: "set"})
	}
	for _, p := range []TokenPurpose{TokenInvitation, TokenPasswordReset, TokenEmailChange} {
		ot, had := old.token(p)
		nt, has := u.token(p)
		switch {
		case has && (!had || ot.Hash != nt.Hash):
			cs = append(cs, Change{Field: string(p) + "_token", New: "issued, expires " + timeString(nt.ExpiresAt)})
		case had && !has:
			cs = append(cs, Change{Field: string(p) + "_token", Old: "pending", New: "voided"})
		}
	}
	return cs
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func grantsString(gs []Grant) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = g.String()
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// view is the event as callers get it: Changes never nil, so that an
// event that moves no field (a login) encodes "changes":[] like the other
// lists of the JSON views. Stores may keep either.
func (e AuditEvent) view() AuditEvent {
	if e.Changes == nil {
		e.Changes = []Change{}
	}
	return e
}

// historyPage is newPage for audit events, in their view.
func historyPage(evs []AuditEvent, limit int) Page[AuditEvent] {
	for i := range evs {
		evs[i] = evs[i].view()
	}
	return newPage(evs, limit, func(e AuditEvent) string { return e.ID })
}

// event builds the audit record of a change made by act at now.
func (m *Manager) event(ctx context.Context, now time.Time, act actor, action Action, changes []Change) (AuditEvent, error) {
	id, err := newID()
	if err != nil {
		return AuditEvent{}, err
	}
	ev := AuditEvent{ID: id, At: now, ActorID: act.id(), ActorEmail: act.email(), Action: action, Changes: changes}
	if meta, ok := ctx.Value(metaKey{}).(RequestMeta); ok {
		ev.IP, ev.UserAgent, ev.Reason = meta.IP, meta.UserAgent, meta.Reason
	}
	return ev, nil
}

// userEvent builds the audit record of a change of user u.
func (m *Manager) userEvent(ctx context.Context, now time.Time, act actor, action Action, old, u UserRecord) (AuditEvent, error) {
	ev, err := m.event(ctx, now, act, action, diff(old, u))
	ev.UserID, ev.AccountID = u.ID, u.AccountID
	return ev, err
}

// AuditQuery selects a page of audit events for History and
// AccountHistory.
type AuditQuery struct {
	// UserID is the user whose events History lists: required there
	// (ignored by AccountHistory).
	UserID string `json:"user_id,omitempty"`
	// AccountID is the account whose subtree's events AccountHistory lists;
	// empty means the actor's account (ignored by History).
	AccountID string `json:"account_id,omitempty"`
	// Actions, when not empty, keeps only these actions.
	Actions []Action `json:"actions,omitempty"`
	// ActorID, when set, keeps only events made by this actor (a user ID or System).
	ActorID string `json:"actor_id,omitempty"`
	// Since and Until, when set, keep events at or after Since and before Until.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Cursor is the Next of the previous page; empty for the first page.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size; 0 means 50, at most 1000.
	Limit int `json:"limit,omitempty"`
}

func (m *Manager) historyQuery(q AuditQuery) (HistoryQuery, int, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return HistoryQuery{}, 0, err
	}
	before, err := decodeCursor(q.Cursor)
	if err != nil {
		return HistoryQuery{}, 0, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return HistoryQuery{}, 0, fieldError(ErrInvalidInput, "until", "must be after since")
	}
	return HistoryQuery{Actions: slices.Clone(q.Actions), ActorID: q.ActorID, Since: q.Since, Until: q.Until, Before: before, Limit: limit + 1}, limit, nil
}

// History returns a page of a user's audit events, newest first, filtered
// by q. Users may read their own history; reading anyone else's takes
// PermManageUsers over them. The history of a removed user stays readable.
// An empty q.UserID is a *FieldError (ErrInvalidInput); AccountHistory
// lists an account's events.
func (m *Manager) History(ctx context.Context, actorID string, q AuditQuery) (Page[AuditEvent], error) {
	hq, limit, err := m.historyQuery(q)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	if q.UserID == "" {
		return Page[AuditEvent]{}, fieldError(ErrInvalidInput, "user_id", "is required (AccountHistory lists an account's events)")
	}
	if _, err := m.readableUser(ctx, actorID, q.UserID); err != nil {
		return Page[AuditEvent]{}, err
	}
	hq.UserID = q.UserID
	evs, err := m.store.History(ctx, hq)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	return historyPage(evs, limit), nil
}

// AccountHistory returns a page of the audit trail of an account subtree —
// every event of its users, groups and accounts — newest first, filtered
// by q. It takes PermManageUsers over the account. The trail holds every
// department's changes, so an actor whose role has OwnDepartment is
// refused (ErrPermissionDenied); they read their users' History.
func (m *Manager) AccountHistory(ctx context.Context, actorID string, q AuditQuery) (Page[AuditEvent], error) {
	hq, limit, err := m.historyQuery(q)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	if !act.system && act.role.OwnDepartment {
		return Page[AuditEvent]{}, fmt.Errorf("%w: the account's trail spans every department", ErrPermissionDenied)
	}
	acct, err := m.authorizeAccount(ctx, act, q.AccountID, PermManageUsers)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	hq.AccountID = acct.ID
	evs, err := m.store.History(ctx, hq)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	return historyPage(evs, limit), nil
}
