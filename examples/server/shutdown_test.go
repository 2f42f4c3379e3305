package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/internal/smtptest"
)

// TestServerDrainsOnSIGTERM sends SIGTERM while a login is in flight: the
// server stops taking connections but finishes the login, then exits 0.
// "In flight" is known without sleeping: the request carries Expect:
// 100-continue, and Go's server sends 100 Continue only once the handler
// reads the body, so the body goes out after the signal.
func TestServerDrainsOnSIGTERM(t *testing.T) {
	mail := smtptest.Start(t)
	mb := &mailbox{smtp: mail}
	srv := startServer(t, append(storeArgs(t, e2eStore()), smtpArgs(mail)...)...)
	c := newClient(t, srv)
	c.want(http.StatusNoContent, "POST", "/admin/api/public/invitation/accept",
		map[string]string{"token": token(t, mb.next(t, "admin@acme.example", "invit")), "password": "draining gracefully"})

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	body := `{"email":"admin@acme.example","password":"draining gracefully"}`
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: server\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("waiting for 100 Continue: %q, %v", line, err)
	}
	if _, err := rd.ReadString('\n'); err != nil { // the blank line ending the interim response
		t.Fatal(err)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes; the login in flight goes on.
	if !srv.stderr.waitContains("shutting down", 30*time.Second) {
		t.Fatal("the server did not start shutting down")
	}
	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("the login in flight got no answer: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 {
		t.Fatalf("the login in flight: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	select {
	case <-srv.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit after the last request")
	}
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
