package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/usermgmt/usermgmt"
)

// TLSMode says how the SMTP transport protects its connection.
type TLSMode int

const (
	// StartTLS, the zero value, upgrades the connection with STARTTLS and
	// refuses to go on when the server does not offer it (RFC 3207).
	// Default port 587.
	StartTLS TLSMode = iota
	// StartTLSOpportunistic upgrades with STARTTLS when the server offers
	// it and goes on unencrypted otherwise, for a relay on a private
	// network. PLAIN and LOGIN still refuse to send a password in the
	// clear. Default port 587.
	StartTLSOpportunistic
	// ImplicitTLS speaks TLS from the first byte (RFC 8314). Default port
	// 465.
	ImplicitTLS
	// NoTLS never encrypts. SMTP accepts it only for a loopback host (a
	// test server, a relay on the same machine). Default port 25.
	NoTLS
)

// String names the mode as errors and logs show it.
func (m TLSMode) String() string {
	switch m {
	case StartTLS:
		return "STARTTLS"
	case StartTLSOpportunistic:
		return "opportunistic STARTTLS"
	case ImplicitTLS:
		return "implicit TLS"
	case NoTLS:
		return "no TLS"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// AuthMechanism names an SMTP AUTH mechanism (RFC 4954).
type AuthMechanism string

// The mechanisms SMTPConfig.Auth accepts. PLAIN and LOGIN send the
// password itself, so they are refused over a connection without TLS
// (other than to a loopback host); CRAM-MD5 sends a keyed digest.
const (
	AuthNone    AuthMechanism = ""         // no AUTH
	AuthPlain   AuthMechanism = "PLAIN"    // RFC 4616
	AuthLogin   AuthMechanism = "LOGIN"    // the common non-standard LOGIN
	AuthCRAMMD5 AuthMechanism = "CRAM-MD5" // RFC 2195
)

// SMTPConfig configures the SMTP transport. Host is required; the zero
// value of every other field is a sensible default.
type SMTPConfig struct {
	Host string // server host name or IP address
	// Port defaults by TLS mode: 587 for the STARTTLS modes, 465 for
	// ImplicitTLS, 25 for NoTLS.
	Port int
	TLS  TLSMode
	// TLSConfig replaces the default TLS settings (system roots,
	// ServerName Host, TLS 1.2 or later); it is cloned, and ServerName is
	// set to Host when empty.
	TLSConfig *tls.Config
	// Auth is the AUTH mechanism; AuthNone (the zero value) sends no
	// credentials, and SMTP refuses it with a Username or Password set.
	Auth     AuthMechanism
	Username string
	Password string // never logged nor put in an error
	// HELOName is the name sent with EHLO; empty means os.Hostname.
	HELOName string
	// DialTimeout bounds setting up a connection: TCP connect, TLS
	// handshake, greeting, EHLO, STARTTLS and AUTH. Default 10s.
	DialTimeout time.Duration
	// MessageTimeout bounds sending one message over an open connection,
	// from MAIL FROM to the server's reply to the end of DATA.
	// Default 30s.
	MessageTimeout time.Duration
	// IdleTimeout is how long a connection stays open after a message,
	// waiting for the next one: messages sent in a burst share one
	// connection. Default 5s; negative closes it after every message.
	IdleTimeout time.Duration
	// MaxConnections bounds the connections open at once (each carries one
	// message at a time); further Sends wait their turn. Default 2.
	MaxConnections int
}

// SMTPTransport sends messages over SMTP through
// github.com/wneessen/go-mail. It keeps up to MaxConnections connections
// open between messages for IdleTimeout, so a worker sending a batch pays
// for one connection setup, not one per message. Its errors are
// usermgmt.Permanent for a 5xx reply to the message's MAIL FROM, RCPT TO
// or DATA (the text carries the server's reply), and plain (retry) for 4xx
// replies, network errors, timeouts and failures while connecting or
// authenticating, which are about the connection, not the message. It is
// safe for concurrent use.
type SMTPTransport struct {
	addr        string
	client      *gomail.Client // configuration; each connection is its own smtp.Client
	implicitTLS bool
	tlsConfig   *tls.Config
	dialTimeout time.Duration
	idleTimeout time.Duration
	slots       chan struct{} // one token per connection that may be busy

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool
}

var _ Transport = (*SMTPTransport)(nil)

// SMTP returns a transport that sends through the server cfg names. It
// connects on the first Send, not here. It refuses NoTLS for a host that is
// not a loopback address, and AUTH without TLS other than on loopback.
func SMTP(cfg SMTPConfig) (*SMTPTransport, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: SMTPConfig.Host is empty")
	}
	if cfg.TLS < StartTLS || cfg.TLS > NoTLS {
		return nil, fmt.Errorf("mail: SMTPConfig.TLS: unknown %v", cfg.TLS)
	}
	if cfg.TLS == NoTLS && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("mail: SMTPConfig.TLS is NoTLS but %s is not a loopback host; use StartTLSOpportunistic for a relay without TLS", cfg.Host)
	}
	port := cfg.Port
	if port == 0 {
		switch cfg.TLS {
		case ImplicitTLS:
			port = 465
		case NoTLS:
			port = 25
		default:
			port = 587
		}
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail: SMTPConfig.Port %d is out of range", port)
	}
	t := &SMTPTransport{
		addr:        net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		implicitTLS: cfg.TLS == ImplicitTLS,
		dialTimeout: orDefault(cfg.DialTimeout, 10*time.Second),
		idleTimeout: orDefault(cfg.IdleTimeout, 5*time.Second),
	}
	if cfg.IdleTimeout < 0 {
		t.idleTimeout = -1
	}
	if cfg.MaxConnections < 0 {
		return nil, errors.New("mail: SMTPConfig.MaxConnections is negative")
	}
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = 2
	}
	t.slots = make(chan struct{}, maxConns)

	if cfg.TLSConfig != nil {
		t.tlsConfig = cfg.TLSConfig.Clone()
	} else {
		t.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if t.tlsConfig.ServerName == "" {
		t.tlsConfig.ServerName = cfg.Host
	}

	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(orDefault(cfg.MessageTimeout, 30*time.Second)),
		gomail.WithDialContextFunc(t.dialContext),
		gomail.WithTLSConfig(t.tlsConfig),
	}
	switch cfg.TLS {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case StartTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.HELOName != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELOName))
	}
	switch cfg.Auth {
	case AuthNone:
		if cfg.Username != "" || cfg.Password != "" {
			// Without a mechanism the credentials would never be sent, and
			// the server's refusal would come only at the first message.
			return nil, errors.New("mail: SMTPConfig.Username or Password is set but Auth is AuthNone; set Auth (AuthPlain, AuthLogin or AuthCRAMMD5)")
		}
	case AuthPlain, AuthLogin, AuthCRAMMD5:
		if cfg.Username == "" {
			return nil, fmt.Errorf("mail: SMTPConfig.Auth is %s but Username is empty", cfg.Auth)
		}
		mech := gomail.SMTPAuthType(cfg.Auth)
		if cfg.TLS == NoTLS { // loopback only, checked above
			switch cfg.Auth {
			case AuthPlain:
				mech = gomail.SMTPAuthPlainNoEnc
			case AuthLogin:
				mech = gomail.SMTPAuthLoginNoEnc
			}
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	default:
		return nil, fmt.Errorf("mail: SMTPConfig.Auth: unknown mechanism %q (PLAIN, LOGIN or CRAM-MD5)", cfg.Auth)
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	t.client = c
	return t, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// smtpConn is one open SMTP session.
type smtpConn struct {
	c     *gosmtp.Client
	raw   net.Conn    // closed to abort whatever the session is doing
	timer *time.Timer // closes the connection when it stays idle; guarded by SMTPTransport.mu
}

// abort closes the connection at once.
func (c *smtpConn) abort() { _ = c.raw.Close() }

// quit says goodbye politely, briefly, then closes.
func (c *smtpConn) quit() {
	_ = c.c.UpdateDeadline(time.Second)
	_ = c.c.Quit()
	c.abort()
}

// connSlot hands the raw connection from the dial function, deep inside
// go-mail, back to dial, and closes it if dial's context ends first.
type connSlot struct {
	mu      sync.Mutex
	conn    net.Conn
	aborted bool
}

type connSlotKey struct{}

func (s *connSlot) set(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = c
	if s.aborted {
		_ = c.Close()
	}
}

func (s *connSlot) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

func (s *connSlot) get() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// dialContext is go-mail's dial function: TCP, then TLS for ImplicitTLS.
func (t *SMTPTransport) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if t.implicitTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: t.tlsConfig}).DialContext(ctx, network, addr)
	} else {
		conn, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	if slot, ok := ctx.Value(connSlotKey{}).(*connSlot); ok {
		slot.set(conn)
	}
	return conn, nil
}

