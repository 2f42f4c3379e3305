package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// reporter is what the layout checks report to: a *testing.T, or a
// recorder in the test of the checks themselves.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// padded is a time as the store keeps it: 20-digit Unix nanoseconds, all
// zeros for the zero time.
func padded(t time.Time) string {
	if t.IsZero() {
		return strings.Repeat("0", 20)
	}
	return fmt.Sprintf("%020d", t.UnixNano())
}

// layout is everything stored under a prefix, read key by key.
type layout struct {
	users    map[string]usermgmt.UserRecord
	accounts map[string]usermgmt.Account
	groups   map[string]usermgmt.Group
	messages map[string]usermgmt.Message
	events   map[string]struct{ User, Account string }

	strings map[string]string            // email:, token: keys
	sets    map[string][]string          // every sorted set and set, sorted
	hashes  map[string]map[string]string // a:<id>:groupnames
	extra   []string                     // keys outside the documented layout
}

// readLayout reads every key under the store's prefix, checking each is of
// the type the package documentation gives it, and decodes the records
// through the store's own reads.
func readLayout(t reporter, s *redisstore.Store) layout {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	prefix := s.Prefix()
	l := layout{users: map[string]usermgmt.UserRecord{}, accounts: map[string]usermgmt.Account{}, groups: map[string]usermgmt.Group{},
		messages: map[string]usermgmt.Message{}, events: map[string]struct{ User, Account string }{},
		strings: map[string]string{}, sets: map[string][]string{}, hashes: map[string]map[string]string{}}
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, strings.TrimPrefix(iter.Val(), prefix))
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("%v", err)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts := strings.Split(k, ":")
		want := ""
		switch {
		case len(parts) == 2 && parts[0] == "u":
			want = "hash"
			u, err := s.User(ctx, parts[1])
			if err != nil {
				t.Fatalf("reading %s: %v", k, err)
			}
			l.users[u.ID] = u
		case len(parts) == 2 && parts[0] == "a":
			want = "hash"
			a, err := s.Account(ctx, parts[1])
			if err != nil {
				t.Fatalf("reading %s: %v", k, err)
			}
			l.accounts[a.ID] = a
		case len(parts) == 2 && parts[0] == "g":
			want = "hash"
			gs, err := s.Groups(ctx, []string{parts[1]})
			if err != nil || len(gs) != 1 {
				t.Fatalf("reading %s: %v, %v", k, gs, err)
			}
			l.groups[gs[0].ID] = gs[0]
		case len(parts) == 2 && parts[0] == "m":
			want = "hash"
			m, err := s.Message(ctx, parts[1])
			if err != nil {
				t.Fatalf("reading %s: %v", k, err)
			}
			l.messages[m.ID] = m
		case k == "events":
			want = "hash"
			for id, js := range c.HGetAll(ctx, prefix+k).Val() {
				var ev struct{ ID, User, Account string }
				if err := json.Unmarshal([]byte(js), &ev); err != nil || ev.ID != id {
					t.Errorf("event %s is stored as %q (%v)", id, js, err)
				}
				l.events[id] = struct{ User, Account string }{ev.User, ev.Account}
			}
		case strings.HasPrefix(k, "email:") || strings.HasPrefix(k, "token:"):
			want = "string"
			l.strings[k] = c.Get(ctx, prefix+k).Val()
		case len(parts) == 3 && parts[0] == "a" && parts[2] == "admins":
			want = "set"
			m := c.SMembers(ctx, prefix+k).Val()
			slices.Sort(m)
			l.sets[k] = m
		case len(parts) == 3 && parts[0] == "a" && parts[2] == "groupnames":
			want = "hash"
			l.hashes[k] = c.HGetAll(ctx, prefix+k).Val()
		case len(parts) == 3 && parts[0] == "a" && slices.Contains([]string{"accounts", "users", "events", "groups"}, parts[2]),
			len(parts) == 3 && parts[0] == "g" && parts[2] == "users",
			len(parts) == 2 && parts[0] == "e",
			k == "active", k == "locked", k == "outbox:due", k == "outbox:pending", k == "outbox:dead":
			want = "zset"
			l.sets[k] = zeroScored(t, c, prefix+k)
		default:
			l.extra = append(l.extra, k)
			continue
		}
		if typ := c.Type(ctx, prefix+k).Val(); typ != want {
			t.Errorf("key %q is a %s, want a %s", k, typ, want)
		}
	}
	return l
}

