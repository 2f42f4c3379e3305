package main

import (
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/internal/smtptest"
)

// TestServerRestarts runs the server on each store, stops it with SIGINT
// and starts it again on the same store and key file: the first start
// invites the admin, the second finds them and prints nothing, and what
// the first stored (the password, the account) is there.
func TestServerRestarts(t *testing.T) {
	for _, kind := range []string{"sqlite", "redis", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			mail := smtptest.Start(t)
			mb := &mailbox{smtp: mail}
			args := append(storeArgs(t, kind), smtpArgs(mail)...)
			args = append(args, "-outbox-key", filepath.Join(t.TempDir(), "outbox.key"))

			first := startServer(t, args...)
			if _, ok := first.stdout.waitPrefix("admin invitation: ", time.Second); !ok {
				t.Fatal("no invitation printed on the first start")
			}
			c := newClient(t, first)
			c.want(http.StatusNoContent, "POST", "/admin/api/public/invitation/accept",
				map[string]string{"token": token(t, mb.next(t, "admin@acme.example", "invit")), "password": "kept across restarts"})
			c.login("admin@acme.example", "kept across restarts")
			if code := first.stop(syscall.SIGINT, 30*time.Second); code != 0 {
				t.Fatalf("exit code %d after SIGINT", code)
			}

			second := startServer(t, args...)
			if _, ok := second.stdout.waitPrefix("admin invitation: ", 0); ok {
				t.Fatal("the second start invited an admin again")
			}
			c = newClient(t, second)
			c.login("admin@acme.example", "kept across restarts")
			var accounts struct {
				Items []struct {
					Name string `json:"name"`
				} `json:"items"`
			}
			c.want(http.StatusOK, "GET", "/admin/api/accounts", nil).decode(t, &accounts)
			if len(accounts.Items) != 1 || accounts.Items[0].Name != "Acme" {
				t.Fatalf("accounts after a restart: %+v", accounts.Items)
			}
			if code := second.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
				t.Fatalf("exit code %d after SIGTERM", code)
			}
		})
	}
}
