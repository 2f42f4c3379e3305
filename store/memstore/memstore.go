// Package memstore is an in-memory usermgmt.Store: for tests, demos and
// single-process applications that can lose their users on restart. One
// mutex guards everything, so every method is atomic; secondary indexes
// keep lists, the sweep and lookups from scanning unrelated users.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/usermgmt/usermgmt"
)

// Store is an in-memory usermgmt.Store. The zero value is not usable; call New.
type Store struct {
	mu       sync.RWMutex
	accounts map[string]usermgmt.Account
	users    map[string]usermgmt.User         // by value: one cache miss a lookup, not two
	byEmail  map[string]string                // email of a non-removed user -> user ID
	byToken  map[string]string                // invitation token hash -> user ID
	subtree  map[string]*btree.BTreeG[string] // account ID -> IDs of users in it and beneath it
	admins   map[string]map[string]struct{}   // account ID -> IDs of its active admins
	idle     *btree.BTreeG[activity]          // active users, ordered by (LastActiveAt, ID)
	events   map[string][]usermgmt.AuditEvent
	eventIDs map[string]struct{}
}

type activity struct {
	at time.Time
	id string
}

func (a activity) less(b activity) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.id < b.id
}

// btreeDegree suits in-memory trees of small keys.
const btreeDegree = 32

var _ usermgmt.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		accounts: make(map[string]usermgmt.Account),
		users:    make(map[string]usermgmt.User),
		byEmail:  make(map[string]string),
		byToken:  make(map[string]string),
		subtree:  make(map[string]*btree.BTreeG[string]),
		idle:     btree.NewG(btreeDegree, activity.less),
		admins:   make(map[string]map[string]struct{}),
		events:   make(map[string][]usermgmt.AuditEvent),
		eventIDs: make(map[string]struct{}),
	}
}

func clone(u usermgmt.User) usermgmt.User {
	u.Grants = slices.Clone(u.Grants)
	return u
}

func cloneEvent(e usermgmt.AuditEvent) usermgmt.AuditEvent {
	e.Changes = slices.Clone(e.Changes)
	return e
}

// CreateAccount implements usermgmt.Store.
func (s *Store) CreateAccount(ctx context.Context, a usermgmt.Account, first usermgmt.User, ev usermgmt.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[a.ID]; ok {
		return fmt.Errorf("%w: account %s", usermgmt.ErrDuplicateID, a.ID)
	}
	a.Ancestors = slices.Clone(a.Ancestors)
	s.accounts[a.ID] = a
	if err := s.createUsers([]usermgmt.User{first}, []usermgmt.AuditEvent{ev}); err != nil {
		delete(s.accounts, a.ID)
		return err
	}
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
		return usermgmt.Account{}, fmt.Errorf("%w: account %s", usermgmt.ErrNotFound, id)
	}
	a.Ancestors = slices.Clone(a.Ancestors)
	return a, nil
}

// CreateUsers implements usermgmt.Store.
func (s *Store) CreateUsers(ctx context.Context, users []usermgmt.User, events []usermgmt.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createUsers(users, events)
}

// createUsers checks the whole batch before writing any of it.
func (s *Store) createUsers(users []usermgmt.User, events []usermgmt.AuditEvent) error {
	if len(users) != len(events) {
		return fmt.Errorf("memstore: %d users but %d events", len(users), len(events))
	}
	emails := make(map[string]struct{}, len(users))
	ids := make(map[string]struct{}, 2*len(users))
	for i, u := range users {
		if _, ok := s.accounts[u.AccountID]; !ok {
			return fmt.Errorf("%w: account %s", usermgmt.ErrNotFound, u.AccountID)
		}
		if u.Status != usermgmt.StatusRemoved {
			if _, ok := s.byEmail[u.Email]; ok {
				return fmt.Errorf("%w: %s", usermgmt.ErrDuplicateEmail, u.Email)
			}
			if _, ok := emails[u.Email]; ok {
				return fmt.Errorf("%w: %s", usermgmt.ErrDuplicateEmail, u.Email)
			}
			emails[u.Email] = struct{}{}
		}
		for _, id := range []string{u.ID, events[i].ID} {
			_, user := s.users[id]
			_, event := s.eventIDs[id]
			_, batch := ids[id]
			if user || event || batch {
				return fmt.Errorf("%w: %s", usermgmt.ErrDuplicateID, id)
			}
			ids[id] = struct{}{}
		}
	}
	for i, u := range users {
		u = clone(u)
		s.users[u.ID] = u
		s.index(nil, &u)
		s.appendEvent(events[i])
	}
	return nil
}

