package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
)

// userCreate appends a new user as create.lua takes it: event, messages, record.
func (e *encoder) userCreate(args []any, c *usermgmt.UserCreate) []any {
	args = e.event(args, c.Event, false)
	args = e.messages(args, c.Messages)
	return e.userRecord(args, &c.User)
}

// CreateAccount implements usermgmt.Store: one create.lua run.
func (s *Store) CreateAccount(ctx context.Context, c usermgmt.AccountCreate) error {
	var e encoder
	args := []any{s.prefix, "1"}
	args = e.accountRecord(args, &c.Account)
	args = e.event(args, c.AccountEvent, true)
	args = append(args, 1)
	args = e.userCreate(args, &c.Admin)
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, createScript, args...).Err())
}

// CreateUsers implements usermgmt.Store: one create.lua run for the batch.
func (s *Store) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	if len(cs) == 0 {
		return ctx.Err()
	}
	var e encoder
	args := []any{s.prefix, "0", len(cs)}
	for i := range cs {
		args = e.userCreate(args, &cs[i])
	}
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, createScript, args...).Err())
}

// UpdateUser implements usermgmt.Store: one update.lua run.
func (s *Store) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	errs, err := s.UpdateUsers(ctx, []usermgmt.UserUpdate{up})
	if err != nil {
		return err
	}
	return errs[0]
}

// updateBatch is the most updates one update.lua run applies: a page of
// the sweep (500) is one run, and a larger batch never holds Redis for
// long (other clients wait while a script runs).
const updateBatch = 1000

// UpdateUsers implements usermgmt.Store: one update.lua run per 1,000
// updates, so that the sweep's page of 500 users is one round trip. Redis
// applies the updates one after the other, each checked whole before it
// is written. An update the store cannot encode (text JSON cannot carry)
// fails alone, with an error matching usermgmt.ErrStore.
func (s *Store) UpdateUsers(ctx context.Context, ups []usermgmt.UserUpdate) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := make([]error, len(ups))
	for start := 0; start < len(ups); start += updateBatch {
		end := min(start+updateBatch, len(ups))
		if err := s.updateBatch(ctx, ups[start:end], errs[start:end]); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// updateBatch runs one update.lua for ups, filling in errs.
func (s *Store) updateBatch(ctx context.Context, ups []usermgmt.UserUpdate, errs []error) error {
	sent := make([]int, 0, len(ups))
	args := make([]any, 2, 2+40*len(ups))
	args[0] = s.prefix
	for i := range ups {
		up := &ups[i]
		var e encoder
		mark := len(args)
		args = append(args, itoa(up.User.Version), flag(up.KeepAdmin))
		args = e.event(args, up.Event, false)
		args = e.messages(args, up.Messages)
		next := up.User
		next.Version++
		args = e.userRecord(args, &next)
		if e.err != nil {
			args = args[:mark]
			errs[i] = broken(e.err)
			continue
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return nil
	}
	args[1] = len(sent)
	res, err := s.runOnce(ctx, updateScript, args...).StringSlice()
	if err != nil {
		return s.fail(ctx, err)
	}
	if len(res) != len(sent) {
		return broken(errors.New("redisstore: update script answered for the wrong number of updates"))
	}
	for k, i := range sent {
		if res[k] == "" {
			continue
		}
		if errs[i] = refusal(res[k]); errs[i] == nil {
			errs[i] = broken(errors.New("redisstore: update script gave an unknown answer"))
		}
	}
	return nil
}

// User implements usermgmt.Store: one HGET of the user's record.
func (s *Store) User(ctx context.Context, id string) (usermgmt.UserRecord, error) {
	rec, err := s.rdb.HGet(ctx, s.prefix+"u:"+id, "rec").Result()
	return s.user(ctx, rec, err, "user")
}

// user decodes a user's record as read, or reports why there is none.
func (s *Store) user(ctx context.Context, rec string, err error, what string) (usermgmt.UserRecord, error) {
	if errors.Is(err, redis.Nil) {
		return usermgmt.UserRecord{}, notFound(what)
	}
	if err != nil {
		return usermgmt.UserRecord{}, s.fail(ctx, err)
	}
	u, err := decodeUser(rec)
	if err != nil {
		return usermgmt.UserRecord{}, broken(err)
	}
	return u, nil
}

// lookup reads the user an index key points at, in one round trip.
func (s *Store) lookup(ctx context.Context, key, what string) (usermgmt.UserRecord, error) {
	rec, err := lookupScript.Run(ctx, s.rdb, nil, s.prefix, key).Text()
	return s.user(ctx, rec, err, what)
}

// UserByEmail implements usermgmt.Store from the email index, in one round trip.
func (s *Store) UserByEmail(ctx context.Context, email string) (usermgmt.UserRecord, error) {
	return s.lookup(ctx, "email:"+email, "user")
}

// UserByToken implements usermgmt.Store from the token index, in one round trip.
func (s *Store) UserByToken(ctx context.Context, hash string) (usermgmt.UserRecord, error) {
	return s.lookup(ctx, "token:"+hash, "token")
}

// UserAccess implements usermgmt.Store: one access.lua run reads the user
// and its live groups' versions.
func (s *Store) UserAccess(ctx context.Context, id string) (usermgmt.UserRecord, []usermgmt.GroupStamp, error) {
	res, err := accessScript.Run(ctx, s.rdb, nil, s.prefix, id).Slice()
	if err != nil {
		return usermgmt.UserRecord{}, nil, s.fail(ctx, err)
	}
	if len(res) == 0 {
		return usermgmt.UserRecord{}, nil, notFound("user")
	}
	rec, ok := res[0].(string)
	if !ok || len(res)%2 != 1 {
		return usermgmt.UserRecord{}, nil, broken(errors.New("redisstore: unexpected script reply"))
	}
	u, err := decodeUser(rec)
	if err != nil {
		return usermgmt.UserRecord{}, nil, broken(err)
	}
	var stamps []usermgmt.GroupStamp
	for i := 1; i < len(res); i += 2 {
		id, _ := res[i].(string)
		v, _ := res[i+1].(string)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usermgmt.UserRecord{}, nil, broken(errors.New("redisstore: a stored group version is unreadable"))
		}
		stamps = append(stamps, usermgmt.GroupStamp{ID: id, Version: n})
	}
	return u, stamps, nil
}

// users reads users by ID in one pipeline, in order, leaving out any that
// vanished.
func (s *Store) users(ctx context.Context, ids []string) ([]usermgmt.UserRecord, error) {
	if len(ids) == 0 {
		return nil, ctx.Err()
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.prefix+"u:"+id, "rec")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail(ctx, err)
	}
	out := make([]usermgmt.UserRecord, 0, len(ids))
	for _, c := range cmds {
		rec, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		u, err := decodeUser(rec)
		if err != nil {
			return nil, broken(err)
		}
		out = append(out, u)
	}
	return out, nil
}

