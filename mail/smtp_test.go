package mail_test

import (
	"context"
	"errors"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/smtptest"
	"github.com/usermgmt/usermgmt/mail"
)

// Every kind goes through the SMTP transport to a real server process and
// comes back as a multipart/alternative message with what its reader
// needs.
func TestSMTPDeliversEveryKind(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv))
	ctx := context.Background()

	for i, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			n := notification(kind)
			want, err := m.Render(n)
			require.NoError(t, err)
			require.NoError(t, m.Send(ctx, n))
			got := srv.WaitFor(t, i+1, 10*time.Second)[i]

			assert.Equal(t, "multipart/alternative", got.MediaType)
			assert.Equal(t, []string{"text/plain", "text/html"}, got.Parts)
			assert.Equal(t, want.Subject, got.Subject)
			assert.NotEmpty(t, got.Subject)
			assert.Equal(t, "<"+n.ID+"@acme.example>", got.Header.Get("Message-Id"))
			assert.Equal(t, "auto-generated", got.Header.Get("Auto-Submitted"))

			from, err := netmail.ParseAddress(got.Header.Get("From"))
			require.NoError(t, err)
			assert.Equal(t, "no-reply@acme.example", from.Address)
			assert.Equal(t, "Acme Portal", from.Name)
			assert.Equal(t, "no-reply@acme.example", got.EnvelopeFrom)

			to, err := netmail.ParseAddressList(got.Header.Get("To"))
			require.NoError(t, err)
			require.Len(t, to, 1)
			assert.Equal(t, n.To, to[0].Address)
			assert.Equal(t, []string{n.To}, got.EnvelopeTo)
			assert.Empty(t, got.Header.Get("Cc"))
			assert.Empty(t, got.Header.Get("Bcc"))

			if kind != usermgmt.NotifyLockoutAdmin {
				assert.Contains(t, got.Text, "Hello Ada,")
				assert.Contains(t, got.HTML, "Hello Ada,")
			}
			assert.Contains(t, got.Text, "Acme Portal")
			if n.Token != "" {
				link := map[usermgmt.NotificationKind]string{
					usermgmt.NotifyInvitation:    "https://app.acme.example/invitation?token=",
					usermgmt.NotifyPasswordReset: "https://app.acme.example/reset-password?token=",
					usermgmt.NotifyEmailChange:   "https://app.acme.example/confirm-email?token=",
				}[kind] + n.Token
				assert.Contains(t, got.Text, link)
				assert.Contains(t, got.HTML, `href="`+link+`"`)
				expires := n.ExpiresAt.Format("Monday, 2 January 2006 at 15:04 UTC")
				assert.Contains(t, got.Text, "expires on "+expires)
				assert.Contains(t, got.HTML, "expires on "+expires)
			}
		})
	}
}

