package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// DifferentialPools is Differential's companion: it applies the same
// random Store calls to the reference implementation (store/memstore) and
// to a fresh store from newStore, six seeds of 1,500 calls (300 with
// -short; USERMGMT_DIFF_SEEDS=n for n seeds), and compares every answer: errors by the sentinel they match,
// records field by field. The calls draw IDs, emails, token hashes, group
// names and times from small pools, so that collisions, stale versions,
// ties in the time indexes, moves, email changes, lapsed leases and every
// refusal of the contract come up often. After each seed, check (if not
// nil) may inspect the store, as the Redis store checks its key layout.
func DifferentialPools(t *testing.T, newStore func(t *testing.T) usermgmt.Store, check func(t *testing.T, s usermgmt.Store)) {
	ops := 1500
	if testing.Short() {
		ops = 300
	}
	seeds := uint64(6)
	if n, err := strconv.ParseUint(os.Getenv("USERMGMT_DIFF_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newStore(t)
			d := &poolDiff{t: t, ref: memstore.New(), got: s, r: rand.New(rand.NewPCG(seed, 42))}
			d.setup()
			for i := range ops {
				d.step(i)
				if t.Failed() {
					t.FailNow()
				}
			}
			if check != nil {
				check(t, s)
			}
			t.Logf("%d calls: %v", ops, d.tally)
		})
	}
}

type poolDiff struct {
	t        *testing.T
	ref, got usermgmt.Store
	r        *rand.Rand
	n        int
	tally    map[string]int
	events   []string
	messages []string
}

var (
	poolT0    = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	diffTimes = []time.Time{{}, poolT0, poolT0.Add(time.Nanosecond), poolT0.Add(time.Hour), poolT0.Add(2 * time.Hour), poolT0.Add(24 * time.Hour), time.Unix(1, 5).UTC()}
	diffAccts = []string{"a0", "a1", "a2", "a3", "ax"}
	diffUsers = []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
	diffMails = []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example", "f@x.example", "g@x.example", "ünï@x.example"}
	diffGrps  = []string{"g0", "g1", "g2", "g3"}
	diffToks  = []string{"poolT0", "t1", "t2", "t3", "t4", "t5"}
	purposes  = []usermgmt.TokenPurpose{usermgmt.TokenInvitation, usermgmt.TokenPasswordReset, usermgmt.TokenEmailChange}
	actions   = []usermgmt.Action{usermgmt.ActionCreate, usermgmt.ActionLogin, usermgmt.ActionMove, usermgmt.ActionLock}
)

func (d *poolDiff) coin(p float64) bool { return d.r.Float64() < p }

func (d *poolDiff) time() time.Time { return pick(d.r, diffTimes) }

func (d *poolDiff) id(kind string) string {
	d.n++
	return fmt.Sprintf("%s%06d", kind, d.n)
}

// event returns a fresh event, or now and then one whose ID is taken.
func (d *poolDiff) event(user, account string) usermgmt.AuditEvent {
	id := d.id("e")
	if len(d.events) > 0 && d.coin(0.03) {
		id = pick(d.r, d.events)
	} else {
		d.events = append(d.events, id)
	}
	ev := usermgmt.AuditEvent{ID: id, At: d.time(), ActorID: pick(d.r, []string{usermgmt.System, "u0", "u1"}),
		Action: pick(d.r, actions), UserID: user, AccountID: account}
	if d.coin(0.5) {
		ev.Changes = []usermgmt.Change{{Field: "status", Old: "a", New: "b"}, {Field: "email", New: "ü"}}
		ev.ActorEmail, ev.IP, ev.UserAgent, ev.Reason = "a@x.example", "192.0.2.1", "curl/8", "left the company"
	}
	if d.coin(0.1) {
		ev.GroupID = pick(d.r, diffGrps)
	}
	return ev
}

