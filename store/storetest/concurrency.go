package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// Tests of the guarantees that must hold with many goroutines on several
// Managers, each on its own store handle.
var concurrencyTests = map[string]func(*testing.T, *suite){
	"EmailUniqueAcrossManagers":         testEmailUniqueAcrossManagers,
	"WrongPasswordFloodLocksAtLimit":    testLockoutBoundAcrossManagers,
	"RightPasswordFloodNeverLocks":      testRightPasswordFlood,
	"MixedFloodKeepsTheBound":           testMixedFlood,
	"LoginsRacingARehashSucceed":        testRehashRace,
	"NoLostUpdatesAcrossManagers":       testNoLostUpdates,
	"LastAdminHoldsUnderRace":           testLastAdminRace,
	"InvitationAcceptedOnceUnderRace":   testAcceptOnce,
	"MembershipRaceEndsConsistent":      testMembershipRace,
	"ResetTokenUsedOnceUnderRace":       testResetOnce,
	"ConcurrentSweepsMoveEachUserOnce":  testConcurrentSweeps,
	"ConcurrentBulkInvitesOneWinnerRow": testConcurrentBulk,
	"DepartmentRemovalRacesAssignments": testDepartmentRemovalRaces,
	"GroupDeletionRacesMemberships":     testGroupDeletionRaces,
	"RemoverDeactivatedMidway":          testRemoverDeactivatedMidway,
}

// managers returns n Managers spread over up to four store handles.
func (e *env) managers(n int, opts ...usermgmt.Option) []*usermgmt.Manager {
	hs := e.handles(min(n, 4))
	ms := make([]*usermgmt.Manager, n)
	for i := range ms {
		ms[i] = e.manager(hs[i%len(hs)], opts...)
	}
	return ms
}

// floodPolicy is the default policy with a RecordTimeout long enough for
// any machine: the floods test the lockout's bounds, not its deadline
// (OutcomeWriteBoundedPastDeadline does). With the default five seconds, a
// store that serialises writes (SQLite's one writer) on a slow, shared CI
// machine under -race could time out recording an outcome, and the counts
// would then miss an attempt that was verified.
func floodPolicy() usermgmt.Option {
	p := usermgmt.DefaultPolicy()
	p.RecordTimeout = 2 * time.Minute
	return usermgmt.WithPolicy(p)
}

func verifications(ms []*usermgmt.Manager) uint64 {
	var n uint64
	for _, m := range ms {
		n += m.Stats().PasswordVerifications
	}
	return n
}

