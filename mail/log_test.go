package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/mail"
)

// LogTransport shows the developer the message, link included.
func TestLogTransport(t *testing.T) {
	var buf bytes.Buffer
	m := newMailer(t, mail.LogTransport(slog.New(slog.NewJSONHandler(&buf, nil))))
	n := notification(usermgmt.NotifyPasswordReset)
	require.NoError(t, m.Send(context.Background(), n))
	out := buf.String()
	assert.Contains(t, out, `"to":"ada@example.com"`)
	assert.Contains(t, out, `"subject":"Reset your Acme Portal password"`)
	assert.Contains(t, out, `"message_id":"`+n.ID+`@acme.example"`)
	assert.Contains(t, out, "https://app.acme.example/reset-password?token="+n.Token)
	assert.Contains(t, out, "development only")
}
