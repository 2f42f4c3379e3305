// Package smtptest runs a real SMTP server as a separate process for tests:
// the server in ./smtpd, built once per test binary and started on a free
// loopback port. Tests send to it over a real socket, read back what it
// stored, and make it fail on purpose: refuse a recipient, drop a connection
// in the middle of a message, go down and come back on the same port.
//
// A test package that uses it calls Run from TestMain so the built server
// is removed when the tests end:
//
//	func TestMain(m *testing.M) { os.Exit(smtptest.Run(m)) }
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverPkg is the import path of the server that Start builds.
const serverPkg = "github.com/usermgmt/usermgmt/internal/smtptest/smtpd"

var build struct {
	once sync.Once
	dir  string // holds the built binary; removed by Run
	bin  string
	err  error
}

// Run runs the tests of m and then removes the server binary that Start
// built, returning m.Run's exit code. Call it from TestMain.
func Run(m *testing.M) int {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// binary builds the server on first use and returns its path.
func binary() (string, error) {
	build.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			build.err = fmt.Errorf("smtptest: no go command on PATH to build the server: %w", err)
			return
		}
		build.dir, build.err = os.MkdirTemp("", "smtptest-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "smtpd")
		cmd := exec.Command(goTool, "build", "-o", build.bin, serverPkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("smtptest: building %s: %v\n%s", serverPkg, err, out)
		}
	})
	return build.bin, build.err
}

// Option configures the server Start runs.
type Option func(*options)

type options struct {
	tls      string // "", "starttls" or "implicit"
	user     string
	password string
}

// WithSTARTTLS makes the server offer STARTTLS with a certificate for
// 127.0.0.1 and localhost that only CertPool trusts.
func WithSTARTTLS() Option { return func(o *options) { o.tls = "starttls" } }

// WithImplicitTLS makes the server speak TLS from the first byte (as on
// port 465), with a certificate that only CertPool trusts.
func WithImplicitTLS() Option { return func(o *options) { o.tls = "implicit" } }

// WithAuth makes the server require AUTH (PLAIN, LOGIN or CRAM-MD5) with
// this user name and password before it takes a message.
func WithAuth(user, password string) Option {
	return func(o *options) { o.user, o.password = user, password }
}

// Server is a running SMTP server process. Its methods are for the test's
// own goroutine (they fail the test with t.Fatal) unless documented
// otherwise.
type Server struct {
	t    testing.TB
	opts options
	bin  string
	dir  string // messages, one file each
	conf string // certificate and key
	pool *x509.CertPool

	mu    sync.Mutex
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // the server's standard output, a line at a time
	rules []string    // refuse/defer commands, replayed after Restart
}

// Start builds the server (once per test binary), starts it as a separate
// process on a free loopback port, and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), conf: t.TempDir()}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.tls != "" {
		if err := s.writeCert(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's HOST:PORT. It stays the same across Restart.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Host is the host part of Addr (127.0.0.1).
func (s *Server) Host() string {
	host, _, _ := net.SplitHostPort(s.Addr())
	return host
}

// Port is the port part of Addr.
func (s *Server) Port() int {
	_, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	return n
}

// CertPool trusts the server's certificate (nil for a server without TLS).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Dir is the directory the server writes received messages to.
func (s *Server) Dir() string { return s.dir }

func (s *Server) start(addr string) error {
	args := []string{"-dir", s.dir, "-addr", addr}
	if s.opts.tls != "" {
		args = append(args, "-tls", s.opts.tls,
			"-cert", filepath.Join(s.conf, "cert.pem"), "-key", filepath.Join(s.conf, "key.pem"))
	}
	if s.opts.user != "" {
		args = append(args, "-auth-user", s.opts.user, "-auth-pass", s.opts.password)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = procAttr()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	kill := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	select {
	case line, ok := <-lines:
		got, found := strings.CutPrefix(line, "listening ")
		if !ok || !found {
			kill()
			return fmt.Errorf("smtptest: server did not start (said %q)", line)
		}
		s.mu.Lock()
		s.addr, s.cmd, s.stdin, s.lines = got, cmd, stdin, lines
		s.mu.Unlock()
		return nil
	case <-time.After(30 * time.Second):
		kill()
		return errors.New("smtptest: server did not report its address within 30s")
	}
}

// command sends one control line to the running server and waits for its
// answer.
func (s *Server) command(line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("smtptest: server is stopped")
	}
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		return err
	}
	select {
	case answer, ok := <-s.lines:
		if !ok {
			return errors.New("smtptest: server exited")
		}
		if answer != "ok" {
			return fmt.Errorf("smtptest: %s: %s", line, answer)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("smtptest: no answer to %q within 10s", line)
	}
}

func (s *Server) rule(line string) {
	s.t.Helper()
	if err := s.command(line); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.rules = append(s.rules, line)
	s.mu.Unlock()
}

// RefuseRecipient makes the server answer RCPT TO for addr with
// "550 5.1.1 mailbox unavailable: ADDR refused by the test server". It
// holds across Restart.
func (s *Server) RefuseRecipient(addr string) { s.t.Helper(); s.rule("refuse " + addr) }

// DeferRecipient makes the server answer RCPT TO for addr with
// "451 4.3.0 try again later: ADDR deferred by the test server". It holds
// across Restart.
func (s *Server) DeferRecipient(addr string) { s.t.Helper(); s.rule("defer " + addr) }

// AcceptRecipient undoes RefuseRecipient and DeferRecipient for addr.
func (s *Server) AcceptRecipient(addr string) { s.t.Helper(); s.rule("accept " + addr) }

// DropNext makes the server close the connection in the middle of DATA of
// the next n messages, after reading part of each and before storing it.
// It does not hold across Restart.
func (s *Server) DropNext(n int) {
	s.t.Helper()
	if err := s.command("drop " + strconv.Itoa(n)); err != nil {
		s.t.Fatal(err)
	}
}

// Stop kills the server at once, as a crash would; connections break and
// new ones are refused until Restart. Stopping a stopped server does
// nothing. Stop is safe to call from any goroutine.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, stdin := s.cmd, s.stdin
	s.cmd, s.stdin = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = stdin.Close()
	_ = cmd.Wait()
}

