// Package redisstore is a usermgmt.Store on Redis, for applications that
// run several instances against one Redis server. Every step that must be
// atomic — creating users with email uniqueness and their audit events, a
// versioned update with its event (accepting an invitation is one), the
// failed-attempt reservation, a login record — runs as one Lua script,
// which Redis executes without interleaving other commands; no write
// depends on a value read by an earlier round trip except through the
// version the script checks.
//
// Reads that walk an index (ListUsers over an account subtree, StaleUsers
// over the activity index) read a page of the index, then its users in one
// pipeline, and check each user again as read, reading on when one has
// moved; so every user returned matches as returned, and a page is short
// only at the real end.
//
// # Key layout
//
// Every key starts with the store's prefix (Options.Prefix, default
// "usermgmt:"), so several applications can share one Redis:
//
//	u:<user id>            hash    the user's fields; times as decimal Unix nanoseconds ("0" for
//	                               the zero time); "search" holds the lower-cased names and email
//	                               that ListQuery.Search is matched against
//	email:<email>          string  user ID of the non-removed user with the (normalised) email
//	token:<sha256 hex>     string  user ID holding that pending invitation token hash
//	a:<account id>         hash    the account: id, parent, ancestors (space-separated), name, created
//	a:<account id>:users   zset    IDs of the users of the account and of every account beneath it,
//	                               score 0, so ZRANGEBYLEX pages them by ID (keyset)
//	a:<account id>:admins  set     IDs of the account's active admins (the last-admin guard)
//	active                 zset    "<20-digit last-activity nanos>:<user id>" for every Active user,
//	                               score 0: lexical order is (last activity, ID), so the sweep
//	                               reads only stale users (a float score would round nanoseconds;
//	                               the padded text keeps them exact, for times from 1970 on)
//	events                 hash    audit event ID -> event JSON
//	e:<user id>            zset    the user's event IDs, score 0; UUIDv7 IDs sort by time, so
//	                               ZREVRANGEBYLEX reads the history newest first
//
// # Persistence and deployment
//
// The client must have ContextTimeoutEnabled set (see New), so that a
// stalled Redis cannot hold a call past its context's deadline.
//
// Run Redis with AOF persistence (appendonly yes, appendfsync everysec or
// always) or users and their history are lost on restart; see README.md in
// this directory. Redis Cluster is not supported: the keys one script
// touches (a user, its email, its account's sets, the activity index) live
// in different hash slots.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
)

// Options configure a Store.
type Options struct {
	// Prefix starts every key the store uses. Default "usermgmt:".
	Prefix string
}

// Store is a usermgmt.Store on Redis. It is safe for concurrent use, and any
// number of Stores in any number of processes may share one Redis when they
// use the same prefix.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ usermgmt.Store = (*Store)(nil)

// New returns a Store on the client. The client stays the caller's to close.
//
// A redis.Client (from NewClient, NewFailoverClient or NewUniversalClient)
// must have Options.ContextTimeoutEnabled set: without it go-redis bounds a
// call by its ReadTimeout and retries instead of by the context, so a
// stalled Redis would hold every call seconds past its context's deadline,
// and the store could not keep the Store contract's promise to honour
// contexts. New refuses such a client rather than break that promise
// silently.
//
// A redis.ClusterClient or redis.Ring is refused: both spread keys over
// several servers, and each step of the store must see all of its keys on
// one (see the package documentation).
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return nil, errors.New("redisstore: Redis Cluster is not supported (a script's keys span hash slots)")
	case *redis.Ring:
		return nil, errors.New("redisstore: redis.Ring is not supported (it shards keys that one script must see together)")
	case *redis.Client:
		if !c.Options().ContextTimeoutEnabled {
			return nil, errors.New("redisstore: the client needs Options.ContextTimeoutEnabled = true; " +
				"without it a stalled Redis holds calls past their context deadline")
		}
	}
	if opts.Prefix == "" {
		opts.Prefix = "usermgmt:"
	}
	return &Store{rdb: rdb, prefix: opts.Prefix}, nil
}

// Prefix returns the key prefix the store uses.
func (s *Store) Prefix() string { return s.prefix }

// Client returns the Redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// scriptError maps a script's refusal onto the usermgmt sentinels.
func scriptError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "USERMGMT ")
	if !ok {
		return fmt.Errorf("redisstore: %w", err)
	}
	code, detail, _ := strings.Cut(rest, " ")
	var sentinel error
	switch code {
	case "NOTFOUND":
		sentinel = usermgmt.ErrNotFound
	case "CONFLICT":
		sentinel = usermgmt.ErrConflict
	case "DUPEMAIL":
		sentinel = usermgmt.ErrDuplicateEmail
	case "DUPID":
		sentinel = usermgmt.ErrDuplicateID
	case "LASTADMIN":
		sentinel = usermgmt.ErrLastAdmin
	default:
		return fmt.Errorf("redisstore: %w", err)
	}
	return fmt.Errorf("%w: %s", sentinel, detail)
}

