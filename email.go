package usermgmt

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Email identity: one mailbox, one canonical form, and never two mailboxes
// in one form. NormalizeEmail gives the form every address is stored,
// compared and mailed in:
//
//   - The domain goes through IDNA (UTS #46, the Lookup profile of
//     golang.org/x/net/idna) to its ASCII form: "Bücher.example" and
//     "xn--bcher-kva.example" are one domain, "xn--bcher-kva.example".
//   - The local part is Unicode-normalised to NFC (RFC 6532 §3.1), so a
//     composed and a decomposed "é" are one mailbox, and lower-cased one
//     character at a time with unicode.ToLower.
//   - An address whose local part holds a non-ASCII character that NFC or
//     a change of case would turn into an ASCII one (U+0130 "İ" → "i", the
//     Kelvin sign U+212A → "k", the long s U+017F → "S", the Greek
//     question mark U+037E → ";") is
//     refused with ErrInvalidEmail: such a fold names another mailbox,
//     and Go's strings.ToLower makes exactly that mistake.
//
// Mail goes only to the stored canonical address (User.Email), never to an
// address as a person typed it.

// maxEmailLength is RFC 5321's limit on a forward path: 254 octets of address.
const maxEmailLength = 254

// NormalizeEmail returns the canonical form of an address (see Email
// identity above) after checking that it is a single plain address: no
// display name, no angle brackets, no quoted local part, a domain with at
// least two labels. Every failure is a *FieldError for field "email"
// matching ErrInvalidEmail. NormalizeEmail is idempotent, and its result
// always passes it again unchanged.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	switch {
	case e == "":
		return "", fieldError(ErrInvalidEmail, "email", "is empty")
	case len(e) > 4*maxEmailLength:
		return "", fieldError(ErrInvalidEmail, "email", "is longer than 254 characters")
	case !utf8.ValidString(e):
		return "", fieldError(ErrInvalidEmail, "email", "is not valid UTF-8")
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 {
		return "", fieldError(ErrInvalidEmail, "email", "is not a plain address like name@example.com")
	}
	local, err := canonicalLocal(e[:at])
	if err != nil {
		return "", err
	}
	domain, err := canonicalDomain(e[at+1:])
	if err != nil {
		return "", err
	}
	out := local + "@" + domain
	if len(out) > maxEmailLength {
		return "", fieldError(ErrInvalidEmail, "email", "is longer than 254 characters")
	}
	addr, perr := mail.ParseAddress(out)
	if perr != nil || addr.Address != out || addr.Name != "" {
		return "", fieldError(ErrInvalidEmail, "email", "is not a plain address like name@example.com")
	}
	return out, nil
}

// canonicalLocal normalises a local part: NFC, then lower case one
// character at a time, refusing characters that would fold into ASCII.
func canonicalLocal(local string) (string, error) {
	if len(local) > 64*4 {
		return "", fieldError(ErrInvalidEmail, "email", "has a local part longer than 64 characters")
	}
	for _, r := range local {
		if r < utf8.RuneSelf {
			continue
		}
		if unicode.IsControl(r) || !unicode.IsPrint(r) {
			return "", fieldError(ErrInvalidEmail, "email", "holds a control or invisible character")
		}
		if foldsToASCII(r) {
			return "", fieldError(ErrInvalidEmail, "email", "holds a character that stands for an ASCII letter or sign ("+
				string(r)+"); type the plain letter")
		}
	}
	local = norm.NFC.String(local)
	var b strings.Builder
	b.Grow(len(local))
	for _, r := range local {
		switch {
		case 'A' <= r && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		default:
			if l := unicode.ToLower(r); l >= utf8.RuneSelf {
				r = l
			}
			b.WriteRune(r)
		}
	}
	out := norm.NFC.String(b.String())
	if utf8.RuneCountInString(out) > 64 {
		return "", fieldError(ErrInvalidEmail, "email", "has a local part longer than 64 characters")
	}
	return out, nil
}

// foldsToASCII reports whether a non-ASCII rune becomes ASCII under a
// change of case or NFC: a different mailbox in disguise.
func foldsToASCII(r rune) bool {
	if unicode.ToLower(r) < utf8.RuneSelf || unicode.ToUpper(r) < utf8.RuneSelf {
		return true
	}
	for _, c := range norm.NFC.String(string(r)) {
		if c < utf8.RuneSelf {
			return true
		}
	}
	return false
}

// canonicalDomain returns a domain's ASCII (A-label) form under UTS #46.
func canonicalDomain(domain string) (string, error) {
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fieldError(ErrInvalidEmail, "email", "has a domain that is not a valid host name")
	}
	if len(ascii) > 253 {
		return "", fieldError(ErrInvalidEmail, "email", "has a domain longer than 253 characters")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fieldError(ErrInvalidEmail, "email", "has no domain with a dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fieldError(ErrInvalidEmail, "email", "has a domain with an empty or overlong label")
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fieldError(ErrInvalidEmail, "email", "has a numeric top-level domain")
	}
	// UTS #46 is idempotent on its own output; refuse the rare input for
	// which it is not, so that the stored form always validates again.
	if again, err := idna.Lookup.ToASCII(ascii); err != nil || again != ascii {
		return "", fieldError(ErrInvalidEmail, "email", "has a domain that is not a valid host name")
	}
	return ascii, nil
}

// emailDomain returns the part after the last '@' of a canonical address.
func emailDomain(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}
