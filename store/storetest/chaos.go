package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// Chaos runs the randomised concurrent invariant test: a small world (a
// top-level account with a sub-account, another top-level account, a few
// admins and general users, an invitation, two groups) on one store, then
// several Managers on it — each on a handle of its own when reopen is
// given, as separate application instances — driven from many goroutines
// by a seeded random mix of operations: role changes, grants, bans,
// disables, removals and their reversals, unlocks, email changes and
// confirmations, invitations (single and bulk), accepts, resends and
// revocations, passwords set, changed and reset, right and wrong logins,
// activity, departments added, removed and given, groups created and
// deleted, group membership, moves between accounts, deliveries, and
// sweeps under a fake clock that jumps (never a sleep). One operation in
// eight is a pair of operations on related records released at once.
// Operations may fail with the library's sentinels; anything else fails
// the test.
//
// Every handle is wrapped in a recorder that logs each write the Managers
// make and its outcome. After the run the test checks what must hold
// whatever the interleaving (see chaosCheck): versions produced once each
// and accounted for, audit events and outbox messages present exactly for
// the committed writes, email uniqueness, the indexes agreeing with the
// records, the lockout's counters, the last-admin rule, departments and
// group membership, and tokens spent once.
//
// Seeds come from ChaosSeeds; USERMGMT_CHAOS_OPS sets the operations per
// seed (default 300). A store's tests call it beside Differential:
//
//	func TestChaos(t *testing.T) {
//		storetest.Chaos(t, newStore, reopen)
//	}
func Chaos(t *testing.T, newStore func(t *testing.T) usermgmt.Store, reopen func(t *testing.T, s usermgmt.Store) usermgmt.Store, seeds ...uint64) {
	if len(seeds) == 0 {
		seeds = ChaosSeeds()
	}
	ops := 100
	if n, err := strconv.Atoi(os.Getenv("USERMGMT_CHAOS_OPS")); err == nil && n > 0 {
		ops = n
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			c := newChaos(t, newStore(t), reopen, seed)
			c.run(ops)
			c.check()
		})
	}
}

// ChaosSeeds returns the seeds Chaos runs by default: 0 and 1, or 0 to
// n-1 when USERMGMT_CHAOS_SEEDS=n, or the one seed USERMGMT_CHAOS_SEED names.
func ChaosSeeds() []uint64 {
	if n, err := strconv.ParseUint(os.Getenv("USERMGMT_CHAOS_SEED"), 10, 64); err == nil {
		return []uint64{n}
	}
	if n, err := strconv.ParseUint(os.Getenv("USERMGMT_CHAOS_SEEDS"), 10, 64); err == nil {
		seeds := make([]uint64, 0, n)
		for seed := range n {
			seeds = append(seeds, seed)
		}
		return seeds
	}
	return []uint64{0, 1}
}

const (
	chaosWorkers  = 8
	chaosManagers = 4
	chaosPerm     = usermgmt.Permission("insights.view")
)

// chaosDepartments are the departments the run gives (the first: none).
var chaosDepartments = []string{"", "Sales", "Ops"}

// chaosPasswords are the passwords the run sets; each meets the default policy.
var chaosPasswords = []string{Password, "correct horse battery staple two", "correct horse battery staple three"}

type chaos struct {
	t      *testing.T
	ctx    context.Context
	seed   uint64
	store  usermgmt.Store   // the first handle, unwrapped
	hs     []usermgmt.Store // every handle, unwrapped
	log    *chaosLog
	clock  *usermgmt.FakeClock
	ms     []*usermgmt.Manager
	policy usermgmt.Policy
	sender *chaosSender

	accounts []usermgmt.Account // root, its sub-account, another top-level account
	admins   []string           // the initial admins: the actors besides System
	groups   []usermgmt.Group
	emails   []string // the pool of addresses the run uses, so that they collide

	mu        sync.Mutex
	users     []string
	passwords map[string]string // the password last set for a user (a guess under races)
	tokens    map[usermgmt.NotificationKind][]string
	spent     map[string]int // successful uses of each token
	stats     map[string]int // "op code" -> count
	failures  []string
}

func newChaos(t *testing.T, s usermgmt.Store, reopen func(t *testing.T, s usermgmt.Store) usermgmt.Store, seed uint64) *chaos {
	rng := rand.New(rand.NewPCG(seed, 7))
	p := usermgmt.DefaultPolicy()
	p.RecordTimeout = 2 * time.Minute
	p.AttemptWait = 200 * time.Millisecond
	p.MaxFailedAttempts = []int{3, 10}[rng.IntN(2)]
	p.AuditLogins = rng.IntN(2) == 0
	p.NotifyAdminsOnLockout = rng.IntN(2) == 0
	p.Welcome = rng.IntN(2) == 0
	if rng.IntN(2) == 0 {
		p.LockDuration = time.Hour
	}
	c := &chaos{t: t, ctx: context.Background(), seed: seed, store: s, log: newChaosLog(), clock: usermgmt.NewFakeClock(start),
		policy: p, sender: &chaosSender{}, passwords: map[string]string{}, tokens: map[usermgmt.NotificationKind][]string{},
		spent: map[string]int{}, stats: map[string]int{}}
	c.hs = []usermgmt.Store{s}
	for i := 1; i < chaosManagers && reopen != nil; i++ {
		c.hs = append(c.hs, reopen(t, s))
	}
	for i := range chaosManagers {
		m, err := usermgmt.New(&recordingStore{Store: c.hs[i%len(c.hs)], log: c.log},
			usermgmt.WithClock(c.clock), usermgmt.WithHashParams(fixture.FastHash), usermgmt.WithOutboxKeys(fixture.OutboxKey),
			usermgmt.WithPolicy(p), usermgmt.WithMaxConcurrentHashes(4))
		if err != nil {
			t.Fatalf("usermgmt.New: %v", err)
		}
		t.Cleanup(func() { _ = m.Close() })
		c.ms = append(c.ms, m)
	}
	for i := range 14 {
		c.emails = append(c.emails, fmt.Sprintf("chaos%02d@example.com", i))
	}
	c.world()
	t.Logf("seed %d: policy MaxFailedAttempts=%d AuditLogins=%v LockDuration=%v NotifyAdmins=%v Welcome=%v, %d store handles",
		seed, p.MaxFailedAttempts, p.AuditLogins, p.LockDuration, p.NotifyAdminsOnLockout, p.Welcome, len(c.hs))
	return c
}

