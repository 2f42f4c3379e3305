//go:build unix

package redisstore_test

import (
	"context"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt/store/redisstore"
)

// TestServerStallsMidRun freezes redis-server (SIGSTOP: a server that
// keeps its connections open and answers nothing, as behind a network
// partition or during a long fork) while Managers write. Every operation
// must end by its context's deadline with an error, none may succeed while
// the server is frozen, and after the server resumes operations succeed
// again on the same client and the data is whole: every change with its
// event, every index agreeing with the users.
func TestServerStallsMidRun(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("this test starts its own redis-server: " + enableHint)
	}
	srv, err := startServer(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	c := redis.NewClient(&redis.Options{Addr: srv.addr, ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.Options{Prefix: "stall:"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s, 40)

	const timeout = 300 * time.Millisecond
	// Scheduling slack under -race on a busy machine; without ContextTimeoutEnabled
	// an operation took 5 s here.
	const slack = 700 * time.Millisecond
	type result struct {
		began, ended time.Time
		err          error
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	runFor := func(d time.Duration) {
		stopAt := time.Now().Add(d)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; time.Now().Before(stopAt); i += 8 {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					began := time.Now()
					err := f.op(ctx, i)
					r := result{began, time.Now(), err}
					cancel()
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}
			}()
		}
	}

	runFor(2500 * time.Millisecond)
	time.Sleep(700 * time.Millisecond)
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozeAt := time.Now()
	time.Sleep(1200 * time.Millisecond)
	thawedAt := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	var before, during, after, failedDuring int
	for _, r := range results {
		if took := r.ended.Sub(r.began); took > timeout+slack {
			t.Errorf("an operation took %v, past its %v deadline", took, timeout)
		}
		switch {
		case r.ended.Before(frozeAt):
			before++
			if r.err != nil {
				t.Errorf("operation failed before the server froze: %v", r.err)
			}
		case r.began.After(frozeAt) && r.ended.Before(thawedAt):
			during++
			if r.err == nil {
				t.Errorf("an operation succeeded while the server was frozen")
			} else {
				failedDuring++
			}
		case r.began.After(thawedAt):
			after++
		}
	}
	t.Logf("%d operations before the freeze, %d during it (%d failed), %d after", before, during, failedDuring, after)
	if during == 0 || before == 0 {
		t.Fatal("the run did not straddle the freeze: the test proved nothing")
	}

	// The same client recovers once the server answers again.
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f.op(ctx, 1_000_000+i) // past any index the timed run reached
		cancel()
		if err != nil {
			t.Fatalf("operation after the server resumed: %v", err)
		}
	}
	checkConsistent(t, c, "stall:")
	checkLayout(t, c, "stall:")
}
