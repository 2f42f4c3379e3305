package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// cheap argon2id parameters keep the tests' password work short.
var cheap = usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const password = "correct horse battery staple"

var outboxKey = usermgmt.OutboxKey{ID: "test", Key: []byte("0123456789abcdef0123456789abcdef")}

// sender records what it is asked to send and fails on demand.
type sender struct {
	mu   sync.Mutex
	sent []usermgmt.Notification
	fail func(n usermgmt.Notification) error
}

func (s *sender) Send(_ context.Context, n usermgmt.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(n); err != nil {
			return err
		}
	}
	s.sent = append(s.sent, n)
	return nil
}

// last returns the token of the last message of the kind sent to the address.
func (s *sender) last(kind usermgmt.NotificationKind, to string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.sent) - 1; i >= 0; i-- {
		if n := s.sent[i]; n.Kind == kind && n.To == to {
			return n.Token
		}
	}
	return ""
}

// manager returns a Manager over s with a fake clock, cheap hashes, the
// outbox on and the given policy.
func manager(t *testing.T, s usermgmt.Store, clock *usermgmt.FakeClock, snd *sender, p usermgmt.Policy) *usermgmt.Manager {
	t.Helper()
	m, err := usermgmt.New(s, usermgmt.WithClock(clock), usermgmt.WithHashParams(cheap), usermgmt.WithPolicy(p),
		usermgmt.WithOutboxKeys(outboxKey), usermgmt.WithSender(snd))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestKeyLayout takes users, accounts, groups and messages through every
// kind of change the Manager makes, and after each step checks every key
// against the layout the package documentation gives: no key outside it,
// and every index (email, tokens, subtree sets, admins, activity and lock
// indexes, group members and names, event indexes, outbox indexes)
// holding exactly what the records say.
func TestKeyLayout(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	snd := &sender{}
	policy := usermgmt.Policy{MaxFailedAttempts: 3, LockDuration: time.Hour, AuditLogins: true, NotifyAdminsOnLockout: true}
	m := manager(t, s, clock, snd, policy)
	steps := 0
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		clock.Advance(time.Minute)
		checkLayout(t, s)
		if t.Failed() {
			t.Fatalf("after %s", what)
		}
		steps++
	}
	deliver := func(what string) {
		t.Helper()
		_, err := m.DeliverDue(ctx, usermgmt.DeliveryOptions{})
		step(what, err)
	}
	newAdmin := func(email string) usermgmt.NewUser {
		return usermgmt.NewUser{Email: email, FirstName: "Ada", LastName: "Admin", Password: password}
	}
	root, rc, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "All Clients", Admin: newAdmin("root@layout.example")})
	step("create root", err)
	admin := rc.User.ID
	client, cc, err := m.CreateAccount(ctx, admin, usermgmt.NewAccount{ParentID: root.ID, Name: "Client", Admin: newAdmin("client@layout.example")})
	step("create client", err)
	branch, _, err := m.CreateAccount(ctx, admin, usermgmt.NewAccount{ParentID: client.ID, Name: "Branch", Admin: newAdmin("branch@layout.example")})
	step("create branch", err)
	_, err = m.AddDepartment(ctx, admin, client.ID, "Sales")
	step("add department", err)
	_, err = m.AddDepartment(ctx, admin, branch.ID, "Sales")
	step("add department to branch", err)
	_, err = m.UpdateAccount(ctx, admin, client.ID, usermgmt.AccountPatch{Name: ptr("Client Ltd")})
	step("rename account", err)

	gene, err := m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "gene@layout.example", FirstName: "Gene",
		LastName: "User", Password: password, Department: "Sales"})
	step("create active user", err)
	ivy, err := m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "ivy@layout.example", FirstName: "Ivy",
		LastName: "Invitee", Invite: true})
	step("invite", err)
	inv, err := m.ResendInvitation(ctx, admin, ivy.User.ID)
	step("resend", err)
	if n := s.Client().Exists(ctx, s.Prefix()+"token:"+hashHex(ivy.InvitationToken)).Val(); n != 0 {
		t.Fatal("the resent invitation's old token key is still there")
	}
	deliver("deliver invitations")
	_, err = m.AcceptInvitation(ctx, inv.Token, usermgmt.Acceptance{Password: password})
	step("accept", err)

	team, err := m.CreateGroup(ctx, admin, usermgmt.NewGroup{AccountID: client.ID, Name: "Team",
		Grants: []usermgmt.Grant{{Permission: "module", Resource: "insight:1"}}})
	step("create group", err)
	_, err = m.AddToGroup(ctx, admin, gene.User.ID, team.ID)
	step("add to group", err)
	_, err = m.AddToGroup(ctx, admin, ivy.User.ID, team.ID)
	step("add another to group", err)
	_, err = m.UpdateGroup(ctx, admin, team.ID, usermgmt.GroupPatch{Name: ptr("The Team")})
	step("rename group", err)
	if _, err := m.CreateGroup(ctx, admin, usermgmt.NewGroup{AccountID: client.ID, Name: "the team"}); !errors.Is(err, usermgmt.ErrDuplicateName) {
		t.Fatalf("a second group named like a live one: %v, want ErrDuplicateName", err)
	}
	_, err = m.Grant(ctx, admin, gene.User.ID, usermgmt.Grant{Permission: "module", Resource: "report:7"})
	step("grant", err)
	_, err = m.RevokeGrant(ctx, admin, gene.User.ID, usermgmt.Grant{Permission: "module", Resource: "report:7"})
	step("revoke grant", err)

	// A restarted or failed-over Redis has no scripts cached: the store
	// falls back from EVALSHA to EVAL. (Not on a server given by
	// USERMGMT_TEST_REDIS_URL: its other users' scripts are not ours to drop.)
	if ownServer {
		if err := s.Client().ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = m.Authenticate(ctx, "gene@layout.example", password)
	step("login after SCRIPT FLUSH", err)
	lock := func(what string) {
		t.Helper()
		for range policy.MaxFailedAttempts {
			_, err = m.Authenticate(ctx, "gene@layout.example", "wrong password")
		}
		if !errors.Is(err, usermgmt.ErrLocked) {
			t.Fatalf("last wrong password: %v, want ErrLocked", err)
		}
		step(what, nil)
	}
	lock("lock")
	_, err = m.Unlock(ctx, admin, gene.User.ID, "")
	step("unlock", err)
	lock("lock again")
	clock.Advance(2 * time.Hour)
	res, err := m.Sweep(ctx)
	step("sweep lifts the lapsed lock", err)
	if res.Unlocked != 1 {
		t.Fatalf("sweep unlocked %d users, want 1", res.Unlocked)
	}

	// Delivery: the lockout notices fail once, the admins' notices fail for
	// good, the rest go out.
	failed := map[string]bool{}
	snd.mu.Lock()
	snd.fail = func(n usermgmt.Notification) error {
		switch {
		case n.Kind == usermgmt.NotifyLockoutAdmin:
			return usermgmt.Permanent(errors.New("550 no such mailbox"))
		case n.Kind == usermgmt.NotifyLockout && !failed[n.ID]:
			failed[n.ID] = true
			return errors.New("451 try again later")
		}
		return nil
	}
	snd.mu.Unlock()
	deliver("deliver: retry and dead letters")
	dead, err := m.DeadMessages(ctx, admin, usermgmt.MessageListQuery{})
	step("list dead letters", err)
	if len(dead.Items) == 0 {
		t.Fatal("no dead letters")
	}
	step("requeue", m.RequeueMessage(ctx, admin, dead.Items[0].ID))
	snd.mu.Lock()
	snd.fail = nil
	snd.mu.Unlock()
	clock.Advance(2 * time.Hour)
	deliver("deliver the retries")

	change, err := m.ChangeEmail(ctx, admin, gene.User.ID, "gene.new@layout.example")
	step("change email", err)
	_, err = m.ConfirmEmailChange(ctx, change.Token)
	step("confirm email change", err)
	if _, err := s.UserByEmail(ctx, "gene@layout.example"); !errors.Is(err, usermgmt.ErrNotFound) {
		t.Fatalf("the old email still finds a user: %v", err)
	}
	_, err = m.MoveUser(ctx, admin, gene.User.ID, branch.ID)
	step("move to a sub-account", err)
	_, err = m.MoveUser(ctx, admin, ivy.User.ID, root.ID)
	step("move up the tree", err)
	clock.Advance(2 * time.Hour)
	step("touch", m.Touch(ctx, gene.User.ID))

	// Password reset: the request is handled by a background worker, which
	// Close waits for.
	m2 := manager(t, s, clock, snd, policy)
	err = m2.RequestPasswordReset(ctx, "gene.new@layout.example")
	m2.Close()
	step("request reset", err)
	deliver("deliver the reset link")
	token := snd.last(usermgmt.NotifyPasswordReset, "gene.new@layout.example")
	if token == "" {
		t.Fatal("no reset link was sent")
	}
	_, err = m.ResetPassword(ctx, token, "another long passphrase")
	step("reset password", err)
	_, err = m.SetPassword(ctx, admin, ivy.User.ID, "yet another long passphrase")
	step("set password", err)

	if _, err := m.Ban(ctx, admin, cc.User.ID); !errors.Is(err, usermgmt.ErrLastAdmin) {
		t.Fatalf("banning the client's only active admin: %v, want ErrLastAdmin", err)
	}
	_, err = m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "second@layout.example", FirstName: "Sec",
		LastName: "Ond", Role: usermgmt.RoleAdmin, Password: password})
	step("create a second admin", err)
	_, err = m.Ban(ctx, admin, cc.User.ID)
	step("ban the client's first admin", err)
	_, err = m.Unban(ctx, admin, cc.User.ID)
	step("unban", err)
	_, err = m.Disable(ctx, admin, ivy.User.ID)
	step("disable", err)
	_, err = m.Enable(ctx, admin, ivy.User.ID)
	step("enable", err)
	_, err = m.Remove(ctx, admin, ivy.User.ID)
	step("remove", err)
	again, err := m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "ivy@layout.example", FirstName: "Ivy",
		LastName: "Again", Invite: true})
	step("re-invite a removed user's email", err)
	_, err = m.RevokeInvitation(ctx, admin, again.User.ID)
	step("revoke", err)
	_, err = m.DeleteGroup(ctx, admin, team.ID)
	step("delete group", err)
	_, err = m.CreateGroup(ctx, admin, usermgmt.NewGroup{AccountID: client.ID, Name: "The Team"})
	step("reuse a deleted group's name", err)

	clock.Advance(200 * 24 * time.Hour)
	res, err = m.Sweep(ctx)
	step("sweep", err)
	if res.Inactive == 0 {
		t.Fatal("the sweep moved nobody")
	}
	_, err = m.Reactivate(ctx, usermgmt.System, admin)
	step("reactivate", err)

	l := checkLayout(t, s)
	t.Logf("%d steps; at the end %d users, %d accounts, %d groups, %d events, %d messages", steps,
		len(l.users), len(l.accounts), len(l.groups), len(l.events), len(l.messages))
	inactive := 0
	for _, u := range l.users {
		if u.Status == usermgmt.StatusInactive {
			inactive++
		}
	}
	if len(l.messages) == 0 || inactive == 0 || len(l.groups) < 2 {
		t.Error("the run did not leave messages, groups and inactive users to check")
	}
}

func ptr[T any](v T) *T { return &v }