func jsonObject(fields []string) (string, error) {
	m := make(map[string]string, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func userJSON(u usermgmt.User) (string, error) {
	f, err := userFields(u)
	if err != nil {
		return "", err
	}
	return jsonObject(f)
}

// createArgs builds createScript's arguments.
func (s *Store) createArgs(account string, users []usermgmt.User, events []usermgmt.AuditEvent) ([]any, error) {
	if len(users) != len(events) {
		return nil, fmt.Errorf("redisstore: %d users but %d events", len(users), len(events))
	}
	args := make([]any, 0, 2+3*len(users))
	args = append(args, s.prefix, account)
	for i, u := range users {
		uj, err := userJSON(u)
		if err != nil {
			return nil, err
		}
		ej, err := encodeEvent(events[i])
		if err != nil {
			return nil, err
		}
		args = append(args, uj, events[i].ID, ej)
	}
	return args, nil
}

// CreateAccount implements usermgmt.Store.
func (s *Store) CreateAccount(ctx context.Context, a usermgmt.Account, first usermgmt.User, ev usermgmt.AuditEvent) error {
	if err := checkText("account "+a.ID, append([]string{a.ID, a.ParentID, a.Name}, a.Ancestors...)...); err != nil {
		return err
	}
	aj, err := jsonObject(accountFields(a))
	if err != nil {
		return err
	}
	args, err := s.createArgs(aj, []usermgmt.User{first}, []usermgmt.AuditEvent{ev})
	if err != nil {
		return err
	}
	return scriptError(s.runOnce(ctx, createScript, args...).Err())
}

// CreateUsers implements usermgmt.Store.
func (s *Store) CreateUsers(ctx context.Context, users []usermgmt.User, events []usermgmt.AuditEvent) error {
	args, err := s.createArgs("", users, events)
	if err != nil {
		return err
	}
	return scriptError(s.runOnce(ctx, createScript, args...).Err())
}

// UpdateUser implements usermgmt.Store.
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	next := up.User
	next.Version++
	uj, err := userJSON(next)
	if err != nil {
		return err
	}
	ej, err := encodeEvent(up.Event)
	if err != nil {
		return err
	}
	keep := "0"
	if up.KeepAdmin {
		keep = "1"
	}
	err = s.runOnce(ctx, updateScript, s.prefix, uj, strconv.FormatInt(up.User.Version, 10), up.Event.ID, ej, keep).Err()
	return scriptError(err)
}

// Account implements usermgmt.Store.
func (s *Store) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	f, err := s.rdb.HGetAll(ctx, s.prefix+"a:"+id).Result()
	if err != nil {
		return usermgmt.Account{}, fmt.Errorf("redisstore: %w", err)
	}
	if len(f) == 0 {
		return usermgmt.Account{}, fmt.Errorf("%w: account %s", usermgmt.ErrNotFound, id)
	}
	return decodeAccount(f)
}

// User implements usermgmt.Store.
func (s *Store) User(ctx context.Context, id string) (usermgmt.User, error) {
	f, err := s.rdb.HGetAll(ctx, s.prefix+"u:"+id).Result()
	if err != nil {
		return usermgmt.User{}, fmt.Errorf("redisstore: %w", err)
	}
	if len(f) == 0 {
		return usermgmt.User{}, fmt.Errorf("%w: user %s", usermgmt.ErrNotFound, id)
	}
	return decodeUser(f)
}

// lookup reads the user an index key points at, in one round trip.
func (s *Store) lookup(ctx context.Context, key, what string) (usermgmt.User, error) {
	flat, err := lookupScript.Run(ctx, s.rdb, []string{key}, s.prefix).StringSlice()
	if err != nil {
		return usermgmt.User{}, fmt.Errorf("redisstore: %w", err)
	}
	if len(flat) == 0 {
		return usermgmt.User{}, fmt.Errorf("%w: %s", usermgmt.ErrNotFound, what)
	}
	f := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		f[flat[i]] = flat[i+1]
	}
	return decodeUser(f)
}

// UserByEmail implements usermgmt.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.User, error) {
	return s.lookup(ctx, s.prefix+"email:"+email, "email")
}

// UserByInviteToken implements usermgmt.Store.
func (s *Store) UserByInviteToken(ctx context.Context, tokenHash string) (usermgmt.User, error) {
	return s.lookup(ctx, s.prefix+"token:"+tokenHash, "invitation")
}

// flagged decodes a script's {flag, flat hash} reply.
func flagged(res any) (usermgmt.User, bool, error) {
	parts, ok := res.([]any)
	if !ok || len(parts) != 2 {
		return usermgmt.User{}, false, fmt.Errorf("redisstore: unexpected script reply %T", res)
	}
	flag, _ := parts[0].(int64)
	flat, _ := parts[1].([]any)
	f, err := pairs(flat)
	if err != nil {
		return usermgmt.User{}, false, err
	}
	u, err := decodeUser(f)
	return u, flag == 1, err
}

