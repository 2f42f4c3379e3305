package mail_test

import (
	"context"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/smtptest"
	"github.com/usermgmt/usermgmt/mail"
)

// BenchmarkSMTPDelivery sends invitations one after another, as one
// delivery worker does, through one SMTP transport to the test server
// process on loopback, rendering each, and reports messages per second;
// the target is 200 or more. "reuse" keeps the connection between
// messages (the default); "connection-per-message" (IdleTimeout < 0)
// shows what that saves.
//
//	go test -run '^$' -bench SMTPDelivery -benchtime 2000x ./mail/
func BenchmarkSMTPDelivery(b *testing.B) {
	for _, bc := range []struct {
		name string
		idle time.Duration
	}{{"reuse", time.Minute}, {"connection-per-message", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := smtptest.Start(b)
			m := newMailer(b, plainSMTP(b, srv, func(c *mail.SMTPConfig) { c.IdleTimeout = bc.idle }))
			ctx := context.Background()
			notes := make([]usermgmt.Notification, 0, 1024)
			for range cap(notes) {
				notes = append(notes, notification(usermgmt.NotifyInvitation))
			}
			sent := 0
			for b.Loop() {
				if err := m.Send(ctx, notes[sent%len(notes)]); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
			if got, err := srv.Count(); err != nil || got != sent {
				b.Fatalf("server stored %d of %d messages (%v)", got, sent, err)
			}
		})
	}
}
