// Package memstore is an in-memory usermgmt.Store: for tests, demos and
// single-process applications that can lose their users on restart. One
// mutex guards everything, so every method is atomic; secondary indexes
// (B-trees from github.com/google/btree) keep lists, the sweep, histories
// and lookups from scanning unrelated records.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/attempts"
)

// Store is an in-memory usermgmt.Store. The zero value is not usable; call New.
type Store struct {
	mu sync.RWMutex

	accounts map[string]usermgmt.Account
	acctTree map[string]*btree.BTreeG[string] // account ID -> IDs of it and the accounts beneath it

	users   map[string]usermgmt.UserRecord
	byEmail map[string]string                // canonical email of a non-removed user -> user ID
	byToken map[string]string                // token hash -> user ID
	subtree map[string]*btree.BTreeG[string] // account ID -> IDs of users in it and beneath it
	members map[string]*btree.BTreeG[string] // group ID -> IDs of its members
	admins  map[string]map[string]struct{}   // account ID -> IDs of its active admins
	active  *btree.BTreeG[timed]             // Active users by (LastActiveAt, ID)
	locked  *btree.BTreeG[timed]             // Locked users by (LockedAt, ID)

	events     map[string]usermgmt.AuditEvent
	userEvents map[string]*btree.BTreeG[string] // user ID -> its event IDs
	acctEvents map[string]*btree.BTreeG[string] // account ID -> IDs of events of it and beneath it

	groups       map[string]usermgmt.Group
	groupNames   map[string]string                // account ID + "\x00" + NameKey of a live group -> group ID
	acctGroups   map[string]*btree.BTreeG[string] // account ID -> its group IDs
	messages     map[string]usermgmt.Message
	due          *btree.BTreeG[timed] // pending messages by (DueAt, ID)
	deadMessages *btree.BTreeG[string]
}

type timed struct {
	at time.Time
	id string
}

func (a timed) less(b timed) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.id < b.id
}

// btreeDegree suits in-memory trees of small keys.
const btreeDegree = 32

var _ usermgmt.Store = (*Store)(nil)
var _ usermgmt.Counter = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		accounts:     make(map[string]usermgmt.Account),
		acctTree:     make(map[string]*btree.BTreeG[string]),
		users:        make(map[string]usermgmt.UserRecord),
		byEmail:      make(map[string]string),
		byToken:      make(map[string]string),
		subtree:      make(map[string]*btree.BTreeG[string]),
		members:      make(map[string]*btree.BTreeG[string]),
		admins:       make(map[string]map[string]struct{}),
		active:       btree.NewG(btreeDegree, timed.less),
		locked:       btree.NewG(btreeDegree, timed.less),
		events:       make(map[string]usermgmt.AuditEvent),
		userEvents:   make(map[string]*btree.BTreeG[string]),
		acctEvents:   make(map[string]*btree.BTreeG[string]),
		groups:       make(map[string]usermgmt.Group),
		groupNames:   make(map[string]string),
		acctGroups:   make(map[string]*btree.BTreeG[string]),
		messages:     make(map[string]usermgmt.Message),
		due:          btree.NewG(btreeDegree, timed.less),
		deadMessages: btree.NewOrderedG[string](btreeDegree),
	}
}

func ids(m map[string]*btree.BTreeG[string], key string) *btree.BTreeG[string] {
	t := m[key]
	if t == nil {
		t = btree.NewOrderedG[string](btreeDegree)
		m[key] = t
	}
	return t
}

func clone(u usermgmt.UserRecord) usermgmt.UserRecord {
	u.Groups = slices.Clone(u.Groups)
	u.Grants = slices.Clone(u.Grants)
	u.AttemptLeases = slices.Clone(u.AttemptLeases)
	u.Tokens = slices.Clone(u.Tokens)
	u.ResetRequests = slices.Clone(u.ResetRequests)
	return u
}

