package redisstore

import (
	"context"
	"errors"

	"github.com/usermgmt/usermgmt"
)

// Account implements usermgmt.Store: one HGETALL.
func (s *Store) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	f, err := s.hash(ctx, "a:"+id)
	if err != nil {
		return usermgmt.Account{}, err
	}
	if len(f) == 0 {
		return usermgmt.Account{}, notFound("account")
	}
	a, err := decodeAccount(f)
	if err != nil {
		return usermgmt.Account{}, broken(err)
	}
	return a, nil
}

// Accounts implements usermgmt.Store: one accounts.lua run reads a page of
// the subtree's account set and the accounts on it.
func (s *Store) Accounts(ctx context.Context, q usermgmt.AccountQuery) ([]usermgmt.Account, error) {
	res, err := accountsScript.Run(ctx, s.rdb, nil, s.prefix, q.RootID, q.After, q.Limit).Result()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return flats(res, decodeAccount)
}

// UpdateAccount implements usermgmt.Store: one account_update.lua run.
func (s *Store) UpdateAccount(ctx context.Context, up usermgmt.AccountUpdate) error {
	var e encoder
	args := []any{s.prefix, up.Account.ID, itoa(up.Account.Version)}
	args = e.event(args, up.Event, false)
	args = record(args, e.accountFields(&up.Account, up.Account.Version+1)...)
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, accountUpdateScript, args...).Err())
}

// historyExamine is how many events one history.lua run reads at most
// when the query filters them.
const historyExamine = 500

// History implements usermgmt.Store from the user's event index or the
// account's subtree event index: history.lua reads a page of IDs newest
// first from q.Before and their events in one round trip, and the filters
// are applied as read. Without filters a page is one round trip; with
// them the walk reads on until q.Limit events match or the index ends, so
// its cost follows the events examined.
func (s *Store) History(ctx context.Context, q usermgmt.HistoryQuery) ([]usermgmt.AuditEvent, error) {
	key := s.prefix + "a:" + q.AccountID + ":events"
	if q.UserID != "" {
		key = s.prefix + "e:" + q.UserID
	}
	top := "+"
	if q.Before != "" {
		top = "(" + q.Before
	}
	chunk := q.Limit
	if len(q.Actions) > 0 || q.ActorID != "" || !q.Since.IsZero() || !q.Until.IsZero() {
		chunk = max(chunk, historyExamine)
	}
	var out []usermgmt.AuditEvent
	for len(out) < q.Limit {
		res, err := historyScript.Run(ctx, s.rdb, nil, s.prefix, key, top, chunk).Slice()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		for _, r := range res {
			str, ok := r.(string)
			if !ok {
				return nil, broken(errors.New("redisstore: an indexed audit event is missing"))
			}
			ev, err := decodeEvent(str)
			if err != nil {
				return nil, broken(err)
			}
			top = "(" + ev.ID
			if q.Matches(ev) && len(out) < q.Limit {
				out = append(out, ev)
			}
		}
		if len(res) < chunk {
			break
		}
	}
	return out, nil
}