// zeroScored returns a sorted set's members in order, checking that every
// score is 0 (the sets are ordered by member, never by score).
func zeroScored(t reporter, c redis.UniversalClient, key string) []string {
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

// checkLayout reads every key under the store's prefix and checks it
// against the key layout in the package documentation: no key outside it,
// each key of its documented type, and every index holding exactly what the
// records say it should.
func checkLayout(t reporter, s *redisstore.Store) layout {
	t.Helper()
	l := readLayout(t, s)
	for _, k := range l.extra {
		t.Errorf("key %q is not in the documented layout", k)
	}
	wantStrings := map[string]string{}
	wantSets := map[string][]string{}
	wantHashes := map[string]map[string]string{}
	add := func(key, member string) { wantSets[key] = append(wantSets[key], member) }
	chain := func(account string) []string {
		a, ok := l.accounts[account]
		if !ok {
			return nil
		}
		return append(slices.Clone(a.Ancestors), a.ID)
	}
	for id, a := range l.accounts {
		if a.ParentID != "" {
			if _, ok := l.accounts[a.ParentID]; !ok || a.Ancestors[len(a.Ancestors)-1] != a.ParentID {
				t.Errorf("account %s: parent %s missing or not its last ancestor %v", id, a.ParentID, a.Ancestors)
			}
		}
		for _, up := range chain(id) {
			add("a:"+up+":accounts", id)
		}
	}
	for id, u := range l.users {
		checkCopies(t, s, u)
		if u.Status != usermgmt.StatusRemoved {
			k := "email:" + u.Email
			if other, dup := wantStrings[k]; dup {
				t.Errorf("users %s and %s both hold one email", other, id)
			}
			wantStrings[k] = id
		}
		for _, tok := range u.Tokens {
			wantStrings["token:"+tok.Hash] = id
		}
		if u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive {
			add("a:"+u.AccountID+":admins", id)
		}
		switch u.Status {
		case usermgmt.StatusActive:
			add("active", padded(u.LastActiveAt)+":"+id)
		case usermgmt.StatusLocked:
			add("locked", padded(u.LockedAt)+":"+id)
		}
		c := chain(u.AccountID)
		if c == nil {
			t.Errorf("user %s is in account %s, which is not stored", id, u.AccountID)
		}
		for _, a := range c {
			add("a:"+a+":users", id)
		}
		for _, g := range u.Groups {
			add("g:"+g+":users", id)
		}
	}
	for id, g := range l.groups {
		add("a:"+g.AccountID+":groups", id)
		if !g.Deleted {
			k := "a:" + g.AccountID + ":groupnames"
			if wantHashes[k] == nil {
				wantHashes[k] = map[string]string{}
			}
			if other, dup := wantHashes[k][g.NameKey]; dup {
				t.Errorf("live groups %s and %s share a name key", other, id)
			}
			wantHashes[k][g.NameKey] = id
		}
	}
	for id, ev := range l.events {
		if ev.User != "" {
			add("e:"+ev.User, id)
		}
		for _, a := range chain(ev.Account) {
			add("a:"+a+":events", id)
		}
	}
	for id, m := range l.messages {
		switch m.State {
		case usermgmt.MessagePending:
			add("outbox:due", padded(m.DueAt)+":"+id)
			add("outbox:pending", id)
		case usermgmt.MessageDead:
			add("outbox:dead", id)
		default:
			t.Errorf("message %s is stored in state %q", id, m.State)
		}
	}
	for _, v := range wantSets {
		slices.Sort(v)
	}
	if !maps.Equal(l.strings, wantStrings) {
		t.Errorf("email and token keys = %v\nwant %v", l.strings, wantStrings)
	}
	if !maps.EqualFunc(l.hashes, wantHashes, maps.Equal) {
		t.Errorf("group name keys = %v\nwant %v", l.hashes, wantHashes)
	}
	for k := range mergeKeys(l.sets, wantSets) {
		if !slices.Equal(l.sets[k], wantSets[k]) {
			t.Errorf("%s = %v\nwant %v", k, l.sets[k], wantSets[k])
		}
	}
	return l
}

func mergeKeys[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// checkCopies checks that the copies of a user's fields the scripts read
// (everything in its hash but rec) agree with its record, and that the
// hash holds nothing else.
func checkCopies(t reporter, s *redisstore.Store, u usermgmt.UserRecord) {
	t.Helper()
	h := s.Client().HGetAll(context.Background(), s.Prefix()+"u:"+u.ID).Val()
	jsonOf := func(v any, n int) string {
		if n == 0 {
			return ""
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	tokens := make([][4]string, len(u.Tokens))
	for i, tok := range u.Tokens {
		tokens[i] = [4]string{string(tok.Purpose), tok.Hash, padded(tok.IssuedAt), padded(tok.ExpiresAt)}
	}
	want := map[string]string{"id": u.ID, "account": u.AccountID, "email": u.Email, "status": string(u.Status), "role": u.Role,
		"groups": jsonOf(u.Groups, len(u.Groups)), "tokens": jsonOf(tokens, len(tokens)), "active": padded(u.LastActiveAt),
		"locked": padded(u.LockedAt), "version": fmt.Sprint(u.Version), "dept": u.Department,
		"search": strings.ToLower(u.FirstName) + "\n" + strings.ToLower(u.LastName) + "\n" + strings.ToLower(u.Email), "rec": h["rec"]}
	if !maps.Equal(h, want) {
		t.Errorf("user %s: hash fields beside rec = %v\nwant %v", u.ID, without(h, "rec"), without(want, "rec"))
	}
}

func without(m map[string]string, k string) map[string]string {
	m = maps.Clone(m)
	delete(m, k)
	return m
}

// recorder collects what the layout checks report.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// TestLayoutCheckCatchesDrift makes sure checkLayout, which TestKeyLayout
// and the fault tests rely on, notices each kind of drift between the
// records and their keys: it breaks one thing at a time in a store the
// Manager filled, expects a report, and puts it back.
func TestLayoutCheckCatchesDrift(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c := s.Client()
	p := s.Prefix()
	clock := usermgmt.NewFakeClock(t0)
	m := manager(t, s, clock, &sender{}, usermgmt.Policy{})
	acct, ac, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Drift",
		Admin: usermgmt.NewUser{Email: "admin@drift.example", FirstName: "A", LastName: "D", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := m.CreateUser(ctx, ac.User.ID, usermgmt.NewUser{Email: "inv@drift.example", FirstName: "I", LastName: "V", Invite: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.CreateGroup(ctx, ac.User.ID, usermgmt.NewGroup{Name: "Team"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddToGroup(ctx, ac.User.ID, ac.User.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if r := (&recorder{}); func() bool { checkLayout(r, s); return len(r.errs) > 0 }() {
		t.Fatalf("the intact store is reported: %v", r.errs)
	}
	admin, err := s.User(ctx, ac.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.History(ctx, usermgmt.HistoryQuery{AccountID: acct.ID, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Messages(ctx, usermgmt.MessageQuery{State: usermgmt.MessagePending, Limit: 1})
	if err != nil || len(msgs) == 0 {
		t.Fatal("no pending message", err)
	}
	activeMember := padded(admin.LastActiveAt) + ":" + admin.ID
	drifts := []struct {
		name    string
		key     string // restored afterwards
		breakIt func() error
	}{
		{"a user missing from its subtree set", "a:" + acct.ID + ":users", func() error { return c.ZRem(ctx, p+"a:"+acct.ID+":users", admin.ID).Err() }},
		{"a stray key", "stray", func() error { return c.Set(ctx, p+"stray", "x", 0).Err() }},
		{"a copy disagreeing with rec", "u:" + admin.ID, func() error { return c.HSet(ctx, p+"u:"+admin.ID, "role", "general").Err() }},
		{"an extra field beside rec", "u:" + admin.ID, func() error { return c.HSet(ctx, p+"u:"+admin.ID, "extra", "x").Err() }},
		{"an Active user missing from the activity index", "active", func() error { return c.ZRem(ctx, p+"active", activeMember).Err() }},
		{"a stale activity entry", "active", func() error {
			return c.ZAdd(ctx, p+"active", redis.Z{Member: strings.Repeat("0", 20) + ":" + admin.ID}).Err()
		}},
		{"a scored member", "active", func() error { return c.ZAdd(ctx, p+"active", redis.Z{Score: 1, Member: activeMember}).Err() }},
		{"an event missing from its trail", "a:" + acct.ID + ":events", func() error { return c.ZRem(ctx, p+"a:"+acct.ID+":events", events[0].ID).Err() }},
		{"an email key of the wrong type", "email:" + admin.Email, func() error {
			if err := c.Del(ctx, p+"email:"+admin.Email).Err(); err != nil {
				return err
			}
			return c.HSet(ctx, p+"email:"+admin.Email, "id", admin.ID).Err()
		}},
		{"a token key missing", "token:" + hashHex(inv.InvitationToken), func() error { return c.Del(ctx, p+"token:"+hashHex(inv.InvitationToken)).Err() }},
		{"a member missing from its group", "g:" + g.ID + ":users", func() error { return c.Del(ctx, p+"g:"+g.ID+":users").Err() }},
		{"a live group's name key missing", "a:" + acct.ID + ":groupnames", func() error { return c.Del(ctx, p+"a:"+acct.ID+":groupnames").Err() }},
		{"a pending message not due", "outbox:due", func() error { return c.Del(ctx, p+"outbox:due").Err() }},
		{"an admin missing from the admin set", "a:" + acct.ID + ":admins", func() error { return c.SRem(ctx, p+"a:"+acct.ID+":admins", admin.ID).Err() }},
	}
	for _, d := range drifts {
		saved, _ := c.Dump(ctx, p+d.key).Result() // "" when the key does not exist
		if err := d.breakIt(); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		r := &recorder{}
		checkLayout(r, s)
		if len(r.errs) == 0 {
			t.Errorf("%s: checkLayout reported nothing", d.name)
		}
		c.Del(ctx, p+d.key)
		if saved != "" {
			if err := c.Restore(ctx, p+d.key, 0, saved).Err(); err != nil {
				t.Fatalf("restoring %s: %v", d.key, err)
			}
		}
	}
	checkLayout(t, s) // everything put back
}
