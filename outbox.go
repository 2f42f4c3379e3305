package usermgmt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The outbox: a message is stored in the same atomic store write as the
// change that causes it, so a refused change sends nothing and a committed
// one never loses its message (Store guarantee 7). Delivery workers
// (DeliverDue, RunDelivery; any number, in any number of processes) claim
// due messages with a lease, so that in the normal case each is sent once;
// across a crash between sending and recording the send it may be sent
// again, with the same Notification.ID, from which package mail derives a
// stable Message-ID so receivers can drop the duplicate. A transient
// failure is retried with exponential backoff and jitter; a permanent one
// (Permanent, such as an SMTP 5xx) or one past DeliveryOptions.MaxAttempts
// dead-letters the message with the server's reply (DeadMessages,
// RequeueMessage).
//
// Secrets at rest: a waiting message carries a live link. Its payload is
// sealed with AES-256-GCM under the application's key (WithOutboxKeys),
// bound to the message's ID, kind, recipient, user and account (see
// outboxseal.go), and deleted once delivered. A copy of the
// database therefore yields no working link: waiting links are sealed,
// delivered ones are gone, and tokens themselves are stored only as
// SHA-256 hashes. It does yield who was sent what kind of message, when,
// to which address (these stay in clear for the worker and the dead-letter
// list), and everything else a user record holds, password hashes
// included. Whoever also holds the key can read waiting links.

// OutboxKey is an application key for sealing outbox messages: 32 random
// bytes (AES-256) and an ID, stored with each message so that keys can
// rotate: seal with the new key, keep the old ones to open what waits.
type OutboxKey struct {
	ID  string // 1 to 32 bytes, say "2026-11"
	Key []byte // exactly 32 bytes, from crypto/rand
}

// WithOutboxKeys turns the outbox on: the messages changes cause are
// stored with them, sealed with current; older keys still open messages
// sealed before a rotation. Without it, no message is stored, invitation
// tokens are only returned to the caller, and RequestPasswordReset reports
// ErrNotConfigured.
func WithOutboxKeys(current OutboxKey, older ...OutboxKey) Option {
	return func(m *Manager) {
		o, err := newOutbox(append([]OutboxKey{current}, older...))
		if err != nil {
			if m.optionErr == nil {
				m.optionErr = err
			}
			return
		}
		m.outbox = o
	}
}

// WithSender sets the Sender DeliverDue and RunDelivery use when their
// options name none. It needs WithOutboxKeys, where the messages wait (New
// reports ErrNotConfigured otherwise). A Sender with a Validate() error method (package
// mail's checks its templates) is validated by New, so that a broken
// template fails when the Manager is built, not when a message is sent.
func WithSender(s Sender) Option {
	return func(m *Manager) {
		m.sender = s
		if v, ok := s.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil && m.optionErr == nil {
				m.optionErr = fmt.Errorf("usermgmt: the sender is not usable: %w", err)
			}
		}
	}
}

type outbox struct {
	current string
	aeads   map[string]cipher.AEAD
}

