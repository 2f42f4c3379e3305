package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
)

// checkLayout reads every key under prefix and checks it against the key
// layout in the package documentation: no key outside it, each key of its
// documented type, and every index agreeing with the users it indexes.
func checkLayout(t *testing.T, c *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, strings.TrimPrefix(iter.Val(), prefix))
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)

	users := map[string]map[string]string{}
	accounts := map[string]map[string]string{}
	emailKeys, tokenKeys := map[string]string{}, map[string]string{}
	subtrees, admins, histories := map[string][]string{}, map[string][]string{}, map[string][]string{}
	var active []string
	var events map[string]string
	for _, k := range keys {
		typ := c.Type(ctx, prefix+k).Val()
		want, ok := "", true
		switch {
		case strings.HasPrefix(k, "u:"):
			want = "hash"
			users[k[2:]] = c.HGetAll(ctx, prefix+k).Val()
		case strings.HasPrefix(k, "email:"):
			want = "string"
			emailKeys[k[6:]] = c.Get(ctx, prefix+k).Val()
		case strings.HasPrefix(k, "token:"):
			want = "string"
			tokenKeys[k[6:]] = c.Get(ctx, prefix+k).Val()
		case strings.HasPrefix(k, "a:") && strings.HasSuffix(k, ":users"):
			want = "zset"
			subtrees[strings.TrimSuffix(k[2:], ":users")] = zeroScored(t, c, prefix+k)
		case strings.HasPrefix(k, "a:") && strings.HasSuffix(k, ":admins"):
			want = "set"
			m := c.SMembers(ctx, prefix+k).Val()
			slices.Sort(m)
			admins[strings.TrimSuffix(k[2:], ":admins")] = m
		case strings.HasPrefix(k, "a:") && !strings.Contains(k[2:], ":"):
			want = "hash"
			accounts[k[2:]] = c.HGetAll(ctx, prefix+k).Val()
		case k == "active":
			want = "zset"
			active = zeroScored(t, c, prefix+k)
		case k == "events":
			want = "hash"
			events = c.HGetAll(ctx, prefix+k).Val()
		case strings.HasPrefix(k, "e:"):
			want = "zset"
			histories[k[2:]] = zeroScored(t, c, prefix+k)
		default:
			ok = false
		}
		if !ok {
			t.Errorf("key %q is not in the documented layout", k)
		} else if typ != want {
			t.Errorf("key %q is a %s, want a %s", k, typ, want)
		}
	}

	wantEmail, wantToken := map[string]string{}, map[string]string{}
	wantAdmins, wantSubtree := map[string][]string{}, map[string][]string{}
	var wantActive []string
	for id, u := range users {
		if u["id"] != id {
			t.Errorf("u:%s holds id %q", id, u["id"])
		}
		if u["status"] != string(usermgmt.StatusRemoved) {
			if other, dup := wantEmail[u["email"]]; dup {
				t.Errorf("users %s and %s both hold %s", other, id, u["email"])
			}
			wantEmail[u["email"]] = id
		}
		if u["token"] != "" {
			wantToken[u["token"]] = id
		}
		if u["role"] == usermgmt.RoleAdmin && u["status"] == string(usermgmt.StatusActive) {
			wantAdmins[u["account"]] = append(wantAdmins[u["account"]], id)
		}
		if u["status"] == string(usermgmt.StatusActive) {
			wantActive = append(wantActive, fmt.Sprintf("%020s:%s", u["active"], id))
		}
		acct, ok := accounts[u["account"]]
		if !ok {
			t.Errorf("user %s is in account %s, which is not stored", id, u["account"])
			continue
		}
		for _, a := range append(strings.Fields(acct["ancestors"]), u["account"]) {
			wantSubtree[a] = append(wantSubtree[a], id)
		}
		for _, ev := range histories[id] {
			var e struct{ User string }
			if err := json.Unmarshal([]byte(events[ev]), &e); err != nil || e.User != id {
				t.Errorf("event %s of %s's history: %q (%v)", ev, id, events[ev], err)
			}
		}
	}
	for _, m := range []map[string][]string{wantAdmins, wantSubtree} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	slices.Sort(wantActive)
	same(t, "email keys", emailKeys, wantEmail)
	same(t, "token keys", tokenKeys, wantToken)
	sameLists(t, "admin sets", admins, wantAdmins)
	sameLists(t, "subtree sets", subtrees, wantSubtree)
	if !slices.Equal(active, wantActive) {
		t.Errorf("activity index = %v, want %v", active, wantActive)
	}
	inHistory := 0
	for id, h := range histories {
		if _, ok := users[id]; !ok {
			t.Errorf("history e:%s of a user that is not stored", id)
		}
		inHistory += len(h)
	}
	if inHistory != len(events) {
		t.Errorf("%d events stored, %d in histories", len(events), inHistory)
	}
}

