// Package attempts holds the lockout's decisions that the Go stores share:
// what reserving a password attempt and finishing one do to a user
// (usermgmt.Store's ReserveAttempt and FinishAttempt). The in-memory,
// SQLite and PostgreSQL stores call it inside their atomic step and differ
// only in how they read and write; the Redis store makes the same
// decisions in its scripts, and PostgreSQL's reservation in one statement.
package attempts

import (
	"slices"

	"github.com/usermgmt/usermgmt"
)

// Reserve applies r to u: leases that lapsed by r.Now go, and then the
// attempt is refused (u not Active, or r.Limit failures recorded), finds
// every slot held (failures plus leases in flight reach r.Limit), or takes
// a slot with r.Lease. It reports the result and whether u changed, in
// which case the store writes u's leases with a new version.
func Reserve(u *usermgmt.UserRecord, r usermgmt.AttemptReservation) (usermgmt.ReserveResult, bool) {
	live := slices.DeleteFunc(slices.Clone(u.AttemptLeases), func(l usermgmt.AttemptLease) bool { return !r.Now.Before(l.Until) })
	changed := len(live) != len(u.AttemptLeases)
	u.AttemptLeases = live
	switch {
	case u.Status != usermgmt.StatusActive || u.FailedAttempts >= r.Limit:
		return usermgmt.ReserveRefused, changed
	case u.FailedAttempts+len(u.AttemptLeases) >= r.Limit:
		return usermgmt.ReserveFull, changed
	}
	u.AttemptLeases = append(u.AttemptLeases, r.Lease)
	return usermgmt.ReserveOK, true
}

// Outcome is what finishing an attempt writes beside the user.
type Outcome struct {
	Recorded bool                   // the login or the failure was recorded
	Changed  bool                   // u changed (recorded, or its lease released): write it with a new version
	Events   []*usermgmt.AuditEvent // those of o with an ID, in order: the login or the failure, then the lock
	Messages []usermgmt.Message     // the lock's
}

// Finish applies o to u: its lease goes; for an Active user, a right
// password verified against the current one resets the count, records
// the login and stores a re-hash if the hash is still the one verified,
// and a wrong one counts a failure, locking u when the count reaches
// o.Limit. A user no longer Active, or whose password changed meanwhile,
// only loses the lease.
func Finish(u *usermgmt.UserRecord, o *usermgmt.AttemptOutcome) Outcome {
	held := len(u.AttemptLeases)
	u.AttemptLeases = slices.DeleteFunc(slices.Clone(u.AttemptLeases), func(l usermgmt.AttemptLease) bool { return l.ID == o.LeaseID })
	var out Outcome
	var evs []*usermgmt.AuditEvent
	switch {
	case u.Status != usermgmt.StatusActive:
	case o.Success:
		if u.PasswordVersion == o.PasswordVersion {
			u.FailedAttempts = 0
			u.LastLoginAt, u.LastActiveAt = o.At, o.At
			if o.NewHash != "" && u.PasswordHash == o.VerifiedHash {
				u.PasswordHash = o.NewHash
			}
			out.Recorded = true
			evs = append(evs, &o.LoginEvent)
		}
	default:
		u.FailedAttempts++
		out.Recorded = true
		evs = append(evs, &o.FailureEvent)
		if u.FailedAttempts >= o.Limit {
			u.Status, u.LockedAt, u.UpdatedAt = usermgmt.StatusLocked, o.At, o.At
			u.SessionVersion++
			evs = append(evs, &o.LockEvent)
			out.Messages = o.LockMessages
		}
	}
	for _, ev := range evs {
		if ev.ID != "" {
			out.Events = append(out.Events, ev)
		}
	}
	out.Changed = out.Recorded || len(u.AttemptLeases) != held
	return out
}
