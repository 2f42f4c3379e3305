package usermgmt_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// The examples run on the in-memory store with cheap hash parameters so
// that they are quick; applications keep the default (OWASP) parameters
// and use the SQLite, Redis or PostgreSQL store.

func ExampleManager_CreateUser() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	// An admin creates a user with a password: the user can log in at once.
	c, err := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{
		Email: " Grace.Hopper@Acme.example ", FirstName: "Grace", LastName: "Hopper", Password: "a long and unusual passphrase"})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.User.Email, c.User.Status, c.User.AccountID == admin.User.AccountID)

	// The same mailbox again is refused, however it is spelled.
	_, err = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "GRACE.HOPPER@acme.example", FirstName: "G", LastName: "H", Invite: true})
	fmt.Println(errors.Is(err, usermgmt.ErrDuplicateEmail))

	// A weak password is refused with the rules it breaks.
	_, err = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "alan@acme.example", FirstName: "Alan", LastName: "T", Password: "Password1!"})
	fmt.Println(err)

	// An empty password is no invitation: ask for one with Invite.
	_, err = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "alan@acme.example", FirstName: "Alan", LastName: "T"})
	fmt.Println(usermgmt.ErrorCode(err))
	// Output:
	// grace.hopper@acme.example active true
	// true
	// usermgmt: password does not meet the policy: must be at least 12 characters; is a commonly used password
	// invalid_input
}

func ExampleManager_AcceptInvitation() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	// Invite: no password; the token goes in the email (the outbox sends it
	// when the Manager has WithOutboxKeys; see ExampleManager_DeliverDue).
	c, _ := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Invite: true})
	fmt.Println(c.User.Status, c.User.PasswordSet)

	// The link page looks the invitation up without spending it...
	inv, _ := m.Invitation(ctx, c.InvitationToken)
	fmt.Println(inv.Email, inv.ExpiresAt.Sub(inv.InvitedAt))

	// ...and the invitee sets a password.
	u, err := m.AcceptInvitation(ctx, c.InvitationToken, usermgmt.Acceptance{Password: "a long and unusual passphrase"})
	fmt.Println(u.Status, u.PasswordSet, err)
	_, err = m.AcceptInvitation(ctx, c.InvitationToken, usermgmt.Acceptance{Password: "a long and unusual passphrase"})
	fmt.Println(errors.Is(err, usermgmt.ErrTokenInvalid))
	// Output:
	// invited false
	// grace@acme.example 168h0m0s
	// active true <nil>
	// true
}

func ExampleManager_Authenticate() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	c, _ := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Password: "a long and unusual passphrase"})

	u, err := m.Authenticate(ctx, "Grace@Acme.example", "a long and unusual passphrase")
	fmt.Println(u.Email, err)

	// Ten wrong passwords in a row lock the user; the tenth says so.
	for i := 1; i <= 10; i++ {
		_, err = m.Authenticate(ctx, "grace@acme.example", "guess")
	}
	fmt.Println(errors.Is(err, usermgmt.ErrInvalidCredentials), errors.Is(err, usermgmt.ErrLocked))

	// Now even the right password is refused, without being tested.
	_, err = m.Authenticate(ctx, "grace@acme.example", "a long and unusual passphrase")
	fmt.Println(err)

	// An admin unlocks; show people one message for every refusal.
	_, _ = m.Unlock(ctx, admin.User.ID, c.User.ID, "")
	_, err = m.Authenticate(ctx, "grace@acme.example", "a long and unusual passphrase")
	fmt.Println(err)
	_, err = m.Authenticate(ctx, "nobody@acme.example", "anything")
	fmt.Println(usermgmt.ErrorCode(err))
	// Output:
	// grace@acme.example <nil>
	// true true
	// usermgmt: user is locked
	// <nil>
	// invalid_credentials
}

