package usermgmt

import (
	"context"
	"errors"
	"slices"
	"time"
)

// maxRetries bounds how often a write is retried after ErrConflict.
const maxRetries = 32

// errNoChange ends an update that would change nothing: no write, no
// event, and the caller gets the user as it stands.
var errNoChange = errors.New("usermgmt: no change")

// change collects what an update's apply step decides besides the user's
// new state.
type change struct {
	groupGrants []Grant  // the target's grants through groups, read with it
	keepAdmin   bool     // refuse with ErrLastAdmin if the account loses its last active admin
	notices     []notice // messages the change sends
}

type expectedVersionKey struct{}

// WithExpectedVersion returns a context under which a change of a user (or
// group, or account) is refused with ErrConflict unless the stored Version
// is version: optimistic concurrency for callers, such as an HTTP API
// honouring If-Match. Without it, the Manager re-reads and retries its
// writes on conflicts by itself.
func WithExpectedVersion(ctx context.Context, version int64) context.Context {
	return context.WithValue(ctx, expectedVersionKey{}, version)
}

func expectedVersion(ctx context.Context) (int64, bool) {
	v, ok := ctx.Value(expectedVersionKey{}).(int64)
	return v, ok
}

// unpinned returns ctx without an expected version, for the writes an
// operation makes beyond the one the caller's version is about.
func unpinned(ctx context.Context) context.Context {
	return context.WithValue(ctx, expectedVersionKey{}, nil)
}

// update applies one change to a user as a versioned write, re-reading and
// re-applying it when a concurrent write got there first. apply checks the
// freshly read user (authorisation included) and mutates it; returning an
// error refuses the change and writes nothing (errNoChange: nothing to
// write, and update returns the user as read with errNoChange). The audit
// event records every field that changed; the notices become outbox
// messages stored in the same write.
func (m *Manager) update(ctx context.Context, act actor, userID string, action Action, apply func(u *UserRecord, c *change) error) (UserRecord, error) {
	want, pinned := expectedVersion(ctx)
	for attempt := 0; ; attempt++ {
		t, err := m.access(ctx, userID)
		if err != nil {
			return UserRecord{}, err
		}
		old := t.user
		u := cloneRecord(old)
		c := &change{groupGrants: t.groupGrants()}
		if err := apply(&u, c); err != nil && !errors.Is(err, errNoChange) {
			return UserRecord{}, err
		} else if pinned && old.Version != want {
			return UserRecord{}, ErrConflict // checked once the actor is known to reach the user
		} else if err != nil {
			return old, err
		}
		now := m.now()
		settle(&old, &u, now)
		up := UserUpdate{User: u, KeepAdmin: c.keepAdmin}
		if up.Event, err = m.userEvent(ctx, now, act, action, old, u); err != nil {
			return UserRecord{}, err
		}
		if up.Messages, err = m.messages(ctx, act, u, c.notices, now); err != nil {
			return UserRecord{}, err
		}
		err = m.store.UpdateUser(ctx, up)
		if err == nil {
			u.Version++
			m.observe(ctx, up.Event)
			return u, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= maxRetries || pinned {
			return UserRecord{}, err
		}
		m.log.DebugContext(ctx, "usermgmt: retrying after a concurrent update", "user", userID, "action", action)
	}
}

// updateView is update for operations that return the user: the view of
// the new state, or of the state as it stands when nothing changed.
func (m *Manager) updateView(ctx context.Context, act actor, userID string, action Action, apply func(u *UserRecord, c *change) error) (User, error) {
	u, err := m.update(ctx, act, userID, action, apply)
	if err != nil && !errors.Is(err, errNoChange) {
		return User{}, err
	}
	return u.View(), nil
}

// settle applies the rules every change of a user follows, whatever the
// operation:
//   - any move out of Invited voids the invitation's token (back in
//     Invited, the user needs a resend);
//   - a ban, a disable or a removal voids the password-reset and
//     email-change tokens; a removal voids every token;
//   - a new password voids a pending password reset and a pending email
//     change (the owner taking the account back voids a move of it to
//     another mailbox);
//   - a new email voids a pending password reset (its link went to the
//     mailbox the account just left);
//   - the session version moves when the user leaves Active, or their
//     password, role, account or email changes: their sessions end.
func settle(old, u *UserRecord, now time.Time) {
	u.UpdatedAt = now
	if old.Status == StatusInvited && u.Status != StatusInvited {
		u.dropToken(TokenInvitation)
	}
	switch u.Status {
	case StatusBanned, StatusDisabled:
		u.dropToken(TokenPasswordReset)
		u.dropToken(TokenEmailChange)
		u.PendingEmail = ""
	case StatusRemoved:
		u.Tokens, u.PendingEmail = nil, ""
	}
	if u.PasswordVersion != old.PasswordVersion {
		u.dropToken(TokenPasswordReset)
		u.dropToken(TokenEmailChange)
	}
	if u.Email != old.Email {
		u.dropToken(TokenPasswordReset)
	}
	if _, ok := u.token(TokenEmailChange); !ok {
		u.PendingEmail = ""
	}
	if (old.Status == StatusActive && u.Status != StatusActive) || u.PasswordVersion != old.PasswordVersion ||
		u.Role != old.Role || u.AccountID != old.AccountID || u.Email != old.Email {
		u.SessionVersion = old.SessionVersion + 1
	}
}

// cloneRecord copies a user so that changing the copy's slices leaves the
// original alone.
func cloneRecord(u UserRecord) UserRecord {
	u.Groups = slices.Clone(u.Groups)
	u.Grants = slices.Clone(u.Grants)
	u.AttemptLeases = slices.Clone(u.AttemptLeases)
	u.Tokens = slices.Clone(u.Tokens)
	u.ResetRequests = slices.Clone(u.ResetRequests)
	return u
}