// The copy of each kind states what the brief asks of it.
func TestCopy(t *testing.T) {
	m := newMailer(t, discard)
	render := func(n usermgmt.Notification) *mail.Message {
		t.Helper()
		msg, err := m.Render(n)
		require.NoError(t, err)
		return msg
	}

	inv := render(notification(usermgmt.NotifyInvitation))
	assert.Equal(t, "Charles Babbage invited you to Analytical Engines on Acme Portal", inv.Subject)
	assert.Contains(t, inv.Text, "Charles Babbage has invited you to join Analytical Engines on Acme Portal.")
	assert.Contains(t, inv.Text, "valid for 7 days and expires on Monday, 7 December 2026 at 09:00 UTC")
	assert.Contains(t, inv.HTML, "valid for 7 days and expires on Monday, 7 December 2026 at 09:00 UTC")

	anon := notification(usermgmt.NotifyInvitation)
	anon.ActorName, anon.AccountName, anon.FirstName, anon.LastName = "", "", "", ""
	inv = render(anon)
	assert.Equal(t, "Your invitation to Acme Portal", inv.Subject)
	assert.Contains(t, inv.Text, "Hello,\n")
	assert.Contains(t, inv.Text, "You have been invited to join Acme Portal.")

	reset := render(notification(usermgmt.NotifyPasswordReset))
	assert.Contains(t, reset.Text, "valid for 1 hour and expires on Monday, 30 November 2026 at 10:00 UTC")

	// A expiry in another zone is stated in UTC.
	zoned := notification(usermgmt.NotifyPasswordReset)
	zurich := time.FixedZone("CET", 3600)
	zoned.At, zoned.ExpiresAt = zoned.At.In(zurich), zoned.ExpiresAt.In(zurich)
	assert.Contains(t, render(zoned).Text, "expires on Monday, 30 November 2026 at 10:00 UTC")

	lock := render(notification(usermgmt.NotifyLockout))
	assert.Contains(t, lock.Text, "https://app.acme.example/forgot-password")
	assert.Contains(t, lock.Text, "ask an administrator of Analytical Engines to unlock your account")
	assert.Contains(t, lock.HTML, `href="https://app.acme.example/forgot-password"`)

	admin := render(notification(usermgmt.NotifyLockoutAdmin))
	assert.Equal(t, "Acme Portal: Ada Lovelace has been locked out", admin.Subject)
	assert.Contains(t, admin.Text, "https://app.acme.example/login")

	change := render(notification(usermgmt.NotifyEmailChange))
	assert.Equal(t, "ada@new.example", change.To.Address)
	assert.Contains(t, change.Text, "ada@new.example is the new email address")
	assert.Contains(t, change.Text, "valid for 1 day")

	notice := render(notification(usermgmt.NotifyEmailChangeNotice))
	assert.Equal(t, "ada@example.com", notice.To.Address)
	assert.Contains(t, notice.Text, "from ada@example.com to ada@new.example")
}

// A retried delivery of one notification carries the same Message-ID, so a
// receiver can drop the duplicate; another notification gets another.
func TestSMTPMessageIDStableAcrossSends(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv))
	ctx := context.Background()
	n := notification(usermgmt.NotifyPasswordReset)
	require.NoError(t, m.Send(ctx, n))
	require.NoError(t, m.Send(ctx, n))
	require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyPasswordReset)))
	got := srv.WaitFor(t, 3, 10*time.Second)
	assert.Equal(t, "<"+n.ID+"@acme.example>", got[0].Header.Get("Message-Id"))
	assert.Equal(t, got[0].Header.Get("Message-Id"), got[1].Header.Get("Message-Id"))
	assert.NotEqual(t, got[0].Header.Get("Message-Id"), got[2].Header.Get("Message-Id"))
}

// requireNoSecret fails when err's text holds n's token.
func requireNoSecret(t *testing.T, err error, n usermgmt.Notification) {
	t.Helper()
	require.Error(t, err)
	if n.Token != "" {
		require.NotContains(t, err.Error(), n.Token)
	}
	require.NotContains(t, err.Error(), "https://app.acme.example")
}

func TestSMTPRefusedRecipientIsPermanent(t *testing.T) {
	srv := smtptest.Start(t)
	srv.RefuseRecipient("gone@example.com")
	m := newMailer(t, plainSMTP(t, srv))
	ctx := context.Background()

	n := notification(usermgmt.NotifyInvitation)
	n.To = "gone@example.com"
	err := m.Send(ctx, n)
	requireNoSecret(t, err, n)
	assert.True(t, usermgmt.IsPermanent(err), "a 550 is permanent: %v", err)
	assert.Contains(t, err.Error(), "550")
	assert.Contains(t, err.Error(), "gone@example.com refused by the test server")

	// The transport goes on delivering to others.
	require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyInvitation)))
	got := srv.WaitFor(t, 1, 10*time.Second)
	require.Len(t, got, 1)
	assert.Equal(t, []string{"ada@example.com"}, got[0].EnvelopeTo)
}

func TestSMTPDeferredRecipientIsTransient(t *testing.T) {
	srv := smtptest.Start(t)
	srv.DeferRecipient("busy@example.com")
	m := newMailer(t, plainSMTP(t, srv))
	n := notification(usermgmt.NotifyPasswordReset)
	n.To = "busy@example.com"
	err := m.Send(context.Background(), n)
	requireNoSecret(t, err, n)
	assert.False(t, usermgmt.IsPermanent(err), "a 451 is worth retrying: %v", err)
	assert.Contains(t, err.Error(), "451")

	srv.AcceptRecipient("busy@example.com")
	require.NoError(t, m.Send(context.Background(), n))
	assert.Len(t, srv.WaitFor(t, 1, 10*time.Second), 1)
}

