package usermgmt

import (
	"context"
	"errors"
)

// References: a user's department is one of their account's, and their
// groups are live groups of their account. The Manager checks both before
// it writes a user, but the store checks only the user's version: a
// department removed or a group deleted by another Manager between that
// check and the write would not stop it. So each side also checks after
// its write, reading what the other side writes:
//
//   - a removal first writes the account (the department gone) or the
//     group (deleted), then takes the department or group from every user
//     of the account still holding it (RemoveDepartment, DeleteGroup);
//   - a write that gives a user a department or a group first writes the
//     user, then re-reads the account and the groups and takes back what
//     is gone (dropStaleRefs).
//
// Of two such writes racing, at least one reads after the other's write,
// so no user keeps a department or group that is gone.

// dropStaleRefs takes from a user, as act, the department their account no
// longer has (a profile change) and the groups that are deleted or of
// another account (a membership change), each in a versioned write with
// its event when there is something to take. It returns the user as it
// stands, whether it took the department, and the groups it took.
func (m *Manager) dropStaleRefs(ctx context.Context, act actor, userID string) (UserRecord, bool, []string, error) {
	ctx = unpinned(ctx)
	if cur, err := m.store.User(ctx, userID); err != nil {
		return UserRecord{}, false, nil, err
	} else if stale, err := m.holdsStaleRefs(ctx, cur); err != nil || !stale {
		return cur, false, nil, err // the usual case: nothing to take, no write
	}
	// The user as it stands comes from the second write, which reads it
	// again (and returns it unchanged when there is nothing to take).
	_, err := m.update(ctx, act, userID, ActionProfileChange, func(u *UserRecord, _ *change) error {
		if u.Department == "" {
			return errNoChange
		}
		a, err := m.store.Account(ctx, u.AccountID)
		if err != nil {
			return err
		}
		if _, ok := a.department(u.Department); ok {
			return errNoChange
		}
		u.Department = ""
		return nil
	})
	dept := err == nil
	if err != nil && !errors.Is(err, errNoChange) {
		return UserRecord{}, false, nil, err
	}
	var dropped []string
	u, err := m.update(ctx, act, userID, ActionGroupMembership, func(u *UserRecord, _ *change) error {
		dropped = nil
		if len(u.Groups) == 0 {
			return errNoChange
		}
		live, err := m.liveGroups(ctx, u.Groups)
		if err != nil {
			return err
		}
		var kept []string
		for _, id := range u.Groups {
			if live[id] == u.AccountID {
				kept = append(kept, id)
			} else {
				dropped = append(dropped, id)
			}
		}
		if len(dropped) == 0 {
			return errNoChange
		}
		u.Groups = kept
		return nil
	})
	if errors.Is(err, errNoChange) {
		dropped = nil
	} else if err != nil {
		return UserRecord{}, false, nil, err
	}
	return u, dept, dropped, nil
}

// holdsStaleRefs reports whether u holds a department its account lacks
// or a group that is deleted or of another account, as the store has them
// now.
func (m *Manager) holdsStaleRefs(ctx context.Context, u UserRecord) (bool, error) {
	var a Account
	if u.Department != "" {
		var err error
		if a, err = m.store.Account(ctx, u.AccountID); err != nil {
			return false, err
		}
	}
	live, err := m.liveGroups(ctx, u.Groups)
	if err != nil {
		return false, err
	}
	return refsGone(u, a, live), nil
}

// liveGroups maps the groups of ids that are not deleted to their accounts.
func (m *Manager) liveGroups(ctx context.Context, ids []string) (map[string]string, error) {
	live := map[string]string{}
	if len(ids) == 0 {
		return live, nil
	}
	gs, err := m.store.Groups(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if !g.Deleted {
			live[g.ID] = g.AccountID
		}
	}
	return live, nil
}

// refsGone reports whether u's department is missing from a (its account,
// read only when u has a department) or one of its groups is missing from
// live (group ID -> account, see liveGroups) or of another account.
func refsGone(u UserRecord, a Account, live map[string]string) bool {
	if u.Department != "" {
		if _, ok := a.department(u.Department); !ok {
			return true
		}
	}
	for _, g := range u.Groups {
		if live[g] != u.AccountID {
			return true
		}
	}
	return false
}

// holdsRefs reports whether a user write gave u a department or groups
// that dropStaleRefs must check once it is stored.
func holdsRefs(u UserRecord) bool { return u.Department != "" || len(u.Groups) > 0 }

// emptyDepartment takes a department removed from an account from every
// user of the account still in it, as act (see References).
func (m *Manager) emptyDepartment(ctx context.Context, act actor, accountID, name string) error {
	ctx = unpinned(ctx)
	q := ListQuery{AccountID: accountID, Department: name, Statuses: Statuses, Limit: sweepBatch}
	for {
		users, err := m.store.ListUsers(ctx, q)
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.AccountID != accountID {
				continue
			}
			if _, _, _, err := m.dropStaleRefs(ctx, act, u.ID); err != nil {
				return err
			}
		}
		if len(users) < q.Limit {
			return nil
		}
		q.After = users[len(users)-1].ID
	}
}
