package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/mail"
)

// The recipient is exactly n.To, a bare address; anything else is refused
// for good before it reaches a transport.
func TestRecipientMustBeBareAddress(t *testing.T) {
	var sent int
	m := newMailer(t, mail.TransportFunc(func(context.Context, *mail.Message) error { sent++; return nil }))
	for _, to := range []string{
		"ada@example.com\r\nBcc: x@evil.example",
		"Ada <ada@example.com>",
		"ada@example.com, eve@evil.example",
		"<ada@example.com>",
		" ada@example.com",
		"not an address",
		"",
	} {
		n := notification(usermgmt.NotifyPasswordReset)
		n.To = to
		err := m.Send(context.Background(), n)
		require.Error(t, err, "%q", to)
		assert.True(t, usermgmt.IsPermanent(err), "%q: %v", to, err)
		assert.ErrorIs(t, err, mail.ErrInvalidNotification)
		assert.NotContains(t, err.Error(), n.Token)
	}
	assert.Zero(t, sent)
}

func TestInvalidNotifications(t *testing.T) {
	m := newMailer(t, discard)
	for name, edit := range map[string]func(*usermgmt.Notification){
		"unknown kind":           func(n *usermgmt.Notification) { n.Kind = "birthday" },
		"no token":               func(n *usermgmt.Notification) { n.Token = "" },
		"no expiry":              func(n *usermgmt.Notification) { n.ExpiresAt = time.Time{} },
		"no ID":                  func(n *usermgmt.Notification) { n.ID = "" },
		"ID breaking Message-ID": func(n *usermgmt.Notification) { n.ID = "a>b\r\nBcc: x@evil.example" },
	} {
		t.Run(name, func(t *testing.T) {
			n := notification(usermgmt.NotifyInvitation)
			edit(&n)
			_, err := m.Render(n)
			require.Error(t, err)
			assert.True(t, usermgmt.IsPermanent(err))
			assert.ErrorIs(t, err, mail.ErrInvalidNotification)
		})
	}
}

func TestLinks(t *testing.T) {
	t.Run("BaseURL escapes the token and takes path overrides", func(t *testing.T) {
		m := newMailer(t, discard, func(c *mail.Config) {
			c.BaseURL = "https://app.acme.example/portal/"
			c.Paths = map[usermgmt.NotificationKind]string{usermgmt.NotifyInvitation: "/join?t="}
		})
		n := notification(usermgmt.NotifyInvitation)
		n.Token = "a+b/c=d&e"
		msg, err := m.Render(n)
		require.NoError(t, err)
		assert.Contains(t, msg.Text, "https://app.acme.example/portal/join?t=a%2Bb%2Fc%3Dd%26e\n")
		msg, err = m.Render(notification(usermgmt.NotifyWelcome))
		require.NoError(t, err)
		assert.Contains(t, msg.Text, "https://app.acme.example/portal/login\n")
	})
	t.Run("Link function", func(t *testing.T) {
		var calls []string
		m := newMailer(t, discard, func(c *mail.Config) {
			c.BaseURL = ""
			c.Link = func(kind usermgmt.NotificationKind, token string) (string, error) {
				calls = append(calls, string(kind)+":"+token)
				if token == "" {
					return "", nil
				}
				return "https://links.example/" + string(kind) + "/" + token, nil
			}
		})
		n := notification(usermgmt.NotifyPasswordReset)
		msg, err := m.Render(n)
		require.NoError(t, err)
		assert.Contains(t, msg.Text, "https://links.example/password_reset/"+n.Token)
		msg, err = m.Render(notification(usermgmt.NotifyWelcome))
		require.NoError(t, err)
		assert.NotContains(t, msg.Text, "https://")
		assert.Equal(t, []string{"password_reset:" + n.Token, "welcome:"}, calls)
	})
	t.Run("Link errors are transient and keep the token out", func(t *testing.T) {
		boom := errors.New("link service down")
		m := newMailer(t, discard, func(c *mail.Config) {
			c.BaseURL = ""
			c.Link = func(usermgmt.NotificationKind, string) (string, error) { return "", boom }
		})
		n := notification(usermgmt.NotifyInvitation)
		err := m.Send(context.Background(), n)
		require.ErrorIs(t, err, boom)
		assert.False(t, usermgmt.IsPermanent(err))
		assert.NotContains(t, err.Error(), n.Token)
	})
	t.Run("Link must return an http URL", func(t *testing.T) {
		m := newMailer(t, discard, func(c *mail.Config) {
			c.BaseURL = ""
			c.Link = func(_ usermgmt.NotificationKind, token string) (string, error) {
				return "javascript:alert('" + token + "')", nil
			}
		})
		n := notification(usermgmt.NotifyInvitation)
		_, err := m.Render(n)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), n.Token)
	})
}