func newOutbox(keys []OutboxKey) (*outbox, error) {
	o := &outbox{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 32 {
			return nil, fieldError(ErrInvalidInput, "outbox_key.id", "must be 1 to 32 bytes")
		}
		if len(k.Key) != 32 {
			return nil, fieldError(ErrInvalidInput, "outbox_key.key", "must be 32 bytes (AES-256)")
		}
		if _, dup := o.aeads[k.ID]; dup {
			return nil, fieldError(ErrInvalidInput, "outbox_key.id", "is used twice")
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		o.aeads[k.ID] = aead
	}
	return o, nil
}

// DeliveryOptions tune a delivery worker. Zero fields take their defaults.
type DeliveryOptions struct {
	// Sender delivers; default the one given to WithSender.
	Sender Sender
	// Owner names this worker in its leases; default a random ID. Each
	// worker needs its own.
	Owner string
	// Batch is how many messages one claim takes. Default 20.
	Batch int
	// Lease is how long a claim holds a message before another worker may
	// take it over (the worker died). Default 2 minutes.
	Lease time.Duration
	// MaxAttempts is how many attempts a message gets before it is
	// dead-lettered. Default 10.
	MaxAttempts int
	// Backoff is the delay after the first failure; each further failure
	// doubles it, up to MaxBackoff, and the delay is drawn at random from
	// its upper half (jitter). Defaults 30 seconds and 1 hour.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// PollInterval is how long RunDelivery sleeps, in real time, when
	// nothing is due. Default 5 seconds.
	PollInterval time.Duration
}

func (m *Manager) deliveryDefaults(o DeliveryOptions) (DeliveryOptions, error) {
	if m.outbox == nil {
		return o, fmt.Errorf("%w: the outbox needs WithOutboxKeys", ErrNotConfigured)
	}
	if o.Sender == nil {
		o.Sender = m.sender
	}
	if o.Sender == nil {
		return o, fmt.Errorf("%w: no Sender (DeliveryOptions.Sender or WithSender)", ErrNotConfigured)
	}
	if o.Owner == "" {
		id, err := leaseID()
		if err != nil {
			return o, err
		}
		o.Owner = "worker-" + id
	}
	if o.Batch <= 0 {
		o.Batch = 20
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	return o, nil
}

// DeliveryReport counts what one DeliverDue pass did.
type DeliveryReport struct {
	Sent    int `json:"sent"`
	Retried int `json:"retried"` // failed for now, due again later
	Dead    int `json:"dead"`    // dead-lettered
}

// DeliverDue delivers every message due now, claiming them in batches
// under a lease, until none is left, and reports what it did. Delivery
// errors are recorded on the messages, not returned; the error is for the
// store or the context.
func (m *Manager) DeliverDue(ctx context.Context, opts DeliveryOptions) (DeliveryReport, error) {
	opts, err := m.deliveryDefaults(opts)
	if err != nil {
		return DeliveryReport{}, err
	}
	var rep DeliveryReport
	for {
		now := m.now()
		msgs, err := m.store.ClaimMessages(ctx, MessageClaim{Owner: opts.Owner, Now: now, LeaseUntil: now.Add(opts.Lease), Limit: opts.Batch})
		if err != nil {
			return rep, err
		}
		for _, msg := range msgs {
			if err := m.deliverOne(ctx, opts, msg, &rep); err != nil {
				return rep, err
			}
		}
		if len(msgs) < opts.Batch {
			return rep, nil
		}
	}
}

// deliverOne sends one claimed message and records the outcome.
func (m *Manager) deliverOne(ctx context.Context, opts DeliveryOptions, msg Message, rep *DeliveryReport) error {
	n, err := m.outbox.open(msg)
	if err == nil {
		err = opts.Sender.Send(ctx, n)
		if ctx.Err() != nil {
			return ctx.Err() // the lease lapses; another pass retries
		}
	} else {
		err = Permanent(err)
	}
	now := m.now()
	res := MessageResult{ID: msg.ID, Owner: opts.Owner, At: now, State: MessageSent}
	switch {
	case err == nil:
		rep.Sent++
	case IsPermanent(err) || msg.Attempts >= opts.MaxAttempts:
		res.State, res.Error = MessageDead, truncate(err.Error(), 1000)
		rep.Dead++
		m.log.WarnContext(ctx, "usermgmt: message dead-lettered", "message", msg.ID, "kind", msg.Kind, "attempts", msg.Attempts, "error", res.Error)
	default:
		res.State, res.Error = MessagePending, truncate(err.Error(), 1000)
		res.DueAt = now.Add(backoff(opts.Backoff, opts.MaxBackoff, msg.Attempts))
		rep.Retried++
		m.log.InfoContext(ctx, "usermgmt: message delivery failed; will retry", "message", msg.ID, "kind", msg.Kind, "attempts", msg.Attempts, "due", res.DueAt, "error", res.Error)
	}
	err = m.store.FinishMessage(context.WithoutCancel(ctx), res)
	if errors.Is(err, ErrConflict) || isNotFound(err) {
		m.log.WarnContext(ctx, "usermgmt: message lease lost before its outcome was recorded", "message", msg.ID)
		return nil
	}
	return err
}

// backoff is the delay before attempt n+1: base·2^(n-1), at most max,
// drawn at random from the upper half of that.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := int64(d / 2)
	if half <= 0 {
		return d
	}
	j, err := rand.Int(rand.Reader, big.NewInt(half+1))
	if err != nil {
		return d
	}
	return time.Duration(half + j.Int64())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// RunDelivery delivers due messages until ctx ends, polling every
// PollInterval (real time) when nothing is due, and returns ctx's error.
// Run one or more in every instance that should send mail; they share the
// work through leases. Store failures are logged and retried.
func (m *Manager) RunDelivery(ctx context.Context, opts DeliveryOptions) error {
	opts, err := m.deliveryDefaults(opts)
	if err != nil {
		return err
	}
	for {
		rep, err := m.DeliverDue(ctx, opts)
		if err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "usermgmt: delivery pass failed", "error", err)
		}
		if rep.Sent > 0 || rep.Dead > 0 || rep.Retried > 0 {
			m.log.DebugContext(ctx, "usermgmt: delivery pass", "sent", rep.Sent, "retried", rep.Retried, "dead", rep.Dead)
		}
		t := time.NewTimer(jitter(opts.PollInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// jitter returns d ±10%, drawn at random, so that many instances started
// together do not poll in step.
func jitter(d time.Duration) time.Duration {
	span := int64(d / 5)
	if span <= 0 {
		return d
	}
	j, err := rand.Int(rand.Reader, big.NewInt(span+1))
	if err != nil {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(j.Int64())
}

// DeadMessage is a dead-lettered message as an admin sees it: no payload.
type DeadMessage struct {
	ID        string           `json:"id"`
	Kind      NotificationKind `json:"kind"`
	To        string           `json:"to"`
	UserID    string           `json:"user_id"`
	AccountID string           `json:"account_id"`
	Attempts  int              `json:"attempts"`
	LastError string           `json:"last_error"` // the last failure, such as the SMTP server's reply
	CreatedAt time.Time        `json:"created_at"`
	DeadAt    time.Time        `json:"dead_at"`
}

// MessageListQuery selects a page of dead letters.
type MessageListQuery struct {
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"` // 0 means 50, at most 1000
}

// DeadMessages returns a page of the dead-lettered messages about users of
// the actor's account subtree, oldest first. It takes PermManageUsers; an
// actor whose role has OwnDepartment sees only the messages about users of
// their department.
//
// The store keeps the dead letters of every tenant in one list, which the
// call walks and filters, at most 1,000 of them a call, so that
// what one call costs does not grow with other tenants' dead letters. A
// page may therefore hold fewer than Limit items, even none, and still
// have a Next cursor: follow Next until it is empty.
func (m *Manager) DeadMessages(ctx context.Context, actorID string, q MessageListQuery) (Page[DeadMessage], error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return Page[DeadMessage]{}, err
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return Page[DeadMessage]{}, err
	}
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return Page[DeadMessage]{}, err
	}
	var out []DeadMessage
	v := messageVisibility{m: m, act: act, accounts: map[string]bool{}}
	for scanned := 0; len(out) <= limit; {
		if scanned >= deadMessageScan {
			// The bound, with more to read: a short page that goes on.
			return Page[DeadMessage]{Items: append([]DeadMessage{}, out...), Next: encodeCursor(after)}, nil
		}
		want := min(100, deadMessageScan-scanned)
		msgs, err := m.store.Messages(ctx, MessageQuery{State: MessageDead, After: after, Limit: want})
		if err != nil {
			return Page[DeadMessage]{}, err
		}
		scanned += len(msgs)
		for _, msg := range msgs {
			in, err := v.visible(ctx, msg)
			if err != nil {
				return Page[DeadMessage]{}, err
			}
			if in {
				out = append(out, DeadMessage{ID: msg.ID, Kind: msg.Kind, To: msg.To, UserID: msg.UserID, AccountID: msg.AccountID,
					Attempts: msg.Attempts, LastError: msg.LastError, CreatedAt: msg.CreatedAt, DeadAt: msg.DeadAt})
			}
			after = msg.ID
		}
		if len(msgs) < want {
			break // the end of the list
		}
	}
	return newPage(out, limit, func(d DeadMessage) string { return d.ID }), nil
}

// deadMessageScan is the most dead letters (of all tenants) one call of
// DeadMessages reads from the store; a variable for the tests.
var deadMessageScan = 1000

// messageVisibility decides which messages an actor may see and requeue:
// those of accounts in their reach and, for a role with OwnDepartment,
// about users of their department only (the user as they stand now).
type messageVisibility struct {
	m        *Manager
	act      actor
	accounts map[string]bool // account ID -> in reach
}

func (v *messageVisibility) visible(ctx context.Context, msg Message) (bool, error) {
	if v.act.system {
		return true, nil
	}
	in, seen := v.accounts[msg.AccountID]
	if !seen {
		var err error
		if in, err = v.m.accountWithin(ctx, msg.AccountID, v.act.user.AccountID); err != nil {
			return false, err
		}
		v.accounts[msg.AccountID] = in
	}
	if !in || !v.act.role.OwnDepartment {
		return in, nil
	}
	u, err := v.m.store.User(ctx, msg.UserID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return v.m.inReach(ctx, v.act, u)
}

// RequeueMessage makes a dead-lettered message due again now, with a fresh
// count of attempts. It takes PermManageUsers over the message's user's
// account (and, for a role with OwnDepartment, over the user's
// department); a message outside the actor's reach is ErrNotFound.
func (m *Manager) RequeueMessage(ctx context.Context, actorID, messageID string) error {
	act, err := m.userManager(ctx, actorID)
	if err != nil {
		return err
	}
	msg, err := m.store.Message(ctx, messageID)
	if err != nil {
		return err
	}
	v := messageVisibility{m: m, act: act, accounts: map[string]bool{}}
	in, err := v.visible(ctx, msg)
	if err != nil {
		return err
	}
	if !in {
		return ErrNotFound
	}
	return m.store.RequeueMessage(ctx, messageID, m.now())
}
