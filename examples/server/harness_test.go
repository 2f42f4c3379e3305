package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/pgtest"
	"github.com/usermgmt/usermgmt/internal/smtptest"
)

// The end-to-end tests build the server once, start it as a process on a
// free port, and talk to it over HTTP as a browser or a script would, with
// its mail going to a throwaway SMTP server (internal/smtptest).

func TestMain(m *testing.M) {
	code := smtptest.Run(m)
	for _, f := range cleanups {
		f()
	}
	os.Exit(code)
}

// cleanups run after every test: they remove the built server and stop
// the throwaway Redis and PostgreSQL servers.
var cleanups []func()

var built struct {
	once sync.Once
	bin  string
	err  error
}

// serverBinary builds the server once per test binary, with the go command
// on PATH (GOFLAGS, such as -race or -tags, reach it through the
// environment).
func serverBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "usermgmt-server-")
		if err != nil {
			built.err = err
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		built.bin = filepath.Join(dir, "server")
		out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// proc is a running server process.
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string // http://127.0.0.1:PORT
	stdout  *lineLog
	stderr  *lineLog
	exited  chan struct{}
	exitErr error
}

// lineLog collects a stream's lines and lets a test wait for one. It is
// the process's Stdout or Stderr, so cmd.Wait returns only once every line
// is in.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	more    chan struct{} // closed and replaced at each line
}

func newLineLog() *lineLog { return &lineLog{more: make(chan struct{})} }

// Write takes the process's output.
func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		close(l.more)
		l.more = make(chan struct{})
	}
}

// String is every line so far.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitContains reports whether a line containing s arrives within
// timeout.
func (l *lineLog) waitContains(s string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if strings.Contains(line, s) {
				l.mu.Unlock()
				return true
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			return false
		}
	}
}

// waitPrefix returns the rest of the first line starting with prefix,
// waiting up to timeout for it.
func (l *lineLog) waitPrefix(prefix string, timeout time.Duration) (string, bool) {
	return l.waitPrefixUnless(prefix, timeout, nil)
}

// waitPrefixUnless is waitPrefix giving up early when stop is closed.
func (l *lineLog) waitPrefixUnless(prefix string, timeout time.Duration, stop <-chan struct{}) (string, bool) {
	deadline := time.After(timeout)
	for stopped := false; ; {
		l.mu.Lock()
		for _, line := range l.lines {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				l.mu.Unlock()
				return rest, true
			}
		}
		more := l.more
		l.mu.Unlock()
		if stopped {
			return "", false
		}
		select {
		case <-more:
		case <-stop:
			stopped = true // look once more: every line is in
		case <-deadline:
			return "", false
		}
	}
}

// startServer starts the built server with args (after -addr 127.0.0.1:0
// and an -outbox-key file of its own) and waits until it says where it listens. The test's end kills it if it
// is still running, and logs its output when the test failed.
func startServer(t testing.TB, args ...string) *proc {
	t.Helper()
	bin := serverBinary(t)
	args = append([]string{"-addr", "127.0.0.1:0", "-outbox-key", filepath.Join(t.TempDir(), "outbox.key")}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "USERMGMT_SMTP_PASSWORD=") // nothing from the developer's environment
	cmd.SysProcAttr = procAttr()
	p := &proc{t: t, cmd: cmd, stdout: newLineLog(), stderr: newLineLog(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server stdout:\n%s\nserver stderr:\n%s", p.stdout, p.stderr)
		}
	})
	addr, ok := p.stdout.waitPrefixUnless("listening on ", 30*time.Second, p.exited)
	if !ok {
		select {
		case <-p.exited:
			t.Fatalf("the server exited (%v) before it listened\nstderr:\n%s", p.exitErr, p.stderr)
		default:
			t.Fatalf("the server did not say where it listens within 30s\nstderr:\n%s", p.stderr)
		}
	}
	p.URL = addr
	return p
}

// stop sends sig and returns the exit code, failing the test when the
// server does not exit within timeout.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("the server did not exit within %v of %v", timeout, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// client is an HTTP client with its own cookie jar: one browser.
type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func newClient(t testing.TB, p *proc) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: p.URL, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// with returns the client failing t instead: a subtest's.
func (c *client) with(t testing.TB) *client {
	d := *c
	d.t = t
	return &d
}

// response is an answer, its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode unmarshals the body into v, failing the test when it cannot.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// code is the problem code of an error answer.
func (r response) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// do sends a request with a JSON body (nil for none) and reads the answer.
func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

// send sends req and reads the answer.
func (c *client) send(req *http.Request) response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// want sends a request and fails the test unless the answer has status.
func (c *client) want(status int, method, path string, body any) response {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.Status != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	return r
}

// login signs in and fails the test unless it works.
func (c *client) login(email, password string) {
	c.t.Helper()
	c.want(http.StatusOK, "POST", "/login", map[string]string{"email": email, "password": password})
}

var tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// mailbox reads what the SMTP server received, by recipient.
type mailbox struct {
	smtp *smtptest.Server
	seen int
}

// next waits for the next message to arrive and returns it, checking its
// recipient and that its subject holds subject.
func (mb *mailbox) next(t testing.TB, to, subject string) smtptest.Received {
	t.Helper()
	msgs := mb.smtp.WaitFor(t, mb.seen+1, 30*time.Second)
	got := msgs[mb.seen]
	mb.seen++
	if len(got.EnvelopeTo) != 1 || got.EnvelopeTo[0] != to || !strings.Contains(got.Subject, subject) {
		t.Fatalf("message %d: to %v, subject %q; want to %s, subject with %q", mb.seen, got.EnvelopeTo, got.Subject, to, subject)
	}
	return got
}

// token is the token of the link in a message.
func token(t testing.TB, msg smtptest.Received) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no link with a token in %q", msg.Text)
	}
	return m[1]
}

// smtpArgs points the server at s, a loopback server without TLS.
func smtpArgs(s *smtptest.Server) []string {
	return []string{"-smtp-host", s.Host(), "-smtp-port", strconv.Itoa(s.Port()), "-smtp-tls", "none",
		"-smtp-from", "no-reply@acme.example", "-delivery-poll", "50ms"}
}

// storeArgs returns the flags that put the server's users in a fresh
// store of the kind named (sqlite, redis or postgres), skipping the test
// when that kind's server is not available.
func storeArgs(t testing.TB, kind string) []string {
	t.Helper()
	switch kind {
	case "", "sqlite":
		return []string{"-db", filepath.Join(t.TempDir(), "users.db")}
	case "redis":
		return []string{"-redis", redisURL(t), "-redis-prefix", fmt.Sprintf("usermgmt-e2e:%d:", time.Now().UnixNano())}
	case "postgres":
		return []string{"-postgres", postgresURL(t)}
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

var redisServer struct {
	once sync.Once
	url  string
	skip string
}

// redisURL is a throwaway redis-server's URL, started on a free loopback
// port on first use and stopped after the tests; never a Redis the machine
// runs. USERMGMT_TEST_REDIS_URL names one to use instead.
func redisURL(t testing.TB) string {
	t.Helper()
	redisServer.once.Do(func() {
		if u := os.Getenv("USERMGMT_TEST_REDIS_URL"); u != "" {
			redisServer.url = u
			return
		}
		if _, err := exec.LookPath("redis-server"); err != nil {
			redisServer.skip = "no redis-server on PATH (Debian: apt-get install redis-server)"
			return
		}
		dir, err := os.MkdirTemp("", "usermgmt-server-redis-")
		if err != nil {
			redisServer.skip = err.Error()
			return
		}
		port, err := fixture.FreePort()
		if err != nil {
			redisServer.skip = err.Error()
			return
		}
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--logfile", "redis.log")
		cmd.SysProcAttr = procAttr()
		if err := cmd.Start(); err != nil {
			redisServer.skip = err.Error()
			return
		}
		cleanups = append(cleanups, func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) })
		redisServer.url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		defer rdb.Close()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := rdb.Ping(ctx).Err()
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				redisServer.skip = "redis-server did not answer: " + err.Error()
				return
			}
		}
	})
	if redisServer.skip != "" {
		if os.Getenv("USERMGMT_REQUIRE_REDIS") == "1" {
			t.Fatal(redisServer.skip)
		}
		t.Skip(redisServer.skip)
	}
	return redisServer.url
}

var pgServer struct {
	once sync.Once
	srv  *pgtest.Server
	url  string
	skip string
}

// postgresURL is the URL of a fresh database on a throwaway PostgreSQL
// cluster (internal/pgtest), started on first use and removed after the
// tests. USERMGMT_TEST_POSTGRES_URL names a server to use instead.
func postgresURL(t testing.TB) string {
	t.Helper()
	pgServer.once.Do(func() {
		if u := os.Getenv(pgtest.EnvURL); u != "" {
			pgServer.url = u
			return
		}
		srv, err := pgtest.Start("")
		if err != nil {
			pgServer.skip = "no PostgreSQL: " + err.Error()
			return
		}
		cleanups = append(cleanups, srv.Remove)
		pgServer.srv = srv
	})
	if pgServer.skip != "" {
		if os.Getenv("USERMGMT_REQUIRE_POSTGRES") == "1" {
			t.Fatal(pgServer.skip)
		}
		t.Skip(pgServer.skip)
	}
	if pgServer.srv == nil {
		return pgServer.url
	}
	// A database of its own for each test.
	name := fmt.Sprintf("e2e_%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgServer.srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return pgServer.srv.URL(name)
}

// mustURL parses a URL the test made.
func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
