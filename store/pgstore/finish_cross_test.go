package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// The one-round-trip finish decides on the row its reservation returned:
// a write by another Store on the same schema between the reservation and
// the finish (here RecordActivity, the narrowest write to a users row, and
// a ban through a second Manager) must send it to the locked read, and
// must survive the finish. A lease ID the Store never reserved (another
// Store's) finishes on the locked read too.
func TestFinishAttemptAfterAnotherStoreWrote(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	schema := randomSchema(t)
	t.Cleanup(func() { dropSchema(t, schema) })
	s1, s2 := storeOnPool(t, schema, nil), storeOnPool(t, schema, nil)
	m1, err := usermgmt.New(s1, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := usermgmt.New(s2, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := fixture.Admin(ctx, m1, "cross@example.com")
	if err != nil {
		t.Fatal(err)
	}
	user := fixture.Record(admin.AccountID, "cross-user@example.com", time.Now())
	if err := s1.CreateUsers(ctx, []usermgmt.UserCreate{fixture.Create(user)}); err != nil {
		t.Fatal(err)
	}
	id := user.ID
	now := time.Now().Truncate(time.Microsecond)

	// RecordActivity by s2 between s1's reservation and its failure.
	reserveLease(t, s1, id, "x1", now)
	later := now.Add(time.Hour)
	if ok, err := s2.RecordActivity(ctx, usermgmt.ActivityUpdate{UserID: id, At: later, IfBefore: later}); err != nil || !ok {
		t.Fatalf("RecordActivity = %v, %v", ok, err)
	}
	got, recorded, err := s1.FinishAttempt(ctx, usermgmt.AttemptOutcome{UserID: id, LeaseID: "x1", At: now, Limit: 10})
	if err != nil || !recorded {
		t.Fatalf("FinishAttempt = %v, %v", recorded, err)
	}
	stored, _ := s1.User(ctx, id)
	if !stored.LastActiveAt.Equal(later) || stored.FailedAttempts != 1 || len(stored.AttemptLeases) != 0 || got.Version != stored.Version {
		t.Fatalf("after another Store's activity: last active %v (want %v), failures %d, leases %v, version %d/%d",
			stored.LastActiveAt, later, stored.FailedAttempts, stored.AttemptLeases, got.Version, stored.Version)
	}

	// A ban by another Manager on s2 between reservation and a right password.
	r := reserveLease(t, s1, id, "x2", now)
	if _, err := m2.Ban(ctx, usermgmt.System, id); err != nil {
		t.Fatal(err)
	}
	_, recorded, err = s1.FinishAttempt(ctx, usermgmt.AttemptOutcome{UserID: id, LeaseID: "x2", Success: true,
		PasswordVersion: r.PasswordVersion, VerifiedHash: r.PasswordHash, At: now, Limit: 10})
	if err != nil || recorded {
		t.Fatalf("FinishAttempt after a ban = %v, %v; want not recorded", recorded, err)
	}
	stored, _ = s1.User(ctx, id)
	if stored.Status != usermgmt.StatusBanned || len(stored.AttemptLeases) != 0 {
		t.Fatalf("after the ban: %s, leases %v", stored.Status, stored.AttemptLeases)
	}
}
