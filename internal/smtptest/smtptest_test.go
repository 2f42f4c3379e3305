package smtptest

import (
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// A message with a non-ASCII subject and two parts, one quoted-printable
// and one base64.
const rawMessage = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?UTF-8?q?Gr=C3=BCezi?=\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=XYZ\r\n" +
	"\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=C3=BCezi, a long line that wraps=\r\n here.\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+R3LDvGV6aTwv\r\ncD4=\r\n" +
	"--XYZ--\r\n"

// send delivers rawMessage from a@example.com to the recipients over c.
func send(c *smtp.Client, to ...string) error {
	if err := c.Mail("a@example.com"); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			_ = c.Reset()
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(rawMessage)); err != nil {
		return err
	}
	return w.Close()
}

func dial(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func replyCode(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	return 0
}

func TestStoresAndParsesMessages(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	if err := send(c, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "c@example.com", "d@example.com"); err != nil {
		t.Fatal(err)
	}
	got := s.WaitFor(t, 2, 10*time.Second)
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	r := got[0]
	if r.EnvelopeFrom != "a@example.com" || strings.Join(r.EnvelopeTo, ",") != "b@example.com" {
		t.Errorf("envelope %q → %q", r.EnvelopeFrom, r.EnvelopeTo)
	}
	if r.Subject != "Grüezi" {
		t.Errorf("Subject %q, want Grüezi", r.Subject)
	}
	if r.MediaType != "multipart/alternative" || strings.Join(r.Parts, ",") != "text/plain,text/html" {
		t.Errorf("media type %q, parts %q", r.MediaType, r.Parts)
	}
	if r.Text != "Grüezi, a long line that wraps here." {
		t.Errorf("text part %q", r.Text)
	}
	if r.HTML != "<p>Grüezi</p>" {
		t.Errorf("html part %q", r.HTML)
	}
	if r.Header.Get("Message-Id") != "<1@example.com>" || !strings.HasPrefix(string(r.Raw), "From: a@example.com\r\n") {
		t.Errorf("header or raw bytes not kept: %q", r.Raw[:40])
	}
	if strings.Join(got[1].EnvelopeTo, ",") != "c@example.com,d@example.com" {
		t.Errorf("second envelope to %q", got[1].EnvelopeTo)
	}
	if got[0].Conn != got[1].Conn {
		t.Errorf("one connection numbered %d and %d", got[0].Conn, got[1].Conn)
	}
}

func TestRefuseDeferAccept(t *testing.T) {
	s := Start(t)
	s.RefuseRecipient("no@example.com")
	s.DeferRecipient("later@example.com")
	c := dial(t, s)
	err := send(c, "no@example.com")
	if replyCode(err) != 550 || !strings.Contains(err.Error(), "no@example.com refused by the test server") {
		t.Errorf("refused recipient: %v", err)
	}
	if err := send(c, "later@example.com"); replyCode(err) != 451 {
		t.Errorf("deferred recipient: %v", err)
	}
	s.AcceptRecipient("no@example.com")
	if err := send(c, "no@example.com"); err != nil {
		t.Errorf("accepted again: %v", err)
	}
	if got := s.WaitFor(t, 1, 10*time.Second); len(got) != 1 {
		t.Errorf("got %d messages, want 1", len(got))
	}
}

func TestDropNext(t *testing.T) {
	s := Start(t)
	s.DropNext(2)
	for i := range 2 {
		if err := send(dial(t, s), "b@example.com"); err == nil {
			t.Fatalf("message %d went through a dropped connection", i)
		}
	}
	if err := send(dial(t, s), "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := s.WaitFor(t, 1, 10*time.Second); len(got) != 1 {
		t.Errorf("got %d messages, want only the complete one", len(got))
	}
}

func TestStopRestartSamePort(t *testing.T) {
	s := Start(t)
	s.RefuseRecipient("no@example.com")
	if err := send(dial(t, s), "b@example.com"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a stopped server accepted a connection")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", s.Addr(), addr)
	}
	c := dial(t, s)
	if err := send(c, "no@example.com"); replyCode(err) != 550 {
		t.Errorf("the refusal did not survive the restart: %v", err)
	}
	if err := send(c, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	got := s.WaitFor(t, 2, 10*time.Second)
	if len(got) != 2 || got[0].File == got[1].File {
		t.Errorf("the restarted server overwrote or lost a message: %d messages", len(got))
	}
}

// The server exits by itself when its standard input closes, which is
// what happens when the test binary dies.
func TestExitsWhenStdinCloses(t *testing.T) {
	s := Start(t)
	s.mu.Lock()
	cmd, stdin := s.cmd, s.stdin
	s.cmd, s.stdin = nil, nil
	s.mu.Unlock()
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("server still running 10s after its stdin closed")
	}
}