// configErrors is what each refused configuration's error says.
var configErrors = map[string]string{
	"no app name":                      "AppName is empty",
	"app name with CRLF":               "control character",
	"from name with LF":                "control character",
	"no transport":                     "Transport is nil",
	"from not an address":              "Config.From address",
	"from with name":                   "not a bare email address",
	"from with CRLF":                   "control character",
	"from non-ASCII":                   "xn--",
	"reply-to invalid":                 "Config.ReplyTo",
	"no links":                         "to build the links",
	"both links":                       "not both",
	"base URL not http":                "Config.BaseURL",
	"base URL with query":              "Config.BaseURL",
	"path without slash":               "does not start with /",
	"path of unknown kind":             "unknown kind",
	"bad default locale":               "not a language tag",
	"default locale without templates": "for the default locale \"de\"",
}

func TestNewRejectsConfig(t *testing.T) {
	for name, edit := range map[string]func(*mail.Config){
		"no app name":         func(c *mail.Config) { c.AppName = " " },
		"app name with CRLF":  func(c *mail.Config) { c.AppName = "Acme\r\nBcc: x@evil.example" },
		"from name with LF":   func(c *mail.Config) { c.FromName = "Acme\nBcc: x@evil.example" },
		"no transport":        func(c *mail.Config) { c.Transport = nil },
		"from not an address": func(c *mail.Config) { c.From = "acme" },
		"from with name":      func(c *mail.Config) { c.From = "Acme <no-reply@acme.example>" },
		"from with CRLF":      func(c *mail.Config) { c.From = "no-reply@acme.example\r\nBcc: x@evil.example" },
		"from non-ASCII":      func(c *mail.Config) { c.From = "no-reply@bücher.example" },
		"reply-to invalid":    func(c *mail.Config) { c.ReplyTo = "support" },
		"no links":            func(c *mail.Config) { c.BaseURL = "" },
		"both links": func(c *mail.Config) {
			c.Link = func(usermgmt.NotificationKind, string) (string, error) { return "", nil }
		},
		"base URL not http":    func(c *mail.Config) { c.BaseURL = "ftp://acme.example" },
		"base URL with query":  func(c *mail.Config) { c.BaseURL = "https://acme.example/?a=b" },
		"path without slash":   func(c *mail.Config) { c.Paths = map[usermgmt.NotificationKind]string{usermgmt.NotifyWelcome: "login"} },
		"path of unknown kind": func(c *mail.Config) { c.Paths = map[usermgmt.NotificationKind]string{"birthday": "/x"} },
		"bad default locale":   func(c *mail.Config) { c.DefaultLocale = "english!" },
		"default locale without templates": func(c *mail.Config) {
			c.DefaultLocale = "de"
			c.Templates = fstest.MapFS{
				"de/welcome.subject.tmpl": {Data: []byte("Willkommen")},
				"de/welcome.text.tmpl":    {Data: []byte("Hallo")},
				"de/welcome.html.tmpl":    {Data: []byte("<p>Hallo</p>")},
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(discard)
			edit(&cfg)
			_, err := mail.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), configErrors[name])
		})
	}
}

