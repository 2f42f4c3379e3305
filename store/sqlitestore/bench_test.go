package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// BenchmarkWrites compares writer-pool layouts under concurrent writes from
// one process: the single writer connection Open uses against pools of
// several writing connections, which contend for SQLite's lock through
// busy_timeout's sleep-and-retry. Each operation is a versioned profile
// update with its audit event (re-read and retried on ErrConflict) followed
// by a reserved attempt and a recorded login, on a random one of 256 users.
//
//	go test -run '^$' -bench Writes -benchtime 2000x ./store/sqlitestore/
func BenchmarkWrites(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		for _, conns := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("sync=%s/writer-conns=%d", mode, conns), func(b *testing.B) { benchWrites(b, mode, conns) })
		}
	}
}

func benchWrites(b *testing.B, mode string, conns int) {
	{
		{
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), WithSynchronous(mode))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.write.SetMaxOpenConns(conns)
			s.write.SetMaxIdleConns(conns)
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			d := scaleData{}
			a := usermgmt.Account{ID: "acct", Name: "Bench", CreatedAt: at}
			users := make([]usermgmt.User, 256)
			evs := make([]usermgmt.AuditEvent, 256)
			for i := range users {
				users[i], evs[i] = d.user(i+1, a.ID)
				users[i].Status, users[i].FailedAttempts = usermgmt.StatusActive, 0
			}
			if err := s.CreateAccount(ctx, a, users[0], evs[0]); err != nil {
				b.Fatal(err)
			}
			if err := s.CreateUsers(ctx, users[1:], evs[1:]); err != nil {
				b.Fatal(err)
			}
			var seq, conflicts atomic.Int64
			b.SetParallelism(32) // 32 × GOMAXPROCS goroutines
			b.ResetTimer()
			var mu sync.Mutex
			var lat []time.Duration
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(uint64(seq.Add(1)), 7))
				var mine []time.Duration
				defer func() {
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
				for pb.Next() {
					start := time.Now()
					u := users[rng.IntN(len(users))]
					for {
						cur, err := s.User(ctx, u.ID)
						if err != nil {
							b.Fatal(err)
						}
						cur.FirstName = fmt.Sprint("n", seq.Add(1))
						ev := usermgmt.AuditEvent{ID: fmt.Sprintf("bench-%d", seq.Add(1)), At: at, ActorID: usermgmt.System,
							Action: usermgmt.ActionProfileChange, UserID: u.ID, AccountID: a.ID}
						err = s.UpdateUser(ctx, usermgmt.UserUpdate{User: cur, Event: ev})
						if errors.Is(err, usermgmt.ErrConflict) {
							conflicts.Add(1)
							continue
						}
						if err != nil {
							b.Fatal(err)
						}
						break
					}
					r, _, err := s.ReserveAttempt(ctx, u.ID, 1<<30)
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := s.RecordLogin(ctx, usermgmt.Login{UserID: u.ID, At: at, VerifiedHash: r.PasswordHash}); err != nil {
						b.Fatal(err)
					}
					mine = append(mine, time.Since(start))
				}
			})
			b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/op")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		}
	}
}
