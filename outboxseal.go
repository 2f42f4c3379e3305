package usermgmt

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// A sealed payload is
//
//	sealFormat | len(key ID) | key ID | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The plaintext holds what the Message row does not: the locale, the
// names, the user's address where it differs from the recipient's, the
// new address, the raw token and the two instants, in a compact binary
// form (each string a uvarint length and its bytes, each instant its Unix
// seconds as a varint and nanoseconds as a uvarint). What the row holds in
// clear for the worker and the dead-letter list — the message ID, kind,
// recipient, user and account — is not repeated but bound as the
// additional data, so that neither the payload can be moved to another
// message nor the row's recipient changed without the payload failing to
// open. A payload is about a quarter of the JSON of its Notification,
// which matters when a bulk invitation stores 100,000 of them.

// sealFormat is the first byte of every payload of this layout.
const sealFormat = 1

// seal encrypts n for the Message that will carry it (see above).
func (o *outbox) seal(n Notification) ([]byte, error) {
	aead := o.aeads[o.current]
	plain := appendSealedFields(make([]byte, 0, 96+len(n.Token)+len(n.AccountName)), n)
	out := make([]byte, 0, 2+len(o.current)+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, sealFormat, byte(len(o.current)))
	out = append(out, o.current...)
	nonceAt := len(out)
	out = out[:nonceAt+aead.NonceSize()]
	if _, err := rand.Read(out[nonceAt:]); err != nil {
		return nil, fmt.Errorf("usermgmt: reading nonce: %w", err)
	}
	return aead.Seal(out, out[nonceAt:], plain, sealedAD(n.ID, n.Kind, n.To, n.UserID, n.AccountID)), nil
}

var errUnsealable = errors.New("usermgmt: outbox message cannot be opened (unknown key, tampered, or not of this layout)")

// open decrypts msg's payload into the Notification it was sealed from.
// It fails with errUnsealable when the key is unknown, the payload or any
// of the row's bound fields was altered, or the payload is malformed.
func (o *outbox) open(msg Message) (Notification, error) {
	p := msg.Payload
	if len(p) < 2 || p[0] != sealFormat || len(p) < 2+int(p[1]) {
		return Notification{}, errUnsealable
	}
	aead, ok := o.aeads[string(p[2:2+int(p[1])])]
	rest := p[2+int(p[1]):]
	if !ok || len(rest) < aead.NonceSize() {
		return Notification{}, errUnsealable
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():],
		sealedAD(msg.ID, msg.Kind, msg.To, msg.UserID, msg.AccountID))
	if err != nil {
		return Notification{}, errUnsealable
	}
	n := Notification{ID: msg.ID, Kind: msg.Kind, To: msg.To, UserID: msg.UserID, AccountID: msg.AccountID}
	if !readSealedFields(plain, &n) {
		return Notification{}, errUnsealable
	}
	return n, nil
}

// sealedAD is the additional data a payload is bound to: the Message
// row's clear fields, each length-prefixed so that no two rows share it.
func sealedAD(id string, kind NotificationKind, to, userID, accountID string) []byte {
	ad := make([]byte, 0, 5+len(id)+len(kind)+len(to)+len(userID)+len(accountID))
	for _, s := range [...]string{id, string(kind), to, userID, accountID} {
		ad = appendString(ad, s)
	}
	return ad
}

// appendSealedFields appends the plaintext of n (see above). Email is
// left empty when it is the recipient's address, the usual case.
func appendSealedFields(b []byte, n Notification) []byte {
	email := n.Email
	if email == n.To {
		email = ""
	}
	for _, s := range [...]string{n.Locale, n.AccountName, n.FirstName, n.LastName, email, n.ActorName, n.NewEmail, n.Token} {
		b = appendString(b, s)
	}
	return appendTime(appendTime(b, n.ExpiresAt), n.At)
}

// readSealedFields reads what appendSealedFields wrote into n, which
// already holds the row's fields, and reports whether b was exactly that.
func readSealedFields(b []byte, n *Notification) bool {
	var email string
	for _, dst := range [...]*string{&n.Locale, &n.AccountName, &n.FirstName, &n.LastName, &email, &n.ActorName, &n.NewEmail, &n.Token} {
		var ok bool
		if *dst, b, ok = readString(b); !ok {
			return false
		}
	}
	n.Email = n.To
	if email != "" {
		n.Email = email
	}
	var ok bool
	if n.ExpiresAt, b, ok = readTime(b); !ok {
		return false
	}
	if n.At, b, ok = readTime(b); !ok {
		return false
	}
	return len(b) == 0
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func readString(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) || !utf8.Valid(b[k:k+int(n)]) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// appendTime appends t's Unix seconds and nanoseconds; the zero Time is
// written as any other instant and reads back as the zero Time.
func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

func readTime(b []byte) (time.Time, []byte, bool) {
	sec, k := binary.Varint(b)
	if k <= 0 {
		return time.Time{}, nil, false
	}
	nsec, j := binary.Uvarint(b[k:])
	if j <= 0 || nsec >= uint64(time.Second) {
		return time.Time{}, nil, false
	}
	return time.Unix(sec, int64(nsec)).UTC(), b[k+j:], true
}
