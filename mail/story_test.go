package mail_test

import (
	"context"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/smtptest"
	"github.com/usermgmt/usermgmt/mail"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// story is a Manager whose outbox is delivered by a Mailer over SMTP to a
// real SMTP server process.
type story struct {
	t      *testing.T
	ctx    context.Context
	srv    *smtptest.Server
	clock  *usermgmt.FakeClock
	m      *usermgmt.Manager
	admin  usermgmt.User
	opts   usermgmt.DeliveryOptions
	tr     *mail.SMTPTransport
	mailer *mail.Mailer
}

func newStory(t *testing.T) *story {
	t.Helper()
	s := &story{t: t, ctx: context.Background(), srv: smtptest.Start(t), clock: usermgmt.NewFakeClock(fixture.Start)}
	var err error
	s.tr, err = mail.SMTP(mail.SMTPConfig{Host: s.srv.Host(), Port: s.srv.Port(), TLS: mail.NoTLS, HELOName: "app.test",
		DialTimeout: 2 * time.Second, MessageTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.tr.Close() })
	s.mailer, err = mail.New(mail.Config{AppName: "Acme Portal", From: "no-reply@acme.example", BaseURL: "https://portal.acme.example", Transport: s.tr})
	require.NoError(t, err)
	s.m, err = usermgmt.New(memstore.New(), usermgmt.WithClock(s.clock), usermgmt.WithHashParams(fixture.FastHash),
		usermgmt.WithOutboxKeys(fixture.OutboxKey), usermgmt.WithSender(s.mailer))
	require.NoError(t, err)
	_, c, err := s.m.CreateAccount(s.ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	require.NoError(t, err)
	s.admin = c.User
	s.opts = usermgmt.DeliveryOptions{Backoff: time.Minute, MaxBackoff: time.Hour}
	return s
}

func (s *story) deliver() usermgmt.DeliveryReport {
	s.t.Helper()
	rep, err := s.m.DeliverDue(s.ctx, s.opts)
	require.NoError(s.t, err)
	return rep
}

var linkRE = regexp.MustCompile(`https://portal\.acme\.example/[^\s"<>]+`)

// token follows the link in a received message and returns its token.
func token(t *testing.T, r smtptest.Received) string {
	t.Helper()
	link := linkRE.FindString(r.Text)
	require.NotEmpty(t, link, "no link in %q", r.Text)
	u, err := url.Parse(link)
	require.NoError(t, err)
	tok := u.Query().Get("token")
	require.NotEmpty(t, tok, link)
	require.Contains(t, r.HTML, tok, "the HTML part carries the same link")
	return tok
}

// TestInvitationAndResetThroughSMTP: the invitation email arrives at the
// SMTP server, its link accepts the invitation; a forgotten password's
// email arrives, its link resets the password.
func TestInvitationAndResetThroughSMTP(t *testing.T) {
	s := newStory(t)
	c, err := s.m.CreateUser(s.ctx, s.admin.ID, usermgmt.NewUser{Email: "Grace@Acme.example", FirstName: "Grace", LastName: "Hopper", Invite: true})
	require.NoError(t, err)
	require.Equal(t, 1, s.deliver().Sent)
	got := s.srv.WaitFor(t, 1, 5*time.Second)
	require.Equal(t, []string{"grace@acme.example"}, got[0].EnvelopeTo)
	require.Equal(t, "multipart/alternative", got[0].MediaType)
	require.Contains(t, got[0].Text, "Grace")
	require.Contains(t, got[0].Text, "Ada Admin")
	tok := token(t, got[0])
	require.Equal(t, c.InvitationToken, tok)
	u, err := s.m.AcceptInvitation(s.ctx, tok, usermgmt.Acceptance{Password: "a new long passphrase"})
	require.NoError(t, err)
	require.Equal(t, usermgmt.StatusActive, u.Status)

	require.NoError(t, s.m.RequestPasswordReset(s.ctx, "grace@acme.example"))
	s.m.Wait()
	require.Equal(t, 1, s.deliver().Sent)
	got = s.srv.WaitFor(t, 2, 5*time.Second)
	tok = token(t, got[1])
	_, err = s.m.ResetPassword(s.ctx, tok, "another new passphrase")
	require.NoError(t, err)
	require.Equal(t, 1, s.deliver().Sent) // the "your password was changed" notice
	got = s.srv.WaitFor(t, 3, 5*time.Second)
	require.NotContains(t, got[2].Text, tok)
	_, err = s.m.Authenticate(s.ctx, "grace@acme.example", "another new passphrase")
	require.NoError(t, err)
}

// TestRefusedRecipientIsDeadLettered: a 550 is permanent: the message is
// dead-lettered with the server's reply, and requeued once fixed.
func TestRefusedRecipientIsDeadLettered(t *testing.T) {
	s := newStory(t)
	s.srv.RefuseRecipient("nobody@acme.example")
	_, err := s.m.CreateUser(s.ctx, s.admin.ID, usermgmt.NewUser{Email: "nobody@acme.example", FirstName: "No", LastName: "Body", Invite: true})
	require.NoError(t, err)
	rep := s.deliver()
	require.Equal(t, 1, rep.Dead)
	dead, err := s.m.DeadMessages(s.ctx, s.admin.ID, usermgmt.MessageListQuery{})
	require.NoError(t, err)
	require.Len(t, dead.Items, 1)
	require.Contains(t, dead.Items[0].LastError, "550")
	s.srv.AcceptRecipient("nobody@acme.example")
	require.NoError(t, s.m.RequeueMessage(s.ctx, s.admin.ID, dead.Items[0].ID))
	require.Equal(t, 1, s.deliver().Sent)
	s.srv.WaitFor(t, 1, 5*time.Second)
}

// TestDroppedConnectionRetriedOnce: the server drops the connection in the
// middle of the message; the worker retries after its backoff and the
// message arrives exactly once.
func TestDroppedConnectionRetriedOnce(t *testing.T) {
	s := newStory(t)
	s.srv.DropNext(1)
	_, err := s.m.CreateUser(s.ctx, s.admin.ID, usermgmt.NewUser{Email: "flaky@acme.example", FirstName: "F", LastName: "L", Invite: true})
	require.NoError(t, err)
	rep := s.deliver()
	require.Equal(t, 1, rep.Retried)
	n, err := s.srv.Count()
	require.NoError(t, err)
	require.Zero(t, n)
	s.clock.Advance(time.Minute)
	require.Equal(t, 1, s.deliver().Sent)
	got := s.srv.WaitFor(t, 1, 5*time.Second)
	require.Len(t, got, 1)
	require.Zero(t, s.deliver().Sent+s.deliver().Retried)
}

// TestServerDownBacksOffThenDelivers: while the server is down, attempts
// fail and back off; once it is back, the message is delivered.
func TestServerDownBacksOffThenDelivers(t *testing.T) {
	s := newStory(t)
	s.srv.Stop()
	_, err := s.m.CreateUser(s.ctx, s.admin.ID, usermgmt.NewUser{Email: "patient@acme.example", FirstName: "P", LastName: "T", Invite: true})
	require.NoError(t, err)
	require.Equal(t, 1, s.deliver().Retried)
	s.clock.Advance(time.Minute)
	require.Equal(t, 1, s.deliver().Retried)
	require.Zero(t, s.deliver().Retried, "not due again before the doubled backoff")
	s.srv.Restart()
	s.clock.Advance(2 * time.Minute)
	require.Equal(t, 1, s.deliver().Sent)
	got := s.srv.WaitFor(t, 1, 5*time.Second)
	require.Equal(t, []string{"patient@acme.example"}, got[0].EnvelopeTo)
}
