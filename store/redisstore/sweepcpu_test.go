//go:build unix

package redisstore_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// BenchmarkSweepCPU is BenchmarkSweep measured in CPU time as well: on a
// machine shared with other work the wall time of a sweep says as much
// about the neighbours as about the sweep, while the CPU time that this
// process and redis-server spend per idle user (getrusage, INFO cpu) does
// not depend on how the two are scheduled. On an idle machine the sweep's
// wall time comes close to their sum: Go and Redis take turns. It reports
// ns/idle-user (wall), go-cpu-ns/idle-user, redis-cpu-ns/idle-user and
// cpu-ns/idle-user (their sum), over the same dataset as BenchmarkSweep,
// with 10 % of the users idle. Run it with -benchtime 1x against a server
// of the test's own (redis-server must be local for its CPU to count).
func BenchmarkSweepCPU(b *testing.B) {
	s, d := load(b, storebench.Size("USERMGMT_BENCH_SWEEP_USERS", 1_000_000))
	m, clock := storebench.Manager(b, s)
	ctx := context.Background()
	var wall, goCPU, redisCPU time.Duration
	idle := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		since := clock.Now().AddDate(0, -4, 0)
		want := 0
		for j := 10; j < len(d.Users); j += 10 {
			idleAgain(b, s, d.Users[j].ID, since)
			want++
		}
		runtime.GC()
		r0, g0 := serverCPU(b, s), processCPU()
		b.StartTimer()
		t0 := time.Now()
		res, err := m.Sweep(ctx)
		wall += time.Since(t0)
		b.StopTimer()
		goCPU += processCPU() - g0
		redisCPU += serverCPU(b, s) - r0
		if err != nil || res.Inactive != want {
			b.Fatalf("swept %+v, %v; want %d inactive", res, err, want)
		}
		idle += want
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(idle) }
	b.ReportMetric(per(wall), "ns/idle-user")
	b.ReportMetric(per(goCPU), "go-cpu-ns/idle-user")
	b.ReportMetric(per(redisCPU), "redis-cpu-ns/idle-user")
	b.ReportMetric(per(goCPU+redisCPU), "cpu-ns/idle-user")
}

// idleAgain makes a user Active and idle since the given time through an
// ordinary versioned write with its event (as storebench.Sweep does).
func idleAgain(b *testing.B, s *redisstore.Store, id string, since time.Time) {
	ctx := context.Background()
	u, err := s.User(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	u.Status, u.LastActiveAt, u.UpdatedAt = usermgmt.StatusActive, since, since
	ev := usermgmt.AuditEvent{ID: uuid.Must(uuid.NewV7()).String(), At: since, ActorID: usermgmt.System, Action: usermgmt.ActionReactivate,
		UserID: u.ID, AccountID: u.AccountID, Changes: []usermgmt.Change{{Field: "status", New: string(usermgmt.StatusActive)}}}
	if err := s.UpdateUser(ctx, usermgmt.UserUpdate{User: u, Event: ev}); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time redis-server has used (INFO cpu).
func serverCPU(b *testing.B, s *redisstore.Store) time.Duration {
	info, err := s.Client().Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