// ReserveAttempt implements usermgmt.Store.
func (s *Store) ReserveAttempt(ctx context.Context, userID string, limit int) (usermgmt.User, bool, error) {
	res, err := s.runOnce(ctx, reserveScript, s.prefix, userID, limit).Result()
	if err != nil {
		return usermgmt.User{}, false, scriptError(err)
	}
	return flagged(res)
}

// RecordLogin implements usermgmt.Store.
func (s *Store) RecordLogin(ctx context.Context, l usermgmt.Login) (usermgmt.User, bool, error) {
	res, err := s.runOnce(ctx, loginScript, s.prefix, l.UserID, encodeTime(l.At), l.VerifiedHash, l.NewHash).Result()
	if err != nil {
		return usermgmt.User{}, false, scriptError(err)
	}
	return flagged(res)
}

// users reads many users in one pipeline, in the order of ids, skipping
// any that vanished.
func (s *Store) users(ctx context.Context, ids []string) ([]usermgmt.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.prefix+"u:"+id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	out := make([]usermgmt.User, 0, len(ids))
	for _, c := range cmds {
		f := c.Val()
		if len(f) == 0 {
			continue
		}
		u, err := decodeUser(f)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// listExamine is how many subtree members one listScript call examines.
const listExamine = 1000

// ListUsers implements usermgmt.Store. It walks the subtree's ID set from
// q.After: a script filters a bounded number of members per call inside
// Redis and returns the matching IDs, a pipeline reads those users, and
// the match is checked again on what was read, so that every user returned
// matches q as returned. A user that changed in between is dropped and the
// walk goes on, so that fewer than q.Limit users come back only at the end
// of the subtree. The cost of a page follows the members examined for it,
// never the pages before it.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.User, error) {
	statuses := make([]string, len(q.Statuses))
	for i, st := range q.Statuses {
		statuses[i] = string(st)
	}
	after := q.After
	if after == "" {
		after = "-"
	}
	var out []usermgmt.User
	for len(out) < q.Limit {
		res, err := listScript.Run(ctx, s.rdb, nil, s.prefix, s.prefix+"a:"+q.AccountID+":users", after,
			max(listExamine, q.Limit), q.Limit-len(out), q.Search, strings.Join(statuses, " "), strings.Join(q.Roles, " ")).StringSlice()
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		if len(res) == 0 || res[0] == "" {
			break // examined the whole subtree
		}
		after = res[0]
		users, err := s.users(ctx, res[1:])
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if q.Matches(u) { // listScript's filter, applied again to the user as read
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// StaleUsers implements usermgmt.Store from the activity index. It reads a
// page of the index, then the users on it in one pipeline, and keeps those
// whose index entry is still the one it read (still Active, same last
// activity): so every user returned is stale and in (LastActiveAt, ID)
// order. When a user moved in between (a login, another Manager's sweep),
// it reads on from where the page ended, so that fewer than q.Limit users
// come back only when no more are stale: the sweep stops at the first
// short page. Its cost follows the users read, not the users stored.
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.User, error) {
	start := "-"
	if q.AfterID != "" || !q.AfterActive.IsZero() {
		start = "(" + activeMember(q.AfterActive, q.AfterID)
	}
	end := "(" + padTime(q.ActiveBefore)
	var out []usermgmt.User
	for len(out) < q.Limit {
		want := q.Limit - len(out)
		members, err := s.rdb.ZRangeByLex(ctx, s.prefix+"active", &redis.ZRangeBy{Min: start, Max: end, Count: int64(want)}).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		ids := make([]string, len(members))
		for i, m := range members {
			ids[i] = m[strings.IndexByte(m, ':')+1:]
		}
		users, err := s.users(ctx, ids)
		if err != nil {
			return nil, err
		}
		read := make(map[string]bool, len(members))
		for _, m := range members {
			read[m] = true
		}
		for _, u := range users {
			if u.Status == usermgmt.StatusActive && read[activeMember(u.LastActiveAt, u.ID)] {
				out = append(out, u)
			}
		}
		if len(members) < want {
			break // the index holds no more stale users
		}
		start = "(" + members[len(members)-1]
	}
	return out, nil
}

// History implements usermgmt.Store.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	max := "+"
	if q.Before != "" {
		max = "(" + q.Before
	}
	ids, err := s.rdb.ZRevRangeByLex(ctx, s.prefix+"e:"+q.UserID, &redis.ZRangeBy{Min: "-", Max: max, Count: int64(q.Limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	raw, err := s.rdb.HMGet(ctx, s.prefix+"events", ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	out := make([]usermgmt.AuditEvent, 0, len(raw))
	for i, r := range raw {
		str, ok := r.(string)
		if !ok {
			return nil, fmt.Errorf("redisstore: event %s listed but missing", ids[i])
		}
		ev, err := decodeEvent(str)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}