// zeroScored returns a sorted set's members, checking that every score is 0
// (the sets are ordered by member, never by score).
func zeroScored(t *testing.T, c *redis.Client, key string) []string {
	t.Helper()
	zs := c.ZRangeWithScores(context.Background(), key, 0, -1).Val()
	out := make([]string, len(zs))
	for i, z := range zs {
		if z.Score != 0 {
			t.Errorf("%s: member %v has score %v, want 0", key, z.Member, z.Score)
		}
		out[i] = z.Member.(string)
	}
	return out
}

func same(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func sameLists(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestKeyLayout takes users of an account tree through every kind of
// change and checks the keys after each step against the documented layout.
func TestKeyLayout(t *testing.T) {
	s := newStore(t)
	c := s.Client().(*redis.Client)
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	m, err := usermgmt.New(s, usermgmt.WithClock(clock), usermgmt.WithHashParams(cheap))
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		clock.Advance(time.Minute)
		checkLayout(t, c, s.Prefix())
		if t.Failed() {
			t.FailNow()
		}
	}
	newAdmin := func(email string) usermgmt.NewUser {
		return usermgmt.NewUser{Email: email, FirstName: "Ada", LastName: "Admin", Password: pw}
	}
	root, rc, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "All Clients", Admin: newAdmin("root@layout.example")})
	step("create root", err)
	admin := rc.User.ID
	client, cc, err := m.CreateAccount(ctx, admin, usermgmt.NewAccount{ParentID: root.ID, Name: "Client", Admin: newAdmin("client@layout.example")})
	step("create client", err)
	_, _, err = m.CreateAccount(ctx, admin, usermgmt.NewAccount{ParentID: client.ID, Name: "Branch", Admin: newAdmin("branch@layout.example")})
	step("create branch", err)

	active, err := m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "gene@layout.example", FirstName: "Gene", LastName: "User", Password: pw})
	step("create active", err)
	invited, err := m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "ivy@layout.example", FirstName: "Ivy", LastName: "Invitee"})
	step("invite", err)
	token, err := m.ResendInvitation(ctx, admin, invited.User.ID)
	step("resend", err)
	if n := c.Exists(ctx, s.Prefix()+"token:"+hashHex(invited.InvitationToken)).Val(); n != 0 {
		t.Fatal("the resent invitation's old token key is still there")
	}
	_, err = m.AcceptInvitation(ctx, token, usermgmt.Acceptance{Password: pw})
	step("accept", err)
	// A restarted or failed-over Redis has no scripts cached: go-redis's
	// EVALSHA falls back to EVAL. (Not on a server given by
	// USERMGMT_TEST_REDIS_URL: its other users' scripts are not ours to drop.)
	if ownServer {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = m.Authenticate(ctx, "gene@layout.example", pw)
	step("login after SCRIPT FLUSH", err)
	for range m.Policy().MaxFailedAttempts {
		_, err = m.Authenticate(ctx, "gene@layout.example", "wrong password")
	}
	if !errors.Is(err, usermgmt.ErrLocked) {
		t.Fatalf("last wrong password: %v, want ErrLocked", err)
	}
	step("lock", nil)
	_, err = m.Unlock(ctx, admin, active.User.ID, "")
	step("unlock", err)
	step("promote", m.ChangeRole(ctx, admin, active.User.ID, usermgmt.RoleAdmin))
	_, err = m.Ban(ctx, admin, cc.User.ID)
	step("ban the client's first admin", err)
	_, err = m.Disable(ctx, admin, invited.User.ID)
	step("disable", err)
	_, err = m.Remove(ctx, admin, invited.User.ID)
	step("remove", err)
	again, err := m.CreateUser(ctx, admin, usermgmt.NewUser{AccountID: client.ID, Email: "ivy@layout.example", FirstName: "Ivy", LastName: "Again"})
	step("re-invite a removed user's email", err)
	step("revoke", m.RevokeInvitation(ctx, admin, again.User.ID))
	step("grant", m.Grant(ctx, admin, active.User.ID, usermgmt.Grant{Permission: "module", Resource: "insights"}))
	clock.Advance(200 * 24 * time.Hour)
	_, err = m.Sweep(ctx)
	step("sweep", err)
	_, err = m.Reactivate(ctx, usermgmt.System, admin) // the sweep caught every user
	step("reactivate", err)
}

