// Package storetest is the conformance suite every usermgmt.Store passes.
// A store's tests call Run once:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) usermgmt.Store { return mystore.New(...) })
//	}
//
// newStore returns a fresh, isolated, empty store for each subtest and
// arranges its cleanup with t.Cleanup. The suite checks the Store contract
// directly (round trips, versions, atomicity of a change and its audit
// event, keyset pagination, context cancellation) and the Manager's rules
// over the store (lockout, invitations, inactivity, permissions, audit),
// with real concurrency: many goroutines on several Managers, each Manager
// on its own store handle when Reopen is given. It uses only the standard
// testing package.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Option configures Run.
type Option func(*suite)

// Reopen tells the suite how to open another handle onto the same data as s,
// as a second process or application instance would: its own connection
// pool or client. The suite puts separate Managers on separate handles for
// its cross-instance cases. Without Reopen they share s.
func Reopen(reopen func(t *testing.T, s usermgmt.Store) usermgmt.Store) Option {
	return func(su *suite) { su.reopen = reopen }
}

// Short runs the large cases (pagination over thousands of users, the sweep
// over a thousand) with fewer users, for stores whose tests must stay quick.
func Short() Option { return func(su *suite) { su.short = true } }

type suite struct {
	newStore func(t *testing.T) usermgmt.Store
	reopen   func(t *testing.T, s usermgmt.Store) usermgmt.Store
	short    bool
}

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) usermgmt.Store, opts ...Option) {
	su := &suite{newStore: newStore}
	for _, o := range opts {
		o(su)
	}
	groups := []struct {
		name  string
		tests map[string]func(*testing.T, *suite)
	}{
		{"Store", storeTests},
		{"Concurrency", concurrencyTests},
		{"Lockout", lockoutTests},
		{"Invitation", invitationTests},
		{"Inactivity", inactivityTests},
		{"Permission", permissionTests},
		{"List", listTests},
		{"Audit", auditTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, name := range sortedKeys(g.tests) {
				test := g.tests[name]
				t.Run(name, func(t *testing.T) { test(t, su) })
			}
		})
	}
}

// Password is the password the suite gives users; it meets the default policy.
const Password = "correct horse battery staple"

// start is the fake clock's starting time.
var start = time.Date(2026, time.January, 15, 10, 0, 0, 0, time.UTC)

// fastHash keeps the suite quick: real argon2id, tiny cost.
var fastHash = usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// env is one fresh store with a Manager, a fake clock and a top-level
// account whose admin has Password.
type env struct {
	t     *testing.T
	su    *suite
	ctx   context.Context
	store usermgmt.Store
	clock *usermgmt.FakeClock
	m     *usermgmt.Manager
	root  usermgmt.Account
	admin usermgmt.User
}

func (su *suite) env(t *testing.T, opts ...usermgmt.Option) *env {
	t.Helper()
	return su.envAt(t, start, opts...)
}

// envAt is env with the clock starting at t0.
func (su *suite) envAt(t *testing.T, t0 time.Time, opts ...usermgmt.Option) *env {
	t.Helper()
	e := &env{t: t, su: su, ctx: context.Background(), store: su.newStore(t), clock: usermgmt.NewFakeClock(t0)}
	e.m = e.manager(e.store, opts...)
	var c usermgmt.Created
	e.root, c = e.account(usermgmt.System, "", "All Clients", "root-admin@example.com")
	e.admin = c.User
	return e
}

// manager returns a Manager on store s with the env's clock.
func (e *env) manager(s usermgmt.Store, opts ...usermgmt.Option) *usermgmt.Manager {
	e.t.Helper()
	all := append([]usermgmt.Option{usermgmt.WithClock(e.clock), usermgmt.WithHashParams(fastHash)}, opts...)
	m, err := usermgmt.New(s, all...)
	if err != nil {
		e.t.Fatalf("usermgmt.New: %v", err)
	}
	return m
}

// handles returns n store handles onto the env's data: reopened ones when
// the suite has Reopen, else the env's store n times.
func (e *env) handles(n int) []usermgmt.Store {
	out := make([]usermgmt.Store, n)
	for i := range out {
		out[i] = e.store
		if e.su.reopen != nil && i > 0 {
			out[i] = e.su.reopen(e.t, e.store)
		}
	}
	return out
}

// account creates an account with an active admin (password Password).
func (e *env) account(actor, parent, name, adminEmail string) (usermgmt.Account, usermgmt.Created) {
	e.t.Helper()
	a, c, err := e.m.CreateAccount(e.ctx, actor, usermgmt.NewAccount{ParentID: parent, Name: name,
		Admin: usermgmt.NewUser{Email: adminEmail, FirstName: "Ada", LastName: "Admin", Password: Password}})
	if err != nil {
		e.t.Fatalf("CreateAccount %s: %v", name, err)
	}
	return a, c
}

// user creates an active user with Password in the account.
func (e *env) user(accountID, email, role string) usermgmt.User {
	e.t.Helper()
	c, err := e.m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{AccountID: accountID, Email: email,
		FirstName: "Gene", LastName: "User", Role: role, Password: Password})
	if err != nil {
		e.t.Fatalf("CreateUser %s: %v", email, err)
	}
	return c.User
}

// invite creates an invited user and returns it with its token.
func (e *env) invite(accountID, email string) (usermgmt.User, string) {
	e.t.Helper()
	c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: accountID, Email: email,
		FirstName: "Ivy", LastName: "Invitee"})
	if err != nil {
		e.t.Fatalf("CreateUser (invite) %s: %v", email, err)
	}
	if c.InvitationToken == "" {
		e.t.Fatalf("CreateUser without password returned no token")
	}
	return c.User, c.InvitationToken
}

// get reads a user straight from the store.
func (e *env) get(id string) usermgmt.User {
	e.t.Helper()
	u, err := e.store.User(e.ctx, id)
	if err != nil {
		e.t.Fatalf("store.User(%s): %v", id, err)
	}
	return u
}

// history returns a user's whole history, newest first, from the store.
func (e *env) history(userID string) []usermgmt.AuditEvent {
	e.t.Helper()
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{UserID: userID, Limit: 10000})
	if err != nil {
		e.t.Fatalf("store.History: %v", err)
	}
	return evs
}

// actions returns the actions of a user's history, oldest first.
func (e *env) actions(userID string) []usermgmt.Action {
	evs := e.history(userID)
	out := make([]usermgmt.Action, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev.Action
	}
	return out
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func isErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one matching %v", err, target)
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// seq makes the suite's own IDs unique and ascending within a run.
var seq atomic.Uint64

// newID returns a UUIDv7-shaped, time-ordered ID for records the suite
// writes to a store directly.
func newID() string {
	n := seq.Add(1)
	ms := uint64(time.Now().UnixMilli())
	return fmt.Sprintf("%08x-%04x-7%03x-%04x-%012x", ms>>16, ms&0xffff, (n>>48)&0xfff, 0x8000|((n>>36)&0xfff), n&0xffffffffffff)
}

func email(prefix string, i int) string { return fmt.Sprintf("%s%05d@example.com", prefix, i) }
