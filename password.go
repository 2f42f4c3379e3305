package usermgmt

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// NormalizePassword returns the form of a password that is hashed, checked
// against the policy and verified: PRECIS OpaqueString (RFC 8265 §4.2,
// golang.org/x/text/secure/precis), which maps non-ASCII spaces to the
// ASCII space and normalises to NFC, so that a password typed on two
// systems that compose "ä" differently verifies on both, as NIST SP
// 800-63B §5.1.1.2 advises. It refuses passwords with control characters
// and other code points OpaqueString disallows, with a *PasswordError.
func NormalizePassword(password string) (string, error) {
	if !utf8.ValidString(password) {
		return "", &PasswordError{Reasons: []string{"must be valid UTF-8"}}
	}
	out, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", &PasswordError{Reasons: []string{"must not contain control characters or other characters not allowed in passwords"}}
	}
	return out, nil
}

// PasswordPolicy is the set of rules a new password must meet.
// The zero value of each field means its default.
type PasswordPolicy struct {
	MinLength int // in characters; default 12
	MaxLength int // in characters; default 128, and never below 64
	// AllowCommon turns off the rejection of common passwords (a small
	// embedded list, also matched with trailing digits and symbols removed).
	AllowCommon bool
	// AllowEmail turns off the rejection of passwords containing the user's
	// email address or its name part.
	AllowEmail bool
}

func (p PasswordPolicy) withDefaults() PasswordPolicy {
	if p.MinLength == 0 {
		p.MinLength = 12
	}
	if p.MaxLength == 0 {
		p.MaxLength = 128
	}
	return p
}

func (p PasswordPolicy) validate() error {
	if p.MinLength < 8 {
		return fieldError(ErrInvalidInput, "password_policy.min_length", "must be at least 8")
	}
	if p.MaxLength < 64 || p.MaxLength < p.MinLength {
		return fieldError(ErrInvalidInput, "password_policy.max_length", "must be at least 64 and at least min_length")
	}
	return nil
}

// Describe returns the criteria in words, for display beside a password field.
func (p PasswordPolicy) Describe() string {
	p = p.withDefaults()
	s := fmt.Sprintf("Use %d to %d characters.", p.MinLength, p.MaxLength)
	if !p.AllowCommon {
		s += " Avoid common passwords."
	}
	if !p.AllowEmail {
		s += " Do not include your email address or the part of it before the @."
	}
	return s
}

// Check returns a PasswordError listing every rule password breaks for a
// user with the given email, or nil.
func (p PasswordPolicy) Check(password, email string) error {
	p = p.withDefaults()
	var reasons []string
	n := utf8.RuneCountInString(password)
	if !utf8.ValidString(password) {
		reasons = append(reasons, "must be valid UTF-8")
	}
	if n < p.MinLength {
		reasons = append(reasons, fmt.Sprintf("must be at least %d characters", p.MinLength))
	}
	if n > p.MaxLength {
		reasons = append(reasons, fmt.Sprintf("must be at most %d characters", p.MaxLength))
	}
	lower := strings.ToLower(password)
	if !p.AllowCommon && isCommonPassword(lower) {
		reasons = append(reasons, "is a commonly used password")
	}
	if !p.AllowEmail && email != "" {
		switch containsEmail(lower, strings.ToLower(email)) {
		case emailWhole:
			reasons = append(reasons, "must not contain your email address")
		case emailLocal:
			// Say which part: a user who sees "your email address" and
			// finds no "@" in their password cannot tell what to change.
			reasons = append(reasons, "must not contain the part of your email address before the @")
		}
	}
	if reasons != nil {
		return &PasswordError{Reasons: reasons}
	}
	return nil
}

// What of the email address a password contains.
const (
	emailNone = iota
	emailWhole
	emailLocal // the local part, of four characters or more
)

func containsEmail(lowerPassword, email string) int {
	if strings.Contains(lowerPassword, email) {
		return emailWhole
	}
	local, _, _ := strings.Cut(email, "@")
	if len(local) >= 4 && strings.Contains(lowerPassword, local) {
		return emailLocal
	}
	return emailNone
}

