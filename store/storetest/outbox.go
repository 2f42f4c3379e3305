package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// Tests of the outbox: messages stored with their change, claimed under a
// lease by one worker at a time, retried, dead-lettered, requeued.
var outboxTests = map[string]func(*testing.T, *suite){
	"ClaimOldestDueUnderLease":         testClaimLease,
	"FinishChecksTheLease":             testFinishLease,
	"DeadLettersListedAndRequeued":     testDeadLetters,
	"EachMessageClaimedOnceAcrossWork": testClaimOnce,
	"RefusedChangeSendsNothing":        testRefusedChangeSendsNothing,
	"FailedWriteStoresNoMessage":       testFailedWriteNoMessage,
	"DeliveryRetriesThenDeadLetters":   testDeliveryRetries,
	"PayloadSealedAndBodyGoneOnceSent": testPayloadSealed,
}

// queue stores n pending messages about a fresh user, due at the times given.
func (e *env) queue(prefix string, due ...time.Time) []usermgmt.Message {
	e.t.Helper()
	u := e.rawUser(e.root.ID, prefix+"@example.com")
	c := fixture.Create(u)
	for _, d := range due {
		c.Messages = append(c.Messages, fixture.Message(u, usermgmt.NotifyInvitation, d))
	}
	ok(e.t, e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{c}))
	return c.Messages
}

func claim(t *testing.T, s usermgmt.Store, owner string, now time.Time, limit int) []usermgmt.Message {
	t.Helper()
	ms, err := s.ClaimMessages(context.Background(), usermgmt.MessageClaim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit})
	ok(t, err)
	return ms
}

func ids(ms []usermgmt.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func testClaimLease(t *testing.T, su *suite) {
	e := su.env(t)
	base := start.Add(time.Hour)
	ms := e.queue("claims", base.Add(3*time.Second), base.Add(time.Second), base.Add(2*time.Second), base.Add(time.Hour))
	// Oldest due first, only what is due.
	got := claim(t, e.store, "w1", base.Add(2*time.Second), 10)
	sameSlice(t, "claimed", ids(got), []string{ms[1].ID, ms[2].ID})
	for _, m := range got {
		eq(t, "lease owner", m.LeaseOwner, "w1")
		sameTime(t, "lease until", m.LeaseUntil, base.Add(2*time.Second).Add(time.Minute))
		eq(t, "attempts", m.Attempts, 1)
	}
	// Held messages are not claimed again while the lease holds...
	got = claim(t, e.store, "w2", base.Add(5*time.Second), 10)
	sameSlice(t, "claimed by a second worker", ids(got), []string{ms[0].ID})
	// ...and are once it lapses (the worker died).
	got = claim(t, e.store, "w2", base.Add(2*time.Second).Add(time.Minute), 1)
	sameSlice(t, "claimed after the lease lapsed", ids(got), []string{ms[1].ID})
	eq(t, "attempts after the takeover", got[0].Attempts, 2)
	got = claim(t, e.store, "w3", base.Add(2*time.Second).Add(time.Minute), 10)
	sameSlice(t, "the rest", ids(got), []string{ms[2].ID})
}

func testFinishLease(t *testing.T, su *suite) {
	e := su.env(t)
	ms := e.queue("finish", start, start, start)
	claimed := claim(t, e.store, "w1", start, 10)
	eq(t, "claimed", len(claimed), 3)
	at := start.Add(time.Second)
	// Another worker, or the owner after the lease lapsed, cannot finish.
	isErr(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: ms[0].ID, Owner: "w2", State: usermgmt.MessageSent, At: at}), usermgmt.ErrConflict)
	isErr(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: ms[0].ID, Owner: "w1", State: usermgmt.MessageSent, At: start.Add(time.Minute)}), usermgmt.ErrConflict)
	// Sent: the message is gone, body and all.
	ok(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: ms[0].ID, Owner: "w1", State: usermgmt.MessageSent, At: at}))
	_, err := e.store.Message(e.ctx, ms[0].ID)
	isErr(t, err, usermgmt.ErrNotFound)
	ok(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: ms[2].ID, Owner: "w1", State: usermgmt.MessageDead, At: at, Error: "550 no such user"}))
	// Retry: due again later, lease cleared, error kept.
	ok(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: ms[1].ID, Owner: "w1", State: usermgmt.MessagePending, At: at,
		DueAt: at.Add(time.Hour), Error: "421 try later"}))
	m, err := e.store.Message(e.ctx, ms[1].ID)
	ok(t, err)
	eq(t, "state", m.State, usermgmt.MessagePending)
	sameTime(t, "due", m.DueAt, at.Add(time.Hour))
	eq(t, "last error", m.LastError, "421 try later")
	eq(t, "lease owner", m.LeaseOwner, "")
	eq(t, "attempts", m.Attempts, 1)
	eq(t, "claimable before due", len(claim(t, e.store, "w2", at.Add(30*time.Second), 10)), 0)
	sameSlice(t, "claimable when due", ids(claim(t, e.store, "w2", at.Add(time.Hour), 10)), []string{ms[1].ID})
	// Dead: kept, out of the queue.
	m, err = e.store.Message(e.ctx, ms[2].ID)
	ok(t, err)
	eq(t, "state", m.State, usermgmt.MessageDead)
	sameTime(t, "dead at", m.DeadAt, at)
	eq(t, "last error", m.LastError, "550 no such user")
	for _, c := range claim(t, e.store, "w2", at.Add(48*time.Hour), 10) {
		if c.ID == ms[2].ID {
			t.Fatal("a dead message was claimed")
		}
	}
	// A message that is not held cannot be finished.
	isErr(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: ms[2].ID, Owner: "w1", State: usermgmt.MessageSent, At: at}), usermgmt.ErrConflict)
}

