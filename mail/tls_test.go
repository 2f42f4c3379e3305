package mail_test

import (
	"crypto/tls"

	"github.com/usermgmt/usermgmt/internal/smtptest"
)

// tlsConfig trusts srv's test certificate.
func tlsConfig(srv *smtptest.Server) *tls.Config {
	return &tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12}
}