func cloneAccount(a usermgmt.Account) usermgmt.Account {
	a.Ancestors = slices.Clone(a.Ancestors)
	a.Departments = slices.Clone(a.Departments)
	return a
}

func cloneGroup(g usermgmt.Group) usermgmt.Group {
	g.Grants = slices.Clone(g.Grants)
	return g
}

func cloneEvent(e usermgmt.AuditEvent) usermgmt.AuditEvent {
	e.Changes = slices.Clone(e.Changes)
	return e
}

func cloneMessage(m usermgmt.Message) usermgmt.Message {
	m.Payload = slices.Clone(m.Payload)
	return m
}

func notFound(what string) error { return fmt.Errorf("%w: %s", usermgmt.ErrNotFound, what) }

// CreateAccount implements usermgmt.Store.
func (s *Store) CreateAccount(ctx context.Context, c usermgmt.AccountCreate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := cloneAccount(c.Account)
	if _, ok := s.accounts[a.ID]; ok {
		return fmt.Errorf("%w: account", usermgmt.ErrDuplicateID)
	}
	if a.ParentID != "" {
		if _, ok := s.accounts[a.ParentID]; !ok {
			return notFound("parent account")
		}
	}
	if c.AccountEvent.ID != "" {
		if _, ok := s.events[c.AccountEvent.ID]; ok {
			return fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
		}
	}
	s.accounts[a.ID] = a
	if err := s.checkCreates([]usermgmt.UserCreate{c.Admin}); err != nil {
		delete(s.accounts, a.ID)
		return err
	}
	if c.AccountEvent.ID != "" && c.AccountEvent.ID == c.Admin.Event.ID {
		delete(s.accounts, a.ID)
		return fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
	}
	for _, id := range append(slices.Clone(a.Ancestors), a.ID) {
		ids(s.acctTree, id).ReplaceOrInsert(a.ID)
	}
	if c.AccountEvent.ID != "" {
		s.appendEvent(c.AccountEvent)
	}
	s.writeCreates([]usermgmt.UserCreate{c.Admin})
	return nil
}

// Account implements usermgmt.Store.
func (s *Store) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.Account{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[id]
	if !ok {
		return usermgmt.Account{}, notFound("account")
	}
	return cloneAccount(a), nil
}

// Accounts implements usermgmt.Store from the account-subtree index.
func (s *Store) Accounts(ctx context.Context, q usermgmt.AccountQuery) ([]usermgmt.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []usermgmt.Account
	if t := s.acctTree[q.RootID]; t != nil {
		t.AscendGreaterOrEqual(q.After, func(id string) bool {
			if id != q.After {
				out = append(out, cloneAccount(s.accounts[id]))
			}
			return len(out) < q.Limit
		})
	}
	return out, nil
}

// UpdateAccount implements usermgmt.Store.
func (s *Store) UpdateAccount(ctx context.Context, up usermgmt.AccountUpdate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.accounts[up.Account.ID]
	if !ok {
		return notFound("account")
	}
	if old.Version != up.Account.Version {
		return fmt.Errorf("%w: account", usermgmt.ErrConflict)
	}
	if _, ok := s.events[up.Event.ID]; ok {
		return fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
	}
	a := cloneAccount(up.Account)
	a.ParentID, a.Ancestors, a.Version = old.ParentID, old.Ancestors, old.Version+1
	s.accounts[a.ID] = a
	s.appendEvent(up.Event)
	return nil
}

// CreateUsers implements usermgmt.Store.
func (s *Store) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkCreates(cs); err != nil {
		return err
	}
	s.writeCreates(cs)
	return nil
}