// listExamine is how many set members one list.lua run examines at most.
const listExamine = 1000

// ListUsers implements usermgmt.Store. It walks the subtree's user set
// (or, with q.GroupID, the group's member set, keeping members of the
// subtree) from q.After: list.lua filters a bounded number of members per
// run inside Redis and returns the matching IDs, a pipeline reads those
// users, and q.Matches is checked again on each user as read, so that
// every user returned matches q as returned. A user that changed in between
// is dropped and the walk goes on, so that fewer than q.Limit users come
// back only at the end of the set. The cost of a page follows the members
// examined for it, never the pages before it.
func (s *Store) ListUsers(ctx context.Context, q usermgmt.ListQuery) ([]usermgmt.UserRecord, error) {
	set, subtree := s.prefix+"a:"+q.AccountID+":users", ""
	if q.GroupID != "" {
		set, subtree = s.prefix+"g:"+q.GroupID+":users", set
	}
	filters := []any{q.Search, q.Department, subtree, len(q.Statuses)}
	for _, st := range q.Statuses {
		filters = append(filters, string(st))
	}
	filters = append(filters, len(q.Roles))
	for _, r := range q.Roles {
		filters = append(filters, r)
	}
	at := q.After
	in := subtreeCheck{s: s, root: q.AccountID}
	var out []usermgmt.UserRecord
	for len(out) < q.Limit {
		args := append([]any{s.prefix, set, at, max(listExamine, q.Limit), q.Limit - len(out)}, filters...)
		res, err := listScript.Run(ctx, s.rdb, nil, args...).StringSlice()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if len(res) == 0 || res[0] == "" {
			break // examined the whole set
		}
		at = res[0]
		users, err := s.users(ctx, res[1:])
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if q.Matches(u) && in.holds(ctx, u.AccountID) {
				out = append(out, u)
			}
		}
	}
	return out, ctx.Err()
}

// subtreeCheck tells whether accounts lie in root's subtree, reading each
// account once: a user read after list.lua chose it may have moved out.
type subtreeCheck struct {
	s    *Store
	root string
	seen map[string]bool
}

func (c *subtreeCheck) holds(ctx context.Context, account string) bool {
	if account == c.root {
		return true
	}
	in, ok := c.seen[account]
	if !ok {
		a, err := c.s.Account(ctx, account)
		in = err == nil && slices.Contains(a.Ancestors, c.root)
		if c.seen == nil {
			c.seen = make(map[string]bool)
		}
		c.seen[account] = in
	}
	return in
}

