package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt"
)

// Tests of the guarantees that must hold with many goroutines on several
// Managers, each on its own store handle.
var concurrencyTests = map[string]func(*testing.T, *suite){
	"EmailUniqueAcrossManagers":       testEmailUniqueAcrossManagers,
	"LockoutBoundAcrossManagers":      testLockoutBoundAcrossManagers,
	"NoLostUpdatesAcrossManagers":     testNoLostUpdates,
	"LastAdminHoldsUnderRace":         testLastAdminRace,
	"InvitationAcceptedOnceUnderRace": testAcceptOnce,
}

// managers returns n Managers spread over up to four store handles.
func (e *env) managers(n int) []*usermgmt.Manager {
	hs := e.handles(min(n, 4))
	ms := make([]*usermgmt.Manager, n)
	for i := range ms {
		ms[i] = e.manager(hs[i%len(hs)])
	}
	return ms
}

// parallel runs f(i) for i in [0,n) at once and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func testEmailUniqueAcrossManagers(t *testing.T, su *suite) {
	e := su.env(t)
	ms := e.managers(100)
	errs := make([]error, len(ms))
	ids := make([]string, len(ms))
	parallel(len(ms), func(i int) {
		c, err := ms[i].CreateUser(context.Background(), e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID,
			Email: "  Same.Person@Example.com ", FirstName: "Same", LastName: fmt.Sprint(i)})
		errs[i], ids[i] = err, c.User.ID
	})
	var winner string
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != "" {
				t.Fatalf("two creates of one email succeeded: %s and %s", winner, ids[i])
			}
			winner = ids[i]
		case !errors.Is(err, usermgmt.ErrDuplicateEmail):
			t.Fatalf("create %d: %v, want ErrDuplicateEmail", i, err)
		}
	}
	if winner == "" {
		t.Fatal("no create succeeded")
	}
	got, err := e.store.UserByEmail(e.ctx, "same.person@example.com")
	ok(t, err)
	eq(t, "user holding the email", got.ID, winner)
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{Search: "same.person", Limit: 1000})
	ok(t, err)
	eq(t, "users with the email", len(page.Items), 1)
	eq(t, "events of the winner", len(e.history(winner)), 1)
	for i, id := range ids {
		if errs[i] != nil && id != "" {
			t.Fatalf("losing create %d returned a user ID", i)
		}
	}
}

// testLockoutBoundAcrossManagers fires wrong passwords at one user from 64
// goroutines on each of 4 Managers: no more than MaxFailedAttempts hashes
// may be verified in all, and the user ends Locked.
func testLockoutBoundAcrossManagers(t *testing.T, su *suite) {
	e := su.env(t)
	victim := e.user(e.root.ID, "victim@example.com", usermgmt.RoleGeneral)
	ms := e.managers(4)
	parallel(4*64, func(i int) {
		_, err := ms[i%4].Authenticate(context.Background(), victim.Email, "wrong password number "+fmt.Sprint(i))
		if !errors.Is(err, usermgmt.ErrInvalidCredentials) && !errors.Is(err, usermgmt.ErrLocked) {
			t.Errorf("attempt %d: %v", i, err)
		}
	})
	var verified uint64
	for _, m := range ms {
		verified += m.Stats().PasswordVerifications
	}
	if verified > 10 {
		t.Fatalf("%d password hashes verified, the bound is 10", verified)
	}
	eq(t, "hashes verified", verified, uint64(10))
	u := e.get(victim.ID)
	eq(t, "status", u.Status, usermgmt.StatusLocked)
	locks := 0
	for _, a := range e.actions(victim.ID) {
		if a == usermgmt.ActionLock {
			locks++
		}
	}
	eq(t, "lock events", locks, 1)
	_, err := ms[0].Authenticate(e.ctx, victim.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
}

func testNoLostUpdates(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "contended@example.com", usermgmt.RoleGeneral)
	ms := e.managers(8)
	const n = 40
	parallel(n, func(i int) {
		err := ms[i%len(ms)].Grant(context.Background(), e.admin.ID, u.ID, usermgmt.Grant{Permission: "module", Resource: fmt.Sprint(i)})
		if err != nil {
			t.Errorf("grant %d: %v", i, err)
		}
	})
	got := e.get(u.ID)
	eq(t, "grants after concurrent grants", len(got.Grants), n)
	grants := 0
	for _, a := range e.actions(u.ID) {
		if a == usermgmt.ActionGrant {
			grants++
		}
	}
	eq(t, "grant events", grants, n)
	for i := 0; i < n; i++ {
		can, err := e.m.Can(e.ctx, u.ID, "module", fmt.Sprint(i))
		ok(t, err)
		if !can {
			t.Fatalf("grant %d lost", i)
		}
	}
}

// testLastAdminRace has two admins demote each other at once, many times:
// at least one must stay an active admin every time.
func testLastAdminRace(t *testing.T, su *suite) {
	e := su.env(t)
	ms := e.managers(2)
	for round := 0; round < 10; round++ {
		acct, c := e.account(e.admin.ID, e.root.ID, fmt.Sprint("Race ", round), email("race-a", round))
		a := c.User
		b := e.user(acct.ID, email("race-b", round), usermgmt.RoleAdmin)
		errs := make([]error, 2)
		parallel(2, func(i int) {
			switch i {
			case 0:
				errs[0] = ms[0].ChangeRole(context.Background(), a.ID, b.ID, usermgmt.RoleGeneral)
			case 1:
				_, errs[1] = ms[1].Ban(context.Background(), b.ID, a.ID)
			}
		})
		for _, err := range errs {
			if err != nil && !errors.Is(err, usermgmt.ErrLastAdmin) && !errors.Is(err, usermgmt.ErrPermissionDenied) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		active := 0
		for _, id := range []string{a.ID, b.ID} {
			if u := e.get(id); u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive {
				active++
			}
		}
		if active == 0 {
			t.Fatalf("round %d: the account was left without an active admin (errors %v)", round, errs)
		}
	}
}

func testAcceptOnce(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "accept-once@example.com")
	ms := e.managers(4)
	errs := make([]error, 16)
	parallel(len(errs), func(i int) {
		_, errs[i] = ms[i%4].AcceptInvitation(context.Background(), token, usermgmt.Acceptance{Password: Password + fmt.Sprint(i)})
	})
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, usermgmt.ErrInvitationInvalid) {
			t.Fatalf("accept: %v", err)
		}
	}
	eq(t, "accepts that succeeded", wins, 1)
	accepts := 0
	for _, a := range e.actions(u.ID) {
		if a == usermgmt.ActionAccept {
			accepts++
		}
	}
	eq(t, "accept events", accepts, 1)
}
