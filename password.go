package usermgmt

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id parameters used for new password hashes.
// Hashes made with other parameters still verify, and are re-hashed with
// these at the next successful login.
type HashParams struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultHashParams returns OWASP's recommended argon2id parameters:
// 19 MiB of memory, 2 iterations, 1 lane, a 16-byte salt and a 32-byte key.
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

func (p HashParams) validate() error {
	switch {
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > 4<<20:
		return fieldError(ErrInvalidInput, "hash_params.memory", "must be at least 8 KiB per lane and at most 4 GiB")
	case p.Iterations < 1 || p.Iterations > 100:
		return fieldError(ErrInvalidInput, "hash_params.iterations", "must be between 1 and 100")
	case p.Parallelism < 1:
		return fieldError(ErrInvalidInput, "hash_params.parallelism", "must be at least 1")
	case p.SaltLength < 8 || p.SaltLength > 64:
		return fieldError(ErrInvalidInput, "hash_params.salt_length", "must be between 8 and 64")
	case p.KeyLength < 16 || p.KeyLength > 128:
		return fieldError(ErrInvalidInput, "hash_params.key_length", "must be between 16 and 128")
	}
	return nil
}

// phc is a parsed argon2id PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
type phc struct {
	params HashParams
	salt   []byte
	key    []byte
}

func (h phc) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Iterations, h.params.Parallelism, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

var errBadHash = errors.New("usermgmt: stored password hash is not an argon2id PHC string")

func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return phc{}, errBadHash
	}
	var h phc
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.params.Memory, &h.params.Iterations, &h.params.Parallelism); err != nil || n != 3 {
		return phc{}, errBadHash
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return phc{}, errBadHash
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil {
		return phc{}, errBadHash
	}
	h.params.SaltLength, h.params.KeyLength = uint32(len(h.salt)), uint32(len(h.key))
	// Bound what a stored string can make us compute.
	if h.params.validate() != nil {
		return phc{}, errBadHash
	}
	return h, nil
}

// hasher computes and verifies argon2id hashes, never more than cap(slots)
// at once: each computation holds about Memory KiB, so the bound caps the
// memory a flood of logins can take. Callers beyond it wait, honouring
// their context.
type hasher struct {
	params HashParams
	slots  chan struct{}

	dummyOnce sync.Once
	dummy     phc // verified against for unknown users, so they cost the same

	computed, verified atomic.Uint64
	inFlight, peak     atomic.Int64
}

func newHasher(p HashParams, maxConcurrent int) *hasher {
	return &hasher{params: p, slots: make(chan struct{}, maxConcurrent)}
}

// acquire takes a hash slot, waiting while all are busy, unless ctx ends first.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.slots }

// key computes one argon2id key. The caller holds a slot.
func (h *hasher) key(password []byte, p phc) []byte {
	n := h.inFlight.Add(1)
	for {
		peak := h.peak.Load()
		if n <= peak || h.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	defer h.inFlight.Add(-1)
	return argon2.IDKey(password, p.salt, p.params.Iterations, p.params.Memory, p.params.Parallelism, p.params.KeyLength)
}

// hash returns a PHC string for password with the current parameters.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hashHeld(password)
}

// hashHeld is hash for a caller already holding a slot.
func (h *hasher) hashHeld(password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("usermgmt: reading salt: %w", err)
	}
	p := phc{params: h.params, salt: salt}
	p.key = h.key([]byte(password), p)
	h.computed.Add(1)
	return p.String(), nil
}

// verifyHeld reports whether password matches the PHC string, in constant
// time, and whether the string was made with parameters other than the
// current ones. The caller holds a slot.
func (h *hasher) verifyHeld(password, encoded string) (ok, stale bool, err error) {
	p, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key := h.key([]byte(password), p)
	h.verified.Add(1)
	ok = subtle.ConstantTimeCompare(key, p.key) == 1
	return ok, p.params != h.params, nil
}