// Restart starts the stopped server again on the same port, with the same
// messages directory and the recipient rules it had.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(s.Addr()); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	rules := append([]string(nil), s.rules...)
	s.mu.Unlock()
	for _, r := range rules {
		if err := s.command(r); err != nil {
			s.t.Fatal(err)
		}
	}
}

// Received is one message the server accepted and stored.
type Received struct {
	File string // the file it was stored in
	// Conn numbers the SMTP session it came on, from 1 since the server
	// (re)started: one per connection, and a new one after STARTTLS.
	Conn         int64
	EnvelopeFrom string      // MAIL FROM
	EnvelopeTo   []string    // RCPT TO, in order
	Raw          []byte      // the message as received (CRLF line ends)
	Header       mail.Header // its header, as net/mail parsed it
	Subject      string      // the Subject header, RFC 2047 words decoded
	MediaType    string      // the top-level media type, such as "multipart/alternative"
	Text         string      // the decoded text/plain part (or body)
	HTML         string      // the decoded text/html part
	Parts        []string    // the media type of each part, in order
}

// Count is how many complete messages the server has stored. It is safe
// to call from any goroutine.
func (s *Server) Count() (int, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	return len(names), err
}

// Messages returns every message the server has stored, oldest first.
func (s *Server) Messages() []Received {
	s.t.Helper()
	return s.messages(s.t)
}

// messages is Messages failing t, which may be a subtest's.
func (s *Server) messages(t testing.TB) []Received {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	out := make([]Received, 0, len(names))
	for _, name := range names {
		r, err := readMessage(name)
		if err != nil {
			t.Fatalf("smtptest: %s: %v", filepath.Base(name), err)
		}
		out = append(out, r)
	}
	return out
}

// WaitFor waits until the server has stored at least n messages, polling
// its directory, and returns them all; it fails t when timeout passes
// first.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := s.Count()
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return s.messages(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtptest: %d of %d messages after %v", got, n, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readMessage(name string) (Received, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return Received{}, err
	}
	var st struct {
		Conn int64    `json:"conn"`
		From string   `json:"from"`
		To   []string `json:"to"`
		Data []byte   `json:"data"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return Received{}, err
	}
	r := Received{File: name, Conn: st.Conn, EnvelopeFrom: st.From, EnvelopeTo: st.To, Raw: st.Data}
	m, err := mail.ReadMessage(bytes.NewReader(st.Data))
	if err != nil {
		return r, err
	}
	r.Header = m.Header
	r.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return r, fmt.Errorf("subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return r, fmt.Errorf("content type: %w", err)
	}
	r.MediaType = mediaType
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decode(m.Body, m.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return r, err
		}
		r.Parts = []string{mediaType}
		r.setPart(mediaType, body)
		return r, nil
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return r, fmt.Errorf("multipart: %w", err)
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return r, fmt.Errorf("part content type: %w", err)
		}
		body, err := decode(p, p.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return r, err
		}
		r.Parts = append(r.Parts, pt)
		r.setPart(pt, body)
	}
}

func (r *Received) setPart(mediaType, body string) {
	switch mediaType {
	case "text/plain":
		r.Text = body
	case "text/html":
		r.HTML = body
	}
}

func decode(body io.Reader, encoding string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, err := io.ReadAll(body)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	j := 0
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// writeCert makes a self-signed certificate for 127.0.0.1 and localhost,
// writes it and its key for the server, and keeps a pool that trusts it.
func (s *Server) writeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(s.conf, "cert.pem"), certPEM, 0o600); err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(s.conf, "key.pem"), keyPEM, 0o600); err != nil {
		return err
	}
	s.pool = x509.NewCertPool()
	s.pool.AppendCertsFromPEM(certPEM)
	return nil
}