// world builds the accounts, users and groups the run starts from.
func (c *chaos) world() {
	m := c.ms[0]
	acct := func(parent, name, email string) usermgmt.Account {
		a, cr, err := m.CreateAccount(c.ctx, usermgmt.System, usermgmt.NewAccount{ParentID: parent, Name: name,
			Admin: usermgmt.NewUser{Email: email, FirstName: "Ada", LastName: "Admin", Password: Password}})
		if err != nil {
			c.t.Fatalf("CreateAccount %s: %v", name, err)
		}
		c.admins = append(c.admins, cr.User.ID)
		c.addUser(cr.User.ID, Password)
		return a
	}
	root := acct("", "All Clients", c.emails[0])
	sub := acct(root.ID, "Client A", c.emails[1])
	other := acct("", "Other", c.emails[2])
	c.accounts = []usermgmt.Account{root, sub, other}
	user := func(a usermgmt.Account, email, role string) string {
		cr, err := m.CreateUser(c.ctx, usermgmt.System, usermgmt.NewUser{AccountID: a.ID, Email: email,
			FirstName: "Gene", LastName: "User", Role: role, Password: Password})
		if err != nil {
			c.t.Fatalf("CreateUser %s: %v", email, err)
		}
		c.addUser(cr.User.ID, Password)
		return cr.User.ID
	}
	c.admins = append(c.admins, user(root, c.emails[3], usermgmt.RoleAdmin), user(sub, c.emails[4], usermgmt.RoleAdmin))
	user(root, c.emails[5], usermgmt.RoleGeneral)
	user(root, c.emails[6], usermgmt.RoleGeneral)
	user(sub, c.emails[7], usermgmt.RoleGeneral)
	user(other, c.emails[8], usermgmt.RoleGeneral)
	cr, err := m.CreateUser(c.ctx, usermgmt.System, usermgmt.NewUser{AccountID: sub.ID, Email: c.emails[9],
		FirstName: "Ivy", LastName: "Invitee", Invite: true})
	if err != nil {
		c.t.Fatalf("CreateUser (invite): %v", err)
	}
	c.addUser(cr.User.ID, "")
	c.addToken(usermgmt.NotifyInvitation, cr.InvitationToken)
	for i, a := range []usermgmt.Account{root, sub} {
		for _, d := range chaosDepartments[1:] {
			var err error
			if a, err = m.AddDepartment(c.ctx, usermgmt.System, a.ID, d); err != nil {
				c.t.Fatalf("AddDepartment: %v", err)
			}
		}
		c.accounts[i] = a
		g, err := m.CreateGroup(c.ctx, usermgmt.System, usermgmt.NewGroup{AccountID: a.ID, Name: "Analysts " + a.Name,
			Grants: []usermgmt.Grant{{Permission: chaosPerm}}})
		if err != nil {
			c.t.Fatalf("CreateGroup: %v", err)
		}
		c.groups = append(c.groups, g)
	}
}

func (c *chaos) addUser(id, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.users, id) {
		c.users = append(c.users, id)
	}
	if password != "" {
		c.passwords[id] = password
	}
}

func (c *chaos) setPassword(id, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passwords[id] = password
}

func (c *chaos) addToken(kind usermgmt.NotificationKind, tok string) {
	if tok == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[kind] = append(c.tokens[kind], tok)
}

// token picks a token of the kind seen so far, the newer ones more often.
func (c *chaos) token(rng *rand.Rand, kind usermgmt.NotificationKind) string {
	c.sender.mu.Lock()
	for _, n := range c.sender.got {
		if n.Token != "" {
			c.mu.Lock()
			c.tokens[n.Kind] = append(c.tokens[n.Kind], n.Token)
			c.mu.Unlock()
		}
	}
	c.sender.got = nil
	c.sender.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := c.tokens[kind]
	if len(ts) == 0 {
		return "no-such-token"
	}
	i := len(ts) - 1 - min(rng.IntN(len(ts)), rng.IntN(len(ts)))
	return ts[i]
}

func (c *chaos) spend(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spent[tok]++
}

func (c *chaos) pickUser(rng *rand.Rand) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users[rng.IntN(len(c.users))]
}

func (c *chaos) password(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.passwords[id]; ok {
		return p
	}
	return Password
}

// actor picks an initial admin, or System a third of the time.
func (c *chaos) actor(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return usermgmt.System
	}
	return c.admins[rng.IntN(len(c.admins))]
}

