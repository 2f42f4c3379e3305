// Quickstart walks usermgmt's main story end to end and prints it: an
// account and its admin, an invitation emailed (through the logging
// transport: the email is printed) and its link used, a login, ten wrong
// passwords and the lock, a password reset by email that lifts it, three
// months of silence and the inactivity sweep, and the user's history.
//
// The users live in a SQLite file, the library's default store: a new
// temporary file, removed at the end, unless -db names one to keep.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -db users.db
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/mail"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

func main() {
	dbPath := flag.String("db", "", "SQLite database file to keep the users in (default: a temporary file, removed at the end)")
	flag.Parse()
	if err := tell(context.Background(), *dbPath, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// tell opens the SQLite store at path, or at a temporary file when path is
// empty, and tells the story over it.
func tell(ctx context.Context, path string, w io.Writer) error {
	where := path
	if path == "" {
		dir, err := os.MkdirTemp("", "usermgmt-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "users.db")
		where = path + " (temporary)"
	}
	store, err := sqlitestore.Open(ctx, path)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(w, "users kept in SQLite file %s\n\n", where)
	err = run(ctx, store, w)
	if errors.Is(err, usermgmt.ErrDuplicateEmail) {
		return fmt.Errorf("%s already holds the quickstart's users; name a new file or none: %w", path, err)
	}
	return err
}

// run tells the story over store, writing it to w.
func run(ctx context.Context, store usermgmt.Store, w io.Writer) error {
	// A fake clock lets the story jump three months; applications use the
	// default system clock.
	clock := usermgmt.NewFakeClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	say := func(format string, args ...any) {
		fmt.Fprintf(w, "%s  %s\n", clock.Now().Format("2006-01-02"), fmt.Sprintf(format, args...))
	}
	// The library mails its own invitations, resets and notices: here the
	// logging transport prints each email (links included: development
	// only; production uses mail.SMTP).
	links := &lastLink{}
	mailer, err := mail.New(mail.Config{AppName: "Acme Portal", From: "no-reply@acme.example",
		BaseURL: "https://portal.acme.example",
		Transport: mail.TransportFunc(func(_ context.Context, msg *mail.Message) error {
			links.from(msg.Text)
			fmt.Fprintf(w, "            ✉ to %s: %q\n", msg.To.Address, msg.Subject)
			return nil
		})})
	if err != nil {
		return err
	}
	key := make([]byte, 32) // the outbox key: from a secret store in an application
	if _, err := rand.Read(key); err != nil {
		return err
	}
	m, err := usermgmt.New(store, usermgmt.WithClock(clock), usermgmt.WithSender(mailer),
		usermgmt.WithOutboxKeys(usermgmt.OutboxKey{ID: "quickstart", Key: key}))
	if err != nil {
		return err
	}
	defer m.Close()
	deliver := func() error { _, err := m.DeliverDue(ctx, usermgmt.DeliveryOptions{}); return err }

	acct, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{
		Name:  "Acme Corp",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "admin passphrase, long enough"},
	})
	if err != nil {
		return err
	}
	say("account %q created; %s is its %s", acct.Name, admin.User.Email, admin.User.Role)

	invited, err := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{
		Email: "Grace@Acme.example", FirstName: "Grace", LastName: "Hopper", Invite: true,
	})
	if err != nil {
		return err
	}
	say("invited %s, valid until %s", invited.User.Email, invited.User.InvitationExpiresAt.Format(time.DateTime))
	if err := deliver(); err != nil {
		return err
	}

	clock.Advance(26 * time.Hour)
	const password = "compilers are my kind of poetry"
	grace, err := m.AcceptInvitation(ctx, links.token, usermgmt.Acceptance{Password: password})
	if err != nil {
		return err
	}
	say("%s followed the link and accepted the invitation: %s", grace.Email, grace.Status)

	if _, err := m.Authenticate(ctx, grace.Email, password); err != nil {
		return err
	}
	say("%s logged in", grace.Email)

	for i := 1; i <= 10; i++ {
		_, err = m.Authenticate(ctx, grace.Email, fmt.Sprintf("guess number %d", i))
	}
	say("ten wrong passwords: %v", err)
	_, err = m.Authenticate(ctx, grace.Email, password)
	say("the right password now: %v", err)
	if !errors.Is(err, usermgmt.ErrLocked) {
		return fmt.Errorf("expected the user to be locked, got %v", err)
	}
	if err := deliver(); err != nil {
		return err
	}

	if err := m.RequestPasswordReset(ctx, grace.Email); err != nil {
		return err
	}
	m.Wait()
	if err := deliver(); err != nil {
		return err
	}
	const newPassword = "a fresh and longer passphrase"
	if _, err := m.ResetPassword(ctx, links.token, newPassword); err != nil {
		return err
	}
	say("%s reset the password through the emailed link: unlocked", grace.Email)
	if _, err := m.Authenticate(ctx, grace.Email, newPassword); err != nil {
		return err
	}
	say("%s logged in again", grace.Email)
	if err := deliver(); err != nil {
		return err
	}

	graceLast := clock.Now()
	clock.Advance(60 * 24 * time.Hour)
	if _, err := m.Authenticate(ctx, admin.User.Email, "admin passphrase, long enough"); err != nil {
		return err
	}
	say("%s logged in; %s has not", admin.User.Email, grace.Email)
	// Three months and a day after Grace's last login; Ada's is more recent.
	clock.Set(graceLast.AddDate(0, 3, 1))
	res, err := m.Sweep(ctx)
	if err != nil {
		return err
	}
	_, err = m.Authenticate(ctx, grace.Email, newPassword)
	say("three months on, the sweep made %d user(s) inactive; %s logging in: %v", res.Inactive, grace.Email, err)

	history, err := m.History(ctx, admin.User.ID, usermgmt.AuditQuery{UserID: grace.ID})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nhistory of %s, newest first:\n", grace.Email)
	for _, ev := range history.Items {
		actor := ev.ActorEmail
		if actor == "" {
			actor = ev.ActorID
		}
		var changes []string
		for _, c := range ev.Changes {
			if c.Old == "" { // a field set afresh, or a password (never shown)
				changes = append(changes, fmt.Sprintf("%s: %q", c.Field, c.New))
				continue
			}
			changes = append(changes, fmt.Sprintf("%s: %q → %q", c.Field, c.Old, c.New))
		}
		fmt.Fprintf(w, "  %s  %-14s by %-17s %s\n", ev.At.Format(time.DateTime), ev.Action, actor, strings.Join(changes, ", "))
	}
	return nil
}

// lastLink keeps the token of the last link an email carried.
type lastLink struct{ token string }

var linkToken = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

func (l *lastLink) from(text string) {
	if m := linkToken.FindStringSubmatch(text); m != nil {
		l.token = m[1]
	}
}
