// Quickstart walks usermgmt's main story end to end and prints it: an
// account and its admin, an invitation accepted, a login, ten wrong
// passwords and the lock, the admin's unlock, three months of silence and
// the inactivity sweep, and the user's history.
//
// The users live in a SQLite file, the library's default store: a new
// temporary file, removed at the end, unless -db names one to keep.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -db users.db
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
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
	m, err := usermgmt.New(store, usermgmt.WithClock(clock))
	if err != nil {
		return err
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(w, "%s  %s\n", clock.Now().Format("2006-01-02"), fmt.Sprintf(format, args...))
	}

	acct, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{
		Name:  "Acme Corp",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "admin passphrase, long enough"},
	})
	if err != nil {
		return err
	}
	say("account %q created; %s is its %s", acct.Name, admin.User.Email, admin.User.Role)

	invited, err := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{
		AccountID: acct.ID, Email: "Grace@Acme.example", FirstName: "Grace", LastName: "Hopper",
	})
	if err != nil {
		return err
	}
	inv, err := m.Invitation(ctx, invited.InvitationToken)
	if err != nil {
		return err
	}
	say("invited %s (token %s…, valid until %s)", inv.Email, invited.InvitationToken[:8], inv.ExpiresAt.Format(time.DateTime))

	clock.Advance(26 * time.Hour)
	const password = "compilers are my kind of poetry"
	grace, err := m.AcceptInvitation(ctx, invited.InvitationToken, usermgmt.Acceptance{Password: password})
	if err != nil {
		return err
	}
	say("%s accepted the invitation: %s", grace.Email, grace.Status)

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

	if _, err := m.Unlock(ctx, admin.User.ID, grace.ID, ""); err != nil {
		return err
	}
	say("%s unlocked %s", admin.User.Email, grace.Email)
	if _, err := m.Authenticate(ctx, grace.Email, password); err != nil {
		return err
	}
	say("%s logged in again", grace.Email)

	clock.Advance(60 * 24 * time.Hour)
	if _, err := m.Authenticate(ctx, admin.User.Email, "admin passphrase, long enough"); err != nil {
		return err
	}
	say("%s logged in; %s has not", admin.User.Email, grace.Email)
	clock.Set(grace.ActivatedAt.AddDate(0, 3, 1))
	n, err := m.Sweep(ctx)
	if err != nil {
		return err
	}
	_, err = m.Authenticate(ctx, grace.Email, password)
	say("three months on, the sweep made %d user(s) inactive; %s logging in: %v", n, grace.Email, err)

	history, err := m.History(ctx, admin.User.ID, grace.ID, "", 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nhistory of %s, newest first:\n", grace.Email)
	for _, ev := range history.Items {
		actor := ev.ActorID
		if actor == admin.User.ID {
			actor = admin.User.Email
		} else if actor == grace.ID {
			actor = grace.Email
		}
		var changes []string
		for _, c := range ev.Changes {
			changes = append(changes, fmt.Sprintf("%s: %q → %q", c.Field, c.Old, c.New))
		}
		fmt.Fprintf(w, "  %s  %-12s by %-17s %s\n", ev.At.Format(time.DateTime), ev.Action, actor, strings.Join(changes, ", "))
	}
	return nil
}
