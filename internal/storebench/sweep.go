package storebench

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt"
)

// Sweep benchmarks Manager.Sweep over the dataset with 1 % and 10 % of its
// users idle for four months. Before each timed sweep it makes every 100th
// (or 10th) user Active and idle again through ordinary store writes, so
// the benchmark can repeat on a cached dataset. Run it with -benchtime 1x:
// one sweep of a large store is the measurement. The time should follow
// the number of idle users, not the number stored.
func Sweep(b *testing.B, s usermgmt.Store, d Dataset) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		every int
	}{{"stale_1pct", 100}, {"stale_10pct", 10}} {
		b.Run(c.name, func(b *testing.B) {
			m, clock := Manager(b, s)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				idleSince := clock.Now().AddDate(0, -4, 0)
				want := 0
				for j := c.every; j < len(d.Users); j += c.every {
					makeIdle(b, s, d.Users[j].ID, idleSince)
					want++
				}
				b.StartTimer()
				res, err := m.Sweep(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if res.Inactive != want {
					b.Fatalf("swept %d users, want %d", res.Inactive, want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(d.Users)/c.every), "ns/idle-user")
		})
	}
}

// makeIdle makes a user Active with its last activity at since, through an
// ordinary versioned store write with its audit event.
func makeIdle(b *testing.B, s usermgmt.Store, id string, since time.Time) {
	ctx := context.Background()
	u, err := s.User(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	u.Status, u.LastActiveAt, u.UpdatedAt = usermgmt.StatusActive, since, since
	evID, err := uuid.NewV7()
	if err != nil {
		b.Fatal(err)
	}
	ev := usermgmt.AuditEvent{ID: evID.String(), At: since, ActorID: usermgmt.System, Action: usermgmt.ActionReactivate,
		UserID: u.ID, AccountID: u.AccountID, Changes: []usermgmt.Change{{Field: "status", New: string(usermgmt.StatusActive)}}}
	if err := s.UpdateUser(ctx, usermgmt.UserUpdate{User: u, Event: ev}); err != nil {
		b.Fatal(err)
	}
}
