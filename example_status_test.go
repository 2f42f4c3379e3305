package usermgmt_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func ExampleManager_Ban() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	c, _ := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Password: "a long and unusual passphrase"})

	// Every status change returns the user as it now is.
	u, err := m.Ban(ctx, admin.User.ID, c.User.ID)
	fmt.Println(u.Status, err)
	_, err = m.Authenticate(ctx, "grace@acme.example", "a long and unusual passphrase")
	fmt.Println(err)

	// A change the status does not allow is a *TransitionError.
	_, err = m.Disable(ctx, admin.User.ID, c.User.ID)
	var te *usermgmt.TransitionError
	fmt.Println(errors.As(err, &te), te.Action, te.From, errors.Is(err, usermgmt.ErrInvalidTransition))

	u, _ = m.Unban(ctx, admin.User.ID, c.User.ID)
	fmt.Println(u.Status)

	// The last active admin of an account stays one.
	_, err = m.Disable(ctx, admin.User.ID, admin.User.ID)
	fmt.Println(usermgmt.ErrorCode(err))
	_, err = m.ChangeRole(ctx, admin.User.ID, admin.User.ID, usermgmt.RoleGeneral)
	fmt.Println(usermgmt.ErrorCode(err))

	// Removing hides the user and frees the address; the history stays.
	u, _ = m.Remove(ctx, admin.User.ID, c.User.ID)
	fmt.Println(u.Status)
	_, err = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Invite: true})
	fmt.Println(err)
	h, _ := m.History(ctx, admin.User.ID, usermgmt.AuditQuery{UserID: c.User.ID})
	for _, ev := range h.Items {
		fmt.Print(ev.Action, " ")
	}
	fmt.Println()
	// Output:
	// banned <nil>
	// usermgmt: user is banned
	// true disable banned true
	// active
	// last_admin
	// last_admin
	// removed
	// <nil>
	// remove unban ban create
}

func ExampleManager_Sweep() {
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(time.Date(2026, time.January, 15, 10, 0, 0, 0, time.UTC))
	m, _ := usermgmt.New(memstore.New(), usermgmt.WithClock(clock),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	c, _ := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Password: "a long and unusual passphrase"})

	// Three calendar months on, Ada has logged in and Grace has not.
	clock.Set(time.Date(2026, time.April, 14, 10, 0, 0, 0, time.UTC))
	_, _ = m.Authenticate(ctx, "ada@acme.example", "correct horse battery staple")
	clock.Set(time.Date(2026, time.April, 15, 10, 0, 0, 0, time.UTC))

	// Applications run RunSweeper in the background; Sweep is one pass.
	res, _ := m.Sweep(ctx)
	fmt.Println(res.Inactive)
	u, _ := m.User(ctx, admin.User.ID, c.User.ID)
	fmt.Println(u.Status)
	_, err := m.Authenticate(ctx, "grace@acme.example", "a long and unusual passphrase")
	fmt.Println(err)

	// An admin brings her back.
	u, _ = m.Reactivate(ctx, admin.User.ID, c.User.ID)
	fmt.Println(u.Status)
	// Output:
	// 1
	// inactive
	// usermgmt: user is inactive
	// active
}