func testEmailUniqueAcrossManagers(t *testing.T, su *suite) {
	e := su.env(t)
	ms := e.managers(100)
	errs := make([]error, len(ms))
	ids := make([]string, len(ms))
	parallel(len(ms), func(i int) {
		c, err := ms[i].CreateUser(context.Background(), e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID,
			Email: "  Same.Person@Example.com ", FirstName: "Same", LastName: fmt.Sprint(i), Invite: true})
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
	eq(t, "invitation messages", len(e.messagesTo("same.person@example.com")), 1)
	for i, id := range ids {
		if errs[i] != nil && id != "" {
			t.Fatalf("losing create %d returned a user ID", i)
		}
	}
}

// testLockoutBoundAcrossManagers fires wrong passwords at one user from 64
// goroutines on each of 4 Managers whose hash limits add up past the
// lockout limit: exactly MaxFailedAttempts verdicts are used in all
// (Stats.PasswordVerifications; verifications beside a refused
// reservation are discarded and count as dummies), and the user ends
// Locked, with one lock event.
func testLockoutBoundAcrossManagers(t *testing.T, su *suite) {
	e := su.env(t)
	victim := e.user(e.root.ID, "victim@example.com", usermgmt.RoleGeneral)
	ms := e.managers(4, usermgmt.WithMaxConcurrentHashes(20), floodPolicy())
	var wrong, locked atomic.Int64
	parallel(4*64, func(i int) {
		_, err := ms[i%4].Authenticate(context.Background(), victim.Email, "wrong password number "+fmt.Sprint(i))
		switch {
		case errors.Is(err, usermgmt.ErrInvalidCredentials):
			wrong.Add(1)
		case errors.Is(err, usermgmt.ErrLocked), errors.Is(err, usermgmt.ErrAttemptsInFlight):
			locked.Add(1)
		default:
			t.Errorf("attempt %d: %v", i, err)
		}
	})
	t.Logf("wrong: %d verified and refused, %d refused without verifying; %d hashes verified", wrong.Load(), locked.Load(), verifications(ms))
	eq(t, "hashes verified", verifications(ms), uint64(10))
	eq(t, "answered as a wrong password", wrong.Load(), int64(10))
	u := e.get(victim.ID)
	eq(t, "status", u.Status, usermgmt.StatusLocked)
	eq(t, "FailedAttempts", u.FailedAttempts, 10)
	eq(t, "lock events", e.count(victim.ID, usermgmt.ActionLock), 1)
	eq(t, "lockout messages", len(e.messagesTo(victim.Email)), 1)
	_, err := ms[0].Authenticate(e.ctx, victim.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
	eq(t, "hashes verified for the locked user's right password", verifications(ms), uint64(10))
}

// testRightPasswordFlood: 64 goroutines on each of 4 Managers, whose hash
// limits add up to 80, log in with the right password at once. None is
// counted as a failure: all succeed (or are asked to retry), and the user
// stays Active with no lock.
func testRightPasswordFlood(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "popular@example.com", usermgmt.RoleGeneral)
	ms := e.managers(4, usermgmt.WithMaxConcurrentHashes(20), floodPolicy())
	var okN, retry atomic.Int64
	parallel(4*64, func(i int) {
		_, err := ms[i%4].Authenticate(context.Background(), u.Email, Password)
		switch {
		case err == nil:
			okN.Add(1)
		case errors.Is(err, usermgmt.ErrAttemptsInFlight):
			retry.Add(1)
		default:
			t.Errorf("right password %d: %v", i, err)
		}
	})
	t.Logf("right: %d logged in, %d asked to retry", okN.Load(), retry.Load())
	got := e.get(u.ID)
	eq(t, "status", got.Status, usermgmt.StatusActive)
	eq(t, "FailedAttempts", got.FailedAttempts, 0)
	eq(t, "leases left", len(got.AttemptLeases), 0)
	eq(t, "lock events", e.count(u.ID, usermgmt.ActionLock), 0)
	if okN.Load() == 0 {
		t.Fatal("no right password logged in")
	}
	// A double click after nine wrong passwords does not lock either.
	v := e.user(e.root.ID, "double-click@example.com", usermgmt.RoleGeneral)
	e.fail(v.Email, 9)
	parallel(2, func(i int) {
		_, err := ms[i].Authenticate(context.Background(), v.Email, Password)
		if err != nil && !errors.Is(err, usermgmt.ErrAttemptsInFlight) {
			t.Errorf("double click %d: %v", i, err)
		}
	})
	eq(t, "status after the double click", e.get(v.ID).Status, usermgmt.StatusActive)
	eq(t, "failures after the double click", e.get(v.ID).FailedAttempts, 0)
}

// testMixedFlood sends right and wrong passwords at once: no more than ten
// wrong passwords are verified after the last success, a right password
// fails only once the user is Locked, and a lock, when it comes, comes
// once at exactly ten.
func testMixedFlood(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "mixed@example.com", usermgmt.RoleGeneral)
	ms := e.managers(4, usermgmt.WithMaxConcurrentHashes(20), floodPolicy())
	var wrongVerified, rightOK, rightLocked, retries atomic.Int64
	parallel(4*64, func(i int) {
		pw := Password
		if i%2 == 1 {
			pw = "wrong " + fmt.Sprint(i)
		}
		_, err := ms[i%4].Authenticate(context.Background(), u.Email, pw)
		switch {
		case err == nil && pw == Password:
			rightOK.Add(1)
		case errors.Is(err, usermgmt.ErrInvalidCredentials) && pw != Password:
			wrongVerified.Add(1)
		case errors.Is(err, usermgmt.ErrAttemptsInFlight):
			retries.Add(1)
		case errors.Is(err, usermgmt.ErrLocked) && !errors.Is(err, usermgmt.ErrInvalidCredentials):
			if pw == Password {
				rightLocked.Add(1)
			}
		default:
			t.Errorf("attempt %d (right: %v): %v", i, pw == Password, err)
		}
	})
	got := e.get(u.ID)
	t.Logf("mixed: %d right logged in, %d right refused as locked, %d wrong verified, %d retries; status %s, %d hashes verified",
		rightOK.Load(), rightLocked.Load(), wrongVerified.Load(), retries.Load(), got.Status, verifications(ms))
	if wrongVerified.Load() > 10*(rightOK.Load()+1) {
		t.Fatalf("%d wrong passwords verified around %d successes", wrongVerified.Load(), rightOK.Load())
	}
	eq(t, "hashes verified", verifications(ms), uint64(rightOK.Load()+wrongVerified.Load()))
	locks := e.count(u.ID, usermgmt.ActionLock)
	if got.Status == usermgmt.StatusLocked {
		eq(t, "FailedAttempts of the locked user", got.FailedAttempts, 10)
		eq(t, "lock events", locks, 1)
	} else {
		eq(t, "lock events of an unlocked user", locks, 0)
		eq(t, "right passwords refused as locked", rightLocked.Load(), int64(0))
	}
	eq(t, "leases left", len(got.AttemptLeases), 0)
}

