package usermgmt

import "time"

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