// TestUpdateNeverStealsAnEmail checks the store's own guard: a write that
// would take a removed user's email back while another user holds it is
// refused whole. The Manager never makes such a write.
func TestUpdateNeverStealsAnEmail(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	acct := usermgmt.Account{ID: "01900000-0000-7000-8000-00000000a000", Name: "A", CreatedAt: now}
	mk := func(n int) (usermgmt.User, usermgmt.AuditEvent) {
		u := usermgmt.User{ID: fmt.Sprintf("01900000-0000-7000-8000-%012d", n), AccountID: acct.ID, Email: "same@layout.example",
			Role: usermgmt.RoleAdmin, Status: usermgmt.StatusActive, PasswordHash: "h", CreatedAt: now, UpdatedAt: now, LastActiveAt: now, Version: 1}
		return u, usermgmt.AuditEvent{ID: fmt.Sprintf("01900000-0000-7000-9000-%012d", n), At: now, ActorID: usermgmt.System,
			Action: usermgmt.ActionCreate, UserID: u.ID, AccountID: acct.ID}
	}
	a, ea := mk(1)
	if err := s.CreateAccount(ctx, acct, a, ea); err != nil {
		t.Fatal(err)
	}
	a.Status = usermgmt.StatusRemoved
	if err := s.UpdateUser(ctx, usermgmt.UserUpdate{User: a, Event: event2(a, 2)}); err != nil {
		t.Fatal(err)
	}
	b, eb := mk(3)
	if err := s.CreateUsers(ctx, []usermgmt.User{b}, []usermgmt.AuditEvent{eb}); err != nil {
		t.Fatal(err)
	}
	a.Version, a.Status = 2, usermgmt.StatusActive
	err := s.UpdateUser(ctx, usermgmt.UserUpdate{User: a, Event: event2(a, 4)})
	if !errors.Is(err, usermgmt.ErrDuplicateEmail) {
		t.Fatalf("moving a removed user back onto a taken email: %v, want ErrDuplicateEmail", err)
	}
	if got, err := s.UserByEmail(ctx, a.Email); err != nil || got.ID != b.ID {
		t.Fatalf("UserByEmail = %v, %v; want user %s", got.ID, err, b.ID)
	}
	checkLayout(t, s.Client().(*redis.Client), s.Prefix())
}

func event2(u usermgmt.User, n int) usermgmt.AuditEvent {
	return usermgmt.AuditEvent{ID: fmt.Sprintf("01900000-0000-7000-9000-%012d", n), At: u.CreatedAt, ActorID: usermgmt.System,
		Action: usermgmt.ActionRemove, UserID: u.ID, AccountID: u.AccountID}
}

// hashHex is how the Manager stores an invitation token: hex SHA-256.
func hashHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
