// Command smtpd is a small SMTP server for tests: package smtptest builds it
// and runs it as a separate process on a loopback port, so that a client
// under test speaks real SMTP over a real socket to a server it can crash.
//
// Every message it accepts is written to -dir as NNNNNNNN.json (the number
// of the SMTP session it came on, envelope sender, recipients and the raw
// message), first to a temporary name and
// then renamed, so a reader never sees half a message. A message whose
// connection is dropped is never written.
//
// On start it prints "listening HOST:PORT" on standard output. It then reads
// commands on standard input, one a line, and answers each with "ok" or
// "error: reason":
//
//	refuse ADDR   answer RCPT TO:<ADDR> with 550 (a permanent refusal)
//	defer ADDR    answer RCPT TO:<ADDR> with 451 (a temporary refusal)
//	accept ADDR   take ADDR back from refuse or defer
//	drop N        close the connection in the middle of DATA of the next N messages
//
// It exits when standard input is closed, so it never outlives the process
// that started it.
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// stored is one accepted message as written to the directory.
type stored struct {
	Conn int64    `json:"conn"` // the session that brought it, numbered from 1 per process
	From string   `json:"from"`
	To   []string `json:"to"`
	Data []byte   `json:"data"`
}

type server struct {
	dir      string
	user     string
	pass     string
	seq      atomic.Int64
	conns    atomic.Int64
	dropNext atomic.Int64

	mu      sync.Mutex
	refused map[string]int // lower-cased address → reply code
}

func main() {
	dir := flag.String("dir", "", "directory the received messages are written to (required)")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	tlsMode := flag.String("tls", "", `"" (plain), "starttls" or "implicit"`)
	certFile := flag.String("cert", "", "PEM certificate for -tls")
	keyFile := flag.String("key", "", "PEM private key for -tls")
	user := flag.String("auth-user", "", "require AUTH (PLAIN, LOGIN, CRAM-MD5) with this user name")
	pass := flag.String("auth-pass", "", "the password for -auth-user")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("smtpd: ")
	if *dir == "" {
		log.Fatal("-dir is required")
	}

	s := &server{dir: *dir, user: *user, pass: *pass, refused: map[string]int{}}
	if err := s.initSeq(); err != nil {
		log.Fatal(err)
	}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "smtptest.localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true                 // addresses may have non-ASCII local parts
	srv.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are the point of some tests

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	switch *tlsMode {
	case "":
	case "starttls", "implicit":
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if *tlsMode == "implicit" {
			ln = tls.NewListener(ln, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	default:
		log.Fatalf("unknown -tls %q", *tlsMode)
	}

	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "listening %s\n", ln.Addr())
	out.Flush()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := s.command(in.Text()); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		} else {
			fmt.Fprintln(out, "ok")
		}
		out.Flush()
	}
	// Standard input closed: the parent is gone or wants us gone.
	os.Exit(0)
}

// initSeq continues the numbering of the messages already in the directory,
// so a restarted server never overwrites what it received before.
func (s *server) initSeq() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return err
	}
	var last int64
	for _, name := range names {
		n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), ".json"), 10, 64)
		if err == nil && n > last {
			last = n
		}
	}
	s.seq.Store(last)
	return nil
}

func (s *server) command(line string) error {
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch verb {
	case "refuse", "defer", "accept":
		if arg == "" {
			return fmt.Errorf("%s needs an address", verb)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch verb {
		case "refuse":
			s.refused[strings.ToLower(arg)] = 550
		case "defer":
			s.refused[strings.ToLower(arg)] = 451
		default:
			delete(s.refused, strings.ToLower(arg))
		}
		return nil
	case "drop":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return fmt.Errorf("drop needs a count, not %q", arg)
		}
		s.dropNext.Store(int64(n))
		return nil
	default:
		return fmt.Errorf("unknown command %q", verb)
	}
}

// takeDrop reports whether the message now in DATA is one to drop.
func (s *server) takeDrop() bool {
	for {
		n := s.dropNext.Load()
		if n <= 0 {
			return false
		}
		if s.dropNext.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *server) save(m stored) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%08d.json", s.seq.Add(1))
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(s.dir, name))
}

func (s *server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c, id: s.conns.Add(1)}, nil
}

type session struct {
	srv    *server
	conn   *smtp.Conn
	id     int64
	authed bool
	from   string
	to     []string
}

func (se *session) Reset() {
	se.from = ""
	se.to = nil
}

func (se *session) Logout() error { return nil }

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.srv.user != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.srv.mu.Lock()
	code := se.srv.refused[strings.ToLower(to)]
	se.srv.mu.Unlock()
	switch code {
	case 550:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "mailbox unavailable: " + to + " refused by the test server"}
	case 451:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "try again later: " + to + " deferred by the test server"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	if se.srv.takeDrop() {
		// Take part of the message, then vanish as a crashing server would.
		_, _ = io.ReadFull(r, make([]byte, 64))
		_ = se.conn.Conn().Close()
		return errors.New("connection dropped by the test server")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := se.srv.save(stored{Conn: se.id, From: se.from, To: se.to, Data: data}); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store: " + err.Error()}
	}
	return nil
}

// AuthMechanisms offers AUTH only when the server was told to require it.
func (se *session) AuthMechanisms() []string {
	if se.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login, "CRAM-MD5"}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.srv.user == "" {
		return nil, smtp.ErrAuthUnsupported
	}
	check := func(user, pass string) error {
		if user != se.srv.user || pass != se.srv.pass {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{srv: se.srv, check: func(user string) error {
			if user != se.srv.user {
				return smtp.ErrAuthFailed
			}
			se.authed = true
			return nil
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of the LOGIN mechanism: it asks for the
// user name, then the password.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil { // an initial response carries the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(response))
	}
}

// cramServer is the server side of CRAM-MD5 (RFC 2195).
type cramServer struct {
	srv       *server
	check     func(user string) error
	challenge []byte
}

func (c *cramServer) Next(response []byte) ([]byte, bool, error) {
	if c.challenge == nil {
		c.challenge = fmt.Appendf(nil, "<%d.%d@smtptest.localhost>", os.Getpid(), time.Now().UnixNano())
		return c.challenge, false, nil
	}
	user, digest, ok := strings.Cut(string(response), " ")
	if !ok {
		return nil, true, smtp.ErrAuthFailed
	}
	mac := hmac.New(md5.New, []byte(c.srv.pass))
	mac.Write(c.challenge)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(digest)) {
		return nil, true, smtp.ErrAuthFailed
	}
	return nil, true, c.check(user)
}