// UpdateUser implements usermgmt.Store.
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[up.User.ID]
	if !ok {
		return fmt.Errorf("%w: user %s", usermgmt.ErrNotFound, up.User.ID)
	}
	if old.Version != up.User.Version {
		return fmt.Errorf("%w: user %s is at version %d, not %d", usermgmt.ErrConflict, old.ID, old.Version, up.User.Version)
	}
	if _, ok := s.eventIDs[up.Event.ID]; ok {
		return fmt.Errorf("%w: event %s", usermgmt.ErrDuplicateID, up.Event.ID)
	}
	u := clone(up.User)
	u.Version++
	if up.KeepAdmin {
		others := len(s.admins[u.AccountID])
		if isActiveAdmin(&old) {
			others--
		}
		if others == 0 && !isActiveAdmin(&u) {
			return fmt.Errorf("%w: account %s", usermgmt.ErrLastAdmin, u.AccountID)
		}
	}
	s.replace(&old, &u)
	s.appendEvent(up.Event)
	return nil
}

func (s *Store) replace(old, u *usermgmt.User) {
	s.unindex(old)
	s.users[u.ID] = *u
	s.index(old, u)
}

func isActiveAdmin(u *usermgmt.User) bool {
	return u.Role == usermgmt.RoleAdmin && u.Status == usermgmt.StatusActive
}

// index adds u to the secondary indexes; old, when not nil, is the state
// u replaces, already unindexed.
func (s *Store) index(old, u *usermgmt.User) {
	if u.Status != usermgmt.StatusRemoved {
		s.byEmail[u.Email] = u.ID
	}
	if u.InviteTokenHash != "" {
		s.byToken[u.InviteTokenHash] = u.ID
	}
	if isActiveAdmin(u) {
		set := s.admins[u.AccountID]
		if set == nil {
			set = make(map[string]struct{})
			s.admins[u.AccountID] = set
		}
		set[u.ID] = struct{}{}
	}
	if u.Status == usermgmt.StatusActive {
		s.idle.ReplaceOrInsert(activity{u.LastActiveAt, u.ID})
	}
	if old == nil {
		acct := s.accounts[u.AccountID]
		for _, id := range append(slices.Clone(acct.Ancestors), acct.ID) {
			tree := s.subtree[id]
			if tree == nil {
				tree = btree.NewOrderedG[string](btreeDegree)
				s.subtree[id] = tree
			}
			tree.ReplaceOrInsert(u.ID)
		}
	}
}

// unindex removes u from the indexes that depend on its mutable fields.
func (s *Store) unindex(u *usermgmt.User) {
	if s.byEmail[u.Email] == u.ID {
		delete(s.byEmail, u.Email)
	}
	if u.InviteTokenHash != "" {
		delete(s.byToken, u.InviteTokenHash)
	}
	delete(s.admins[u.AccountID], u.ID)
	if u.Status == usermgmt.StatusActive {
		s.idle.Delete(activity{u.LastActiveAt, u.ID})
	}
}

// appendEvent adds an event to its user's history, kept in ascending ID order.
func (s *Store) appendEvent(e usermgmt.AuditEvent) {
	s.eventIDs[e.ID] = struct{}{}
	evs := s.events[e.UserID]
	i, _ := slices.BinarySearchFunc(evs, e.ID, compareEventID)
	s.events[e.UserID] = slices.Insert(evs, i, cloneEvent(e))
}

