package mail

import (
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Ada", "Ada"},
		{"  Ada   Lovelace ", "Ada Lovelace"},
		{"Eve\r\nBcc: x@evil.example", "Eve Bcc: x@evil.example"},
		{"a\x00b\x7fc\u0085d", "a b c d"},
		{"left\u2028right\u2029end", "left right end"},
		{"\u202egnp.exe", "gnp.exe"},
		{"bad\xffutf8", "badutf8"},
		{"\t\n", ""},
	} {
		if got := oneLine(tc.in, 0); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := oneLine("abcdef", 3); got != "abc…" {
		t.Errorf("cut to 3: %q", got)
	}
	if got := oneLine("ab cdef", 3); got != "ab…" {
		t.Errorf("cut at a space: %q", got)
	}
	if got := oneLine("abc", 3); got != "abc" {
		t.Errorf("exactly 3: %q", got)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		168 * time.Hour:             "7 days",
		24 * time.Hour:              "1 day",
		time.Hour:                   "1 hour",
		36 * time.Hour:              "36 hours",
		90 * time.Minute:            "90 minutes",
		time.Minute:                 "1 minute",
		168*time.Hour + time.Second: "7 days",
		20 * time.Second:            "",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := formatTime(time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("CET", 3600))); got != "Monday, 7 December 2026 at 09:00 UTC" {
		t.Errorf("formatTime = %q", got)
	}
}

func TestChain(t *testing.T) {
	for in, want := range map[string]string{
		"de-CH-1996": "de-ch-1996 de-ch de",
		"de_CH":      "de-ch de",
		"EN":         "en",
		"":           "",
		"x":          "",
		"de/../en":   "",
		"de-":        "",
	} {
		if got := strings.Join(chain(in), " "); got != want {
			t.Errorf("chain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	valid := func() *Message {
		return &Message{
			From:      netmail.Address{Name: "Acme", Address: "no-reply@acme.example"},
			To:        netmail.Address{Address: "ada@example.com"},
			Subject:   "Hello",
			MessageID: "0193a4b2-7c3d@acme.example",
			Headers:   map[string]string{"Auto-Submitted": "auto-generated"},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Message){
		"To with name":        func(m *Message) { m.To.Name = "Ada" },
		"To with CRLF":        func(m *Message) { m.To.Address = "ada@example.com\r\nBcc: x@evil.example" },
		"To list":             func(m *Message) { m.To.Address = "ada@example.com, eve@evil.example" },
		"From name with LF":   func(m *Message) { m.From.Name = "Acme\nBcc: x@evil.example" },
		"Reply-To invalid":    func(m *Message) { m.ReplyTo = &netmail.Address{Address: "nope"} },
		"Subject with CR":     func(m *Message) { m.Subject = "Hi\rBcc: x@evil.example" },
		"Message-ID brackets": func(m *Message) { m.MessageID = "<a@b>" },
		"Message-ID no @":     func(m *Message) { m.MessageID = "abc" },
		"header name colon":   func(m *Message) { m.Headers["Bcc: x@evil.example\r\nX"] = "y" },
		"header value CRLF":   func(m *Message) { m.Headers["X-Kind"] = "a\r\nBcc: x@evil.example" },
	} {
		m := valid()
		edit(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
