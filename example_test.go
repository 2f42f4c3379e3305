package usermgmt_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// setup makes a Manager over an in-memory store and a tenant with its
// admin. Examples use cheap hash parameters so they run fast; applications
// keep the defaults.
func setup() (context.Context, *usermgmt.Manager, usermgmt.Account, usermgmt.User) {
	ctx := context.Background()
	m, err := usermgmt.New(memstore.New(), usermgmt.WithHashParams(cheap))
	if err != nil {
		panic(err)
	}
	acct, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{
		Name:  "Acme",
		Admin: usermgmt.NewUser{Email: "boss@acme.example", FirstName: "Ada", LastName: "Boss", Password: "correct horse battery staple"},
	})
	if err != nil {
		panic(err)
	}
	return ctx, m, acct, admin.User
}

func ExampleManager_CreateUser() {
	ctx, m, acct, admin := setup()

	// An admin creates a user with a password: the user can log in at once.
	c, err := m.CreateUser(ctx, admin.ID, usermgmt.NewUser{
		AccountID: acct.ID,
		Email:     " Grace.Hopper@Acme.example ",
		FirstName: "Grace",
		LastName:  "Hopper",
		Role:      usermgmt.RoleGeneral,
		Password:  "a long and unusual passphrase",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.User.Email, c.User.Status)

	// The same email again is refused, whatever its case.
	_, err = m.CreateUser(ctx, admin.ID, usermgmt.NewUser{AccountID: acct.ID, Email: "GRACE.HOPPER@acme.example", FirstName: "G", LastName: "H"})
	fmt.Println(errors.Is(err, usermgmt.ErrDuplicateEmail))

	// A weak password is refused with the rules it breaks.
	_, err = m.CreateUser(ctx, admin.ID, usermgmt.NewUser{AccountID: acct.ID, Email: "alan@acme.example", FirstName: "Alan", LastName: "T", Password: "Password1!"})
	fmt.Println(err)
	// Output:
	// grace.hopper@acme.example active
	// true
	// usermgmt: password does not meet the policy: must be at least 12 characters; is a commonly used password
}

func ExampleManager_AcceptInvitation() {
	ctx, m, acct, admin := setup()

	// Without a password the user is invited: send the token by email.
	c, err := m.CreateUser(ctx, admin.ID, usermgmt.NewUser{AccountID: acct.ID, Email: "linus@acme.example", FirstName: "Linus", LastName: "T"})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.User.Status, c.InvitationToken != "")

	// The set-password page looks the invitation up without using it.
	inv, err := m.Invitation(ctx, c.InvitationToken)
	if err != nil {
		panic(err)
	}
	fmt.Println(inv.Email, inv.ExpiresAt.Sub(inv.InvitedAt))

	// The invitee chooses a password; the token is then spent.
	u, err := m.AcceptInvitation(ctx, c.InvitationToken, usermgmt.Acceptance{Password: "penguins all the way down"})
	if err != nil {
		panic(err)
	}
	fmt.Println(u.Status)
	_, err = m.AcceptInvitation(ctx, c.InvitationToken, usermgmt.Acceptance{Password: "penguins all the way down"})
	fmt.Println(errors.Is(err, usermgmt.ErrInvitationInvalid))
	// Output:
	// invited true
	// linus@acme.example 168h0m0s
	// active
	// true
}

func ExampleManager_Authenticate() {
	ctx, m, acct, admin := setup()
	_, err := m.CreateUser(ctx, admin.ID, usermgmt.NewUser{AccountID: acct.ID, Email: "eve@acme.example", FirstName: "Eve", LastName: "L", Password: "the real passphrase"})
	if err != nil {
		panic(err)
	}

	// Ten wrong passwords in a row lock the user.
	for i := 1; i <= 10; i++ {
		_, err = m.Authenticate(ctx, "eve@acme.example", "a guess")
	}
	fmt.Println(errors.Is(err, usermgmt.ErrInvalidCredentials), errors.Is(err, usermgmt.ErrLocked))

	// Locked means locked, even with the right password...
	_, err = m.Authenticate(ctx, "eve@acme.example", "the real passphrase")
	fmt.Println(err)

	// ...until an admin unlocks.
	eve, _ := m.UserByEmail(ctx, admin.ID, "eve@acme.example")
	if _, err := m.Unlock(ctx, admin.ID, eve.ID, ""); err != nil {
		panic(err)
	}
	u, err := m.Authenticate(ctx, "eve@acme.example", "the real passphrase")
	fmt.Println(u.Email, err)

	// An unknown email looks exactly like a wrong password.
	_, err = m.Authenticate(ctx, "mallory@acme.example", "a guess")
	fmt.Println(err)
	// Output:
	// true true
	// usermgmt: user locked
	// eve@acme.example <nil>
	// usermgmt: invalid credentials
}

func ExampleManager_Sweep() {
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	m, _ := usermgmt.New(memstore.New(), usermgmt.WithClock(clock), usermgmt.WithHashParams(cheap))
	_, _, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Sleepy",
		Admin: usermgmt.NewUser{Email: "rip@sleepy.example", FirstName: "Rip", LastName: "V", Password: "twenty years asleep"}})
	if err != nil {
		panic(err)
	}
	clock.Set(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)) // 30 Nov + 3 months is 2 March
	n, _ := m.Sweep(ctx)
	fmt.Println("1 March:", n)
	clock.Set(time.Date(2027, 3, 2, 9, 0, 0, 0, time.UTC))
	n, _ = m.Sweep(ctx)
	fmt.Println("2 March:", n)
	_, err = m.Authenticate(ctx, "rip@sleepy.example", "twenty years asleep")
	fmt.Println(err)
	// Output:
	// 1 March: 0
	// 2 March: 1
	// usermgmt: user inactive
}
