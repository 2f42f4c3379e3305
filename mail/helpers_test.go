package mail_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/smtptest"
	"github.com/usermgmt/usermgmt/mail"
)

func TestMain(m *testing.M) { os.Exit(smtptest.Run(m)) }

// at is when the sample changes happen: Monday, 30 November 2026.
var at = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

var allKinds = []usermgmt.NotificationKind{
	usermgmt.NotifyInvitation,
	usermgmt.NotifyPasswordReset,
	usermgmt.NotifyLockout,
	usermgmt.NotifyLockoutAdmin,
	usermgmt.NotifyPasswordChanged,
	usermgmt.NotifyEmailChange,
	usermgmt.NotifyEmailChangeNotice,
	usermgmt.NotifyWelcome,
}

var idSeq atomic.Int64

// notification returns a realistic notification of kind with a fresh ID
// (and token, for the kinds that carry one).
func notification(kind usermgmt.NotificationKind) usermgmt.Notification {
	seq := idSeq.Add(1)
	n := usermgmt.Notification{
		ID:          fmt.Sprintf("0193a4b2-7c3d-7e4f-8a9b-%012d", seq),
		Kind:        kind,
		To:          "ada@example.com",
		UserID:      "0193a4b2-0000-7000-8000-000000000001",
		AccountID:   "0193a4b2-0000-7000-8000-0000000000aa",
		AccountName: "Analytical Engines",
		FirstName:   "Ada",
		LastName:    "Lovelace",
		Email:       "ada@example.com",
		At:          at,
	}
	switch kind {
	case usermgmt.NotifyInvitation:
		n.ActorName = "Charles Babbage"
		n.Token = fmt.Sprintf("inv-token-%d-AbCdEf", seq)
		n.ExpiresAt = at.Add(168 * time.Hour)
	case usermgmt.NotifyPasswordReset:
		n.Token = fmt.Sprintf("reset-token-%d-AbCdEf", seq)
		n.ExpiresAt = at.Add(time.Hour)
	case usermgmt.NotifyEmailChange:
		n.To = "ada@new.example"
		n.NewEmail = "ada@new.example"
		n.Token = fmt.Sprintf("email-token-%d-AbCdEf", seq)
		n.ExpiresAt = at.Add(24 * time.Hour)
	case usermgmt.NotifyEmailChangeNotice:
		n.NewEmail = "ada@new.example"
	case usermgmt.NotifyLockoutAdmin:
		n.To = "admin@example.com"
	}
	return n
}

// baseConfig is a valid configuration sending through tr.
func baseConfig(tr mail.Transport) mail.Config {
	return mail.Config{
		AppName:   "Acme Portal",
		From:      "no-reply@acme.example",
		BaseURL:   "https://app.acme.example",
		Transport: tr,
	}
}

func newMailer(t testing.TB, tr mail.Transport, edit ...func(*mail.Config)) *mail.Mailer {
	t.Helper()
	cfg := baseConfig(tr)
	for _, e := range edit {
		e(&cfg)
	}
	m, err := mail.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// discard is a transport that accepts everything.
var discard = mail.TransportFunc(func(context.Context, *mail.Message) error { return nil })