func (d *poolDiff) messagesFor(u usermgmt.UserRecord, fresh bool) []usermgmt.Message {
	var ms []usermgmt.Message
	for range d.r.IntN(3) {
		id := d.id("m")
		if !fresh && len(d.messages) > 0 && d.coin(0.05) {
			id = pick(d.r, d.messages)
		} else {
			d.messages = append(d.messages, id)
		}
		m := usermgmt.Message{ID: id, Kind: usermgmt.NotifyLockout, To: u.Email, UserID: u.ID, AccountID: u.AccountID,
			Payload: []byte{0, 1, 2, byte(d.r.IntN(256)), 0xff}, State: usermgmt.MessagePending, CreatedAt: d.time(), DueAt: d.time()}
		if d.coin(0.2) {
			m.State, m.DeadAt, m.LastError = usermgmt.MessageDead, d.time(), "550 no"
		}
		ms = append(ms, m)
	}
	return ms
}

// setup creates the account tree a0 > a1 > a2 in both stores, each with
// its first user, so that most calls find accounts to work in.
func (d *poolDiff) setup() {
	var parent usermgmt.Account
	for i, id := range diffAccts[:3] {
		a := usermgmt.Account{ID: id, Name: id, CreatedAt: poolT0, UpdatedAt: poolT0, Version: 1}
		if i > 0 {
			a.ParentID, a.Ancestors = parent.ID, append(slices.Clone(parent.Ancestors), parent.ID)
		}
		u := d.user(diffUsers[i])
		u.AccountID, u.Email, u.Role, u.Status, u.Tokens = id, diffMails[i], usermgmt.RoleAdmin, usermgmt.StatusActive, nil
		ae, ue := d.event("", id), d.event(u.ID, id)
		ae.ID, ue.ID = d.id("e"), d.id("e")
		c := usermgmt.AccountCreate{Account: a, AccountEvent: ae, Admin: usermgmt.UserCreate{User: u, Event: ue}}
		for _, s := range []usermgmt.Store{d.ref, d.got} {
			if err := s.CreateAccount(context.Background(), c); err != nil {
				d.t.Fatal(err)
			}
		}
		parent = a
	}
}

// account picks an account ID, mostly one that exists.
func (d *poolDiff) account() string {
	if d.coin(0.85) {
		return pick(d.r, diffAccts[:3])
	}
	return pick(d.r, diffAccts)
}

// user returns a random user record.
func (d *poolDiff) user(id string) usermgmt.UserRecord {
	u := usermgmt.UserRecord{ID: id, AccountID: d.account(), Email: pick(d.r, diffMails), FirstName: pick(d.r, []string{"Ada", "Émile", ""}),
		LastName: pick(d.r, []string{"Lovelace", "Zola"}), Role: pick(d.r, []string{usermgmt.RoleAdmin, usermgmt.RoleGeneral}),
		Department: pick(d.r, []string{"", "Sales"}), Locale: pick(d.r, []string{"", "de-CH"}), Status: pick(d.r, statuses),
		PasswordHash: pick(d.r, []string{"", "h1", "h2"}), PasswordVersion: int64(d.r.IntN(3)), FailedAttempts: d.r.IntN(4),
		PendingEmail: pick(d.r, []string{"", "new@x.example"}), InvitedBy: pick(d.r, []string{"", usermgmt.System}),
		InvitedAt: d.time(), CreatedAt: d.time(), UpdatedAt: d.time(), ActivatedAt: d.time(), LastLoginAt: d.time(),
		LastActiveAt: d.time(), LockedAt: d.time(), SessionVersion: int64(d.r.IntN(5)), Version: 1}
	for _, g := range diffGrps {
		if d.coin(0.3) {
			u.Groups = append(u.Groups, g)
		}
	}
	if d.coin(0.3) {
		u.Grants = []usermgmt.Grant{{Permission: "module", Resource: "insight:1"}, {Permission: "view", Department: "Sales"}}
	}
	for _, p := range purposes {
		if d.coin(0.25) {
			u.Tokens = append(u.Tokens, usermgmt.Token{Purpose: p, Hash: pick(d.r, diffToks), IssuedAt: d.time(), ExpiresAt: d.time()})
		}
	}
	for range d.r.IntN(3) {
		u.AttemptLeases = append(u.AttemptLeases, usermgmt.AttemptLease{ID: d.id("l"), Until: d.time()})
	}
	for range d.r.IntN(3) {
		u.ResetRequests = append(u.ResetRequests, d.time())
	}
	return u
}