func testDeadLetters(t *testing.T, su *suite) {
	e := su.env(t)
	ms := e.queue("dead", start, start, start, start)
	claim(t, e.store, "w", start, 10)
	for i, m := range ms {
		st := usermgmt.MessageDead
		if i == 2 {
			st = usermgmt.MessageSent
		}
		ok(t, e.store.FinishMessage(e.ctx, usermgmt.MessageResult{ID: m.ID, Owner: "w", State: st, At: start, Error: fmt.Sprint("550 #", i)}))
	}
	var listed []string
	q := usermgmt.MessageQuery{State: usermgmt.MessageDead, Limit: 2}
	for {
		page, err := e.store.Messages(e.ctx, q)
		ok(t, err)
		listed = append(listed, ids(page)...)
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].ID
	}
	sameSlice(t, "dead letters", listed, []string{ms[0].ID, ms[1].ID, ms[3].ID})
	isErr(t, e.store.RequeueMessage(e.ctx, ms[2].ID, start), usermgmt.ErrNotFound)
	ok(t, e.store.RequeueMessage(e.ctx, ms[1].ID, start.Add(time.Hour)))
	isErr(t, e.store.RequeueMessage(e.ctx, ms[1].ID, start.Add(time.Hour)), usermgmt.ErrConflict)
	m, err := e.store.Message(e.ctx, ms[1].ID)
	ok(t, err)
	eq(t, "requeued state", m.State, usermgmt.MessagePending)
	eq(t, "requeued attempts", m.Attempts, 0)
	sameSlice(t, "claimed after requeue", ids(claim(t, e.store, "w", start.Add(time.Hour), 10)), []string{ms[1].ID})
	page, err := e.store.Messages(e.ctx, usermgmt.MessageQuery{State: usermgmt.MessageDead, Limit: 10})
	ok(t, err)
	eq(t, "dead letters after requeue", len(page), 2)
}

// testClaimOnce has workers on four handles claim and finish a queue of
// messages at once: each message is delivered exactly once.
func testClaimOnce(t *testing.T, su *suite) {
	e := su.env(t)
	n := 200
	if su.short {
		n = 60
	}
	due := make([]time.Time, n)
	for i := range due {
		due[i] = start.Add(time.Duration(i) * time.Millisecond)
	}
	want := ids(e.queue("many", due...))
	hs := e.handles(4)
	var mu sync.Mutex
	seen := map[string]int{}
	now := start.Add(time.Second)
	parallel(8, func(w int) {
		owner := fmt.Sprint("worker-", w)
		for {
			ms, err := hs[w%4].ClaimMessages(context.Background(), usermgmt.MessageClaim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: 7})
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			for _, m := range ms {
				mu.Lock()
				seen[m.ID]++
				mu.Unlock()
				if err := hs[w%4].FinishMessage(context.Background(), usermgmt.MessageResult{ID: m.ID, Owner: owner, State: usermgmt.MessageSent, At: now}); err != nil {
					t.Errorf("finish: %v", err)
				}
			}
			if len(ms) == 0 {
				return
			}
		}
	})
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("message %s delivered %d times", id, seen[id])
		}
	}
	eq(t, "messages left", len(e.pending()), 0)
}