func ExampleManager_ListUsers() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	for _, name := range []string{"Anna Smith", "Bob Blacksmith", "Carl Jones"} {
		var first, last string
		fmt.Sscan(name, &first, &last)
		_, _ = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: first + "@acme.example", FirstName: first, LastName: last, Invite: true})
	}

	// Pages come by cursor, in creation order; search ignores case.
	page, _ := m.ListUsers(ctx, admin.User.ID, usermgmt.UserQuery{Search: "SMITH", Limit: 1})
	fmt.Println(page.Items[0].Name(), page.Next != "")
	page, _ = m.ListUsers(ctx, admin.User.ID, usermgmt.UserQuery{Search: "SMITH", Limit: 1, Cursor: page.Next})
	fmt.Println(page.Items[0].Name(), page.Next != "")

	// Filters combine.
	page, _ = m.ListUsers(ctx, admin.User.ID, usermgmt.UserQuery{Statuses: []usermgmt.Status{usermgmt.StatusInvited}, Total: true})
	fmt.Println(len(page.Items), *page.Total)
	// Output:
	// Anna Smith true
	// Bob Blacksmith false
	// 3 3
}

func ExampleManager_InviteUsers() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	res, err := m.InviteUsers(ctx, admin.User.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{
		{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper"},
		{Email: "ADA@acme.example"},
		{Email: "not an address"},
		{Email: "temp@mailinator.com"},
		{Email: "Grace@Acme.example"},
		{Email: "later@acme.example", Disabled: true},
	}})
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Println(r.Row, r.Email, r.Outcome)
	}
	// Output:
	// 0 grace@acme.example invited
	// 1 ada@acme.example skipped_exists
	// 2 not an address rejected_invalid
	// 3 temp@mailinator.com rejected_disposable
	// 4 grace@acme.example skipped_duplicate
	// 5 later@acme.example created_disabled
}

func ExampleManager_CanOn() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}),
		usermgmt.WithPermissions("insights.view"))
	root, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "All Clients",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	clientB, _, _ := m.CreateAccount(ctx, admin.User.ID, usermgmt.NewAccount{ParentID: root.ID, Name: "Client B",
		Admin: usermgmt.NewUser{Email: "bea@client-b.example", FirstName: "Bea", LastName: "B", Invite: true}})
	c, _ := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "ann@acme.example", FirstName: "Ann", LastName: "Analyst", Password: "ann's long passphrase"})

	// A general user holds what is granted: here, one insight, and the
	// insights of client B through a group.
	_, _ = m.Grant(ctx, admin.User.ID, c.User.ID, usermgmt.Grant{Permission: "insights.view", Resource: "insight:42"})
	g, _ := m.CreateGroup(ctx, admin.User.ID, usermgmt.NewGroup{Name: "Client B team",
		Grants: []usermgmt.Grant{{Permission: "insights.view", Resource: usermgmt.AccountResource(clientB.ID).Key()}}})
	_, _ = m.AddToGroup(ctx, admin.User.ID, c.User.ID, g.ID)

	for name, r := range map[string]usermgmt.Resource{"1 insight 42": {Type: "insight", ID: "42"},
		"2 insight 43": {Type: "insight", ID: "43"}, "3 client B": usermgmt.AccountResource(clientB.ID)} {
		ok, _ := m.CanOn(ctx, c.User.ID, "insights.view", r)
		defer fmt.Println(name, ok) // printed in reverse: the map's order is random
	}
	_, err := m.Can(ctx, c.User.ID, "insight.view") // a typo, caught by the registry
	fmt.Println(usermgmt.ErrorCode(err))
	// Unordered output:
	// 1 insight 42 true
	// 2 insight 43 false
	// 3 client B true
	// unknown_permission
}

