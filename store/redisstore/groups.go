package redisstore

import (
	"context"

	"github.com/usermgmt/usermgmt"
)

// CreateGroup implements usermgmt.Store: one group_create.lua run.
func (s *Store) CreateGroup(ctx context.Context, g usermgmt.Group, ev usermgmt.AuditEvent) error {
	var e encoder
	args := e.event([]any{s.prefix}, ev, false)
	args = e.groupRecord(args, &g, g.Version)
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, groupCreateScript, args...).Err())
}

// UpdateGroup implements usermgmt.Store: one group_update.lua run.
func (s *Store) UpdateGroup(ctx context.Context, up usermgmt.GroupUpdate) error {
	var e encoder
	args := e.event([]any{s.prefix, itoa(up.Group.Version)}, up.Event, false)
	args = e.groupRecord(args, &up.Group, up.Group.Version+1)
	if e.err != nil {
		return broken(e.err)
	}
	return s.fail(ctx, s.runOnce(ctx, groupUpdateScript, args...).Err())
}

// Groups implements usermgmt.Store: one pipeline of HGETALLs.
func (s *Store) Groups(ctx context.Context, ids []string) ([]usermgmt.Group, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = "g:" + id
	}
	fs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]usermgmt.Group, len(fs))
	for i, f := range fs {
		if out[i], err = decodeGroup(f); err != nil {
			return nil, broken(err)
		}
	}
	return out, nil
}

// groupsExamine is how many groups one groups.lua run examines at most.
const groupsExamine = 1000

// ListGroups implements usermgmt.Store from the account's group set:
// groups.lua examines a bounded number of groups per run, leaving out
// deleted ones unless asked, until q.Limit match or the set ends.
func (s *Store) ListGroups(ctx context.Context, q usermgmt.GroupQuery) ([]usermgmt.Group, error) {
	at := q.After
	var out []usermgmt.Group
	for len(out) < q.Limit {
		res, err := groupsScript.Run(ctx, s.rdb, nil, s.prefix, q.AccountID, at, max(groupsExamine, q.Limit),
			q.Limit-len(out), flag(q.Deleted)).Slice()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		last, _ := res[0].(string)
		if last == "" {
			break
		}
		at = last
		gs, err := flats(res[1:], decodeGroup)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
}