// testRefusedChangeSendsNothing: a change the Manager refuses stores no
// message; the committed one stores exactly its own.
func testRefusedChangeSendsNothing(t *testing.T, su *suite) {
	e := su.env(t)
	u, _ := e.invite(e.root.ID, "mail-me@example.com")
	eq(t, "messages after an invitation", len(e.messagesTo(u.Email)), 1)
	g := e.user(e.root.ID, "nobody-special@example.com", usermgmt.RoleGeneral)
	_, err := e.m.ResendInvitation(e.ctx, g.ID, u.ID) // not allowed
	isErr(t, err, usermgmt.ErrPermissionDenied)
	_, err = e.m.SetPassword(e.ctx, e.admin.ID, u.ID, "weak") // refused
	isErr(t, err, usermgmt.ErrWeakPassword)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: u.Email, FirstName: "Dup", LastName: "Licate", Invite: true})
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	eq(t, "messages after refusals", len(e.messagesTo(u.Email)), 1)
	_, err = e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	sameSlice(t, "messages after a resend", e.messagesTo(u.Email), []usermgmt.NotificationKind{usermgmt.NotifyInvitation, usermgmt.NotifyInvitation})
}

// failing wraps a store so that every write fails inside the store: the
// event ID is replaced by one that is taken.
type failing struct {
	usermgmt.Store
	takenEventID string
}

func (s failing) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	cs = slices.Clone(cs)
	cs[len(cs)-1].Event.ID = s.takenEventID
	return s.Store.CreateUsers(ctx, cs)
}

func (s failing) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	up.Event.ID = s.takenEventID
	return s.Store.UpdateUser(ctx, up)
}

func (s failing) UpdateUsers(ctx context.Context, ups []usermgmt.UserUpdate) ([]error, error) {
	ups = slices.Clone(ups)
	for i := range ups {
		ups[i].Event.ID = s.takenEventID
	}
	return s.Store.UpdateUsers(ctx, ups)
}

func (s failing) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	o.LockEvent.ID = s.takenEventID
	return s.Store.FinishAttempt(ctx, o)
}

func (s failing) CreateAccount(ctx context.Context, c usermgmt.AccountCreate) error {
	c.Admin.Event.ID = s.takenEventID
	return s.Store.CreateAccount(ctx, c)
}

func testFailedWriteNoMessage(t *testing.T, su *suite) {
	e := su.env(t)
	u, _ := e.invite(e.root.ID, "fails@example.com")
	before := len(e.pending())
	bad := e.manager(failing{Store: e.store, takenEventID: e.history(e.admin.ID)[0].ID})
	_, err := bad.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrDuplicateID)
	_, err = bad.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "never@example.com", FirstName: "N", LastName: "V", Invite: true})
	isErr(t, err, usermgmt.ErrDuplicateID)
	_, err = bad.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{{Email: "n1@example.com"}, {Email: "n2@example.com"}}})
	isErr(t, err, usermgmt.ErrDuplicateID)
	v := e.user(e.root.ID, "set-me@example.com", usermgmt.RoleGeneral)
	_, err = bad.SetPassword(e.ctx, e.admin.ID, v.ID, "another long passphrase")
	isErr(t, err, usermgmt.ErrDuplicateID)
	eq(t, "messages after failed writes", len(e.pending()), before)
	eq(t, "events of the invitee", len(e.history(u.ID)), 1)
	for _, addr := range []string{"never@example.com", "n1@example.com", "n2@example.com"} {
		_, err := e.store.UserByEmail(e.ctx, addr)
		isErr(t, err, usermgmt.ErrNotFound)
	}
}