// dial opens, secures and authenticates a new session within DialTimeout.
func (t *SMTPTransport) dial(ctx context.Context) (*smtpConn, error) {
	slot := &connSlot{}
	dctx, cancel := context.WithTimeout(ctx, t.dialTimeout)
	defer cancel()
	stop := context.AfterFunc(dctx, slot.abort)
	c, err := t.client.DialToSMTPClientWithContext(context.WithValue(dctx, connSlotKey{}, slot))
	if !stop() {
		if c != nil {
			_ = c.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("mail: smtp %s: connecting: %w", t.addr, ctx.Err())
		}
		return nil, fmt.Errorf("mail: smtp %s: connecting: no session within %v", t.addr, t.dialTimeout)
	}
	if err != nil {
		if raw := slot.get(); raw != nil {
			_ = raw.Close()
		}
		return nil, fmt.Errorf("mail: smtp %s: connecting: %w", t.addr, err)
	}
	return &smtpConn{c: c, raw: slot.get()}, nil
}

// errClosed is returned by Send after Close.
var errClosed = errors.New("mail: smtp transport is closed")

// take returns an idle connection, or nil when there is none.
func (t *SMTPTransport) take() (*smtpConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errClosed
	}
	if n := len(t.idle); n > 0 {
		c := t.idle[n-1]
		t.idle = t.idle[:n-1]
		c.timer.Stop()
		return c, nil
	}
	return nil, nil
}