// checkCreates checks a whole batch before any of it is written.
func (s *Store) checkCreates(cs []usermgmt.UserCreate) error {
	emails := make(map[string]struct{}, len(cs))
	seen := make(map[string]struct{}, 2*len(cs))
	fresh := func(kind, id string, taken bool) error {
		if _, dup := seen[kind+id]; dup || taken {
			return fmt.Errorf("%w: %s", usermgmt.ErrDuplicateID, kind)
		}
		seen[kind+id] = struct{}{}
		return nil
	}
	for _, c := range cs {
		u := c.User
		if _, ok := s.accounts[u.AccountID]; !ok {
			return notFound("account")
		}
		if u.Status != usermgmt.StatusRemoved {
			_, taken := s.byEmail[u.Email]
			_, dup := emails[u.Email]
			if taken || dup {
				return usermgmt.ErrDuplicateEmail
			}
			emails[u.Email] = struct{}{}
		}
		_, taken := s.users[u.ID]
		if err := fresh("user", u.ID, taken); err != nil {
			return err
		}
		_, taken = s.events[c.Event.ID]
		if err := fresh("event", c.Event.ID, taken); err != nil {
			return err
		}
		for _, t := range u.Tokens {
			_, taken := s.byToken[t.Hash]
			if err := fresh("token", t.Hash, taken); err != nil {
				return err
			}
		}
		for _, m := range c.Messages {
			_, taken := s.messages[m.ID]
			if err := fresh("message", m.ID, taken); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) writeCreates(cs []usermgmt.UserCreate) {
	for _, c := range cs {
		u := clone(c.User)
		s.users[u.ID] = u
		s.index(&u)
		s.appendEvent(c.Event)
		s.addMessages(c.Messages)
	}
}

// UpdateUser implements usermgmt.Store.
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updateUser(up)
}

// UpdateUsers implements usermgmt.Store: each update as UpdateUser would.
func (s *Store) UpdateUsers(ctx context.Context, ups []usermgmt.UserUpdate) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(ups))
	for i, up := range ups {
		errs[i] = s.updateUser(up)
	}
	return errs, nil
}

func (s *Store) updateUser(up usermgmt.UserUpdate) error {
	old, ok := s.users[up.User.ID]
	if !ok {
		return notFound("user")
	}
	if old.Version != up.User.Version {
		return fmt.Errorf("%w: user", usermgmt.ErrConflict)
	}
	if _, ok := s.events[up.Event.ID]; ok {
		return fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
	}
	for i, m := range up.Messages {
		if _, ok := s.messages[m.ID]; ok || slices.ContainsFunc(up.Messages[:i], func(o usermgmt.Message) bool { return o.ID == m.ID }) {
			return fmt.Errorf("%w: message", usermgmt.ErrDuplicateID)
		}
	}
	u := clone(up.User)
	if _, ok := s.accounts[u.AccountID]; !ok {
		return notFound("account")
	}
	if u.Status != usermgmt.StatusRemoved {
		if holder, ok := s.byEmail[u.Email]; ok && holder != u.ID {
			return usermgmt.ErrDuplicateEmail
		}
	}
	for i, t := range u.Tokens {
		// A hash names one token: held by another user, or twice by this one, it is taken.
		if holder, ok := s.byToken[t.Hash]; ok && holder != u.ID ||
			slices.ContainsFunc(u.Tokens[:i], func(o usermgmt.Token) bool { return o.Hash == t.Hash }) {
			return fmt.Errorf("%w: token", usermgmt.ErrDuplicateID)
		}
	}
	if up.KeepAdmin {
		others := len(s.admins[old.AccountID])
		if isActiveAdmin(&old) {
			others--
		}
		if others == 0 && !(isActiveAdmin(&u) && u.AccountID == old.AccountID) {
			return fmt.Errorf("%w: account", usermgmt.ErrLastAdmin)
		}
	}
	u.Version = old.Version + 1
	s.replace(&old, &u)
	s.appendEvent(up.Event)
	s.addMessages(up.Messages)
	return nil
}

func (s *Store) replace(old, u *usermgmt.UserRecord) {
	s.unindex(old)
	s.users[u.ID] = *u
	s.index(u)
}

func isActiveAdmin(u *usermgmt.UserRecord) bool {
	return u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive
}

