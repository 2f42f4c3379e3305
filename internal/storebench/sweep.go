package storebench

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt"
)

// SweepBaseline is a store's bare sweep, the baseline Manager.Sweep is
// compared with: hand-written statements that make every Active user whose
// last activity lies before before Inactive at now, each with an audit
// event in the same transaction, as a program written for this one job on
// the same schema would. It returns how many users it moved.
type SweepBaseline func(ctx context.Context, before, now time.Time) (int, error)

// sweepPairs counts the sweeps Sweep has timed in this process, so that
// -count runs alternate which of the sweep and its baseline goes first.
var sweepPairs int

// Sweep benchmarks Manager.Sweep over the dataset with 1 % and 10 % of its
// users idle for four months. Before each timed sweep it makes every 100th
// (or 10th) user Active and idle again through ordinary store writes, so
// the benchmark can repeat on a cached dataset. Run it with -benchtime 1x:
// one sweep of a large store is the measurement. The time should follow
// the number of idle users, not the number stored.
//
// With bare set, each iteration also makes the same users idle again and
// times bare on them, the two in alternating order (across iterations,
// and across the sub-benchmarks and -count runs of one process, so that
// with -benchtime 1x neither always goes first), and reports
// bare-ns/idle-user and ratio (the sweep's time over the baseline's)
// beside ns/idle-user.
func Sweep(b *testing.B, s usermgmt.Store, d Dataset, bare SweepBaseline) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		every int
	}{{"stale_1pct", 100}, {"stale_10pct", 10}} {
		b.Run(c.name, func(b *testing.B) {
			b.StopTimer()
			m, clock := Manager(b, s)
			idle := func() (want int) {
				idleSince := clock.Now().AddDate(0, -4, 0)
				for j := c.every; j < len(d.Users); j += c.every {
					makeIdle(b, s, d.Users[j].ID, idleSince)
					want++
				}
				return want
			}
			sweep := func() {
				want := idle()
				b.StartTimer()
				res, err := m.Sweep(ctx)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Inactive != want {
					b.Fatalf("swept %d users, want %d", res.Inactive, want)
				}
			}
			var bareTook time.Duration
			baseline := func() {
				want := idle()
				now := clock.Now()
				t0 := time.Now()
				n, err := bare(ctx, now.AddDate(0, -3, 0), now)
				bareTook += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if n != want {
					b.Fatalf("the baseline moved %d users, want %d", n, want)
				}
			}
			for i := 0; i < b.N; i++ {
				bareFirst := (sweepPairs+i)%2 == 1
				if bare != nil && bareFirst {
					baseline()
				}
				sweep()
				if bare != nil && !bareFirst {
					baseline()
				}
			}
			sweepPairs += b.N
			idleUsers := float64(b.N) * float64(len(d.Users)/c.every)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/idleUsers, "ns/idle-user")
			if bare != nil {
				b.ReportMetric(float64(bareTook.Nanoseconds())/idleUsers, "bare-ns/idle-user")
				b.ReportMetric(float64(b.Elapsed())/float64(bareTook), "ratio")
			}
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