func compareEventID(e usermgmt.AuditEvent, id string) int { return strings.Compare(e.ID, id) }

func (s *Store) get(ctx context.Context, id string) (usermgmt.User, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.User{}, err
	}
	u, ok := s.users[id]
	if !ok {
		return usermgmt.User{}, fmt.Errorf("%w: user %s", usermgmt.ErrNotFound, id)
	}
	return clone(u), nil
}

// User implements usermgmt.Store.
func (s *Store) User(ctx context.Context, id string) (usermgmt.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.get(ctx, id)
}

// UserByEmail implements usermgmt.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byEmail[email]
	if !ok {
		return usermgmt.User{}, fmt.Errorf("%w: email", usermgmt.ErrNotFound)
	}
	return s.get(ctx, id)
}

// UserByInviteToken implements usermgmt.Store.
func (s *Store) UserByInviteToken(ctx context.Context, tokenHash string) (usermgmt.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byToken[tokenHash]
	if !ok {
		return usermgmt.User{}, fmt.Errorf("%w: invitation", usermgmt.ErrNotFound)
	}
	return s.get(ctx, id)
}

// ListUsers implements usermgmt.Store. It walks the account subtree's
// sorted ID list from q.After, so skipped pages cost nothing.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []usermgmt.User
	tree := s.subtree[q.AccountID]
	if tree == nil {
		return nil, nil
	}
	tree.AscendGreaterOrEqual(q.After, func(id string) bool {
		if id == q.After {
			return true
		}
		if u := s.users[id]; q.Matches(u) {
			out = append(out, clone(u))
		}
		return len(out) < q.Limit
	})
	return out, nil
}

// StaleUsers implements usermgmt.Store from the activity index.
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	after := activity{q.AfterActive, q.AfterID}
	var out []usermgmt.User
	s.idle.AscendGreaterOrEqual(after, func(a activity) bool {
		if !a.at.Before(q.ActiveBefore) {
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
func (s *Store) ReserveAttempt(ctx context.Context, userID string, limit int) (usermgmt.User, bool, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.User{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return usermgmt.User{}, false, fmt.Errorf("%w: user %s", usermgmt.ErrNotFound, userID)
	}
	if u.Status != usermgmt.StatusActive || u.FailedAttempts >= limit {
		return clone(u), false, nil
	}
	u.FailedAttempts++
	u.Version++
	s.users[userID] = u // the count and version are in no index
	return clone(u), true, nil
}

// RecordLogin implements usermgmt.Store.
func (s *Store) RecordLogin(ctx context.Context, l usermgmt.Login) (usermgmt.User, bool, error) {
	if err := ctx.Err(); err != nil {
		return usermgmt.User{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[l.UserID]
	if !ok {
		return usermgmt.User{}, false, fmt.Errorf("%w: user %s", usermgmt.ErrNotFound, l.UserID)
	}
	if old.Status != usermgmt.StatusActive || old.PasswordHash != l.VerifiedHash {
		return clone(old), false, nil
	}
	u := clone(old)
	u.FailedAttempts = 0
	u.LastLoginAt, u.LastActiveAt = l.At, l.At
	if l.NewHash != "" {
		u.PasswordHash = l.NewHash
	}
	u.Version++
	s.replace(&old, &u)
	return clone(u), true, nil
}

// History implements usermgmt.Store.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	evs := s.events[q.UserID] // ascending ID
	end := len(evs)
	if q.Before != "" {
		end, _ = slices.BinarySearchFunc(evs, q.Before, compareEventID)
	}
	var out []usermgmt.AuditEvent
	for i := end - 1; i >= 0 && len(out) < q.Limit; i-- {
		out = append(out, cloneEvent(evs[i]))
	}
	return out, nil
}