// testRehashRace: a user's hash was made with older parameters; many logins
// at once through Managers with new ones all succeed, and the stored hash
// ends re-hashed, the password unchanged.
func testRehashRace(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "rehash-race@example.com", usermgmt.RoleGeneral)
	before := e.get(u.ID)
	stronger := fixture.FastHash
	stronger.Iterations = 2
	ms := e.managers(4, usermgmt.WithHashParams(stronger), usermgmt.WithMaxConcurrentHashes(4), floodPolicy())
	parallel(4*8, func(i int) {
		_, err := ms[i%4].Authenticate(context.Background(), u.Email, Password)
		if err != nil && !errors.Is(err, usermgmt.ErrAttemptsInFlight) {
			t.Errorf("login %d racing a re-hash: %v", i, err)
		}
	})
	after := e.get(u.ID)
	if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, "t=2") {
		t.Fatalf("hash not re-hashed with the new parameters: %s", after.PasswordHash)
	}
	eq(t, "password version", after.PasswordVersion, before.PasswordVersion)
	eq(t, "FailedAttempts", after.FailedAttempts, 0)
	_, err := ms[0].Authenticate(e.ctx, u.Email, Password)
	ok(t, err)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password) // old parameters still verify the new hash
	ok(t, err)
}

func testNoLostUpdates(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "contended@example.com", usermgmt.RoleGeneral)
	ms := e.managers(8)
	const n = 40
	parallel(n, func(i int) {
		_, err := ms[i%len(ms)].Grant(context.Background(), e.admin.ID, u.ID, usermgmt.Grant{Permission: "module", Resource: "insight:" + fmt.Sprint(i)})
		if err != nil {
			t.Errorf("grant %d: %v", i, err)
		}
	})
	got := e.get(u.ID)
	eq(t, "grants after concurrent grants", len(got.Grants), n)
	eq(t, "grant events", e.count(u.ID, usermgmt.ActionGrant), n)
	for i := 0; i < n; i++ {
		can, err := e.m.CanOn(e.ctx, u.ID, "module", usermgmt.Resource{Type: "insight", ID: fmt.Sprint(i)})
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
				_, errs[0] = ms[0].ChangeRole(context.Background(), a.ID, b.ID, usermgmt.RoleGeneral)
			case 1:
				_, errs[1] = ms[1].Ban(context.Background(), b.ID, a.ID)
			}
		})
		for _, err := range errs {
			if err != nil && !errors.Is(err, usermgmt.ErrLastAdmin) && !errors.Is(err, usermgmt.ErrPermissionDenied) &&
				!errors.Is(err, usermgmt.ErrActorInactive) {
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
		} else if !errors.Is(err, usermgmt.ErrTokenInvalid) {
			t.Fatalf("accept: %v", err)
		}
	}
	eq(t, "accepts that succeeded", wins, 1)
	eq(t, "accept events", e.count(u.ID, usermgmt.ActionAccept), 1)
}

