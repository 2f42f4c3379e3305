package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Message is one rendered email, ready for a Transport: the Mailer builds
// it from a usermgmt.Notification. Every header value in it is free of
// control characters, and To is exactly the notification's recipient.
// A Transport must not modify it.
type Message struct {
	From    netmail.Address  // sender; Name may be empty
	ReplyTo *netmail.Address // nil: replies go to From
	To      netmail.Address  // the one recipient; Name is always empty
	Subject string           // one line, no control characters
	Text    string           // text/plain body (UTF-8, LF line ends)
	HTML    string           // text/html body, the alternative to Text
	// MessageID is the Message-ID without its angle brackets: ID@domain,
	// where ID is the notification's ID and domain is From's, so every
	// delivery attempt of one notification carries the same Message-ID.
	MessageID string
	// Headers holds further header fields (such as Auto-Submitted), one
	// value each. Names are RFC 5322 field names; values have no control
	// characters.
	Headers map[string]string
}

// Validate reports whether m is safe to put on the wire: both addresses
// parse with net/mail and carry no display name where none belongs, and no
// header value or name contains a character that could end a header line.
// Transports call it before sending; the Mailer only builds messages that
// pass it.
func (m *Message) Validate() error {
	if err := checkAddress("From", m.From.Address); err != nil {
		return err
	}
	if hasControl(m.From.Name) {
		return errors.New("mail: From name contains a control character")
	}
	if m.ReplyTo != nil {
		if err := checkAddress("Reply-To", m.ReplyTo.Address); err != nil {
			return err
		}
		if hasControl(m.ReplyTo.Name) {
			return errors.New("mail: Reply-To name contains a control character")
		}
	}
	if err := checkAddress("To", m.To.Address); err != nil {
		return err
	}
	if m.To.Name != "" {
		return errors.New("mail: To carries a display name")
	}
	if hasControl(m.Subject) {
		return errors.New("mail: Subject contains a control character")
	}
	if !validMessageID(m.MessageID) {
		return errors.New("mail: Message-ID is not of the form id@domain")
	}
	for name, value := range m.Headers {
		if !validFieldName(name) {
			return fmt.Errorf("mail: header name %q is not a field name", name)
		}
		if hasControl(value) {
			return fmt.Errorf("mail: header %s contains a control character", name)
		}
	}
	return nil
}

// checkAddress accepts a bare address (no display name, no angle
// brackets) that net/mail parses back to itself.
func checkAddress(field, addr string) error {
	if addr == "" {
		return fmt.Errorf("mail: %s address is empty", field)
	}
	if hasControl(addr) {
		return fmt.Errorf("mail: %s address contains a control character", field)
	}
	a, err := netmail.ParseAddress(addr)
	if err != nil {
		return fmt.Errorf("mail: %s address is not an email address", field)
	}
	if a.Name != "" || a.Address != addr {
		return fmt.Errorf("mail: %s address is not a bare email address", field)
	}
	return nil
}

// Transport hands a rendered Message to a mail system. Implementations
// must be safe for concurrent use. An error wrapped by usermgmt.Permanent
// means retrying cannot help (the server refused the recipient, say); any
// other error is retried. Errors must not contain the message's body,
// which holds a live link.
type Transport interface {
	Send(ctx context.Context, msg *Message) error
}

// TransportFunc adapts a function to Transport, for tests and for thin
// adapters to a provider's API.
type TransportFunc func(ctx context.Context, msg *Message) error

// Send calls f(ctx, msg).
func (f TransportFunc) Send(ctx context.Context, msg *Message) error { return f(ctx, msg) }

// isUnsafe reports the characters that never reach a header or a one-line
// field: control characters (C0, DEL, C1), the Unicode line and paragraph
// separators, and the bidirectional overrides and isolates that make text
// display in another order than it is stored.
func isUnsafe(r rune) bool {
	switch {
	case unicode.IsControl(r), r == utf8.RuneError:
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f':
		return true
	}
	return false
}

func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.IndexFunc(s, isUnsafe) >= 0
}

// oneLine makes s safe for a header or a one-line field: every run of
// unsafe characters and white space becomes one space, invalid UTF-8 is
// dropped, and the result is trimmed and, when max > 0, cut to at most
// max runes followed by an ellipsis.
func oneLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	n := 0
	for _, r := range s {
		if isUnsafe(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if max > 0 && n >= max {
			return strings.TrimSpace(b.String()) + "…"
		}
		if space {
			if max > 0 && n+1 >= max {
				return strings.TrimSpace(b.String()) + "…"
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// validMessageID accepts id@domain where both sides are dot-atoms of
// ASCII atext characters (RFC 5322 section 3.6.4).
func validMessageID(s string) bool {
	left, right, ok := strings.Cut(s, "@")
	return ok && dotAtom(left) && dotAtom(right)
}

func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtext(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// validFieldName accepts printable ASCII other than colon and space.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}