// put keeps c open for the next message, until IdleTimeout passes.
func (t *SMTPTransport) put(c *smtpConn) {
	t.mu.Lock()
	if t.closed || t.idleTimeout < 0 {
		t.mu.Unlock()
		c.quit()
		return
	}
	t.idle = append(t.idle, c)
	c.timer = time.AfterFunc(t.idleTimeout, func() { t.expire(c) })
	t.mu.Unlock()
}

// expire closes c if it is still idle.
func (t *SMTPTransport) expire(c *smtpConn) {
	t.mu.Lock()
	found := false
	for i, ic := range t.idle {
		if ic == c {
			t.idle = append(t.idle[:i], t.idle[i+1:]...)
			found = true
			break
		}
	}
	t.mu.Unlock()
	if found {
		c.quit()
	}
}

// Close closes the idle connections and makes later Sends fail; a Send
// in progress finishes and then closes its connection.
func (t *SMTPTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	idle := t.idle
	t.idle = nil
	for _, c := range idle {
		c.timer.Stop()
	}
	t.mu.Unlock()
	for _, c := range idle {
		c.quit()
	}
	return nil
}

// Send delivers msg: over an idle connection when there is one (if the
// server closed it meanwhile, over a new one: nothing of the message was
// sent on the old), otherwise over a new connection. ctx bounds waiting
// for a connection and the whole exchange; when it ends the connection is
// closed and Send returns ctx's error.
func (t *SMTPTransport) Send(ctx context.Context, msg *Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: smtp %s: %w", t.addr, err)
	}
	if err := msg.Validate(); err != nil {
		return usermgmt.Permanent(err)
	}
	gm, err := buildMsg(msg)
	if err != nil {
		return usermgmt.Permanent(err)
	}
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("mail: smtp %s: waiting for a connection: %w", t.addr, ctx.Err())
	}
	defer func() { <-t.slots }()

	for attempt := 0; ; attempt++ {
		conn, err := t.take()
		if err != nil {
			return err
		}
		reused := conn != nil
		if conn == nil {
			if conn, err = t.dial(ctx); err != nil {
				return err
			}
		}
		keep, err := t.sendOn(ctx, conn, gm)
		if keep {
			t.put(conn)
		} else {
			conn.abort()
		}
		var se *gomail.SendError
		if err != nil && reused && attempt == 0 && errors.As(err, &se) && se.Reason == gomail.ErrConnCheck {
			continue // the idle connection had died; nothing was sent on it
		}
		if err != nil {
			return t.classify(ctx, err)
		}
		return nil
	}
}

// sendOn sends gm over conn and reports whether conn can carry the next
// message. A message the server accepted counts as sent even when the
// RSET after it fails.
func (t *SMTPTransport) sendOn(ctx context.Context, conn *smtpConn, gm *gomail.Msg) (keep bool, err error) {
	stop := context.AfterFunc(ctx, conn.abort)
	err = t.client.SendWithSMTPClient(conn.c, gm)
	aborted := !stop()
	if gm.IsDelivered() {
		return err == nil && !aborted, nil
	}
	if aborted && err == nil {
		err = ctx.Err()
	}
	return false, err
}

// classify marks a 5xx reply to the message's own commands permanent.
func (t *SMTPTransport) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mail: smtp %s: %w (%v)", t.addr, ctx.Err(), err)
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			if code := se.ErrorCode(); code >= 500 && code <= 599 {
				return usermgmt.Permanent(fmt.Errorf("mail: smtp %s refused the message: %w", t.addr, err))
			}
		}
	}
	return fmt.Errorf("mail: smtp %s: %w", t.addr, err)
}

// buildMsg turns a validated Message into go-mail's: multipart/alternative
// with the text part first, as RFC 2046 orders alternatives.
func buildMsg(msg *Message) (*gomail.Msg, error) {
	gm := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	from := msg.From
	gm.FromMailAddress(&from)
	to := msg.To
	gm.ToMailAddress(&to)
	if msg.ReplyTo != nil {
		rt := *msg.ReplyTo
		gm.ReplyToMailAddress(&rt)
	}
	gm.Subject(msg.Subject)
	gm.SetMessageIDWithValue(msg.MessageID)
	gm.SetDate()
	for name, value := range msg.Headers {
		gm.SetGenHeader(gomail.Header(name), value)
	}
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	if got := gm.GetToString(); len(got) != 1 {
		return nil, fmt.Errorf("mail: message has %d recipients, want 1", len(got))
	}
	return gm, nil
}