func (c *chaos) emailOf(id string) string {
	u, err := c.store.User(c.ctx, id)
	if err != nil {
		return "unknown@example.com"
	}
	return u.Email
}

// chaosSender keeps the notifications delivered, for their tokens.
type chaosSender struct {
	mu    sync.Mutex
	sends int
	got   []usermgmt.Notification
}

func (s *chaosSender) Send(_ context.Context, n usermgmt.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	if s.sends%5 == 0 {
		return errors.New("chaos: mailbox unavailable")
	}
	s.got = append(s.got, n)
	return nil
}

// run performs ops operations from chaosWorkers goroutines.
func (c *chaos) run(ops int) {
	var wg sync.WaitGroup
	for w := range chaosWorkers {
		n := ops / chaosWorkers
		if w < ops%chaosWorkers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.seed, uint64(w)+100))
			for range n {
				c.op(rng)
			}
		}()
	}
	wg.Wait()
	for _, m := range c.ms {
		m.Wait() // password-reset requests finish in the background
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := sortedKeys(c.stats)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, c.stats[k])
	}
	c.t.Logf("seed %d: %d ops:%s", c.seed, ops, b.String())
	for _, f := range c.failures {
		c.t.Error(f)
	}
}

// note counts an operation's outcome and fails the run on an error that is
// not one of the library's sentinels for a refusal.
func (c *chaos) note(op string, err error) {
	code := "ok"
	if err != nil {
		code = usermgmt.ErrorCode(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats[op+":"+code]++
	switch code {
	case "ok":
	case "store_failure", "duplicate_id", "invalid_cursor", "not_configured", "internal", "canceled", "timeout", "weak_password":
		c.failures = append(c.failures, fmt.Sprintf("%s: unexpected error: %v", op, err))
	}
}

var chaosStatusOps = []struct {
	name string
	f    func(m *usermgmt.Manager, ctx context.Context, actorID, userID string) (usermgmt.User, error)
}{
	{"ban", (*usermgmt.Manager).Ban},
	{"unban", (*usermgmt.Manager).Unban},
	{"disable", (*usermgmt.Manager).Disable},
	{"enable", (*usermgmt.Manager).Enable},
	{"reactivate", (*usermgmt.Manager).Reactivate},
	{"remove", (*usermgmt.Manager).Remove},
}

// op performs one random operation; one time in eight, two at once,
// released together so that their reads and writes interleave.
func (c *chaos) op(rng *rand.Rand) {
	if rng.IntN(8) > 0 {
		c.one(rng, rng.IntN(100))
		return
	}
	// Pairs of kinds that touch the same records: departments and
	// profiles, groups and memberships, status changes and roles and
	// moves (the last admin), invitations and their tokens, departments
	// and departments, groups and their grants.
	pairs := [][2][2]int{{{0, 3}, {3, 6}}, {{6, 8}, {68, 74}}, {{14, 24}, {8, 11}}, {{14, 24}, {74, 79}},
		{{14, 24}, {14, 24}}, {{26, 29}, {31, 36}}, {{31, 36}, {36, 44}}, {{0, 3}, {0, 3}}, {{6, 8}, {11, 14}},
		{{0, 100}, {0, 100}}}
	p := pairs[rng.IntN(len(pairs))]
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, r := range p {
		sub := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		k := r[0] + sub.IntN(r[1]-r[0])
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			c.one(sub, k)
		}()
	}
	close(gate)
	wg.Wait()
}

// one performs the operation of kind k (0 to 99) on random targets.
func (c *chaos) one(rng *rand.Rand, k int) {
	ctx := c.ctx
	m := c.ms[rng.IntN(len(c.ms))]
	id := c.pickUser(rng)
	actor := c.actor(rng)
	pw := chaosPasswords[rng.IntN(len(chaosPasswords))]
	email := c.emails[rng.IntN(len(c.emails))]
	acct := c.accounts[rng.IntN(len(c.accounts))]
	switch {
	case k < 3:
		d := chaosDepartments[1+rng.IntN(len(chaosDepartments)-1)]
		var err error
		if rng.IntN(2) == 0 {
			_, err = m.AddDepartment(ctx, actor, acct.ID, d)
		} else {
			_, err = m.RemoveDepartment(ctx, actor, acct.ID, d)
		}
		c.note("department", err)
	case k < 6:
		d := chaosDepartments[rng.IntN(len(chaosDepartments))]
		_, err := m.UpdateProfile(ctx, actor, id, usermgmt.Profile{Department: &d})
		c.note("profile", err)
	case k < 8:
		var err error
		if g := c.group(rng); rng.IntN(3) == 0 {
			_, err = m.DeleteGroup(ctx, actor, g.ID)
		} else {
			var g usermgmt.Group
			g, err = m.CreateGroup(ctx, actor, usermgmt.NewGroup{AccountID: acct.ID, Name: "Team " + strconv.Itoa(rng.IntN(4))})
			if err == nil {
				c.mu.Lock()
				c.groups = append(c.groups, g)
				c.mu.Unlock()
			}
		}
		c.note("group", err)
	case k < 11:
		role := []string{usermgmt.RoleAdmin, usermgmt.RoleGeneral}[rng.IntN(2)]
		_, err := m.ChangeRole(ctx, actor, id, role)
		c.note("role", err)
	case k < 14:
		g := usermgmt.Grant{Permission: chaosPerm, Resource: []string{"", "report-1"}[rng.IntN(2)]}
		var err error
		switch rng.IntN(4) {
		case 0:
			_, err = m.Grant(ctx, actor, id, g)
		case 1:
			_, err = m.RevokeGrant(ctx, actor, id, g)
		case 2:
			_, err = m.GrantGroup(ctx, actor, c.group(rng).ID, g)
		default:
			_, err = m.RevokeGroupGrant(ctx, actor, c.group(rng).ID, g)
		}
		c.note("grant", err)
	case k < 24:
		op := chaosStatusOps[rng.IntN(len(chaosStatusOps))]
		_, err := op.f(m, ctx, actor, id)
		c.note(op.name, err)
	case k < 26:
		np := ""
		if rng.IntN(2) == 0 {
			np = pw
		}
		_, err := m.Unlock(ctx, actor, id, np)
		if err == nil && np != "" {
			c.setPassword(id, np)
		}
		c.note("unlock", err)
	case k < 29:
		var ch usermgmt.EmailChange
		var err error
		if rng.IntN(3) == 0 {
			ch, err = m.ChangeOwnEmail(ctx, id, c.password(id), email)
		} else {
			ch, err = m.ChangeEmail(ctx, actor, id, email)
		}
		if err == nil {
			kind := usermgmt.NotifyEmailChange
			if ch.User.Status == usermgmt.StatusInvited {
				kind = usermgmt.NotifyInvitation
			}
			c.addToken(kind, ch.Token)
		}
		c.note("change_email", err)
	case k < 31:
		tok := c.token(rng, usermgmt.NotifyEmailChange)
		_, err := m.ConfirmEmailChange(ctx, tok)
		if err == nil {
			c.spend(tok)
		}
		c.note("confirm_email", err)
	case k < 36:
		in := usermgmt.NewUser{AccountID: acct.ID, Email: email, FirstName: "New", LastName: "Comer",
			Groups: c.groupsOf(rng, acct), Department: chaosDepartments[rng.IntN(len(chaosDepartments))]}
		if rng.IntN(3) > 0 {
			in.Invite = true
		} else {
			in.Password = pw
		}
		cr, err := m.CreateUser(ctx, actor, in)
		if err == nil {
			c.addUser(cr.User.ID, pw)
			c.addToken(usermgmt.NotifyInvitation, cr.InvitationToken)
		}
		c.note("create_user", err)
	case k < 41:
		tok := c.token(rng, usermgmt.NotifyInvitation)
		u, err := m.AcceptInvitation(ctx, tok, usermgmt.Acceptance{Password: pw})
		if err == nil {
			c.spend(tok)
			c.setPassword(u.ID, pw)
		}
		c.note("accept", err)
	case k < 44:
		if rng.IntN(2) == 0 {
			inv, err := m.ResendInvitation(ctx, actor, id)
			if err == nil {
				c.addToken(usermgmt.NotifyInvitation, inv.Token)
			}
			c.note("resend", err)
		} else {
			_, err := m.RevokeInvitation(ctx, actor, id)
			c.note("revoke_invitation", err)
		}
	case k < 47:
		_, err := m.SetPassword(ctx, actor, id, pw)
		if err == nil {
			c.setPassword(id, pw)
		}
		c.note("set_password", err)
	case k < 50:
		_, err := m.ChangePassword(ctx, id, c.password(id), pw)
		if err == nil {
			c.setPassword(id, pw)
		}
		c.note("change_password", err)
	case k < 58:
		_, err := m.Authenticate(ctx, c.emailOf(id), c.password(id))
		c.note("login_right", err)
	case k < 68:
		_, err := m.Authenticate(ctx, c.emailOf(id), "wrong password "+strconv.Itoa(rng.IntN(1000)))
		c.note("login_wrong", err)
	case k < 74:
		g := c.group(rng)
		var err error
		if rng.IntN(3) > 0 {
			_, err = m.AddToGroup(ctx, actor, id, g.ID)
		} else {
			_, err = m.RemoveFromGroup(ctx, actor, id, g.ID)
		}
		c.note("membership", err)
	case k < 79:
		_, err := m.MoveUser(ctx, actor, id, acct.ID)
		c.note("move", err)
	case k < 83:
		d := time.Duration(rng.IntN(20)) * time.Minute
		switch rng.IntN(12) {
		case 0:
			d = time.Duration(20+rng.IntN(25)) * 24 * time.Hour // toward inactivity
		case 1, 2:
			d = time.Duration(1+rng.IntN(3)) * time.Hour // past reset links and locks
		}
		c.clock.Advance(d)
		_, err := m.Sweep(ctx)
		c.note("sweep", err)
	case k < 86:
		rows := make([]usermgmt.NewUser, 1+rng.IntN(4))
		for i := range rows {
			rows[i] = usermgmt.NewUser{Email: c.emails[rng.IntN(len(c.emails))], FirstName: "Bulk", LastName: strconv.Itoa(i),
				Disabled: rng.IntN(5) == 0}
		}
		res, err := m.InviteUsers(ctx, actor, usermgmt.BulkInvite{AccountID: acct.ID, Rows: rows})
		for _, r := range res {
			if r.UserID != "" && (r.Outcome == usermgmt.Invited || r.Outcome == usermgmt.CreatedDisabled) {
				c.addUser(r.UserID, "")
				c.addToken(usermgmt.NotifyInvitation, r.Token)
			}
			if r.Err != nil {
				c.note("bulk_row", r.Err)
			}
		}
		c.note("bulk", err)
	case k < 89:
		err := m.Touch(ctx, id)
		c.note("touch", err)
	case k < 93:
		if rng.IntN(4) == 0 {
			dead, err := c.store.Messages(ctx, usermgmt.MessageQuery{State: usermgmt.MessageDead, Limit: 10})
			if err == nil && len(dead) > 0 {
				err = m.RequeueMessage(ctx, actor, dead[rng.IntN(len(dead))].ID)
			}
			c.note("requeue", err)
			return
		}
		// Every fifth send fails; with one to three attempts a message,
		// some die, for the requeue above.
		_, err := m.DeliverDue(ctx, usermgmt.DeliveryOptions{Sender: c.sender, MaxAttempts: 1 + rng.IntN(3)})
		c.note("deliver", err)
	case k < 96:
		err := m.RequestPasswordReset(ctx, c.emailOf(id))
		c.note("request_reset", err)
	default:
		tok := c.token(rng, usermgmt.NotifyPasswordReset)
		u, err := m.ResetPassword(ctx, tok, pw)
		if err == nil {
			c.spend(tok)
			c.setPassword(u.ID, pw)
		}
		c.note("reset", err)
	}
}

// group picks a group of the run.
func (c *chaos) group(rng *rand.Rand) usermgmt.Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[rng.IntN(len(c.groups))]
}