// index adds u to the secondary indexes.
func (s *Store) index(u *usermgmt.UserRecord) {
	if u.Status != usermgmt.StatusRemoved {
		s.byEmail[u.Email] = u.ID
	}
	for _, t := range u.Tokens {
		s.byToken[t.Hash] = u.ID
	}
	if isActiveAdmin(u) {
		set := s.admins[u.AccountID]
		if set == nil {
			set = make(map[string]struct{})
			s.admins[u.AccountID] = set
		}
		set[u.ID] = struct{}{}
	}
	switch u.Status {
	case usermgmt.StatusActive:
		s.active.ReplaceOrInsert(timed{u.LastActiveAt, u.ID})
	case usermgmt.StatusLocked:
		s.locked.ReplaceOrInsert(timed{u.LockedAt, u.ID})
	}
	acct := s.accounts[u.AccountID]
	for _, id := range append(slices.Clone(acct.Ancestors), acct.ID) {
		ids(s.subtree, id).ReplaceOrInsert(u.ID)
	}
	for _, g := range u.Groups {
		ids(s.members, g).ReplaceOrInsert(u.ID)
	}
}

// unindex removes u from the secondary indexes.
func (s *Store) unindex(u *usermgmt.UserRecord) {
	if s.byEmail[u.Email] == u.ID {
		delete(s.byEmail, u.Email)
	}
	for _, t := range u.Tokens {
		if s.byToken[t.Hash] == u.ID {
			delete(s.byToken, t.Hash)
		}
	}
	delete(s.admins[u.AccountID], u.ID)
	switch u.Status {
	case usermgmt.StatusActive:
		s.active.Delete(timed{u.LastActiveAt, u.ID})
	case usermgmt.StatusLocked:
		s.locked.Delete(timed{u.LockedAt, u.ID})
	}
	acct := s.accounts[u.AccountID]
	for _, id := range append(slices.Clone(acct.Ancestors), acct.ID) {
		if t := s.subtree[id]; t != nil {
			t.Delete(u.ID)
		}
	}
	for _, g := range u.Groups {
		if t := s.members[g]; t != nil {
			t.Delete(u.ID)
		}
	}
}

// appendEvent files an event by ID, under its user and under its account
// and every account above it.
func (s *Store) appendEvent(e usermgmt.AuditEvent) {
	s.events[e.ID] = cloneEvent(e)
	if e.UserID != "" {
		ids(s.userEvents, e.UserID).ReplaceOrInsert(e.ID)
	}
	acct, ok := s.accounts[e.AccountID]
	if !ok {
		return
	}
	for _, id := range append(slices.Clone(acct.Ancestors), acct.ID) {
		ids(s.acctEvents, id).ReplaceOrInsert(e.ID)
	}
}

func (s *Store) addMessages(ms []usermgmt.Message) {
	for _, m := range ms {
		m = cloneMessage(m)
		s.messages[m.ID] = m
		s.indexMessage(&m)
	}
}

func (s *Store) indexMessage(m *usermgmt.Message) {
	switch m.State {
	case usermgmt.MessagePending:
		s.due.ReplaceOrInsert(timed{m.DueAt, m.ID})
	case usermgmt.MessageDead:
		s.deadMessages.ReplaceOrInsert(m.ID)
	}
}

func (s *Store) unindexMessage(m *usermgmt.Message) {
	s.due.Delete(timed{m.DueAt, m.ID})
	s.deadMessages.Delete(m.ID)
}

func (s *Store) get(ctx context.Context, id string) (usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, err
	}
	u, ok := s.users[id]
	if !ok {
		return usermgmt.UserRecord{}, notFound("user")
	}
	return clone(u), nil
}

// User implements usermgmt.Store.
func (s *Store) User(ctx context.Context, id string) (usermgmt.UserRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.get(ctx, id)
}

