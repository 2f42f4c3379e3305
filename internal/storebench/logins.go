package storebench

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"golang.org/x/crypto/argon2"
)

// ConcurrentLogins benchmarks right-password logins of many distinct users
// at once, through one Manager with the default hash bound (GOMAXPROCS
// slots) and four goroutines per slot. The lockout's reservations must not
// serialise the logins of different users, so the rate should come close
// to the ideal: slots ÷ the time of one bare argon2id verification,
// measured in the same run. It reports logins/s, ideal-logins/s and
// "ratio" (achieved ÷ ideal; the target is at least 0.9).
//
// The ideal assumes the machine runs slots verifications at once as fast
// as one alone; where its CPUs share a core or memory bandwidth (argon2id
// is memory-hard) it cannot, whatever the library does. So each round also
// runs the same number of bare verifications on slots goroutines, with no
// store and no Manager, and the benchmark reports that rate
// (parallel-verifications/s) and the logins' rate against it
// ("ratio-vs-parallel"): what the library itself costs.
func ConcurrentLogins(b *testing.B, s usermgmt.Store) {
	ctx := context.Background()
	m, err := usermgmt.New(s)
	if err != nil {
		b.Fatal(err)
	}
	const users = 64
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Logins",
		Admin: usermgmt.NewUser{Email: "logins-admin@bench.example", FirstName: "L", LastName: "A", Password: Password}})
	if err != nil {
		b.Fatal(err)
	}
	emails := make([]string, users)
	for i := range emails {
		emails[i] = fmt.Sprintf("login%03d@bench.example", i)
		if _, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: emails[i], FirstName: "L", LastName: "U", Password: Password}); err != nil {
			b.Fatal(err)
		}
	}
	slots := runtime.GOMAXPROCS(0)
	p := usermgmt.DefaultHashParams()
	salt := make([]byte, p.SaltLength)
	_, _ = rand.Read(salt)
	verify := func() { argon2.IDKey([]byte(Password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength) }
	var logins atomic.Int64
	var loginTime, verifyTime, parallelTime time.Duration
	parallelN := 0
	for b.Loop() {
		// One bare verification, alone: the cost of a slot's work.
		t0 := time.Now()
		verify()
		verifyTime += time.Since(t0)
		// As many bare verifications as the round has logins, slots at once.
		t0 = time.Now()
		var pw sync.WaitGroup
		for g := 0; g < slots; g++ {
			pw.Add(1)
			go func() {
				defer pw.Done()
				for k := g; k < users; k += slots {
					verify()
				}
			}()
		}
		pw.Wait()
		parallelTime += time.Since(t0)
		parallelN += users
		// A round of concurrent logins: every user logs in four times per slot.
		t0 = time.Now()
		var wg sync.WaitGroup
		for g := 0; g < 4*slots; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := g; k < users; k += 4 * slots {
					if _, err := m.Authenticate(ctx, emails[k], Password); err != nil {
						b.Error(err)
						return
					}
					logins.Add(1)
				}
			}()
		}
		wg.Wait()
		loginTime += time.Since(t0)
	}
	rate := float64(logins.Load()) / loginTime.Seconds()
	ideal := float64(slots) / (verifyTime.Seconds() / float64(b.N))
	b.ReportMetric(rate, "logins/s")
	b.ReportMetric(ideal, "ideal-logins/s")
	b.ReportMetric(rate/ideal, "ratio")
	parallel := float64(parallelN) / parallelTime.Seconds()
	b.ReportMetric(parallel, "parallel-verifications/s")
	b.ReportMetric(rate/parallel, "ratio-vs-parallel")
}