// germanInvitation is a complete German invitation.
var germanInvitation = fstest.MapFS{
	"de/invitation.subject.tmpl": {Data: []byte("Einladung zu {{.AppName}}")},
	"de/invitation.text.tmpl":    {Data: []byte("Hallo {{.FirstName}}, {{.Link}} gilt bis {{.ExpiresAt.Format \"02.01.2006 15:04\"}} UTC.")},
	"de/invitation.html.tmpl":    {Data: []byte(`<p>Hallo {{.FirstName}}, <a href="{{.Link}}">Einladung annehmen</a></p>`)},
}

func TestTemplateOverridesAndLocaleFallback(t *testing.T) {
	override := fstest.MapFS{
		"en/welcome.html.tmpl": {Data: []byte(`<p>Custom welcome for {{.FirstName}} to {{.AppName}}</p>`)},
	}
	for name, f := range germanInvitation {
		override[name] = f
	}
	m := newMailer(t, discard, func(c *mail.Config) { c.Templates = override })

	render := func(kind usermgmt.NotificationKind, locale string) *mail.Message {
		t.Helper()
		n := notification(kind)
		n.Locale = locale
		msg, err := m.Render(n)
		require.NoError(t, err)
		return msg
	}
	for _, locale := range []string{"de", "de-CH", "DE_ch", "de-CH-1996"} {
		msg := render(usermgmt.NotifyInvitation, locale)
		assert.Equal(t, "Einladung zu Acme Portal", msg.Subject, locale)
		assert.Contains(t, msg.Text, "gilt bis 07.12.2026 09:00 UTC", locale)
		assert.Contains(t, msg.HTML, "Einladung annehmen", locale)
	}
	for _, locale := range []string{"", "en", "fr", "en-GB", "not a tag!"} {
		msg := render(usermgmt.NotifyInvitation, locale)
		assert.Equal(t, "Charles Babbage invited you to Analytical Engines on Acme Portal", msg.Subject, locale)
	}
	// German has no welcome: English, with the overridden HTML part and
	// the embedded subject and text.
	for _, locale := range []string{"de-CH", "en"} {
		msg := render(usermgmt.NotifyWelcome, locale)
		assert.Equal(t, "Welcome to Acme Portal", msg.Subject)
		assert.Equal(t, "<p>Custom welcome for Ada to Acme Portal</p>", msg.HTML)
		assert.Contains(t, msg.Text, "Sign in with ada@example.com")
	}

	// German as the default, complete: a French notification falls back
	// to it, and English is no longer used.
	german := fstest.MapFS{}
	for _, kind := range allKinds {
		german["de/"+string(kind)+".subject.tmpl"] = &fstest.MapFile{Data: []byte("Betreff " + string(kind))}
		german["de/"+string(kind)+".text.tmpl"] = &fstest.MapFile{Data: []byte("Hallo {{.FirstName}}, {{.Link}}")}
		german["de/"+string(kind)+".html.tmpl"] = &fstest.MapFile{Data: []byte(`<a href="{{.Link}}">Hallo</a>`)}
	}
	m = newMailer(t, discard, func(c *mail.Config) {
		c.Templates = german
		c.DefaultLocale = "de"
	})
	assert.Equal(t, "Betreff invitation", mustRender(t, m, usermgmt.NotifyInvitation, "fr").Subject)
	assert.Equal(t, "Betreff welcome", mustRender(t, m, usermgmt.NotifyWelcome, "").Subject)
	assert.Equal(t, "Welcome to Acme Portal", mustRender(t, m, usermgmt.NotifyWelcome, "en-US").Subject)
}

func mustRender(t *testing.T, m *mail.Mailer, kind usermgmt.NotificationKind, locale string) *mail.Message {
	t.Helper()
	n := notification(kind)
	n.Locale = locale
	msg, err := m.Render(n)
	require.NoError(t, err)
	return msg
}