// StaleUsers implements usermgmt.Store from the activity index (Active
// users by last activity) or the lock index (Locked users by lock time).
// It reads a page of the index, then the users on it in one pipeline, and
// keeps those whose index entry is still the one it read: so every user
// returned is stale and in (time, ID) order. When a user moved in between
// (a login, another Manager's sweep), it reads on from where the page
// ended, so that fewer than q.Limit users come back only when no more are
// stale: the sweep stops at the first short page. Its cost follows the
// users read, not the users stored.
func (s *Store) StaleUsers(ctx context.Context, q usermgmt.StaleQuery) ([]usermgmt.UserRecord, error) {
	index, status := "active", usermgmt.StatusActive
	if q.Status == usermgmt.StatusLocked {
		index, status = "locked", usermgmt.StatusLocked
	}
	var e encoder
	start := "(" + e.time(q.AfterTime) + ":" + q.AfterID
	end := "(" + e.time(q.Before)
	if e.err != nil {
		return nil, broken(e.err)
	}
	var out []usermgmt.UserRecord
	for len(out) < q.Limit {
		want := q.Limit - len(out)
		members, err := s.rdb.ZRangeByLex(ctx, s.prefix+index, &redis.ZRangeBy{Min: start, Max: end, Count: int64(want)}).Result()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		ids := make([]string, len(members))
		read := make(map[string]bool, len(members))
		for i, m := range members {
			ids[i] = m[strings.IndexByte(m, ':')+1:]
			read[m] = true
		}
		users, err := s.users(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			at := u.LastActiveAt
			if status == usermgmt.StatusLocked {
				at = u.LockedAt
			}
			if u.Status == status && read[e.time(at)+":"+u.ID] {
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

// ReserveAttempt implements usermgmt.Store: one reserve.lua run.
func (s *Store) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	var e encoder
	e.text(r.Lease.ID)
	args := []any{s.prefix, r.UserID, r.Limit, e.time(r.Now), r.Lease.ID, e.time(r.Lease.Until)}
	if e.err != nil {
		return usermgmt.UserRecord{}, 0, broken(e.err)
	}
	res, err := s.runOnce(ctx, reserveScript, args...).Result()
	if err != nil {
		return usermgmt.UserRecord{}, 0, s.fail(ctx, err)
	}
	code, u, err := flagged(res)
	if err != nil {
		return usermgmt.UserRecord{}, 0, err
	}
	switch code {
	case 0:
		return u, usermgmt.ReserveOK, nil
	case 1:
		return u, usermgmt.ReserveFull, nil
	}
	return u, usermgmt.ReserveRefused, nil
}

// FinishAttempt implements usermgmt.Store: one finish.lua run.
func (s *Store) FinishAttempt(ctx context.Context, o usermgmt.AttemptOutcome) (usermgmt.UserRecord, bool, error) {
	var e encoder
	args := []any{s.prefix, o.UserID, o.LeaseID, flag(o.Success), e.time(o.At), o.Limit,
		itoa(o.PasswordVersion), o.VerifiedHash, o.NewHash}
	args = e.event(args, o.LoginEvent, true)
	args = e.event(args, o.FailureEvent, true)
	args = e.event(args, o.LockEvent, true)
	args = e.messages(args, o.LockMessages)
	if e.err != nil {
		return usermgmt.UserRecord{}, false, broken(e.err)
	}
	res, err := s.runOnce(ctx, finishScript, args...).Result()
	if err != nil {
		return usermgmt.UserRecord{}, false, s.fail(ctx, err)
	}
	code, u, err := flagged(res)
	return u, code == 1, err
}

// flagged decodes a script's {code, record} reply.
func flagged(res any) (int64, usermgmt.UserRecord, error) {
	parts, ok := res.([]any)
	if !ok || len(parts) != 2 {
		return 0, usermgmt.UserRecord{}, broken(errors.New("redisstore: unexpected script reply"))
	}
	code, _ := parts[0].(int64)
	rec, ok := parts[1].(string)
	if !ok {
		return 0, usermgmt.UserRecord{}, broken(errors.New("redisstore: unexpected script reply"))
	}
	u, err := decodeUser(rec)
	if err != nil {
		return 0, usermgmt.UserRecord{}, broken(err)
	}
	return code, u, nil
}

// RecordActivity implements usermgmt.Store: one activity.lua run.
func (s *Store) RecordActivity(ctx context.Context, a usermgmt.ActivityUpdate) (bool, error) {
	var e encoder
	args := []any{s.prefix, a.UserID, e.time(a.At), e.time(a.IfBefore)}
	if e.err != nil {
		return false, broken(e.err)
	}
	n, err := s.runOnce(ctx, activityScript, args...).Int()
	if err != nil {
		return false, s.fail(ctx, err)
	}
	return n == 1, nil
}