// testMembershipRace adds and removes one membership from many goroutines:
// at the end the user's groups, the group listing and the events agree.
func testMembershipRace(t *testing.T, su *suite) {
	e := su.env(t)
	g := e.group(e.root.ID, "Racers")
	u := e.user(e.root.ID, "member-race@example.com", usermgmt.RoleGeneral)
	ms := e.managers(4)
	parallel(32, func(i int) {
		var err error
		if i%2 == 0 {
			_, err = ms[i%4].AddToGroup(context.Background(), e.admin.ID, u.ID, g.ID)
		} else {
			_, err = ms[i%4].RemoveFromGroup(context.Background(), e.admin.ID, u.ID, g.ID)
		}
		if err != nil {
			t.Errorf("membership change %d: %v", i, err)
		}
	})
	got := e.get(u.ID)
	member := slices.Contains(got.Groups, g.ID)
	adds, removes := 0, 0
	for _, ev := range e.history(u.ID) {
		if ev.Action != usermgmt.ActionGroupMembership {
			continue
		}
		for _, c := range ev.Changes {
			if c.Field == "groups" {
				if strings.Contains(c.New, g.ID) {
					adds++
				} else {
					removes++
				}
			}
		}
	}
	want := 0
	if member {
		want = 1
	}
	eq(t, "adds minus removes", adds-removes, want)
	page, err := e.m.ListUsers(e.ctx, e.admin.ID, usermgmt.UserQuery{GroupID: g.ID})
	ok(t, err)
	eq(t, "listed as a member", len(page.Items), want)
}

func testResetOnce(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "reset-race@example.com", usermgmt.RoleGeneral)
	ok(t, e.m.RequestPasswordReset(e.ctx, u.Email))
	e.m.Wait()
	token := e.lastToken(usermgmt.NotifyPasswordReset, u.Email)
	ms := e.managers(4)
	errs := make([]error, 12)
	parallel(len(errs), func(i int) {
		_, errs[i] = ms[i%4].ResetPassword(context.Background(), token, fmt.Sprint("a new long passphrase ", i))
	})
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, usermgmt.ErrTokenInvalid) {
			t.Fatalf("reset: %v", err)
		}
	}
	eq(t, "resets that succeeded", wins, 1)
	eq(t, "reset events by the user", e.countBy(u.ID, usermgmt.ActionPasswordReset, u.ID), 1)
}

// countBy counts the events of a user with the action by the actor.
func (e *env) countBy(userID string, action usermgmt.Action, actorID string) int {
	n := 0
	for _, ev := range e.history(userID) {
		if ev.Action == action && ev.ActorID == actorID {
			n++
		}
	}
	return n
}

func testConcurrentSweeps(t *testing.T, su *suite) {
	e := su.env(t)
	n := 300
	if su.short {
		n = 100
	}
	users := e.createRawUsers("swept", n)
	e.clock.Set(start.AddDate(0, 4, 0))
	ms := e.managers(4)
	moved := make([]int, 4)
	parallel(4, func(i int) {
		res, err := ms[i].Sweep(context.Background())
		if err != nil {
			t.Errorf("sweep %d: %v", i, err)
		}
		moved[i] = res.Inactive
	})
	total := moved[0] + moved[1] + moved[2] + moved[3]
	eq(t, "users moved by the four sweeps", total, n+1) // the admin too
	for _, u := range users {
		eq(t, "inactive events of "+u.Email, e.count(u.ID, usermgmt.ActionInactive), 1)
	}
}

func testConcurrentBulk(t *testing.T, su *suite) {
	e := su.env(t)
	rows := make([]usermgmt.NewUser, 50)
	for i := range rows {
		rows[i] = usermgmt.NewUser{Email: email("bulk-race", i), FirstName: "B", LastName: fmt.Sprint(i)}
	}
	ms := e.managers(4)
	results := make([][]usermgmt.InviteResult, 4)
	parallel(4, func(i int) {
		res, err := ms[i].InviteUsers(context.Background(), e.admin.ID, usermgmt.BulkInvite{Rows: rows})
		if err != nil {
			t.Errorf("bulk %d: %v", i, err)
		}
		results[i] = res
	})
	for r := range rows {
		invited := 0
		for i := range results {
			switch results[i][r].Outcome {
			case usermgmt.Invited:
				invited++
			case usermgmt.SkippedPending:
			default:
				t.Fatalf("row %d of bulk %d: %s %v", r, i, results[i][r].Outcome, results[i][r].Err)
			}
		}
		eq(t, "invitations of row "+fmt.Sprint(r), invited, 1)
	}
	eq(t, "invitation messages of one row", len(e.messagesTo(email("bulk-race", 7))), 1)
}