func testDeliveryRetries(t *testing.T, su *suite) {
	e := su.env(t)
	a, _ := e.invite(e.root.ID, "flaky@example.com")
	b, _ := e.invite(e.root.ID, "refused@example.com")
	c, _ := e.invite(e.root.ID, "fine@example.com")
	tries := map[string]int{}
	sender := &capture{fail: func(n usermgmt.Notification) error {
		tries[n.To]++
		switch n.To {
		case a.Email:
			if tries[n.To] < 3 {
				return errors.New("421 4.7.0 try again later")
			}
		case b.Email:
			return usermgmt.Permanent(errors.New("550 5.1.1 mailbox unavailable"))
		}
		return nil
	}}
	opts := usermgmt.DeliveryOptions{Sender: sender, Backoff: time.Minute, MaxBackoff: time.Hour}
	rep, err := e.m.DeliverDue(e.ctx, opts)
	ok(t, err)
	eq(t, "sent", rep.Sent, 1)
	eq(t, "retried", rep.Retried, 1)
	eq(t, "dead", rep.Dead, 1)
	// Nothing is due again before the backoff.
	rep, err = e.m.DeliverDue(e.ctx, opts)
	ok(t, err)
	eq(t, "sent before the backoff", rep.Sent+rep.Retried, 0)
	e.clock.Advance(time.Minute)
	rep, err = e.m.DeliverDue(e.ctx, opts)
	ok(t, err)
	eq(t, "retried again", rep.Retried, 1)
	e.clock.Advance(2 * time.Minute)
	rep, err = e.m.DeliverDue(e.ctx, opts)
	ok(t, err)
	eq(t, "delivered at the third try", rep.Sent, 1)
	eq(t, "tries of the flaky address", tries[a.Email], 3)
	got := map[string]int{}
	for _, n := range sender.sent {
		got[n.To]++
	}
	eq(t, "copies to the flaky address", got[a.Email], 1)
	eq(t, "copies to the fine address", got[c.Email], 1)
	eq(t, "copies to the refused address", got[b.Email], 0)
	// The dead letter is listed with the server's reply and can be requeued.
	page, err := e.m.DeadMessages(e.ctx, e.admin.ID, usermgmt.MessageListQuery{})
	ok(t, err)
	eq(t, "dead letters", len(page.Items), 1)
	eq(t, "dead letter recipient", page.Items[0].To, b.Email)
	eq(t, "dead letter reason", page.Items[0].LastError, "550 5.1.1 mailbox unavailable")
	outsider := e.user(e.root.ID, "outsider@example.com", usermgmt.RoleGeneral)
	isErr(t, e.m.RequeueMessage(e.ctx, outsider.ID, page.Items[0].ID), usermgmt.ErrPermissionDenied)
	ok(t, e.m.RequeueMessage(e.ctx, e.admin.ID, page.Items[0].ID))
	sender.fail = nil
	rep, err = e.m.DeliverDue(e.ctx, opts)
	ok(t, err)
	eq(t, "delivered after requeue", rep.Sent, 1)
	// Past MaxAttempts a transient failure dead-letters too.
	d, _ := e.invite(e.root.ID, "always-busy@example.com")
	sender.fail = func(n usermgmt.Notification) error {
		if n.To == d.Email {
			return errors.New("451 busy")
		}
		return nil
	}
	opts.MaxAttempts = 2
	for i := 0; i < 3; i++ {
		_, err = e.m.DeliverDue(e.ctx, opts)
		ok(t, err)
		e.clock.Advance(time.Hour)
	}
	page, err = e.m.DeadMessages(e.ctx, e.admin.ID, usermgmt.MessageListQuery{})
	ok(t, err)
	eq(t, "dead letters after max attempts", len(page.Items), 1)
	eq(t, "attempts", page.Items[0].Attempts, 2)
}

func testPayloadSealed(t *testing.T, su *suite) {
	e := su.env(t)
	u, token := e.invite(e.root.ID, "sealed@example.com")
	ms := e.pending()
	var m usermgmt.Message
	for _, x := range ms {
		if x.To == u.Email {
			m = x
		}
	}
	if m.ID == "" || len(m.Payload) == 0 {
		t.Fatal("no sealed invitation message stored")
	}
	if contains(m.Payload, token) || contains(m.Payload, u.FirstName) {
		t.Fatal("the stored payload holds the token or the name in clear")
	}
	sent := e.deliver()
	var n usermgmt.Notification
	for _, x := range sent {
		if x.To == u.Email {
			n = x
		}
	}
	eq(t, "delivered token", n.Token, token)
	eq(t, "delivered kind", n.Kind, usermgmt.NotifyInvitation)
	eq(t, "message ID", n.ID, m.ID)
	sameTime(t, "expiry stated", n.ExpiresAt, start.Add(168*time.Hour))
	_, err := e.store.Message(e.ctx, m.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	// A Manager with another key cannot open a message: it is
	// dead-lettered, never sent with garbage.
	v, _ := e.invite(e.root.ID, "other-key@example.com")
	other, err := usermgmt.New(e.store, usermgmt.WithClock(e.clock), usermgmt.WithHashParams(fixture.FastHash),
		usermgmt.WithOutboxKeys(usermgmt.OutboxKey{ID: "other", Key: make([]byte, 32)}))
	ok(t, err)
	var c capture
	rep, err := other.DeliverDue(e.ctx, usermgmt.DeliveryOptions{Sender: &c})
	ok(t, err)
	eq(t, "sent with the wrong key", rep.Sent, 0)
	eq(t, "dead-lettered with the wrong key", rep.Dead, 1)
	_ = v
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