func ExampleManager_History() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	c, _ := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Invite: true})
	reason := usermgmt.WithRequestMeta(ctx, usermgmt.RequestMeta{IP: "192.0.2.10", Reason: "on leave"})
	_, _ = m.Disable(reason, admin.User.ID, c.User.ID)
	_, _ = m.ChangeRole(ctx, admin.User.ID, c.User.ID, usermgmt.RoleAdmin)

	page, _ := m.History(ctx, admin.User.ID, usermgmt.AuditQuery{UserID: c.User.ID})
	for _, ev := range page.Items { // newest first
		for _, ch := range ev.Changes {
			if ch.Field == "role" || ch.Field == "status" {
				fmt.Printf("%s by %s: %s %q -> %q (%s)\n", ev.Action, ev.ActorEmail, ch.Field, ch.Old, ch.New, ev.Reason)
			}
		}
	}
	trail, _ := m.AccountHistory(ctx, admin.User.ID, usermgmt.AuditQuery{Actions: []usermgmt.Action{usermgmt.ActionDisable}})
	fmt.Println(len(trail.Items), trail.Items[0].IP)
	// Output:
	// role_change by ada@acme.example: role "general" -> "admin" ()
	// disable by ada@acme.example: status "invited" -> "disabled" (on leave)
	// invite by ada@acme.example: role "" -> "general" ()
	// invite by ada@acme.example: status "" -> "invited" ()
	// 1 192.0.2.10
}

func ExampleErrorCode() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	// Every refusal matches a sentinel, has a stable code and an HTTP
	// status, and says which field is at fault when one is.
	_, err := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "", LastName: "Hopper", Invite: true})
	var fe *usermgmt.FieldError
	if errors.As(err, &fe) {
		fmt.Println(usermgmt.ErrorCode(err), usermgmt.HTTPStatus(err), fe.Field, fe.Reason)
	}
	_, err = m.Ban(ctx, admin.User.ID, admin.User.ID)
	fmt.Println(usermgmt.ErrorCode(err), usermgmt.HTTPStatus(err), err)
	_, err = m.User(ctx, admin.User.ID, "01900000-0000-7000-8000-000000000000")
	fmt.Println(usermgmt.ErrorCode(err), usermgmt.HTTPStatus(err))
	// Output:
	// invalid_input 422 first_name is empty
	// last_admin 409 usermgmt: last active admin of the account
	// not_found 404
}

// captured is a Sender that prints what it sends.
type captured struct{ token string }

func (c *captured) Send(_ context.Context, n usermgmt.Notification) error {
	fmt.Println("to", n.To, "about", n.Kind, "link expires", n.ExpiresAt.Format("2 Jan 15:04"))
	c.token = n.Token
	return nil
}

func ExampleManager_DeliverDue() {
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(time.Date(2026, time.January, 15, 10, 0, 0, 0, time.UTC))
	key := usermgmt.OutboxKey{ID: "2026-11", Key: []byte("0123456789abcdef0123456789abcdef")} // from crypto/rand in an application
	m, _ := usermgmt.New(memstore.New(), usermgmt.WithClock(clock), usermgmt.WithOutboxKeys(key),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	// The invitation is stored with the user, in one write, and mailed by
	// the delivery worker (RunDelivery in production; package mail sends
	// over SMTP).
	_, _ = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Invite: true})
	sender := &captured{}
	rep, _ := m.DeliverDue(ctx, usermgmt.DeliveryOptions{Sender: sender})
	fmt.Println("sent", rep.Sent)
	_, err := m.AcceptInvitation(ctx, sender.token, usermgmt.Acceptance{Password: "a long and unusual passphrase"})
	fmt.Println(err)

	// A forgotten password: the same answer for any address.
	_ = m.RequestPasswordReset(ctx, "grace@acme.example")
	_ = m.RequestPasswordReset(ctx, "nobody@acme.example")
	m.Wait()
	_, _ = m.DeliverDue(ctx, usermgmt.DeliveryOptions{Sender: sender})
	u, err := m.ResetPassword(ctx, sender.token, "a new long passphrase")
	fmt.Println(u.Email, err)
	// Output:
	// to grace@acme.example about invitation link expires 22 Jan 10:00
	// sent 1
	// <nil>
	// to grace@acme.example about password_reset link expires 15 Jan 11:00
	// grace@acme.example <nil>
}