// verifyDummy spends the time of one verification against a hash no
// password matches, so that an unknown user costs what a known one does.
// The caller holds a slot.
func (h *hasher) verifyDummy(password string) {
	h.dummyOnce.Do(func() {
		h.dummy = phc{params: h.params, salt: make([]byte, h.params.SaltLength), key: make([]byte, h.params.KeyLength)}
		_, _ = rand.Read(h.dummy.salt)
		_, _ = rand.Read(h.dummy.key)
	})
	key := h.key([]byte(password), h.dummy)
	h.verified.Add(1)
	_ = subtle.ConstantTimeCompare(key, h.dummy.key)
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
		s += " Do not include your email address."
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
	if !p.AllowEmail && email != "" && containsEmail(lower, strings.ToLower(email)) {
		reasons = append(reasons, "must not contain your email address")
	}
	if reasons != nil {
		return &PasswordError{Reasons: reasons}
	}
	return nil
}

func containsEmail(lowerPassword, email string) bool {
	if strings.Contains(lowerPassword, email) {
		return true
	}
	local, _, _ := strings.Cut(email, "@")
	return len(local) >= 4 && strings.Contains(lowerPassword, local)
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

// newPasswordHash checks a new password for a user against the policy and
// hashes it; an empty password gives an empty hash. When act is not nil the
// actor's reach over the user is checked first, so that nobody makes the
// Manager hash for a user they cannot manage.
func (m *Manager) newPasswordHash(ctx context.Context, act *actor, userID, password string) (string, error) {
	if password == "" {
		return "", nil
	}
	u, err := m.store.User(ctx, userID)
	if err != nil {
		return "", err
	}
	if act != nil {
		if err := m.authorizeOn(ctx, *act, u); err != nil {
			return "", err
		}
	}
	if err := m.policy.Password.Check(password, u.Email); err != nil {
		return "", err
	}
	return m.hasher.hash(ctx, password)
}

// SetPassword replaces a user's password on an admin's order. An invited
// user becomes Active (the invitation is voided); an Active user's failure
// count is reset; other statuses are kept. It takes PermManageUsers over
// the user.
func (m *Manager) SetPassword(ctx context.Context, actorID, userID, password string) error {
	act, err := m.actor(ctx, actorID)
	if err != nil {
		return err
	}
	if password == "" {
		return &PasswordError{Reasons: []string{"must not be empty"}}
	}
	hash, err := m.newPasswordHash(ctx, &act, userID, password)
	if err != nil {
		return err
	}
	_, err = m.update(ctx, act.id(), userID, ActionPasswordSet, func(u *User) (bool, error) {
		if err := m.authorizeOn(ctx, act, *u); err != nil {
			return false, err
		}
		return false, setPassword(u, hash, m.now())
	})
	return err
}

func setPassword(u *User, hash string, now time.Time) error {
	switch u.Status {
	case StatusRemoved:
		return &TransitionError{Action: ActionPasswordSet, From: u.Status}
	case StatusInvited:
		clearInvitation(u)
		u.PasswordHash = hash
		activate(u, now)
	case StatusActive:
		u.FailedAttempts = 0
	}
	u.PasswordHash = hash
	return nil
}

// ChangePassword lets an Active user replace their own password. The old
// password is checked like a login, failures counting toward the lockout.
func (m *Manager) ChangePassword(ctx context.Context, userID, oldPassword, newPassword string) error {
	u, err := m.store.User(ctx, userID)
	if err != nil {
		return err
	}
	if err := m.policy.Password.Check(newPassword, u.Email); err != nil {
		return err
	}
	if _, err := m.attempt(ctx, u, oldPassword); err != nil {
		return err
	}
	hash, err := m.hasher.hash(ctx, newPassword)
	if err != nil {
		return err
	}
	_, err = m.update(ctx, userID, userID, ActionPasswordSet, func(u *User) (bool, error) {
		if u.Status != StatusActive {
			return false, statusError(u.Status)
		}
		return false, setPassword(u, hash, m.now())
	})
	return err
}