// A connection dropped in the middle of DATA leaves the sender unsure: the
// error is transient, the server kept nothing, and the retry delivers the
// one copy.
func TestSMTPDroppedMidMessageThenRetry(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv))
	ctx := context.Background()
	n := notification(usermgmt.NotifyInvitation)

	srv.DropNext(1)
	err := m.Send(ctx, n)
	requireNoSecret(t, err, n)
	assert.False(t, usermgmt.IsPermanent(err), "a dropped connection is worth retrying: %v", err)
	count, cerr := srv.Count()
	require.NoError(t, cerr)
	assert.Zero(t, count, "the dropped message must not be stored")

	require.NoError(t, m.Send(ctx, n))
	// A third message after the retry proves the server has handled the
	// retry completely by the time we count.
	require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
	got := srv.WaitFor(t, 2, 10*time.Second)
	require.Len(t, got, 2)
	assert.Equal(t, "<"+n.ID+"@acme.example>", got[0].Header.Get("Message-Id"))
	assert.Contains(t, got[0].Text, n.Token)
	assert.Equal(t, usermgmt.NotifyWelcome, kindOf(t, m, got[1]))
}

// kindOf tells which kind a received message is by its subject.
func kindOf(t *testing.T, m *mail.Mailer, r smtptest.Received) usermgmt.NotificationKind {
	t.Helper()
	for _, k := range allKinds {
		msg, err := m.Render(notification(k))
		require.NoError(t, err)
		if msg.Subject == r.Subject {
			return k
		}
	}
	return ""
}

// While the server is down sending fails transiently, also over a
// connection kept from before; once it is back the message goes through.
func TestSMTPServerDownThenBack(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv, func(c *mail.SMTPConfig) { c.IdleTimeout = time.Minute }))
	ctx := context.Background()

	first := notification(usermgmt.NotifyWelcome)
	require.NoError(t, m.Send(ctx, first)) // leaves an idle connection behind

	srv.Stop()
	n := notification(usermgmt.NotifyPasswordReset)
	err := m.Send(ctx, n)
	requireNoSecret(t, err, n)
	assert.False(t, usermgmt.IsPermanent(err), "a server that is down is worth retrying: %v", err)

	srv.Restart()
	require.NoError(t, m.Send(ctx, n))
	got := srv.WaitFor(t, 2, 10*time.Second)
	require.Len(t, got, 2)
	assert.Equal(t, "<"+first.ID+"@acme.example>", got[0].Header.Get("Message-Id"))
	assert.Equal(t, "<"+n.ID+"@acme.example>", got[1].Header.Get("Message-Id"))
}

// An idle connection the server closed (here: a restart while the
// transport was not looking) is replaced without failing the message.
func TestSMTPStaleIdleConnectionReplaced(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv, func(c *mail.SMTPConfig) { c.IdleTimeout = time.Minute }))
	ctx := context.Background()
	require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
	srv.Restart()
	require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
	got := srv.WaitFor(t, 2, 10*time.Second)
	assert.Len(t, got, 2)
}

// Messages in a burst share one connection; with IdleTimeout negative each
// has its own.
func TestSMTPConnectionReuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		idle  time.Duration
		conns int
	}{{"kept", time.Minute, 1}, {"closed", -1, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			m := newMailer(t, plainSMTP(t, srv, func(c *mail.SMTPConfig) { c.IdleTimeout = tc.idle }))
			for range 10 {
				require.NoError(t, m.Send(context.Background(), notification(usermgmt.NotifyWelcome)))
			}
			conns := map[int64]bool{}
			for _, r := range srv.WaitFor(t, 10, 10*time.Second) {
				conns[r.Conn] = true
			}
			assert.Len(t, conns, tc.conns)
		})
	}
}

