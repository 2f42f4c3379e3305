package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt"
)

// chaosLog is what the chaos test's recording stores saw of every write:
// for each user the versions its writes produced (a versioned write at v
// produces v+1; an atomic step that changed the user returns the version
// it produced), and for every audit event and outgoing message whether the
// write that carried it was committed or refused. The checks after a run
// hold the store's final state against it.
type chaosLog struct {
	mu     sync.Mutex
	users  map[string]*userLog
	events map[string]*loggedItem // event ID
	msgs   map[string]*loggedItem // message ID
	leases map[string]bool        // lease ID: reserved (false), finished (true)
	sent   map[string]int         // message ID: successful FinishMessage(MessageSent) calls
	// versions of accounts and groups ("account ID" or "group ID"):
	// the versions their committed writes produced
	versions map[string]map[int64]bool
	issues   []string
}

// produceOther records that a write of an account or group produced v.
func (l *chaosLog) produceOther(key string, v int64) {
	if l.versions[key] == nil {
		l.versions[key] = map[int64]bool{}
	}
	if l.versions[key][v] {
		l.issue("%s: version %d produced twice (a lost update)", key, v)
	}
	l.versions[key][v] = true
}

// loggedItem is an event or message a write carried.
type loggedItem struct {
	committed bool // the write was committed; else it was refused with a sentinel
	unknown   bool // the write failed otherwise: either may be true
	userID    string
	accountID string
	what      string
}

// userLog is what the writes of one user produced.
type userLog struct {
	produced  map[int64]producedState // version -> the write that produced it
	activity  int                     // RecordActivity calls that wrote (Version+1 each, no version returned)
	ambiguous int                     // atomic steps that may or may not have bumped the Version
	unknown   int                     // writes that failed with a non-sentinel error
	created   bool
}

// producedState is one write's result.
type producedState struct {
	how   string
	state usermgmt.UserRecord // the stored user after the write
	exact bool                // state is the whole record the write stored
}

func newChaosLog() *chaosLog {
	return &chaosLog{users: map[string]*userLog{}, events: map[string]*loggedItem{}, msgs: map[string]*loggedItem{},
		leases: map[string]bool{}, sent: map[string]int{}, versions: map[string]map[int64]bool{}}
}

func (l *chaosLog) issue(format string, args ...any) {
	l.issues = append(l.issues, fmt.Sprintf(format, args...))
}

func (l *chaosLog) user(id string) *userLog {
	u := l.users[id]
	if u == nil {
		u = &userLog{produced: map[int64]producedState{}}
		l.users[id] = u
	}
	return u
}

// produce records that a write of u (the stored user after it) produced
// u.Version.
func (l *chaosLog) produce(u usermgmt.UserRecord, how string, exact bool) {
	ul := l.user(u.ID)
	if prev, ok := ul.produced[u.Version]; ok {
		l.issue("user %s: version %d produced twice, by %s and by %s (a lost update)", u.ID, u.Version, prev.how, how)
		return
	}
	ul.produced[u.Version] = producedState{how: how, state: cloneUser(u), exact: exact}
}

// outcome classifies a write's error: committed, refused by a sentinel of
// the contract (nothing stored), or unknown.
func outcome(err error) (committed, unknown bool) {
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, usermgmt.ErrStore), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false, true
	}
	var e *usermgmt.Error
	return false, !errors.As(err, &e)
}

func (l *chaosLog) item(m map[string]*loggedItem, id, userID, accountID, what string, committed, unknown bool) {
	if id == "" {
		return
	}
	prev, ok := m[id]
	if !ok {
		m[id] = &loggedItem{committed: committed, unknown: unknown, userID: userID, accountID: accountID, what: what}
		return
	}
	// A write refused may be tried again with the same event and
	// messages (a batch row by row, say); only one may be committed.
	if prev.committed && committed {
		l.issue("%s %s committed by two writes", what, id)
	}
	prev.committed = prev.committed || committed
	prev.unknown = prev.unknown || unknown
}

func (l *chaosLog) event(ev usermgmt.AuditEvent, committed, unknown bool) {
	l.item(l.events, ev.ID, ev.UserID, ev.AccountID, "event "+string(ev.Action), committed, unknown)
}

func (l *chaosLog) messages(ms []usermgmt.Message, committed, unknown bool) {
	for _, m := range ms {
		l.item(l.msgs, m.ID, m.UserID, m.AccountID, "message "+string(m.Kind), committed, unknown)
	}
}

// recordingStore passes every call to its Store and records its writes in
// a chaosLog shared by all the handles of one run.
type recordingStore struct {
	usermgmt.Store
	log *chaosLog
}

func (r *recordingStore) CreateAccount(ctx context.Context, c usermgmt.AccountCreate) error {
	err := r.Store.CreateAccount(ctx, c)
	ok, unknown := outcome(err)
	l := r.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.produceOther("account "+c.Account.ID, c.Account.Version)
		l.produce(c.Admin.User, "create account", true)
		l.user(c.Admin.User.ID).created = true
	}
	if unknown {
		l.user(c.Admin.User.ID).unknown++
	}
	l.event(c.AccountEvent, ok, unknown)
	l.event(c.Admin.Event, ok, unknown)
	l.messages(c.Admin.Messages, ok, unknown)
	return err
}

func (r *recordingStore) UpdateAccount(ctx context.Context, up usermgmt.AccountUpdate) error {
	return r.other(r.Store.UpdateAccount(ctx, up), "account "+up.Account.ID, up.Account.Version+1, up.Event)
}