// A broken override fails New, with the file named, whatever is broken.
func TestNewRejectsBrokenTemplates(t *testing.T) {
	for name, tc := range map[string]struct {
		file, body, want string
	}{
		"syntax":                     {"en/invitation.text.tmpl", "Hello {{.FirstName", "en/invitation.text.tmpl"},
		"unknown field":              {"en/welcome.html.tmpl", "<p>{{.Nickname}}</p>", "Nickname"},
		"unknown field in else":      {"en/welcome.subject.tmpl", "{{if .FirstName}}Hi{{else}}{{.Nickname}}{{end}}", "Nickname"},
		"unknown field in if":        {"en/welcome.subject.tmpl", "{{if .AccountName}}{{.Account}}{{end}}Welcome", "Account"},
		"html syntax":                {"en/lockout.html.tmpl", "<a href=\"{{.Link}\">", "en/lockout.html.tmpl"},
		"link dropped":               {"en/password_reset.text.tmpl", "Reset your password.", "never shows the link"},
		"empty subject":              {"en/welcome.subject.tmpl", "{{if false}}x{{end}}", "empty subject"},
		"misspelt kind":              {"en/invitaton.text.tmpl", "x", "invitaton"},
		"unknown part":               {"en/invitation.body.tmpl", "x", "invitation.body.tmpl"},
		"no locale directory":        {"invitation.text.tmpl", "x", "invitation.text.tmpl"},
		"incomplete German kind":     {"de/invitation.subject.tmpl", "Einladung", "de/invitation"},
		"calls a missing function":   {"en/welcome.text.tmpl", "{{upper .FirstName}}", "upper"},
		"wrong method on time value": {"en/invitation.text.tmpl", "{{.Link}} {{.ExpiresAt.Fmt}}", "Fmt"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(discard)
			cfg.Templates = fstest.MapFS{tc.file: {Data: []byte(tc.body)}}
			_, err := mail.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// The same kinds with valid bodies are accepted.
	cfg := baseConfig(discard)
	cfg.Templates = fstest.MapFS{"en/welcome.text.tmpl": {Data: []byte("Hi {{.FirstName}}")}}
	_, err := mail.New(cfg)
	require.NoError(t, err)
}

func TestReplyToAndFromName(t *testing.T) {
	m := newMailer(t, discard, func(c *mail.Config) {
		c.FromName = "Acme Accounts"
		c.ReplyTo = "support@acme.example"
	})
	msg, err := m.Render(notification(usermgmt.NotifyWelcome))
	require.NoError(t, err)
	assert.Equal(t, "Acme Accounts", msg.From.Name)
	require.NotNil(t, msg.ReplyTo)
	assert.Equal(t, "support@acme.example", msg.ReplyTo.Address)
}

// A name long enough to break a header line is cut in the subject.
func TestLongNamesAreBounded(t *testing.T) {
	m := newMailer(t, discard)
	n := notification(usermgmt.NotifyInvitation)
	n.ActorName = strings.Repeat("Bartholomew ", 500)
	msg, err := m.Render(n)
	require.NoError(t, err)
	assert.LessOrEqual(t, len([]rune(msg.Subject)), 201)
	assert.NoError(t, msg.Validate())
}

// Canonical addresses may have a non-ASCII local part (NFC, case-folded).
func TestUnicodeRecipient(t *testing.T) {
	m := newMailer(t, discard)
	n := notification(usermgmt.NotifyPasswordReset)
	n.To, n.Email = "jörg@example.com", "jörg@example.com"
	msg, err := m.Render(n)
	require.NoError(t, err)
	assert.Equal(t, "jörg@example.com", msg.To.Address)
}

// Without an Email, a notice to the user names the recipient; an admin's
// notice never names the admin as the locked user.
func TestEmailFallback(t *testing.T) {
	m := newMailer(t, discard)
	n := notification(usermgmt.NotifyPasswordChanged)
	n.Email = ""
	assert.Contains(t, mustRenderN(t, m, n).Text, "(ada@example.com)")
	n = notification(usermgmt.NotifyLockoutAdmin)
	n.Email = ""
	assert.NotContains(t, mustRenderN(t, m, n).Text, "admin@example.com")
}

func mustRenderN(t *testing.T, m *mail.Mailer, n usermgmt.Notification) *mail.Message {
	t.Helper()
	msg, err := m.Render(n)
	require.NoError(t, err)
	return msg
}