// Concurrent sends share at most MaxConnections connections and every
// message arrives once.
func TestSMTPConcurrentSends(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv, func(c *mail.SMTPConfig) {
		c.IdleTimeout = time.Minute
		c.MaxConnections = 2
	}))
	const workers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				errs <- m.Send(context.Background(), notification(usermgmt.NotifyPasswordReset))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got := srv.WaitFor(t, workers*each, 10*time.Second)
	ids, conns := map[string]bool{}, map[int64]bool{}
	for _, r := range got {
		ids[r.Header.Get("Message-Id")] = true
		conns[r.Conn] = true
	}
	assert.Len(t, ids, workers*each)
	assert.LessOrEqual(t, len(conns), 2)
}

func TestSMTPCanceledContext(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Send(ctx, notification(usermgmt.NotifyWelcome))
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.False(t, usermgmt.IsPermanent(err))
	count, cerr := srv.Count()
	require.NoError(t, cerr)
	assert.Zero(t, count)
}

// TLS modes and AUTH mechanisms against a server that requires them.
func TestSMTPTLSAndAuth(t *testing.T) {
	ctx := context.Background()
	tlsSMTP := func(t *testing.T, srv *smtptest.Server, mode mail.TLSMode, edit ...func(*mail.SMTPConfig)) *mail.Mailer {
		cfg := func(c *mail.SMTPConfig) {
			c.TLS = mode
			c.TLSConfig = tlsConfig(srv)
		}
		return newMailer(t, plainSMTP(t, srv, append([]func(*mail.SMTPConfig){cfg}, edit...)...))
	}

	t.Run("STARTTLS with each mechanism", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth("mailer", "s3cret-Pa55"))
		for i, mech := range []mail.AuthMechanism{mail.AuthPlain, mail.AuthLogin, mail.AuthCRAMMD5} {
			m := tlsSMTP(t, srv, mail.StartTLS, func(c *mail.SMTPConfig) {
				c.Auth, c.Username, c.Password = mech, "mailer", "s3cret-Pa55"
			})
			require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)), "%s", mech)
			srv.WaitFor(t, i+1, 10*time.Second)
		}
	})
	t.Run("wrong password is transient and secret", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth("mailer", "s3cret-Pa55"))
		m := tlsSMTP(t, srv, mail.StartTLS, func(c *mail.SMTPConfig) {
			c.Auth, c.Username, c.Password = mail.AuthPlain, "mailer", "wr0ng-Pa55"
		})
		err := m.Send(ctx, notification(usermgmt.NotifyWelcome))
		require.Error(t, err)
		assert.False(t, usermgmt.IsPermanent(err), "bad credentials are the operator's to fix, not the message's: %v", err)
		assert.Contains(t, err.Error(), "535")
		assert.NotContains(t, err.Error(), "wr0ng-Pa55")
	})
	t.Run("no AUTH, no message", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth("mailer", "s3cret-Pa55"))
		m := tlsSMTP(t, srv, mail.StartTLS)
		require.Error(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
	})
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		srv := smtptest.Start(t)
		m := tlsSMTP(t, srv, mail.StartTLS)
		err := m.Send(ctx, notification(usermgmt.NotifyWelcome))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "STARTTLS")
		count, cerr := srv.Count()
		require.NoError(t, cerr)
		assert.Zero(t, count)
	})
	t.Run("opportunistic without STARTTLS", func(t *testing.T) {
		srv := smtptest.Start(t)
		m := tlsSMTP(t, srv, mail.StartTLSOpportunistic)
		require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
		srv.WaitFor(t, 1, 10*time.Second)
	})
	t.Run("opportunistic with STARTTLS", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS())
		m := tlsSMTP(t, srv, mail.StartTLSOpportunistic)
		require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
		srv.WaitFor(t, 1, 10*time.Second)
	})
	t.Run("implicit TLS", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("mailer", "s3cret-Pa55"))
		m := tlsSMTP(t, srv, mail.ImplicitTLS, func(c *mail.SMTPConfig) {
			c.Auth, c.Username, c.Password = mail.AuthPlain, "mailer", "s3cret-Pa55"
		})
		require.NoError(t, m.Send(ctx, notification(usermgmt.NotifyWelcome)))
		srv.WaitFor(t, 1, 10*time.Second)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithImplicitTLS())
		m := newMailer(t, plainSMTP(t, srv, func(c *mail.SMTPConfig) { c.TLS = mail.ImplicitTLS }))
		err := m.Send(ctx, notification(usermgmt.NotifyWelcome))
		require.Error(t, err)
		assert.False(t, usermgmt.IsPermanent(err))
	})
}

