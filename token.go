package usermgmt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// Tokens: invitation, password-reset and email-change links carry a token
// of 32 bytes from crypto/rand, URL-safe base64 (43 characters). Only its
// SHA-256 is stored (Token.Hash); the raw token is handed out once — in the
// result of the call that issued it and in the email the outbox sends — and
// a token is single-use, valid strictly before its expiry, and voided by a
// newer token of the same purpose and by the changes settle lists.

// newToken returns a raw token and the hash stored in its place.
func newToken() (raw, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("usermgmt: reading token: %w", err)
	}
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, hashToken(raw), nil
}

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// issueToken gives u a fresh token for the purpose, valid for ttl from now,
// voiding the one it had; it returns the notice carrying the raw token.
func issueToken(u *UserRecord, p TokenPurpose, kind NotificationKind, now time.Time, ttl time.Duration) (notice, error) {
	raw, hash, err := newToken()
	if err != nil {
		return notice{}, err
	}
	exp := now.Add(ttl)
	u.setToken(Token{Purpose: p, Hash: hash, IssuedAt: now, ExpiresAt: exp})
	return notice{kind: kind, token: raw, expiresAt: exp}, nil
}

// userByToken finds the user a raw token was issued to for the purpose,
// and checks the token is still good at now: ErrTokenInvalid for an
// unknown, used, replaced or voided token (or one of another purpose),
// ErrTokenExpired from its expiry on.
func (m *Manager) userByToken(ctx context.Context, raw string, p TokenPurpose, now time.Time) (UserRecord, Token, error) {
	if len(raw) != 43 {
		return UserRecord{}, Token{}, ErrTokenInvalid
	}
	hash := hashToken(raw)
	u, err := m.store.UserByToken(ctx, hash)
	if isNotFound(err) {
		return UserRecord{}, Token{}, ErrTokenInvalid
	}
	if err != nil {
		return UserRecord{}, Token{}, err
	}
	t, err := checkToken(u, p, hash, now)
	return u, t, err
}

// checkToken checks that u holds the token for the purpose and that it has
// not expired at now.
func checkToken(u UserRecord, p TokenPurpose, hash string, now time.Time) (Token, error) {
	t, ok := u.token(p)
	if !ok || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		return Token{}, ErrTokenInvalid
	}
	if !now.Before(t.ExpiresAt) {
		return Token{}, ErrTokenExpired
	}
	return t, nil
}

// spendToken changes the user a raw token of the purpose was issued to, as
// that user: the token is checked again inside the versioned write, so it
// works once even under concurrent use, and is voided by the write. apply
// makes the change at now; it returns ErrTokenInvalid to refuse a user
// whose state voids the token. The user's view is returned.
func (m *Manager) spendToken(ctx context.Context, u UserRecord, tok Token, action Action, apply func(u *UserRecord, c *change, now time.Time) error) (User, error) {
	self := actor{access: access{user: u}}
	rec, err := m.update(ctx, self, u.ID, action, func(u *UserRecord, c *change) error {
		now := m.now()
		if _, err := checkToken(*u, tok.Purpose, tok.Hash, now); err != nil {
			return err
		}
		u.dropToken(tok.Purpose)
		return apply(u, c, now)
	})
	if isNotFound(err) {
		err = ErrTokenInvalid
	}
	if err != nil {
		return User{}, err
	}
	return rec.View(), nil
}