// UserByEmail implements usermgmt.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.UserRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byEmail[email]
	if !ok {
		if err := ctx.Err(); err != nil {
			return usermgmt.UserRecord{}, err
		}
		return usermgmt.UserRecord{}, notFound("user")
	}
	return s.get(ctx, id)
}

// UserByToken implements usermgmt.Store.
func (s *Store) UserByToken(ctx context.Context, hash string) (usermgmt.UserRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byToken[hash]
	if !ok {
		if err := ctx.Err(); err != nil {
			return usermgmt.UserRecord{}, err
		}
		return usermgmt.UserRecord{}, notFound("token")
	}
	return s.get(ctx, id)
}

// UserAccess implements usermgmt.Store.
func (s *Store) UserAccess(ctx context.Context, id string) (usermgmt.UserRecord, []usermgmt.GroupStamp, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, err := s.get(ctx, id)
	if err != nil {
		return usermgmt.UserRecord{}, nil, err
	}
	var stamps []usermgmt.GroupStamp
	for _, gid := range u.Groups {
		if g, ok := s.groups[gid]; ok && !g.Deleted {
			stamps = append(stamps, usermgmt.GroupStamp{ID: g.ID, Version: g.Version})
		}
	}
	return u, stamps, nil
}

// ListUsers implements usermgmt.Store. It walks the subtree's (or, with
// q.GroupID, the group's) sorted ID list from q.After, so skipped pages
// cost nothing.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []usermgmt.UserRecord
	tree, inSubtree := s.subtree[q.AccountID], func(usermgmt.UserRecord) bool { return true }
	if q.GroupID != "" {
		tree = s.members[q.GroupID]
		root := q.AccountID
		inSubtree = func(u usermgmt.UserRecord) bool {
			a := s.accounts[u.AccountID]
			return a.ID == root || slices.Contains(a.Ancestors, root)
		}
	}
	if tree == nil {
		return nil, nil
	}
	tree.AscendGreaterOrEqual(q.After, func(id string) bool {
		if id == q.After {
			return true
		}
		if u := s.users[id]; q.Matches(u) && inSubtree(u) {
			out = append(out, clone(u))
		}
		return len(out) < q.Limit
	})
	return out, nil
}

// CountUsers implements usermgmt.Counter by walking the subtree.
func (s *Store) CountUsers(ctx context.Context, q usermgmt.ListQuery) (int, error) {
	q.After, q.Limit = "", int(^uint(0)>>1)
	users, err := s.ListUsers(ctx, q)
	return len(users), err
}

// StaleUsers implements usermgmt.Store from the activity and lock indexes.
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.UserRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	index := s.active
	if q.Status == usermgmt.StatusLocked {
		index = s.locked
	}
	after := timed{q.AfterTime, q.AfterID}
	var out []usermgmt.UserRecord
	index.AscendGreaterOrEqual(after, func(a timed) bool {
		if !a.at.Before(q.Before) {
			return false
		}
		if a != after {
			out = append(out, clone(s.users[a.id]))
		}
		return len(out) < q.Limit
	})
	return out, nil
}

// ReserveAttempt implements usermgmt.Store.
func (s *Store) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.UserID]
	if !ok {
		return usermgmt.UserRecord{}, 0, notFound("user")
	}
	u = clone(u)
	res, changed := attempts.Reserve(&u, r)
	if changed {
		u.Version++
		s.users[u.ID] = u // leases and version are in no index
	}
	return clone(u), res, nil
}

// FinishAttempt implements usermgmt.Store.
func (s *Store) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.UserRecord{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[o.UserID]
	if !ok {
		return usermgmt.UserRecord{}, false, notFound("user")
	}
	u := clone(old)
	out := attempts.Finish(&u, &o)
	for _, ev := range out.Events {
		if _, ok := s.events[ev.ID]; ok {
			return usermgmt.UserRecord{}, false, fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
		}
	}
	for _, m := range out.Messages {
		if _, ok := s.messages[m.ID]; ok {
			return usermgmt.UserRecord{}, false, fmt.Errorf("%w: message", usermgmt.ErrDuplicateID)
		}
	}
	if out.Changed {
		u.Version++
		s.replace(&old, &u)
	}
	for _, ev := range out.Events {
		s.appendEvent(*ev)
	}
	s.addMessages(out.Messages)
	return clone(u), out.Recorded, nil
}