// mutate changes a few fields of a stored user.
func (d *poolDiff) mutate(u usermgmt.UserRecord) usermgmt.UserRecord {
	r := d.user(u.ID)
	fields := reflect.ValueOf(&u).Elem()
	random := reflect.ValueOf(r)
	for range 1 + d.r.IntN(4) {
		i := d.r.IntN(fields.NumField())
		if name := fields.Type().Field(i).Name; name != "ID" && name != "Version" {
			fields.Field(i).Set(random.Field(i))
		}
	}
	return u
}

func (d *poolDiff) stored(id string) (usermgmt.UserRecord, bool) {
	u, err := d.ref.User(context.Background(), id)
	return u, err == nil
}

func (d *poolDiff) storedAccount(id string) (usermgmt.Account, bool) {
	a, err := d.ref.Account(context.Background(), id)
	return a, err == nil
}

// step makes one random call on both stores and compares the answers.
func (d *poolDiff) step(i int) {
	ctx := context.Background()
	type call struct {
		name string
		run  func(s usermgmt.Store) (any, error)
	}
	var c call
	switch k := d.r.IntN(24); {
	case k == 0:
		id := pick(d.r, diffAccts[:4])
		a := usermgmt.Account{ID: id, Name: "Acct " + id, Departments: []string{"Sales", "Ops"}, Locale: "fr", CreatedAt: d.time(), UpdatedAt: d.time(), Version: 1}
		if d.coin(0.7) {
			a.ParentID = pick(d.r, diffAccts)
			if p, ok := d.storedAccount(a.ParentID); ok {
				a.Ancestors = append(slices.Clone(p.Ancestors), p.ID)
			} else {
				a.Ancestors = []string{a.ParentID}
			}
		}
		admin := d.user(pick(d.r, diffUsers))
		admin.AccountID = id
		ac := usermgmt.AccountCreate{Account: a, Admin: usermgmt.UserCreate{User: admin, Event: d.event(admin.ID, id), Messages: d.messagesFor(admin, false)}}
		if d.coin(0.7) {
			ac.AccountEvent = d.event("", id)
		}
		c = call{"CreateAccount", func(s usermgmt.Store) (any, error) { return nil, s.CreateAccount(ctx, ac) }}
	case k <= 2:
		var cs []usermgmt.UserCreate
		for range 1 + d.r.IntN(3)*d.r.IntN(2) {
			u := d.user(pick(d.r, diffUsers))
			cs = append(cs, usermgmt.UserCreate{User: u, Event: d.event(u.ID, u.AccountID), Messages: d.messagesFor(u, false)})
		}
		name := "CreateUsers"
		if len(cs) > 1 {
			name = "CreateUsers (batch)"
		}
		c = call{name, func(s usermgmt.Store) (any, error) { return nil, s.CreateUsers(ctx, cs) }}
	case k <= 6:
		var ups []usermgmt.UserUpdate
		for range 1 + d.r.IntN(3) {
			ups = append(ups, d.update())
		}
		if len(ups) == 1 && d.coin(0.5) {
			c = call{"UpdateUser", func(s usermgmt.Store) (any, error) { return nil, s.UpdateUser(ctx, ups[0]) }}
		} else {
			c = call{"UpdateUsers", func(s usermgmt.Store) (any, error) {
				errs, err := s.UpdateUsers(ctx, ups)
				return classifyAll(errs), err
			}}
		}
	case k == 7:
		id := pick(d.r, diffAccts)
		a, ok := d.storedAccount(id)
		if !ok {
			a = usermgmt.Account{ID: id, Version: 1}
		}
		a.Name, a.Departments, a.Locale, a.UpdatedAt = "Renamed", []string{"Ops"}, "it", d.time()
		if d.coin(0.2) {
			a.Version++
		}
		up := usermgmt.AccountUpdate{Account: a, Event: d.event("", id)}
		c = call{"UpdateAccount", func(s usermgmt.Store) (any, error) { return nil, s.UpdateAccount(ctx, up) }}
	case k <= 9:
		r := usermgmt.AttemptReservation{UserID: pick(d.r, diffUsers), Limit: 1 + d.r.IntN(4), Now: d.time(),
			Lease: usermgmt.AttemptLease{ID: d.id("l"), Until: d.time()}}
		c = call{"ReserveAttempt", func(s usermgmt.Store) (any, error) {
			u, res, err := s.ReserveAttempt(ctx, r)
			return []any{u, res}, err
		}}
	case k <= 11:
		id := pick(d.r, diffUsers)
		u, _ := d.stored(id)
		o := usermgmt.AttemptOutcome{UserID: id, LeaseID: d.id("l"), Success: d.coin(0.4), At: d.time(), Limit: 1 + d.r.IntN(4),
			PasswordVersion: u.PasswordVersion, VerifiedHash: u.PasswordHash, NewHash: pick(d.r, []string{"", "rehashed"})}
		if len(u.AttemptLeases) > 0 && d.coin(0.8) {
			o.LeaseID = pick(d.r, u.AttemptLeases).ID
		}
		if d.coin(0.2) {
			o.PasswordVersion++
		}
		if d.coin(0.2) {
			o.VerifiedHash = "other"
		}
		if d.coin(0.7) {
			o.LoginEvent, o.FailureEvent = d.event(id, u.AccountID), d.event(id, u.AccountID)
		}
		o.LockEvent = d.event(id, u.AccountID)
		o.LockMessages = d.messagesFor(u, true)
		c = call{"FinishAttempt", func(s usermgmt.Store) (any, error) {
			u, ok, err := s.FinishAttempt(ctx, o)
			return []any{u, ok}, err
		}}
	case k == 12:
		a := usermgmt.ActivityUpdate{UserID: pick(d.r, diffUsers), At: d.time(), IfBefore: d.time()}
		c = call{"RecordActivity", func(s usermgmt.Store) (any, error) { return s.RecordActivity(ctx, a) }}
	case k == 13:
		g := usermgmt.Group{ID: pick(d.r, diffGrps), AccountID: d.account(), Name: "Team", NameKey: pick(d.r, []string{"team", "ops", "ünï"}),
			Description: "d", Deleted: d.coin(0.2), CreatedAt: d.time(), UpdatedAt: d.time(), Version: 1}
		if d.coin(0.5) {
			g.Grants = []usermgmt.Grant{{Permission: "module", Resource: "insight:2"}}
		}
		ev := d.event("", g.AccountID)
		c = call{"CreateGroup", func(s usermgmt.Store) (any, error) { return nil, s.CreateGroup(ctx, g, ev) }}
	case k == 14:
		id := pick(d.r, diffGrps)
		gs, _ := d.ref.Groups(ctx, []string{id})
		g := usermgmt.Group{ID: id, AccountID: "a0", Version: 1}
		if len(gs) == 1 {
			g = gs[0]
		}
		ev := d.event("", g.AccountID) // the stored group's account, as the Manager files it
		// The store must keep the group in its account whatever the write says.
		g.NameKey, g.Deleted, g.Description, g.AccountID = pick(d.r, []string{"team", "ops", "ünï"}), d.coin(0.3), "changed", pick(d.r, diffAccts)
		if d.coin(0.2) {
			g.Version++
		}
		up := usermgmt.GroupUpdate{Group: g, Event: ev}
		c = call{"UpdateGroup", func(s usermgmt.Store) (any, error) { return nil, s.UpdateGroup(ctx, up) }}
	case k == 15:
		cl := usermgmt.MessageClaim{Owner: pick(d.r, []string{"w1", "w2"}), Now: d.time(), LeaseUntil: d.time(), Limit: 1 + d.r.IntN(3)}
		c = call{"ClaimMessages", func(s usermgmt.Store) (any, error) { return s.ClaimMessages(ctx, cl) }}
	case k == 16:
		r := usermgmt.MessageResult{ID: d.someMessage(), Owner: pick(d.r, []string{"w1", "w2"}), At: d.time(), DueAt: d.time(), Error: "451 later",
			State: pick(d.r, []usermgmt.MessageState{usermgmt.MessageSent, usermgmt.MessagePending, usermgmt.MessageDead})}
		c = call{"FinishMessage", func(s usermgmt.Store) (any, error) { return nil, s.FinishMessage(ctx, r) }}
	case k == 17:
		id, due := d.someMessage(), d.time()
		c = call{"RequeueMessage", func(s usermgmt.Store) (any, error) { return nil, s.RequeueMessage(ctx, id, due) }}
	default:
		c = d.read()
	}
	refV, refErr := c.run(d.ref)
	gotV, gotErr := c.run(d.got)
	if d.tally == nil {
		d.tally = map[string]int{}
	}
	d.tally[c.name+":"+classify(refErr)]++
	if items, ok := refV.([]string); ok {
		for _, it := range items {
			d.tally[c.name+" item:"+it]++
		}
	}
	if classify(refErr) != classify(gotErr) && !bothRefuseBatch(c.name, refErr, gotErr) {
		d.t.Errorf("call %d %s: memstore says %v, the store %v", i, c.name, refErr, gotErr)
		return
	}
	if a, b := normal(d.t, refV), normal(d.t, gotV); !reflect.DeepEqual(a, b) {
		d.t.Errorf("call %d %s:\nmemstore  %s\nthe store %s", i, c.name, a, b)
	}
}

