package mail

import (
	"context"
	"log/slog"
)

// LogTransport returns a Transport for development that sends nothing: it
// logs each message's From, To, Subject, Message-ID and text body at Info
// level to logger (slog.Default() when nil). The text body holds the
// message's link with its live token, which is the point in development
// (follow the link from the log) and the reason it must never be used in
// production, where logs are kept and read by others.
func LogTransport(logger *slog.Logger) Transport {
	return TransportFunc(func(ctx context.Context, msg *Message) error {
		l := logger
		if l == nil {
			l = slog.Default()
		}
		l.InfoContext(ctx, "mail: message not sent (LogTransport, development only)",
			slog.String("from", msg.From.String()),
			slog.String("to", msg.To.Address),
			slog.String("subject", msg.Subject),
			slog.String("message_id", msg.MessageID),
			slog.String("text", msg.Text))
		return nil
	})
}