// RecordActivity implements usermgmt.Store.
func (s *Store) RecordActivity(ctx context.Context, a usermgmt.ActivityUpdate) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[a.UserID]
	if !ok {
		return false, notFound("user")
	}
	if old.Status != usermgmt.StatusActive || !old.LastActiveAt.Before(a.IfBefore) {
		return false, nil
	}
	u := clone(old)
	u.LastActiveAt = a.At
	u.Version++
	s.replace(&old, &u)
	return true, nil
}

// History implements usermgmt.Store, walking the user's or the account
// subtree's event IDs downwards from q.Before.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tree := s.acctEvents[q.AccountID]
	if q.UserID != "" {
		tree = s.userEvents[q.UserID]
	}
	if tree == nil {
		return nil, nil
	}
	var out []usermgmt.AuditEvent
	visit := func(id string) bool {
		if ev := s.events[id]; q.Matches(ev) {
			out = append(out, cloneEvent(ev))
		}
		return len(out) < q.Limit
	}
	if q.Before == "" {
		tree.Descend(visit)
	} else {
		tree.DescendLessOrEqual(q.Before, func(id string) bool { return id == q.Before || visit(id) })
	}
	return out, nil
}

// CreateGroup implements usermgmt.Store.
func (s *Store) CreateGroup(ctx context.Context, g usermgmt.Group, ev usermgmt.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[g.AccountID]; !ok {
		return notFound("account")
	}
	if _, ok := s.groups[g.ID]; ok {
		return fmt.Errorf("%w: group", usermgmt.ErrDuplicateID)
	}
	if _, ok := s.events[ev.ID]; ok {
		return fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
	}
	key := g.AccountID + "\x00" + g.NameKey
	if _, ok := s.groupNames[key]; ok && !g.Deleted {
		return usermgmt.ErrDuplicateName
	}
	g = cloneGroup(g)
	s.groups[g.ID] = g
	if !g.Deleted {
		s.groupNames[key] = g.ID
	}
	ids(s.acctGroups, g.AccountID).ReplaceOrInsert(g.ID)
	s.appendEvent(ev)
	return nil
}

// UpdateGroup implements usermgmt.Store.
func (s *Store) UpdateGroup(ctx context.Context, up usermgmt.GroupUpdate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.groups[up.Group.ID]
	if !ok {
		return notFound("group")
	}
	if old.Version != up.Group.Version {
		return fmt.Errorf("%w: group", usermgmt.ErrConflict)
	}
	if _, ok := s.events[up.Event.ID]; ok {
		return fmt.Errorf("%w: event", usermgmt.ErrDuplicateID)
	}
	g := cloneGroup(up.Group)
	g.AccountID = old.AccountID
	key := g.AccountID + "\x00" + g.NameKey
	if holder, ok := s.groupNames[key]; ok && holder != g.ID && !g.Deleted {
		return usermgmt.ErrDuplicateName
	}
	if oldKey := old.AccountID + "\x00" + old.NameKey; s.groupNames[oldKey] == g.ID {
		delete(s.groupNames, oldKey)
	}
	if !g.Deleted {
		s.groupNames[key] = g.ID
	}
	g.Version = old.Version + 1
	s.groups[g.ID] = g
	s.appendEvent(up.Event)
	return nil
}

// Groups implements usermgmt.Store.
func (s *Store) Groups(ctx context.Context, idList []string) ([]usermgmt.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []usermgmt.Group
	for _, id := range idList {
		if g, ok := s.groups[id]; ok {
			out = append(out, cloneGroup(g))
		}
	}
	return out, nil
}

