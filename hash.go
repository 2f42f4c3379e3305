package usermgmt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
)

// HashParams are the argon2id parameters used for new password hashes.
// Hashes made with other parameters (or imported bcrypt and PBKDF2 hashes)
// still verify, and are re-hashed with these at the next successful login.
type HashParams struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultHashParams returns OWASP's recommended argon2id parameters
// (Password Storage Cheat Sheet): 19 MiB of memory, 2 iterations, 1 lane,
// a 16-byte salt and a 32-byte key.
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// maxHashMemory bounds the memory of any argon2id hash the Manager
// computes, stored or configured: 1 GiB, in KiB.
const maxHashMemory = 1 << 20

// maxHashWork bounds the work of any argon2id hash the Manager computes,
// stored or configured: memory × iterations of at most 4 GiB (1 GiB for 4
// passes, 64 MiB for 64, RFC 9106's and OWASP's settings well inside), a
// few seconds of one core. An imported hash is chosen by whoever imports
// it, and every login of its user pays for it while holding a hash slot.
const maxHashWork = 1 << 22 // KiB × iterations

// maxBcryptCost bounds the cost of a bcrypt hash the Manager verifies:
// cost 14 is about a second of one core, each step up doubles it (31 is
// two days). Real systems use 10 to 13.
const maxBcryptCost = 14

func (p HashParams) validate() error {
	switch {
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxHashMemory:
		return fieldError(ErrInvalidInput, "hash_params.memory", "must be at least 8 KiB per lane and at most 1 GiB")
	case p.Iterations < 1 || p.Iterations > 100:
		return fieldError(ErrInvalidInput, "hash_params.iterations", "must be between 1 and 100")
	case uint64(p.Memory)*uint64(p.Iterations) > maxHashWork:
		return fieldError(ErrInvalidInput, "hash_params.iterations", "memory × iterations must be at most 4 GiB (1 GiB for 4 iterations, 64 MiB for 64)")
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

var errBadHash = errors.New("usermgmt: stored password hash is not in a known format")

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

// pbkdf2Hash is a parsed PBKDF2-SHA256 hash (see ParseImportedHash).
type pbkdf2Hash struct {
	iterations int
	salt, key  []byte
}

// maxPBKDF2Iterations bounds what an imported PBKDF2 hash can make us compute.
const maxPBKDF2Iterations = 10_000_000

func parsePBKDF2(s string) (pbkdf2Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "pbkdf2-sha256" {
		return pbkdf2Hash{}, errBadHash
	}
	rounds := strings.TrimPrefix(parts[2], "i=")
	n, err := strconv.Atoi(rounds)
	if err != nil || n < 1000 || n > maxPBKDF2Iterations {
		return pbkdf2Hash{}, errBadHash
	}
	h := pbkdf2Hash{iterations: n}
	if h.salt, err = decodeAB64(parts[3]); err != nil || len(h.salt) < 8 || len(h.salt) > 64 {
		return pbkdf2Hash{}, errBadHash
	}
	if h.key, err = decodeAB64(parts[4]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return pbkdf2Hash{}, errBadHash
	}
	return h, nil
}

// decodeAB64 decodes unpadded base64 in the standard alphabet, or in
// passlib's "adapted" one ('.' for '+').
func decodeAB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, ".", "+"))
}

// ParseImportedHash checks a password hash brought from another system and
// returns it as it will be stored. Three formats are understood:
//
//   - argon2id, as a PHC string: $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<key>
//     (unpadded standard base64), memory at most 1 GiB and memory ×
//     iterations at most 4 GiB;
//   - bcrypt: $2a$, $2b$ or $2y$ (golang.org/x/crypto/bcrypt), cost 4 to 14;
//   - PBKDF2 with HMAC-SHA256: $pbkdf2-sha256$i=<iterations>$<salt>$<key>
//     or passlib's $pbkdf2-sha256$<iterations>$<salt>$<key>, salt and key
//     in unpadded standard base64 or passlib's adapted base64 ('.' for '+'),
//     1,000 to 10,000,000 iterations, a salt of 8 to 64 bytes and a key of
//     16 to 64 bytes.
//
// A user created with such a hash logs in with their old password and is
// re-hashed to argon2id with the Manager's parameters at the first
// successful login. The bounds keep each verification to seconds: an
// imported hash sets the work of every login attempt of its user, and a
// stored hash beyond them is refused rather than computed. Anything else is a *FieldError for "password_hash"
// matching ErrInvalidInput.
func ParseImportedHash(h string) (string, error) {
	h = strings.TrimSpace(h)
	bad := fieldError(ErrInvalidInput, "password_hash", "is not an argon2id (PHC), bcrypt or PBKDF2-SHA256 hash in a supported format")
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		if _, err := parsePHC(h); err != nil {
			return "", bad
		}
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil || len(h) != 60 || cost < bcrypt.MinCost || cost > maxBcryptCost {
			return "", bad
		}
	case strings.HasPrefix(h, "$pbkdf2-sha256$"):
		if _, err := parsePBKDF2(h); err != nil {
			return "", bad
		}
	default:
		return "", bad
	}
	return h, nil
}