// groupsOf picks no group, or a group of the account.
func (c *chaos) groupsOf(rng *rand.Rand, a usermgmt.Account) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		if g.AccountID == a.ID && rng.IntN(3) == 0 {
			return []string{g.ID}
		}
	}
	return nil
}

// check holds the store's final state against the log of the run.
func (c *chaos) check() {
	t := c.t
	t.Helper()
	l := c.log
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, is := range l.issues {
		t.Error(is)
	}
	var ids []string
	for id, ul := range l.users {
		if ul.created {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	users := map[string]usermgmt.UserRecord{}
	for _, id := range ids {
		u, err := c.store.User(c.ctx, id)
		if err != nil {
			t.Fatalf("User %s: %v", id, err)
		}
		users[id] = u
	}
	c.checkVersions(ids, users)
	c.checkLockout(ids, users)
	c.checkEmails(ids, users)
	c.checkIndexes(ids, users)
	c.checkGroups(ids, users)
	c.checkLastAdmin(ids, users)
	c.checkHistory(ids, users)
	c.checkOutbox()
	for tok, n := range c.spent {
		if n > 1 {
			t.Errorf("token %.20s… used %d times", tok, n)
		}
	}
	for lease, done := range l.leases {
		if !done {
			t.Errorf("lease %s reserved and never finished", lease)
		}
	}
}

// checkVersions: every version from 1 to the stored one was produced by
// exactly one write; the versioned writes and the atomic steps that report
// theirs produced distinct versions (else a write was lost), and the
// writes that do not report one account for the rest. When the last
// version came from a write that reported the whole record, the stored
// record is that one.
func (c *chaos) checkVersions(ids []string, users map[string]usermgmt.UserRecord) {
	t := c.t
	for _, id := range ids {
		u, ul := users[id], c.log.users[id]
		if ul.unknown > 0 {
			continue // a failed write was reported already
		}
		var top int64
		for v := range ul.produced {
			top = max(top, v)
		}
		if _, ok := ul.produced[1]; !ok {
			t.Errorf("user %s: no write produced version 1", id)
		}
		if top > u.Version {
			t.Errorf("user %s: stored Version %d, but a write produced version %d (%s)", id, u.Version, top, ul.produced[top].how)
			continue
		}
		rest := u.Version - int64(len(ul.produced)) - int64(ul.activity)
		if rest < 0 || rest > int64(ul.ambiguous) {
			t.Errorf("user %s: stored Version %d, but %d writes reported versions, %d activity writes and %d atomic steps that may have written: %d unaccounted",
				id, u.Version, len(ul.produced), ul.activity, ul.ambiguous, rest)
		}
		vs := slices.Sorted(maps.Keys(ul.produced))
		for i := 1; i < len(vs); i++ {
			a, b := ul.produced[vs[i-1]], ul.produced[vs[i]]
			if b.state.SessionVersion < a.state.SessionVersion || b.state.PasswordVersion < a.state.PasswordVersion ||
				b.state.ID != a.state.ID || !b.state.CreatedAt.Equal(a.state.CreatedAt) {
				t.Errorf("user %s: version %d (%s) went back from version %d (%s): session %d→%d, password %d→%d",
					id, vs[i], b.how, vs[i-1], a.how, a.state.SessionVersion, b.state.SessionVersion, a.state.PasswordVersion, b.state.PasswordVersion)
			}
		}
		if p := ul.produced[u.Version]; p.exact {
			if d := recordDiff(p.state, u); d != "" {
				t.Errorf("user %s: stored record differs from what the last write (%s) stored: %s", id, p.how, d)
			}
		}
	}
}

// recordDiff compares the fields of two user records that the checks rely on.
func recordDiff(want, got usermgmt.UserRecord) string {
	var out []string
	f := func(name string, w, g any) {
		if fmt.Sprint(w) != fmt.Sprint(g) {
			out = append(out, fmt.Sprintf("%s %v, want %v", name, g, w))
		}
	}
	f("AccountID", want.AccountID, got.AccountID)
	f("Email", want.Email, got.Email)
	f("Role", want.Role, got.Role)
	f("Status", want.Status, got.Status)
	f("Groups", want.Groups, got.Groups)
	f("Grants", want.Grants, got.Grants)
	f("FailedAttempts", want.FailedAttempts, got.FailedAttempts)
	f("PasswordVersion", want.PasswordVersion, got.PasswordVersion)
	f("PasswordHash", want.PasswordHash, got.PasswordHash)
	f("SessionVersion", want.SessionVersion, got.SessionVersion)
	f("PendingEmail", want.PendingEmail, got.PendingEmail)
	f("Tokens", len(want.Tokens), len(got.Tokens))
	f("AttemptLeases", len(want.AttemptLeases), len(got.AttemptLeases))
	f("LastActiveAt", want.LastActiveAt.UnixNano(), got.LastActiveAt.UnixNano())
	f("LockedAt", want.LockedAt.UnixNano(), got.LockedAt.UnixNano())
	f("Version", want.Version, got.Version)
	return strings.Join(out, "; ")
}

// checkLockout: a Locked user has MaxFailedAttempts failures recorded (only
// the failure that reaches the limit locks, and nothing but an unlock or a
// reset takes failures from a Locked user); an Active one fewer; failures
// and leases in flight never pass the limit, and no lease is left once
// every attempt finished.
func (c *chaos) checkLockout(ids []string, users map[string]usermgmt.UserRecord) {
	limit := c.policy.MaxFailedAttempts
	for _, id := range ids {
		u := users[id]
		switch {
		case u.Status == usermgmt.StatusLocked && u.FailedAttempts < limit:
			c.t.Errorf("user %s: Locked with %d failures recorded, limit %d", id, u.FailedAttempts, limit)
		case u.Status == usermgmt.StatusActive && u.FailedAttempts >= limit:
			c.t.Errorf("user %s: Active with %d failures recorded, limit %d", id, u.FailedAttempts, limit)
		case u.FailedAttempts+len(u.AttemptLeases) > limit:
			c.t.Errorf("user %s: %d failures and %d leases, limit %d", id, u.FailedAttempts, len(u.AttemptLeases), limit)
		case len(u.AttemptLeases) > 0:
			c.t.Errorf("user %s: %d attempt leases left after every attempt finished", id, len(u.AttemptLeases))
		}
	}
}

// checkEmails: no two non-removed users share an email, and each is found
// by it, through every handle; a removed user is never found by email.
func (c *chaos) checkEmails(ids []string, users map[string]usermgmt.UserRecord) {
	holder := map[string]string{}
	for _, id := range ids {
		u := users[id]
		if u.Status == usermgmt.StatusRemoved {
			continue
		}
		if other, ok := holder[u.Email]; ok {
			c.t.Errorf("users %s and %s both hold %s", other, id, u.Email)
		}
		holder[u.Email] = id
	}
	for _, id := range ids {
		u := users[id]
		for hi, h := range c.hs {
			got, err := h.UserByEmail(c.ctx, u.Email)
			switch {
			case u.Status != usermgmt.StatusRemoved && err != nil:
				c.t.Errorf("handle %d: UserByEmail(%s) of user %s: %v", hi, u.Email, id, err)
			case u.Status != usermgmt.StatusRemoved && (got.ID != id || got.Version != u.Version):
				c.t.Errorf("handle %d: UserByEmail(%s) = %s v%d, want %s v%d", hi, u.Email, got.ID, got.Version, id, u.Version)
			case u.Status == usermgmt.StatusRemoved && err == nil && got.ID == id:
				c.t.Errorf("handle %d: UserByEmail(%s) found removed user %s", hi, u.Email, id)
			case err != nil && !errors.Is(err, usermgmt.ErrNotFound):
				c.t.Errorf("handle %d: UserByEmail(%s): %v", hi, u.Email, err)
			}
			for _, tok := range u.Tokens {
				got, err := h.UserByToken(c.ctx, tok.Hash)
				if err != nil || got.ID != id {
					c.t.Errorf("handle %d: UserByToken of user %s's %s token: %s, %v", hi, id, tok.Purpose, got.ID, err)
				}
			}
		}
	}
}

// listAll pages through ListUsers with a small limit.
func (c *chaos) listAll(h usermgmt.Store, q usermgmt.ListQuery) []usermgmt.UserRecord {
	var out []usermgmt.UserRecord
	q.Limit = 3
	for {
		page, err := h.ListUsers(c.ctx, q)
		if err != nil {
			c.t.Fatalf("ListUsers: %v", err)
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out
		}
		q.After = page[len(page)-1].ID
	}
}

// checkIndexes: each account subtree's listing, the group filter and the
// sweep's stale listings hold exactly the users the records say, each as
// User returns it, through every handle.
func (c *chaos) checkIndexes(ids []string, users map[string]usermgmt.UserRecord) {
	root, sub, other := c.accounts[0], c.accounts[1], c.accounts[2]
	subtree := map[string][]string{root.ID: {root.ID, sub.ID}, sub.ID: {sub.ID}, other.ID: {other.ID}}
	same := func(what string, got []usermgmt.UserRecord, want func(u usermgmt.UserRecord) bool) {
		seen := map[string]bool{}
		for i, g := range got {
			if i > 0 && got[i-1].ID >= g.ID {
				c.t.Errorf("%s: not in ascending ID order at %s", what, g.ID)
			}
			u, ok := users[g.ID]
			switch {
			case !ok:
				c.t.Errorf("%s: lists unknown user %s", what, g.ID)
			case seen[g.ID]:
				c.t.Errorf("%s: lists %s twice", what, g.ID)
			case !want(u):
				c.t.Errorf("%s: lists %s (account %s, status %s, groups %v), which does not match", what, g.ID, u.AccountID, u.Status, u.Groups)
			case recordDiff(u, g) != "":
				c.t.Errorf("%s: lists %s as it is not stored: %s", what, g.ID, recordDiff(u, g))
			}
			seen[g.ID] = true
		}
		for _, id := range ids {
			if want(users[id]) && !seen[id] {
				u := users[id]
				c.t.Errorf("%s: misses %s (account %s, status %s, groups %v)", what, id, u.AccountID, u.Status, u.Groups)
			}
		}
	}
	// The first handle and the last (another connection, client or pool
	// when the store can reopen) answer the listings.
	hs := map[int]usermgmt.Store{0: c.hs[0], len(c.hs) - 1: c.hs[len(c.hs)-1]}
	for hi, h := range hs {
		for _, a := range c.accounts {
			in := func(u usermgmt.UserRecord) bool { return slices.Contains(subtree[a.ID], u.AccountID) }
			same(fmt.Sprintf("handle %d: ListUsers(%s, every status)", hi, a.Name),
				c.listAll(h, usermgmt.ListQuery{AccountID: a.ID, Statuses: usermgmt.Statuses}), in)
			same(fmt.Sprintf("handle %d: ListUsers(%s)", hi, a.Name), c.listAll(h, usermgmt.ListQuery{AccountID: a.ID}),
				func(u usermgmt.UserRecord) bool { return in(u) && u.Status != usermgmt.StatusRemoved })
			same(fmt.Sprintf("handle %d: ListUsers(%s, admins)", hi, a.Name),
				c.listAll(h, usermgmt.ListQuery{AccountID: a.ID, Roles: []string{usermgmt.RoleAdmin}, Statuses: []usermgmt.Status{usermgmt.StatusActive}}),
				func(u usermgmt.UserRecord) bool {
					return in(u) && u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive
				})
		}
		for _, g := range c.groups {
			same(fmt.Sprintf("handle %d: ListUsers(group %s)", hi, g.Name),
				c.listAll(h, usermgmt.ListQuery{AccountID: g.AccountID, GroupID: g.ID, Statuses: usermgmt.Statuses}),
				func(u usermgmt.UserRecord) bool { return slices.Contains(u.Groups, g.ID) })
		}
		for _, st := range []usermgmt.Status{usermgmt.StatusActive, usermgmt.StatusLocked} {
			var got []usermgmt.UserRecord
			q := usermgmt.StaleQuery{Status: st, Before: c.clock.Now().AddDate(1, 0, 0), Limit: 3}
			for {
				page, err := h.StaleUsers(c.ctx, q)
				if err != nil {
					c.t.Fatalf("StaleUsers: %v", err)
				}
				got = append(got, page...)
				if len(page) < q.Limit {
					break
				}
				q.AfterTime, q.AfterID = page[len(page)-1].LastActiveAt, page[len(page)-1].ID
				if st == usermgmt.StatusLocked {
					q.AfterTime = page[len(page)-1].LockedAt
				}
			}
			slices.SortFunc(got, func(a, b usermgmt.UserRecord) int { return strings.Compare(a.ID, b.ID) })
			same(fmt.Sprintf("handle %d: StaleUsers(%s)", hi, st), got, func(u usermgmt.UserRecord) bool { return u.Status == st })
		}
	}
}

// checkGroups: a user belongs only to live groups of their own account, in
// ascending order, once each, and has no department but one of their
// account's.
func (c *chaos) checkGroups(ids []string, users map[string]usermgmt.UserRecord) {
	groups := map[string]usermgmt.Group{}
	accounts := map[string]usermgmt.Account{}
	for _, a := range c.accounts {
		a, err := c.store.Account(c.ctx, a.ID)
		if err != nil {
			c.t.Fatalf("Account: %v", err)
		}
		accounts[a.ID] = a
		gs, err := c.store.ListGroups(c.ctx, usermgmt.GroupQuery{AccountID: a.ID, Deleted: true, Limit: 1000})
		if err != nil {
			c.t.Fatalf("ListGroups: %v", err)
		}
		for _, g := range gs {
			groups[g.ID] = g
		}
	}
	for key, vs := range c.log.versions {
		var stored int64
		if id, ok := strings.CutPrefix(key, "group "); ok {
			stored = groups[id].Version
		} else {
			stored = accounts[strings.TrimPrefix(key, "account ")].Version
		}
		for v := int64(1); v <= stored; v++ {
			if !vs[v] {
				c.t.Errorf("%s: stored Version %d, but no committed write produced version %d", key, stored, v)
			}
		}
		if int64(len(vs)) != stored {
			c.t.Errorf("%s: stored Version %d, but committed writes produced %d versions", key, stored, len(vs))
		}
	}
	for _, id := range ids {
		u := users[id]
		if !slices.IsSorted(u.Groups) || len(slices.Compact(slices.Clone(u.Groups))) != len(u.Groups) {
			c.t.Errorf("user %s: groups %v not ascending and unique", id, u.Groups)
		}
		for _, gid := range u.Groups {
			switch g, ok := groups[gid]; {
			case !ok || g.AccountID != u.AccountID:
				c.t.Errorf("user %s of account %s is a member of group %s of account %s", id, u.AccountID, gid, g.AccountID)
			case g.Deleted:
				c.t.Errorf("user %s (%s) is a member of deleted group %s", id, u.Status, g.Name)
			}
		}
		if a := accounts[u.AccountID]; u.Department != "" && !slices.Contains(a.Departments, u.Department) {
			c.t.Errorf("user %s (%s) is in department %q, which account %s does not have (%v)",
				id, u.Status, u.Department, accounts[u.AccountID].Name, accounts[u.AccountID].Departments)
		}
	}
}

// checkLastAdmin: every account (each started with an active admin) still
// has one, unless an admin of it left Active by a way the rule does not
// guard: a lock after wrong passwords, or inactivity.
func (c *chaos) checkLastAdmin(ids []string, users map[string]usermgmt.UserRecord) {
	exempt := map[string]string{}
	for id, ul := range c.log.users {
		for _, p := range ul.produced {
			s := p.state
			if s.Role == usermgmt.RoleAdmin && (s.Status == usermgmt.StatusLocked && strings.HasPrefix(p.how, "FinishAttempt") ||
				s.Status == usermgmt.StatusInactive && strings.HasSuffix(p.how, string(usermgmt.ActionInactive))) {
				exempt[s.AccountID] = fmt.Sprintf("admin %s: %s to %s", id, p.how, s.Status)
			}
		}
	}
	for _, a := range c.accounts {
		has := false
		for _, id := range ids {
			u := users[id]
			has = has || u.AccountID == a.ID && u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive
		}
		switch {
		case has:
		case exempt[a.ID] != "":
			c.t.Logf("account %s has no active admin left, after %s", a.Name, exempt[a.ID])
		default:
			c.t.Errorf("account %s has no active admin left, and none was locked or made inactive", a.Name)
		}
	}
}

// checkHistory: each user's history holds exactly the events of the
// committed writes of that user, once each; the account trails hold every
// committed event, and none of a refused write.
func (c *chaos) checkHistory(ids []string, users map[string]usermgmt.UserRecord) {
	l := c.log
	for _, id := range ids {
		if l.users[id].unknown > 0 {
			continue
		}
		evs, err := c.store.History(c.ctx, usermgmt.HistoryQuery{UserID: id, Limit: 100000})
		if err != nil {
			c.t.Fatalf("History: %v", err)
		}
		seen := map[string]bool{}
		for _, ev := range evs {
			it, ok := l.events[ev.ID]
			switch {
			case seen[ev.ID]:
				c.t.Errorf("user %s: event %s (%s) twice in the history", id, ev.ID, ev.Action)
			case !ok:
				c.t.Errorf("user %s: event %s (%s) that no write carried", id, ev.ID, ev.Action)
			case !it.committed && !it.unknown:
				c.t.Errorf("user %s: %s %s of a refused write is in the history", id, it.what, ev.ID)
			case it.userID != id:
				c.t.Errorf("user %s: event %s of user %s in the history", id, ev.ID, it.userID)
			}
			seen[ev.ID] = true
		}
		for evID, it := range l.events {
			if it.userID == id && it.committed && !seen[evID] {
				c.t.Errorf("user %s: %s %s of a committed write is missing from the history", id, it.what, evID)
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range []usermgmt.Account{c.accounts[0], c.accounts[2]} {
		q := usermgmt.HistoryQuery{AccountID: a.ID, Limit: 50}
		for {
			evs, err := c.store.History(c.ctx, q)
			if err != nil {
				c.t.Fatalf("History: %v", err)
			}
			for _, ev := range evs {
				if seen[ev.ID] {
					c.t.Errorf("event %s (%s) twice in the account trails", ev.ID, ev.Action)
				}
				seen[ev.ID] = true
				if it, ok := l.events[ev.ID]; !ok || !it.committed && !it.unknown {
					c.t.Errorf("account trail of %s holds event %s (%s) of no committed write", a.Name, ev.ID, ev.Action)
				}
			}
			if len(evs) < q.Limit {
				break
			}
			q.Before = evs[len(evs)-1].ID
		}
	}
	for evID, it := range l.events {
		if it.committed && !seen[evID] {
			c.t.Errorf("%s %s (account %s) of a committed write is missing from the account trails", it.what, evID, it.accountID)
		}
	}
}

// checkOutbox: the messages stored or delivered are exactly those of the
// committed writes, and each was delivered at most once.
func (c *chaos) checkOutbox() {
	l := c.log
	stored := map[string]bool{}
	for _, st := range []usermgmt.MessageState{usermgmt.MessagePending, usermgmt.MessageDead} {
		q := usermgmt.MessageQuery{State: st, Limit: 50}
		for {
			ms, err := c.store.Messages(c.ctx, q)
			if err != nil {
				c.t.Fatalf("Messages: %v", err)
			}
			for _, m := range ms {
				stored[m.ID] = true
			}
			if len(ms) < q.Limit {
				break
			}
			q.After = ms[len(ms)-1].ID
		}
	}
	for id := range stored {
		if it, ok := l.msgs[id]; !ok || !it.committed && !it.unknown {
			c.t.Errorf("message %s stored, but no committed write carried it", id)
		}
		if l.sent[id] > 0 {
			c.t.Errorf("message %s delivered and still stored", id)
		}
	}
	for id, n := range l.sent {
		if it, ok := l.msgs[id]; !ok || !it.committed && !it.unknown {
			c.t.Errorf("message %s delivered, but no committed write carried it", id)
		}
		if n > 1 {
			c.t.Errorf("message %s recorded as sent %d times", id, n)
		}
	}
	for id, it := range l.msgs {
		if it.committed && !stored[id] && l.sent[id] == 0 {
			c.t.Errorf("%s %s of a committed write (user %s) is neither stored nor delivered", it.what, id, it.userID)
		}
	}
}