// ListGroups implements usermgmt.Store.
func (s *Store) ListGroups(ctx context.Context, q usermgmt.GroupQuery) ([]usermgmt.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []usermgmt.Group
	if t := s.acctGroups[q.AccountID]; t != nil {
		t.AscendGreaterOrEqual(q.After, func(id string) bool {
			if g := s.groups[id]; id != q.After && (q.Deleted || !g.Deleted) {
				out = append(out, cloneGroup(g))
			}
			return len(out) < q.Limit
		})
	}
	return out, nil
}

// ClaimMessages implements usermgmt.Store from the index of pending
// messages by due time.
func (s *Store) ClaimMessages(ctx context.Context, c usermgmt.MessageClaim) ([]usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var claim []string
	s.due.Ascend(func(t timed) bool {
		if t.at.After(c.Now) {
			return false
		}
		if m := s.messages[t.id]; !m.LeaseUntil.After(c.Now) {
			claim = append(claim, t.id)
		}
		return len(claim) < c.Limit
	})
	out := make([]usermgmt.Message, 0, len(claim))
	for _, id := range claim {
		m := s.messages[id]
		m.LeaseOwner, m.LeaseUntil = c.Owner, c.LeaseUntil
		m.Attempts++
		s.messages[id] = m
		out = append(out, cloneMessage(m))
	}
	return out, nil
}

// FinishMessage implements usermgmt.Store.
func (s *Store) FinishMessage(ctx context.Context, r usermgmt.MessageResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[r.ID]
	if !ok {
		return notFound("message")
	}
	if m.State != usermgmt.MessagePending || m.LeaseOwner != r.Owner || !m.LeaseUntil.After(r.At) {
		return fmt.Errorf("%w: message lease", usermgmt.ErrConflict)
	}
	s.unindexMessage(&m)
	switch r.State {
	case usermgmt.MessageSent:
		delete(s.messages, r.ID)
		return nil
	case usermgmt.MessageDead:
		m.State, m.DeadAt = usermgmt.MessageDead, r.At
	default:
		m.DueAt = r.DueAt
	}
	m.LastError, m.LeaseOwner, m.LeaseUntil = r.Error, "", time.Time{}
	s.messages[r.ID] = m
	s.indexMessage(&m)
	return nil
}

// Messages implements usermgmt.Store.
func (s *Store) Messages(ctx context.Context, q usermgmt.MessageQuery) ([]usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []usermgmt.Message
	if q.State == usermgmt.MessageDead {
		s.deadMessages.AscendGreaterOrEqual(q.After, func(id string) bool {
			if id != q.After {
				out = append(out, cloneMessage(s.messages[id]))
			}
			return len(out) < q.Limit
		})
		return out, nil
	}
	for _, m := range s.messages {
		if m.State == q.State && m.ID > q.After {
			out = append(out, cloneMessage(m))
		}
	}
	slices.SortFunc(out, func(a, b usermgmt.Message) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(len(out), q.Limit)], nil
}

// Message implements usermgmt.Store.
func (s *Store) Message(ctx context.Context, id string) (usermgmt.Message, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.Message{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.messages[id]
	if !ok {
		return usermgmt.Message{}, notFound("message")
	}
	return cloneMessage(m), nil
}

// RequeueMessage implements usermgmt.Store.
func (s *Store) RequeueMessage(ctx context.Context, id string, dueAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[id]
	if !ok {
		return notFound("message")
	}
	if m.State != usermgmt.MessageDead {
		return fmt.Errorf("%w: message is not dead", usermgmt.ErrConflict)
	}
	s.unindexMessage(&m)
	m.State, m.DueAt, m.Attempts, m.DeadAt = usermgmt.MessagePending, dueAt, 0, time.Time{}
	s.messages[id] = m
	s.indexMessage(&m)
	return nil
}