//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{})
	for _, line := range strings.Split(commonPasswordList, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[line] = struct{}{}
		}
	}
	return set
})

// isCommonPassword matches the lower-cased password against the list, as is
// and with trailing digits and symbols removed ("Password123!" is common).
func isCommonPassword(lower string) bool {
	set := commonPasswords()
	if _, ok := set[lower]; ok {
		return true
	}
	base := strings.TrimRightFunc(lower, func(r rune) bool { return r < 'a' || r > 'z' })
	_, ok := set[base]
	return ok
}

// hashNewPassword normalises a new password, checks it against the policy
// for a user with the email, and hashes it.
func (m *Manager) hashNewPassword(ctx context.Context, password, email string) (string, error) {
	if password == "" {
		return "", &PasswordError{Reasons: []string{"must not be empty"}}
	}
	norm, err := NormalizePassword(password)
	if err != nil {
		return "", err
	}
	if err := m.policy.Password.Check(norm, email); err != nil {
		return "", err
	}
	return m.hasher.hash(ctx, norm)
}

// setPassword gives u a new password hash: an Invited user becomes Active
// (settle voids the invitation), an Active user's failure count is reset,
// other statuses are kept.
func setPassword(u *UserRecord, hash string, now time.Time) error {
	if u.Status == StatusRemoved {
		return &TransitionError{Action: ActionPasswordSet, From: u.Status}
	}
	u.PasswordHash = hash
	u.PasswordVersion++
	switch u.Status {
	case StatusInvited:
		activate(u, now)
	case StatusActive:
		u.FailedAttempts = 0
	}
	return nil
}

// SetPassword replaces a user's password on an admin's order and returns
// the user. An Invited user becomes Active (the invitation is voided); an
// Active user's failure count is reset; other statuses are kept. The
// user's sessions end (SessionVersion moves) and they are told by email.
// It takes PermManageUsers over the user.
func (m *Manager) SetPassword(ctx context.Context, actorID, userID, password string) (User, error) {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return User{}, err
	}
	target, err := m.readableUser(ctx, act.id(), userID)
	if err != nil {
		return User{}, err
	}
	hash, err := m.hashNewPassword(ctx, password, target.Email)
	if err != nil {
		return User{}, err
	}
	return m.updateView(ctx, act, userID, ActionPasswordSet, func(u *UserRecord, c *change) error {
		if err := m.authorizeOn(ctx, act, *u, c.groupGrants); err != nil {
			return err
		}
		c.notices = append(c.notices, notice{kind: NotifyPasswordChanged})
		return setPassword(u, hash, m.now())
	})
}

// ChangePassword lets an Active user replace their own password and
// returns the user. The current password is checked like a login, a wrong
// one counting toward the lockout; it is refused with ErrWrongPassword
// (ErrLocked when it locks the user), never ErrInvalidCredentials, so that
// an application does not take it for an ended session. The user's other
// sessions end (SessionVersion moves) and they are told by email; the
// session the change was made in ends too unless the application stores
// the returned User's SessionVersion in it (httpapi.SCSActor.Login does).
func (m *Manager) ChangePassword(ctx context.Context, userID, current, newPassword string) (User, error) {
	act, err := m.actor(ctx, userID)
	if err != nil {
		return User{}, err
	}
	u := act.user
	norm, err := NormalizePassword(newPassword)
	if err != nil {
		return User{}, err
	}
	if err := m.policy.Password.Check(norm, u.Email); err != nil {
		return User{}, err
	}
	if _, err := m.attempt(ctx, u, current); err != nil {
		if errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrLocked) {
			return User{}, ErrWrongPassword
		}
		if errors.Is(err, ErrLocked) {
			return User{}, fmt.Errorf("%w; %w", ErrWrongPassword, ErrLocked)
		}
		return User{}, err
	}
	hash, err := m.hasher.hash(ctx, norm)
	if err != nil {
		return User{}, err
	}
	return m.updateView(ctx, act, userID, ActionPasswordSet, func(u *UserRecord, c *change) error {
		if u.Status != StatusActive {
			return statusError(u.Status)
		}
		c.notices = append(c.notices, notice{kind: NotifyPasswordChanged})
		return setPassword(u, hash, m.now())
	})
}