// other records the outcome err of a write of an account or group (key)
// that produces version v with its event.
func (r *recordingStore) other(err error, key string, v int64, ev usermgmt.AuditEvent) error {
	ok, unknown := outcome(err)
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	if ok {
		r.log.produceOther(key, v)
	}
	r.log.event(ev, ok, unknown)
	return err
}

func (r *recordingStore) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	err := r.Store.CreateUsers(ctx, cs)
	ok, unknown := outcome(err)
	l := r.log
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		if ok {
			l.produce(c.User, "create", true)
			l.user(c.User.ID).created = true
		}
		if unknown {
			l.user(c.User.ID).unknown++
		}
		l.event(c.Event, ok, unknown)
		l.messages(c.Messages, ok, unknown)
	}
	return err
}

func (r *recordingStore) logUpdate(up usermgmt.UserUpdate, err error, how string) {
	ok, unknown := outcome(err)
	l := r.log
	if ok {
		u := up.User
		u.Version++
		l.produce(u, how+" "+string(up.Event.Action), true)
	}
	if unknown {
		l.user(up.User.ID).unknown++
	}
	l.event(up.Event, ok, unknown)
	l.messages(up.Messages, ok, unknown)
}

func (r *recordingStore) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	err := r.Store.UpdateUser(ctx, up)
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	r.logUpdate(up, err, "UpdateUser")
	return err
}

func (r *recordingStore) UpdateUsers(ctx context.Context, ups []usermgmt.UserUpdate) ([]error, error) {
	errs, err := r.Store.UpdateUsers(ctx, ups)
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	for i, up := range ups {
		switch {
		case err != nil:
			r.logUpdate(up, usermgmt.StoreError(usermgmt.ErrStore, err), "UpdateUsers")
		case i >= len(errs):
			r.log.issue("UpdateUsers returned %d errors for %d updates", len(errs), len(ups))
			r.logUpdate(up, usermgmt.StoreError(usermgmt.ErrStore, nil), "UpdateUsers")
		default:
			r.logUpdate(up, errs[i], "UpdateUsers")
		}
	}
	return errs, err
}

func (r *recordingStore) ReserveAttempt(ctx context.Context, a usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	u, res, err := r.Store.ReserveAttempt(ctx, a)
	l := r.log
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		if _, unknown := outcome(err); unknown {
			l.user(a.UserID).unknown++
		}
	case res == usermgmt.ReserveOK:
		l.produce(u, "ReserveAttempt", false)
		l.leases[a.Lease.ID] = false
	default:
		l.user(a.UserID).ambiguous++ // it may have dropped lapsed leases
	}
	return u, res, err
}

func (r *recordingStore) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	u, recorded, err := r.Store.FinishAttempt(ctx, o)
	l := r.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if done, ok := l.leases[o.LeaseID]; !ok {
		l.issue("user %s: FinishAttempt of lease %s that no ReserveAttempt granted", o.UserID, o.LeaseID)
	} else if done {
		l.issue("user %s: lease %s finished twice", o.UserID, o.LeaseID)
	}
	l.leases[o.LeaseID] = true
	if err != nil {
		_, unknown := outcome(err)
		if unknown {
			l.user(o.UserID).unknown++
		}
		for _, ev := range []usermgmt.AuditEvent{o.LoginEvent, o.FailureEvent, o.LockEvent} {
			l.event(ev, false, unknown)
		}
		l.messages(o.LockMessages, false, unknown)
		return u, recorded, err
	}
	if recorded {
		l.produce(u, "FinishAttempt", false)
	} else {
		l.user(o.UserID).ambiguous++ // it bumped the Version only if the lease was still held
	}
	locked := recorded && !o.Success && u.Status == usermgmt.StatusLocked
	l.event(o.LoginEvent, recorded && o.Success, false)
	l.event(o.FailureEvent, recorded && !o.Success, false)
	l.event(o.LockEvent, locked, false)
	l.messages(o.LockMessages, locked, false)
	return u, recorded, err
}

func (r *recordingStore) RecordActivity(ctx context.Context, a usermgmt.ActivityUpdate) (bool, error) {
	did, err := r.Store.RecordActivity(ctx, a)
	l := r.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if _, unknown := outcome(err); unknown {
			l.user(a.UserID).unknown++
		}
	} else if did {
		l.user(a.UserID).activity++
	}
	return did, err
}

func (r *recordingStore) CreateGroup(ctx context.Context, g usermgmt.Group, ev usermgmt.AuditEvent) error {
	return r.other(r.Store.CreateGroup(ctx, g, ev), "group "+g.ID, g.Version, ev)
}

func (r *recordingStore) UpdateGroup(ctx context.Context, up usermgmt.GroupUpdate) error {
	return r.other(r.Store.UpdateGroup(ctx, up), "group "+up.Group.ID, up.Group.Version+1, up.Event)
}

func (r *recordingStore) FinishMessage(ctx context.Context, res usermgmt.MessageResult) error {
	err := r.Store.FinishMessage(ctx, res)
	if err == nil && res.State == usermgmt.MessageSent {
		r.log.mu.Lock()
		r.log.sent[res.ID]++
		r.log.mu.Unlock()
	}
	return err
}

// cloneUser copies a user's slices.
func cloneUser(u usermgmt.UserRecord) usermgmt.UserRecord {
	u.Groups = append([]string(nil), u.Groups...)
	u.Grants = append([]usermgmt.Grant(nil), u.Grants...)
	u.AttemptLeases = append([]usermgmt.AttemptLease(nil), u.AttemptLeases...)
	u.Tokens = append([]usermgmt.Token(nil), u.Tokens...)
	u.ResetRequests = append([]time.Time(nil), u.ResetRequests...)
	return u
}
