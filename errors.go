package usermgmt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is the type of the package's sentinel errors. Each has a stable
// machine code (ErrorCode), an HTTP status (HTTPStatus) and a message safe
// to log and to show an administrator: no SQL, driver text, hashes or other
// users' data. Match sentinels with errors.Is; many are wrapped in a richer
// error (FieldError, PasswordError, TransitionError) that says which field
// or rule refused the operation. A refused operation changes nothing.
type Error struct {
	code   string
	status int
	msg    string
}

// Error returns the message, prefixed with "usermgmt: ".
func (e *Error) Error() string { return "usermgmt: " + e.msg }

// Code returns the stable machine code, such as "duplicate_email".
func (e *Error) Code() string { return e.code }

// Status returns the HTTP status an API answers the error with.
func (e *Error) Status() int { return e.status }

// Message returns the message without the package prefix, for display.
func (e *Error) Message() string { return e.msg }

func sentinel(code string, status int, msg string) *Error {
	return &Error{code: code, status: status, msg: msg}
}

// Sentinel errors, with their codes and HTTP statuses.
var (
	// ErrInvalidInput (invalid_input, 422) reports input that breaks a rule
	// other than those below (an empty name, a limit out of range). It is
	// wrapped in a FieldError.
	ErrInvalidInput = sentinel("invalid_input", http.StatusUnprocessableEntity, "invalid input")
	// ErrInvalidEmail (invalid_email, 422) reports an address that is not a
	// single, plain e-mail address (see NormalizeEmail).
	ErrInvalidEmail = sentinel("invalid_email", http.StatusUnprocessableEntity, "invalid email address")
	// ErrDisposableEmail (disposable_email, 422) reports an address at a
	// disposable-mail domain.
	ErrDisposableEmail = sentinel("disposable_email", http.StatusUnprocessableEntity, "disposable email domain")
	// ErrDuplicateEmail (duplicate_email, 409) reports that a non-removed
	// user already has the email.
	ErrDuplicateEmail = sentinel("duplicate_email", http.StatusConflict, "email already in use")
	// ErrWeakPassword (weak_password, 422) reports a password that fails the
	// password policy. It is wrapped in a PasswordError listing the rules.
	ErrWeakPassword = sentinel("weak_password", http.StatusUnprocessableEntity, "password does not meet the policy")
	// ErrTokenInvalid (token_invalid, 404) reports an invitation, password
	// reset or email-change token that matches nothing pending: unknown,
	// already used, revoked, replaced by a newer one, or voided by a change
	// of the user.
	ErrTokenInvalid = sentinel("token_invalid", http.StatusNotFound, "link is invalid or was already used")
	// ErrTokenExpired (token_expired, 410) reports a token presented at or
	// after its expiry.
	ErrTokenExpired = sentinel("token_expired", http.StatusGone, "link has expired")
	// ErrInvalidCredentials (invalid_credentials, 401) reports an unknown
	// email or a wrong password; the two are indistinguishable by error and
	// by time.
	ErrInvalidCredentials = sentinel("invalid_credentials", http.StatusUnauthorized, "invalid email or password")
	// ErrWrongPassword (wrong_password, 403) reports a wrong current
	// password given to ChangePassword or ChangeOwnEmail. It counts toward
	// the lockout like a failed login, but says nothing about the session.
	ErrWrongPassword = sentinel("wrong_password", http.StatusForbidden, "current password is wrong")
	// ErrLocked (locked, 423) reports a user locked after too many wrong passwords.
	ErrLocked = sentinel("locked", http.StatusLocked, "user is locked")
	// ErrBanned (banned, 403) reports a user an admin has banned.
	ErrBanned = sentinel("banned", http.StatusForbidden, "user is banned")
	// ErrDisabled (disabled, 403) reports a user an admin has disabled.
	ErrDisabled = sentinel("disabled", http.StatusForbidden, "user is disabled")
	// ErrInactive (inactive, 403) reports a user made inactive by a long absence.
	ErrInactive = sentinel("inactive", http.StatusForbidden, "user is inactive")
	// ErrAttemptsInFlight (attempts_in_flight, 429) reports a login that
	// found every password-attempt slot of the user held by attempts still
	// being verified and waited Policy.AttemptWait for one in vain. It is
	// retryable and says nothing about the password.
	ErrAttemptsInFlight = sentinel("attempts_in_flight", http.StatusTooManyRequests, "too many login attempts in progress; try again")
	// ErrRateLimited (rate_limited, 429) reports a request refused by a rate
	// limit, such as password-reset requests per hour.
	ErrRateLimited = sentinel("rate_limited", http.StatusTooManyRequests, "too many requests; try again later")
	// ErrActorInactive (actor_inactive, 401) reports an acting user who is
	// unknown or no longer Active: their session should end.
	ErrActorInactive = sentinel("actor_inactive", http.StatusUnauthorized, "acting user is not active")
	// ErrPermissionDenied (permission_denied, 403) reports an actor who lacks
	// the permission the operation needs.
	ErrPermissionDenied = sentinel("permission_denied", http.StatusForbidden, "permission denied")
	// ErrTargetOutranks (target_outranks, 403) reports a user or group that
	// holds a permission the actor does not: nobody manages, or assigns,
	// more than they hold.
	ErrTargetOutranks = sentinel("target_outranks", http.StatusForbidden, "target holds permissions the actor does not")
	// ErrNotGrantable (not_grantable, 422) reports a permission that only a
	// role can carry (user management, account settings, pricing,
	// payment), given as a grant.
	ErrNotGrantable = sentinel("not_grantable", http.StatusUnprocessableEntity, "permission comes only with a role")
	// ErrLastAdmin (last_admin, 409) reports an attempt to ban, disable,
	// remove, demote or move the last active admin of an account.
	ErrLastAdmin = sentinel("last_admin", http.StatusConflict, "last active admin of the account")
	// ErrInvalidTransition (invalid_transition, 409) reports an operation
	// the user's current status does not allow (unbanning a user who is not
	// banned, say). It is wrapped in a TransitionError.
	ErrInvalidTransition = sentinel("invalid_transition", http.StatusConflict, "operation not allowed in the user's status")
	// ErrUnknownRole (unknown_role, 422) reports a role name no Role was
	// registered under.
	ErrUnknownRole = sentinel("unknown_role", http.StatusUnprocessableEntity, "unknown role")
	// ErrUnknownPermission (unknown_permission, 422) reports a permission
	// outside the registry given to WithPermissions.
	ErrUnknownPermission = sentinel("unknown_permission", http.StatusUnprocessableEntity, "unknown permission")
	// ErrInvalidCursor (invalid_cursor, 400) reports a pagination cursor this
	// Manager did not issue.
	ErrInvalidCursor = sentinel("invalid_cursor", http.StatusBadRequest, "invalid cursor")
	// ErrNotFound (not_found, 404) reports a user, account, group, message
	// or invitation that does not exist, or that the actor may not see:
	// outside the actor's reach is indistinguishable from absent.
	ErrNotFound = sentinel("not_found", http.StatusNotFound, "not found")
	// ErrConflict (conflict, 409) reports a write based on a stale version.
	// The Manager retries its own writes; callers see it when retries run
	// out, or when they passed an expected version (WithExpectedVersion) that is stale.
	ErrConflict = sentinel("conflict", http.StatusConflict, "conflicting concurrent update")
	// ErrDuplicateName (duplicate_name, 409) reports a group or department
	// name already used in the account (compared ignoring case).
	ErrDuplicateName = sentinel("duplicate_name", http.StatusConflict, "name already in use")
	// ErrDuplicateID (duplicate_id, 409) reports an ID a Store already holds.
	// The Manager never produces one; stores return it so that a write
	// carrying a reused ID is refused whole.
	ErrDuplicateID = sentinel("duplicate_id", http.StatusConflict, "duplicate id")
	// ErrNotConfigured (not_configured, 501) reports an operation that needs
	// something the Manager was built without, such as the outbox.
	ErrNotConfigured = sentinel("not_configured", http.StatusNotImplemented, "feature not configured")
	// ErrStore (store_failure, 503) reports a failure of the storage
	// backend. The driver's error stays reachable with errors.As.
	ErrStore = sentinel("store_failure", http.StatusServiceUnavailable, "storage failure")
)

// ErrorCode returns the stable machine code of err: the code of the first
// sentinel in its chain, "canceled" or "timeout" for context errors, and
// "internal" for anything else ("" for nil).
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "internal"
}

// HTTPStatus returns the HTTP status an API answers err with: the status of
// the first sentinel in its chain, 499 for a cancelled request, 504 for a
// deadline, and 500 for anything else (200 for nil).
func HTTPStatus(err error) int {
	var e *Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &e):
		return e.status
	case errors.Is(err, context.Canceled):
		return 499 // client closed request
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// FieldError is a refusal tied to one input field.
type FieldError struct {
	Field  string // the input field, snake_case, such as "email" or "first_name"
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
	Reasons []string // each fit for display, such as "must be at least 12 characters"
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

// cleanErr makes an error from a store safe to return: a context error
// passes through; an error matching a sentinel shows that sentinel's text
// alone (the original stays reachable by errors.As); anything else becomes
// ErrStore, wrapping it.
func cleanErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		if err == error(e) {
			return err
		}
		var w *wrapped
		if errors.As(err, &w) && err == error(w) && w.sentinel == error(e) {
			return err
		}
		return StoreError(e, err)
	}
	return StoreError(ErrStore, err)
}
