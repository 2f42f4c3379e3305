package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/internal/smtptest"
)

// e2eStore is the store the story runs on: SQLite, the default, unless
// USERMGMT_SERVER_STORE names redis or postgres.
func e2eStore() string { return os.Getenv("USERMGMT_SERVER_STORE") }

// user is the part of a user the tests read.
type user struct {
	ID             string `json:"id"`
	AccountID      string `json:"account_id"`
	Email          string `json:"email"`
	Status         string `json:"status"`
	SessionVersion int64  `json:"session_version"`
}

// TestServerStory drives the seed stories through the server process:
// the first start's invitation, accepting it, login, an invitation by the
// admin, ten wrong passwords and the lock, the unlock and the history, an
// import, a password reset by email, a cross-tenant admin refused, logout,
// and SIGTERM.
func TestServerStory(t *testing.T) {
	mail := smtptest.Start(t)
	mb := &mailbox{smtp: mail}
	srv := startServer(t, append(storeArgs(t, e2eStore()), smtpArgs(mail)...)...)

	// First start: the account is created and its admin invited; the link
	// is printed and mailed.
	printed, ok := srv.stdout.waitPrefix("admin invitation: ", time.Second)
	if !ok {
		t.Fatal("no invitation link printed on first start")
	}
	inv := mb.next(t, "admin@acme.example", "invit")
	adminToken := token(t, inv)
	if !strings.HasSuffix(printed, "token="+adminToken) || !strings.HasPrefix(printed, srv.URL+"/invitation?") {
		t.Fatalf("printed link %q; the email's token is %s", printed, adminToken)
	}
	anon := newClient(t, srv)
	anon.want(http.StatusNoContent, "POST", "/admin/api/public/invitation/accept",
		map[string]string{"token": adminToken, "password": "root of every account here"})

	admin := newClient(t, srv)
	admin.want(http.StatusUnauthorized, "GET", "/admin/api/users", nil) // no session yet
	admin.login("admin@acme.example", "root of every account here")
	var me user
	admin.want(http.StatusOK, "GET", "/me", nil).decode(t, &me)
	if me.Email != "admin@acme.example" || me.Status != "active" {
		t.Fatalf("GET /me: %+v", me)
	}

	var invited struct {
		User user `json:"user"`
	}
	admin.want(http.StatusCreated, "POST", "/admin/api/invitations",
		map[string]string{"email": "grace@acme.example", "first_name": "Grace", "last_name": "Hopper"}).decode(t, &invited)
	grace := invited.User
	const gracePassword = "compilers are my kind of poetry"
	anon.want(http.StatusNoContent, "POST", "/admin/api/public/invitation/accept",
		map[string]string{"token": token(t, mb.next(t, "grace@acme.example", "invit")), "password": gracePassword})

	graceBrowser := newClient(t, srv)
	graceBrowser.login("grace@acme.example", gracePassword)

	t.Run("ten wrong passwords lock, the admin unlocks, history shows it", func(t *testing.T) {
		admin, graceBrowser := admin.with(t), graceBrowser.with(t)
		attacker := newClient(t, srv)
		for i := range 10 {
			r := attacker.do("POST", "/login", map[string]string{"email": "grace@acme.example", "password": "guess " + strings.Repeat("x", i+8)})
			if r.Status != http.StatusUnauthorized || r.code() != "invalid_credentials" {
				t.Fatalf("wrong password %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		// Locked: the right password is refused too, exactly like a wrong one.
		r := attacker.do("POST", "/login", map[string]string{"email": "grace@acme.example", "password": gracePassword})
		if r.Status != http.StatusUnauthorized || r.code() != "invalid_credentials" {
			t.Fatalf("right password while locked: %d %s", r.Status, r.Body)
		}
		var got user
		admin.want(http.StatusOK, "GET", "/admin/api/users/"+grace.ID, nil).decode(t, &got)
		if got.Status != "locked" {
			t.Fatalf("after ten wrong passwords: status %q", got.Status)
		}
		mb.next(t, "grace@acme.example", "has been locked") // the owner of the mailbox is told
		// The lock ended the session Grace had open.
		graceBrowser.want(http.StatusUnauthorized, "GET", "/me", nil)

		admin.want(http.StatusOK, "POST", "/admin/api/users/"+grace.ID+"/unlock", map[string]string{"reason": "called the help desk"}).decode(t, &got)
		if got.Status != "active" {
			t.Fatalf("after unlock: status %q", got.Status)
		}
		graceBrowser.login("grace@acme.example", gracePassword)

		var history struct {
			Items []struct {
				Action     string `json:"action"`
				ActorEmail string `json:"actor_email"`
				Reason     string `json:"reason"`
			} `json:"items"`
		}
		admin.want(http.StatusOK, "GET", "/admin/api/users/"+grace.ID+"/history", nil).decode(t, &history)
		var actions []string
		for _, ev := range history.Items {
			actions = append(actions, ev.Action)
		}
		// Newest first.
		if want := []string{"unlock", "lock", "accept", "invite"}; !slices.Equal(actions, want) {
			t.Fatalf("history actions %v, want %v", actions, want)
		}
		if ev := history.Items[0]; ev.ActorEmail != "admin@acme.example" || ev.Reason != "called the help desk" {
			t.Fatalf("unlock event: %+v", ev)
		}
	})

	t.Run("import a CSV and read its report", func(t *testing.T) {
		admin := admin.with(t)
		csv := "Email,First Name,Last Name\n" +
			"linus@acme.example,Linus,Torvalds\n" +
			"not an address,Bad,Row\n" +
			"grace@acme.example,Grace,Again\n" +
			"LINUS@acme.example,Linus,Twice\n"
		var report struct {
			DryRun bool `json:"dry_run"`
			Rows   []struct {
				Line        int    `json:"line"`
				Email       string `json:"email"`
				Outcome     string `json:"outcome"`
				DuplicateOf int    `json:"duplicate_of"`
			} `json:"rows"`
		}
		upload(t, admin, "/admin/api/import?dry_run=true", "users.csv", csv).decode(t, &report)
		if !report.DryRun || len(report.Rows) != 4 || report.Rows[0].Outcome != "invited" {
			t.Fatalf("dry run report: %+v", report)
		}
		admin.want(http.StatusNotFound, "POST", "/admin/api/users/lookup", map[string]string{"email": "linus@acme.example"})

		upload(t, admin, "/admin/api/import", "users.csv", csv).decode(t, &report)
		outcomes := []string{}
		for _, r := range report.Rows {
			outcomes = append(outcomes, r.Outcome)
		}
		if want := []string{"invited", "rejected_invalid", "skipped_exists", "skipped_duplicate"}; report.DryRun || !slices.Equal(outcomes, want) {
			t.Fatalf("import outcomes %v, want %v (%+v)", outcomes, want, report)
		}
		if report.Rows[3].DuplicateOf != 2 {
			t.Fatalf("the duplicate row points at line %d, want 2", report.Rows[3].DuplicateOf)
		}
		mb.next(t, "linus@acme.example", "invit")
	})

	t.Run("password reset through the emailed link", func(t *testing.T) {
		anon, graceBrowser := anon.with(t), graceBrowser.with(t)
		anon.want(http.StatusAccepted, "POST", "/admin/api/public/password-reset", map[string]string{"email": "Grace@Acme.example"})
		// An unknown address gets the same answer, and no email.
		anon.want(http.StatusAccepted, "POST", "/admin/api/public/password-reset", map[string]string{"email": "nobody@acme.example"})
		reset := mb.next(t, "grace@acme.example", "Reset your")
		const newPassword = "a brand new and long passphrase"
		anon.want(http.StatusNoContent, "POST", "/admin/api/public/password-reset/confirm",
			map[string]string{"token": token(t, reset), "password": newPassword})
		mb.next(t, "grace@acme.example", "password was changed") // the notice that it changed
		// The reset ended every session; the old password no longer works.
		graceBrowser.want(http.StatusUnauthorized, "GET", "/me", nil)
		if r := graceBrowser.do("POST", "/login", map[string]string{"email": "grace@acme.example", "password": gracePassword}); r.Status != http.StatusUnauthorized {
			t.Fatalf("old password after the reset: %d %s", r.Status, r.Body)
		}
		graceBrowser.login("grace@acme.example", newPassword)
	})

	t.Run("an admin of another tenant gets 404", func(t *testing.T) {
		admin, anon := admin.with(t), anon.with(t)
		var sub struct {
			Account struct {
				ID string `json:"id"`
			} `json:"account"`
			Admin struct {
				User user `json:"user"`
			} `json:"admin"`
		}
		admin.want(http.StatusCreated, "POST", "/admin/api/accounts", map[string]any{"name": "Client B", "parent_id": me.AccountID,
			"admin": map[string]any{"email": "bob@clientb.example", "first_name": "Bob", "last_name": "B", "invite": true}}).decode(t, &sub)
		anon.want(http.StatusNoContent, "POST", "/admin/api/public/invitation/accept",
			map[string]string{"token": token(t, mb.next(t, "bob@clientb.example", "invit")), "password": "client b runs on this phrase"})
		bob := newClient(t, srv)
		bob.login("bob@clientb.example", "client b runs on this phrase")

		// Grace is in Acme, above Client B: out of Bob's reach, and
		// answered exactly like a user who does not exist.
		for _, r := range []response{
			bob.do("GET", "/admin/api/users/"+grace.ID, nil),
			bob.do("POST", "/admin/api/users/"+grace.ID+"/ban", map[string]string{}),
			bob.do("GET", "/admin/api/users/"+grace.ID+"/history", nil),
			bob.do("GET", "/admin/api/users/01a20000-0000-7000-8000-000000000000", nil),
		} {
			if r.Status != http.StatusNotFound || r.code() != "not_found" {
				t.Fatalf("Bob reaching into Acme: %d %s", r.Status, r.Body)
			}
		}
		var got user
		admin.want(http.StatusOK, "GET", "/admin/api/users/"+grace.ID, nil).decode(t, &got)
		if got.Status != "active" {
			t.Fatalf("Grace after Bob's attempts: %q", got.Status)
		}
		// Acme's admin reaches down into Client B.
		admin.want(http.StatusOK, "GET", "/admin/api/users/"+sub.Admin.User.ID, nil)
	})

	t.Run("logout ends the session", func(t *testing.T) {
		graceBrowser := graceBrowser.with(t)
		cookies := graceBrowser.http.Jar.Cookies(mustURL(t, srv.URL))
		graceBrowser.want(http.StatusOK, "GET", "/me", nil)
		graceBrowser.want(http.StatusNoContent, "POST", "/logout", nil)
		graceBrowser.want(http.StatusUnauthorized, "GET", "/me", nil)
		// The old cookie, replayed, opens nothing: the session is gone
		// from the server, not only from the browser.
		req, _ := http.NewRequest("GET", srv.URL+"/me", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		if r := newClient(t, srv).send(req); r.Status != http.StatusUnauthorized {
			t.Fatalf("replayed cookie after logout: %d %s", r.Status, r.Body)
		}
	})

	if code := srv.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(srv.stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", srv.stderr)
	}
}

// upload posts a file to the import route as multipart/form-data and
// fails the test unless it is answered 200.
func upload(t *testing.T, c *client, path, name, content string) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(content))
	mw.Close()
	req, err := http.NewRequest("POST", c.base+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r := c.send(req)
	if r.Status != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
	}
	return r
}