func TestSMTPConfigRefused(t *testing.T) {
	for name, cfg := range map[string]mail.SMTPConfig{
		"no host":            {},
		"NoTLS off loopback": {Host: "smtp.example.com", TLS: mail.NoTLS},
		"unknown mechanism":  {Host: "smtp.example.com", Auth: "XOAUTH9", Username: "u"},
		"AUTH without user":  {Host: "smtp.example.com", Auth: mail.AuthPlain},
		"user without AUTH":  {Host: "smtp.example.com", Username: "u", Password: "p"}, // would send no credentials
		"port out of range":  {Host: "smtp.example.com", Port: 70000},
		"unknown TLS mode":   {Host: "smtp.example.com", TLS: mail.TLSMode(42)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mail.SMTP(cfg)
			require.Error(t, err)
		})
	}
	_, err := mail.SMTP(mail.SMTPConfig{Host: "localhost", TLS: mail.NoTLS})
	require.NoError(t, err)
}

// containsHeader reports whether the raw header section has a field name.
func containsHeader(raw []byte, name string) bool {
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			return true
		}
	}
	return false
}

// A non-ASCII local part goes out with SMTPUTF8 and arrives as it was.
func TestSMTPUnicodeRecipient(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv))
	n := notification(usermgmt.NotifyWelcome)
	n.To, n.Email = "jörg@example.com", "jörg@example.com"
	require.NoError(t, m.Send(context.Background(), n))
	got := srv.WaitFor(t, 1, 10*time.Second)[0]
	assert.Equal(t, []string{"jörg@example.com"}, got.EnvelopeTo)
	to, err := got.Header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, "jörg@example.com", to[0].Address)
}

// plainSMTP is a transport to srv without TLS (loopback only).
func plainSMTP(t testing.TB, srv *smtptest.Server, edit ...func(*mail.SMTPConfig)) *mail.SMTPTransport {
	t.Helper()
	cfg := mail.SMTPConfig{
		Host: srv.Host(), Port: srv.Port(), TLS: mail.NoTLS, HELOName: "client.test",
		DialTimeout: 5 * time.Second, MessageTimeout: 5 * time.Second,
	}
	for _, e := range edit {
		e(&cfg)
	}
	tr, err := mail.SMTP(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// A first name, actor name and account name carrying CR LF cannot add a
// header: the received message has no Bcc, no extra header and one
// recipient, and the names arrive as harmless one-line text.
func TestHeaderInjectionNeutralised(t *testing.T) {
	srv := smtptest.Start(t)
	m := newMailer(t, plainSMTP(t, srv))
	n := notification(usermgmt.NotifyInvitation)
	n.FirstName = "Eve\r\nBcc: x@evil.example"
	n.LastName = "\nX-Injected: yes"
	n.ActorName = "Mallory\r\nBcc: y@evil.example\r\n\r\nbody"
	n.AccountName = "Acme\u2028Cc: z@evil.example\x00\u202e"
	require.NoError(t, m.Send(context.Background(), n))
	got := srv.WaitFor(t, 1, 10*time.Second)[0]

	for _, h := range []string{"Bcc", "Cc", "X-Injected"} {
		assert.False(t, containsHeader(got.Raw, h), "header %s was injected:\n%s", h, got.Raw)
	}
	assert.Equal(t, []string{"ada@example.com"}, got.EnvelopeTo)
	assert.Equal(t, "Mallory Bcc: y@evil.example body invited you to Acme Cc: z@evil.example on Acme Portal", got.Subject)
	assert.Contains(t, got.Text, "Hello Eve Bcc: x@evil.example,")
	head, _, _ := strings.Cut(string(got.Raw), "\r\n\r\n")
	assert.NotContains(t, head, "x@evil.example")
}
