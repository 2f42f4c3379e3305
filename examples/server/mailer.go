package main

import (
	"log/slog"

	"github.com/usermgmt/usermgmt/mail"
)

// newMailer returns the Sender of the delivery worker: SMTP when c names a
// host, else the logging transport, which writes each email, live link
// included, to the log (development only). Links point at baseURL. The
// returned function closes the SMTP connections.
func newMailer(c config, baseURL string, log *slog.Logger) (*mail.Mailer, func() error, error) {
	var tr mail.Transport
	closeTr := func() error { return nil }
	if c.SMTP.Host == "" {
		tr = mail.LogTransport(log)
	} else {
		sc := mail.SMTPConfig{Host: c.SMTP.Host, Port: c.SMTP.Port, TLS: c.SMTP.TLS,
			Username: c.SMTP.User, Password: c.SMTP.Password}
		if sc.Username != "" {
			sc.Auth = mail.AuthPlain
		}
		st, err := mail.SMTP(sc)
		if err != nil {
			return nil, nil, err
		}
		tr, closeTr = st, st.Close
	}
	m, err := mail.New(mail.Config{AppName: c.AppName, From: c.MailFrom, BaseURL: baseURL, Transport: tr})
	if err != nil {
		_ = closeTr()
		return nil, nil, err
	}
	return m, closeTr, nil
}