// hasher computes and verifies password hashes, never more than cap(slots)
// at once: each computation holds about Memory KiB, so the bound caps the
// memory a flood of logins can take. Callers beyond it wait, honouring
// their context.
type hasher struct {
	params HashParams
	slots  chan struct{}

	dummyOnce sync.Once
	dummy     phc // verified against for refusals, so they cost what a verification does

	computed, verified, dummies, waits atomic.Uint64
	inFlight, peak                     atomic.Int64
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

// hash returns a PHC string for an already normalised password with the
// current parameters.
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

// verifyHeld reports whether a password as typed matches an encoded hash,
// in constant time, and whether the hash should be replaced by one with
// the current parameters (other argon2id parameters, another algorithm, or
// a hash of the password before normalisation). It tries the password
// normalised as NormalizePassword does; when that fails and normalising
// changed the password, it tries the password as typed, which matches
// hashes made before the library normalised passwords (and imported ones).
// The caller holds a slot.
func (h *hasher) verifyHeld(typed, encoded string) verdict {
	v := h.check(typed, encoded)
	h.verified.Add(v.tries)
	return v
}

// verdict is what verifying a password against one stored hash found.
type verdict struct {
	ok, stale bool
	err       error
	tries     uint64 // verifications spent: two when the normalised form failed and the typed one differs
}

// check verifies as verifyHeld does but counts nothing in the Stats: a
// verification run beside an attempt's reservation counts as a
// verification only once the reservation holds (see Manager.reserve), and
// as a dummy one when it is discarded. The caller holds a slot.
func (h *hasher) check(typed, encoded string) verdict {
	var v verdict
	norm, nerr := NormalizePassword(typed)
	if nerr == nil {
		v.ok, v.stale, v.err = h.verifyOne(norm, encoded)
		v.tries++
		if v.err != nil || v.ok || norm == typed {
			return v
		}
	}
	ok, stale, err := h.verifyOne(typed, encoded)
	v.tries++
	v.ok, v.stale, v.err = ok, stale || ok, err
	return v
}

// verifyOne verifies one form of a password against an encoded hash.
func (h *hasher) verifyOne(password, encoded string) (ok, stale bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, err := parsePHC(encoded)
		if err != nil {
			return false, false, err
		}
		key := h.key([]byte(password), p)
		return subtle.ConstantTimeCompare(key, p.key) == 1, p.params != h.params, nil
	case strings.HasPrefix(encoded, "$2"):
		if cost, err := bcrypt.Cost([]byte(encoded)); err != nil || cost > maxBcryptCost {
			return false, false, errBadHash // never spend what such a cost asks
		}
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, true, nil
		}
		if err != nil {
			return false, false, errBadHash
		}
		return true, true, nil
	case strings.HasPrefix(encoded, "$pbkdf2-sha256$"):
		p, err := parsePBKDF2(encoded)
		if err != nil {
			return false, false, err
		}
		key := pbkdf2.Key([]byte(password), p.salt, p.iterations, len(p.key), sha256.New)
		return subtle.ConstantTimeCompare(key, p.key) == 1, true, nil
	}
	return false, false, errBadHash
}

// discard counts a verdict found beside a reservation, and then not used,
// as dummy verifications, and tops its cost up to two passes against the
// same hash whenever normalising changed the password: check stops after
// one pass when the normalised form matches and takes two when it does
// not, so without this a refused attempt's time (and Stats) would tell a
// right password from a wrong one.
func (h *hasher) discard(typed, encoded string, v verdict) {
	h.dummies.Add(v.tries)
	if v.err != nil || v.tries >= 2 {
		return
	}
	if norm, err := NormalizePassword(typed); err == nil && norm != typed {
		_, _, _ = h.verifyOne(typed, encoded) // the pass a wrong password takes; its result unused
		h.dummies.Add(1)
	}
}

// verifyDummy spends the time of verifying a password against a hash no
// password matches, so that a refusal costs what a wrong password does.
// Like verifyHeld it verifies twice when normalising changed the password.
// The caller holds a slot.
func (h *hasher) verifyDummy(typed string) {
	h.dummyOnce.Do(func() {
		h.dummy = phc{params: h.params, salt: make([]byte, h.params.SaltLength), key: make([]byte, h.params.KeyLength)}
		_, _ = rand.Read(h.dummy.salt)
		_, _ = rand.Read(h.dummy.key)
	})
	forms := []string{typed}
	if norm, err := NormalizePassword(typed); err == nil && norm != typed {
		forms = []string{norm, typed}
	}
	for _, f := range forms {
		key := h.key([]byte(f), h.dummy)
		h.dummies.Add(1)
		_ = subtle.ConstantTimeCompare(key, h.dummy.key)
	}
}

// refuse spends one dummy verification, holding a slot, and returns err.
func (h *hasher) refuse(ctx context.Context, typed string, err error) error {
	if aerr := h.acquire(ctx); aerr != nil {
		return aerr
	}
	h.verifyDummy(typed)
	h.release()
	return err
}