// bothRefuseBatch reports whether a CreateUsers batch of several users was
// refused by both stores, each with one of the contract's sentinels. The
// contract leaves open which fault a batch with several of them reports
// (memstore reports the first user's, PostgreSQL checks every account
// first); that nothing of it was stored, the reads that follow compare.
func bothRefuseBatch(name string, refErr, gotErr error) bool {
	return name == "CreateUsers (batch)" && refErr != nil && gotErr != nil &&
		!strings.HasPrefix(classify(refErr), "other") && !strings.HasPrefix(classify(gotErr), "other")
}

// update returns a write of a stored (or unknown) user: a few fields
// changed, now and then at a stale version or with KeepAdmin.
func (d *poolDiff) update() usermgmt.UserUpdate {
	id := pick(d.r, diffUsers)
	u, ok := d.stored(id)
	if !ok {
		u = d.user(id)
	}
	u = d.mutate(u)
	if d.coin(0.1) {
		u.Version--
	}
	return usermgmt.UserUpdate{User: u, Event: d.event(u.ID, u.AccountID), Messages: d.messagesFor(u, false), KeepAdmin: d.coin(0.3)}
}

func (d *poolDiff) someMessage() string {
	if len(d.messages) == 0 || d.coin(0.1) {
		return "m-unknown"
	}
	return pick(d.r, d.messages)
}

// read is a random read, its answer compared as a whole.
func (d *poolDiff) read() (c struct {
	name string
	run  func(s usermgmt.Store) (any, error)
}) {
	ctx := context.Background()
	limit := 1 + d.r.IntN(5)
	set := func(name string, run func(s usermgmt.Store) (any, error)) { c.name, c.run = name, run }
	switch d.r.IntN(12) {
	case 0:
		id := pick(d.r, diffUsers)
		set("User", func(s usermgmt.Store) (any, error) { return s.User(ctx, id) })
	case 1:
		e := pick(d.r, diffMails)
		set("UserByEmail", func(s usermgmt.Store) (any, error) { return s.UserByEmail(ctx, e) })
	case 2:
		h := pick(d.r, diffToks)
		set("UserByToken", func(s usermgmt.Store) (any, error) { return s.UserByToken(ctx, h) })
	case 3:
		id := pick(d.r, diffUsers)
		set("UserAccess", func(s usermgmt.Store) (any, error) {
			u, st, err := s.UserAccess(ctx, id)
			return []any{u, st}, err
		})
	case 4:
		q := usermgmt.ListQuery{AccountID: pick(d.r, diffAccts), Limit: limit}
		if d.coin(0.3) {
			q.Search = pick(d.r, []string{"a", "ada", "x.ex", "zola", "é"})
		}
		if d.coin(0.3) {
			q.Statuses = []usermgmt.Status{pick(d.r, statuses), pick(d.r, statuses)}
		}
		if d.coin(0.2) {
			q.Roles = []string{usermgmt.RoleAdmin}
		}
		if d.coin(0.2) {
			q.Department = "Sales"
		}
		if d.coin(0.3) {
			q.GroupID = pick(d.r, diffGrps)
		}
		if d.coin(0.3) {
			q.After = pick(d.r, diffUsers)
		}
		set("ListUsers", func(s usermgmt.Store) (any, error) { return s.ListUsers(ctx, q) })
	case 5:
		q := usermgmt.StaleQuery{Status: pick(d.r, []usermgmt.Status{usermgmt.StatusActive, usermgmt.StatusLocked}), Before: d.time(), Limit: limit}
		if d.coin(0.4) {
			q.AfterTime, q.AfterID = d.time(), pick(d.r, diffUsers)
		}
		set("StaleUsers", func(s usermgmt.Store) (any, error) { return s.StaleUsers(ctx, q) })
	case 6:
		q := usermgmt.HistoryQuery{Limit: limit}
		if d.coin(0.5) {
			q.UserID = pick(d.r, diffUsers)
		} else {
			q.AccountID = pick(d.r, diffAccts)
		}
		if d.coin(0.3) {
			q.Actions = []usermgmt.Action{pick(d.r, actions)}
		}
		if d.coin(0.2) {
			q.ActorID = usermgmt.System
		}
		if d.coin(0.2) {
			q.Since = d.time()
		}
		if d.coin(0.2) {
			q.Until = d.time()
		}
		if d.coin(0.3) && len(d.events) > 0 {
			q.Before = pick(d.r, d.events)
		}
		set("History", func(s usermgmt.Store) (any, error) { return s.History(ctx, q) })
	case 7:
		q := usermgmt.AccountQuery{RootID: pick(d.r, diffAccts), Limit: limit}
		if d.coin(0.3) {
			q.After = pick(d.r, diffAccts)
		}
		set("Accounts", func(s usermgmt.Store) (any, error) { return s.Accounts(ctx, q) })
	case 8:
		ids := []string{pick(d.r, diffGrps), pick(d.r, diffGrps), "g-unknown"}
		set("Groups", func(s usermgmt.Store) (any, error) {
			gs, err := s.Groups(ctx, ids)
			slices.SortFunc(gs, func(a, b usermgmt.Group) int { return strings.Compare(a.ID, b.ID) })
			gs = slices.CompactFunc(gs, func(a, b usermgmt.Group) bool { return a.ID == b.ID })
			return gs, err
		})
	case 9:
		q := usermgmt.GroupQuery{AccountID: pick(d.r, diffAccts), Deleted: d.coin(0.5), Limit: limit}
		if d.coin(0.3) {
			q.After = pick(d.r, diffGrps)
		}
		set("ListGroups", func(s usermgmt.Store) (any, error) { return s.ListGroups(ctx, q) })
	case 10:
		q := usermgmt.MessageQuery{State: pick(d.r, []usermgmt.MessageState{usermgmt.MessagePending, usermgmt.MessageDead}), Limit: limit}
		if d.coin(0.3) {
			q.After = d.someMessage()
		}
		set("Messages", func(s usermgmt.Store) (any, error) { return s.Messages(ctx, q) })
	default:
		id := d.someMessage()
		set("Message", func(s usermgmt.Store) (any, error) { return s.Message(ctx, id) })
	}
	return c
}

var sentinels = []error{usermgmt.ErrNotFound, usermgmt.ErrConflict, usermgmt.ErrDuplicateEmail, usermgmt.ErrDuplicateID,
	usermgmt.ErrDuplicateName, usermgmt.ErrLastAdmin, usermgmt.ErrStore}

// classify names the sentinel an error matches.
func classify(err error) string {
	if err == nil {
		return "ok"
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return strings.TrimPrefix(s.Error(), "usermgmt: ")
		}
	}
	return "other: " + err.Error()
}

func classifyAll(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = classify(e)
	}
	return out
}

// normal renders a value for comparison: as JSON, with empty lists and
// nil ones alike.
func normal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(dropEmpty(x))
	return string(b)
}

func dropEmpty(x any) any {
	switch v := x.(type) {
	case []any:
		if len(v) == 0 {
			return nil
		}
		for i := range v {
			v[i] = dropEmpty(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = dropEmpty(v[k])
		}
	}
	return x
}
