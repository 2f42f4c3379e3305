package usermgmt

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every refusal the Manager returns matches one of them with
// errors.Is; many are wrapped in a richer error (FieldError, PasswordError,
// TransitionError) that says which field or rule refused the operation.
// A refused operation changes nothing.
var (
	// ErrInvalidInput reports input that breaks a rule other than those below
	// (an empty name, a limit out of range). It is wrapped in a FieldError.
	ErrInvalidInput = errors.New("usermgmt: invalid input")
	// ErrInvalidEmail reports an address that is not a single, plain e-mail address.
	ErrInvalidEmail = errors.New("usermgmt: invalid email address")
	// ErrDisposableEmail reports an address at a disposable-mail domain.
	ErrDisposableEmail = errors.New("usermgmt: disposable email domain")
	// ErrDuplicateEmail reports that a non-removed user already has the email.
	ErrDuplicateEmail = errors.New("usermgmt: email already in use")
	// ErrWeakPassword reports a password that fails the password policy.
	// It is wrapped in a PasswordError listing the rules it broke.
	ErrWeakPassword = errors.New("usermgmt: password does not meet the policy")
	// ErrInvitationInvalid reports a token that matches no pending invitation:
	// unknown, already used, revoked, or replaced by a resend.
	ErrInvitationInvalid = errors.New("usermgmt: invitation invalid or already used")
	// ErrInvitationExpired reports an invitation presented at or after its expiry.
	ErrInvitationExpired = errors.New("usermgmt: invitation expired")
	// ErrInvalidCredentials reports an unknown email or a wrong password; the
	// two are indistinguishable by error and by time.
	ErrInvalidCredentials = errors.New("usermgmt: invalid credentials")
	// ErrLocked reports a user locked after too many wrong passwords.
	ErrLocked = errors.New("usermgmt: user locked")
	// ErrBanned reports a user an admin has banned.
	ErrBanned = errors.New("usermgmt: user banned")
	// ErrDisabled reports a user an admin has disabled.
	ErrDisabled = errors.New("usermgmt: user disabled")
	// ErrInactive reports a user made inactive by a long absence.
	ErrInactive = errors.New("usermgmt: user inactive")
	// ErrNotActivated reports a user who has not yet accepted the invitation.
	ErrNotActivated = errors.New("usermgmt: user has not accepted the invitation")
	// ErrPermissionDenied reports an actor without the permission, role or
	// account reach the operation needs.
	ErrPermissionDenied = errors.New("usermgmt: permission denied")
	// ErrLastAdmin reports an attempt to ban, disable, remove or demote the
	// last active admin of an account.
	ErrLastAdmin = errors.New("usermgmt: last active admin of the account")
	// ErrInvalidTransition reports an operation that the user's current
	// status does not allow (unbanning a user who is not banned, say).
	// It is wrapped in a TransitionError.
	ErrInvalidTransition = errors.New("usermgmt: operation not allowed in the user's status")
	// ErrUnknownRole reports a role name no Role was registered under.
	ErrUnknownRole = errors.New("usermgmt: unknown role")
	// ErrInvalidCursor reports a pagination cursor this Manager did not issue.
	ErrInvalidCursor = errors.New("usermgmt: invalid cursor")
	// ErrNotFound reports a user, account or invitation that does not exist,
	// or that the actor may not see.
	ErrNotFound = errors.New("usermgmt: not found")
	// ErrConflict reports a write based on a stale version. The Manager
	// retries its own writes; callers see it only when retries run out.
	ErrConflict = errors.New("usermgmt: conflicting concurrent update")
	// ErrDuplicateID reports a user, account or audit event ID that a Store
	// already holds. The Manager never produces one; stores return it so that
	// a write carrying a reused ID is refused whole.
	ErrDuplicateID = errors.New("usermgmt: duplicate id")
)

// FieldError is a refusal tied to one input field.
type FieldError struct {
	Field  string // the input field, such as "email" or "first_name"
	Reason string // what is wrong, fit for display
	Err    error  // the sentinel it matches
}

// Error formats the sentinel, the field and the reason.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Reason)
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(sentinel error, field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: sentinel}
}

// PasswordError lists the password-policy rules a password broke.
// It matches ErrWeakPassword.
type PasswordError struct {
	Reasons []string
}

// Error lists the broken rules after the sentinel's text.
func (e *PasswordError) Error() string {
	return ErrWeakPassword.Error() + ": " + strings.Join(e.Reasons, "; ")
}

// Unwrap returns ErrWeakPassword.
func (e *PasswordError) Unwrap() error { return ErrWeakPassword }

// TransitionError reports an operation the user's status does not allow.
// It matches ErrInvalidTransition.
type TransitionError struct {
	Action Action // the operation refused
	From   Status // the user's status at the time
}

// Error names the refused action and the status that refused it.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("%v: cannot %s a user who is %s", ErrInvalidTransition, e.Action, e.From)
}

// Unwrap returns ErrInvalidTransition.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }
