// Package storetest is the conformance suite every usermgmt.Store passes.
// A store's tests call Run once:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) usermgmt.Store { return mystore.New(...) })
//	}
//
// newStore returns a fresh, isolated, empty store for each subtest and
// arranges its cleanup with t.Cleanup. The suite checks the Store contract
// directly (round trips, versions, atomicity of a change with its audit
// event and messages, indexes following every change, keyset pagination,
// attempt reservations and leases, outbox claims, context cancellation,
// clean error texts) and the Manager's rules over the store (lockout,
// invitations, password reset, email changes, inactivity, permissions,
// groups, departments, audit), with real concurrency: many goroutines on
// several Managers, each Manager on its own store handle when Reopen is
// given. Subtests are named by behaviour. Differential adds a randomised
// comparison with the in-memory reference store (store/memstore), which
// finds the disagreements no hand-written case thought of. It uses only
// the standard testing package.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
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
		{"Outbox", outboxTests},
		{"Concurrency", concurrencyTests},
		{"Lockout", lockoutTests},
		{"Invitation", invitationTests},
		{"Reset", resetTests},
		{"Email", emailTests},
		{"Inactivity", inactivityTests},
		{"Permission", permissionTests},
		{"Group", groupTests},
		{"List", listTests},
		{"Audit", auditTests},
		{"Errors", errorTests},
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
const Password = fixture.Password

// start is the fake clock's starting time.
var start = fixture.Start

// env is one fresh store with a Manager (outbox on), a fake clock and a
// top-level account whose admin has Password.
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

// manager returns a Manager on store s with the env's clock, cheap hashes
// and the outbox on.
func (e *env) manager(s usermgmt.Store, opts ...usermgmt.Option) *usermgmt.Manager {
	e.t.Helper()
	all := append([]usermgmt.Option{usermgmt.WithClock(e.clock), usermgmt.WithHashParams(fixture.FastHash),
		usermgmt.WithOutboxKeys(fixture.OutboxKey)}, opts...)
	m, err := usermgmt.New(s, all...)
	if err != nil {
		e.t.Fatalf("usermgmt.New: %v", err)
	}
	e.t.Cleanup(func() { _ = m.Close() })
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
		FirstName: "Ivy", LastName: "Invitee", Invite: true})
	if err != nil {
		e.t.Fatalf("CreateUser (invite) %s: %v", email, err)
	}
	if c.InvitationToken == "" {
		e.t.Fatalf("an invitation returned no token")
	}
	return c.User, c.InvitationToken
}

// get reads a user straight from the store.
func (e *env) get(id string) usermgmt.UserRecord {
	e.t.Helper()
	u, err := e.store.User(e.ctx, id)
	if err != nil {
		e.t.Fatalf("store.User: %v", err)
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

// actions returns the actions of a user's history, oldest first, joined by commas.
func (e *env) actions(userID string) string {
	evs := e.history(userID)
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = string(ev.Action)
	}
	return strings.Join(out, ",")
}

// count counts the events of a user with the action.
func (e *env) count(userID string, action usermgmt.Action) int {
	n := 0
	for _, ev := range e.history(userID) {
		if ev.Action == action {
			n++
		}
	}
	return n
}

// login authenticates u with Password, restarting their inactivity clock.
func (e *env) login(u usermgmt.User) {
	e.t.Helper()
	if _, err := e.m.Authenticate(e.ctx, u.Email, Password); err != nil {
		e.t.Fatalf("login %s: %v", u.Email, err)
	}
}

// fail makes n wrong-password attempts for the email.
func (e *env) fail(email string, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		_, err := e.m.Authenticate(e.ctx, email, "not the password")
		isErr(e.t, err, usermgmt.ErrInvalidCredentials)
	}
}

// pending returns the pending messages of the store, oldest ID first.
func (e *env) pending() []usermgmt.Message {
	e.t.Helper()
	ms, err := e.store.Messages(e.ctx, usermgmt.MessageQuery{State: usermgmt.MessagePending, Limit: 10000})
	if err != nil {
		e.t.Fatalf("store.Messages: %v", err)
	}
	return ms
}

// messagesTo returns the kinds of pending messages to an address, in order.
func (e *env) messagesTo(addr string) []usermgmt.NotificationKind {
	var out []usermgmt.NotificationKind
	for _, m := range e.pending() {
		if m.To == addr {
			out = append(out, m.Kind)
		}
	}
	return out
}

// captured delivers due messages to a capturing sender and returns them.
func (e *env) deliver() []usermgmt.Notification {
	e.t.Helper()
	var c capture
	if _, err := e.m.DeliverDue(e.ctx, usermgmt.DeliveryOptions{Sender: &c}); err != nil {
		e.t.Fatalf("DeliverDue: %v", err)
	}
	return c.sent
}

// capture is a Sender that keeps what it is given.
type capture struct {
	sent []usermgmt.Notification
	fail func(n usermgmt.Notification) error
}

func (c *capture) Send(_ context.Context, n usermgmt.Notification) error {
	if c.fail != nil {
		if err := c.fail(n); err != nil {
			return err
		}
	}
	c.sent = append(c.sent, n)
	return nil
}

// lastToken delivers due messages and returns the token of the last one of
// the kind sent to the address.
func (e *env) lastToken(kind usermgmt.NotificationKind, to string) string {
	e.t.Helper()
	tok := ""
	for _, n := range e.deliver() {
		if n.Kind == kind && n.To == to {
			tok = n.Token
		}
	}
	if tok == "" {
		e.t.Fatalf("no %s message to %s", kind, to)
	}
	return tok
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

func sameTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Fatalf("%s = %v, want the zero time", field, got)
		}
		return
	}
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("%s = %v, want %v in UTC", field, got, want.UTC())
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

var newID = fixture.ID

func email(prefix string, i int) string { return fixture.Email(prefix, i) }

func ptr[T any](v T) *T { return &v }

var _ = fmt.Sprint
