package usermgmt_test

import (
	"context"
	"errors"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

var cheap = usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func newManager(t testing.TB, opts ...usermgmt.Option) *usermgmt.Manager {
	t.Helper()
	m, err := usermgmt.New(memstore.New(), append([]usermgmt.Option{usermgmt.WithHashParams(cheap)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDefaultHashParamsAreOWASP(t *testing.T) {
	p := usermgmt.DefaultHashParams()
	if p.Memory != 19*1024 || p.Iterations != 2 || p.Parallelism != 1 || p.SaltLength < 16 || p.KeyLength < 32 {
		t.Fatalf("DefaultHashParams = %+v", p)
	}
}

func TestHashIsPHCAndVerifies(t *testing.T) {
	m := newManager(t)
	h := usermgmt.HashForTest(m, "a fine long passphrase")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || len(strings.Split(h, "$")) != 6 {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	if h2 := usermgmt.HashForTest(m, "a fine long passphrase"); h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	ok, stale, err := usermgmt.Verify(m, "a fine long passphrase", h)
	if err != nil || !ok || stale {
		t.Fatalf("verify right password: ok=%v stale=%v err=%v", ok, stale, err)
	}
	ok, _, err = usermgmt.Verify(m, "a fine long passphrasE", h)
	if err != nil || ok {
		t.Fatalf("verify wrong password: ok=%v err=%v", ok, err)
	}
	other := newManager(t, usermgmt.WithHashParams(usermgmt.HashParams{Memory: 128, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	ok, stale, err = usermgmt.Verify(other, "a fine long passphrase", h)
	if err != nil || !ok || !stale {
		t.Fatalf("verify with other parameters: ok=%v stale=%v err=%v", ok, stale, err)
	}
}

func TestMalformedHashesRefused(t *testing.T) {
	m := newManager(t)
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", // 95 GiB: refused, not computed
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if _, _, err := usermgmt.Verify(m, "x", h); err == nil {
			t.Errorf("Verify accepted %q", h)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := usermgmt.DefaultPolicy().Password
	for _, c := range []struct {
		pw, email string
		ok        bool
	}{
		{"correct horse battery staple", "ann@example.com", true},
		{"short", "ann@example.com", false},
		{"elevenchars", "ann@example.com", false},
		{"twelve chars", "ann@example.com", true},
		{strings.Repeat("x", 128) + "y", "ann@example.com", false},
		{"Password123!", "ann@example.com", false},
		{"qwertyuiop1234", "ann@example.com", false},
		{"123456789012", "ann@example.com", false},
		{"my email is ann.lee@example.com", "ann.lee@example.com", false},
		{"ANN.LEE is my name ok", "ann.lee@example.com", false},
		{"ünïcödé pässwörd", "ann@example.com", true},
	} {
		err := p.Check(c.pw, c.email)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", c.pw, err, c.ok)
		}
		if err != nil {
			var pe *usermgmt.PasswordError
			if !errors.Is(err, usermgmt.ErrWeakPassword) || !errors.As(err, &pe) || len(pe.Reasons) == 0 {
				t.Errorf("Check(%q) = %v, want a PasswordError with reasons", c.pw, err)
			}
		}
	}
	if d := p.Describe(); !strings.Contains(d, "12") || !strings.Contains(d, "128") {
		t.Errorf("Describe = %q", d)
	}
	if err := (usermgmt.PasswordPolicy{AllowCommon: true}).Check("password1234", ""); err != nil {
		t.Errorf("AllowCommon still refused a common password: %v", err)
	}
}

func TestPolicyValidated(t *testing.T) {
	for _, opt := range []usermgmt.Option{
		usermgmt.WithPolicy(usermgmt.Policy{Password: usermgmt.PasswordPolicy{MaxLength: 32}}),
		usermgmt.WithPolicy(usermgmt.Policy{MaxFailedAttempts: -1}),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 1, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}),
		usermgmt.WithMaxConcurrentHashes(-2),
	} {
		if _, err := usermgmt.New(memstore.New(), opt); !errors.Is(err, usermgmt.ErrInvalidInput) {
			t.Errorf("New with a bad option: %v, want ErrInvalidInput", err)
		}
	}
	p := newManager(t).Policy()
	if p.MaxFailedAttempts != 10 || p.InvitationTTL != 168*time.Hour || p.InactiveAfterMonths != 3 ||
		p.Password.MinLength != 12 || p.Password.MaxLength < 64 || len(p.DisposableDomains) == 0 {
		t.Fatalf("default policy = %+v", p)
	}
}

// TestLoginFloodIsBounded fires 1,000 concurrent logins at a Manager whose
// hash concurrency is bounded to 2: no more than 2 hashes may ever run at
// once, so the heap never holds more than about 2 hash buffers.
func TestLoginFloodIsBounded(t *testing.T) {
	const bound, flood = 2, 1000
	params := usermgmt.HashParams{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32} // 1 MiB each
	m := newManager(t, usermgmt.WithHashParams(params), usermgmt.WithMaxConcurrentHashes(bound))
	ctx := context.Background()
	a, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Flood",
		Admin: usermgmt.NewUser{Email: "flood@example.com", FirstName: "F", LastName: "L", Password: "correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = a
	var peakHeap atomic.Uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < flood; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = m.Authenticate(ctx, c.User.Email, "correct horse battery staple")
			} else {
				_, err = m.Authenticate(ctx, "nobody@example.com", "whatever it is")
				if errors.Is(err, usermgmt.ErrInvalidCredentials) {
					err = nil
				}
			}
			if err != nil {
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(done)
	sampler.Wait()
	st := m.Stats()
	if st.PeakHashesInFlight > bound {
		t.Fatalf("%d hashes ran at once, bound is %d", st.PeakHashesInFlight, bound)
	}
	if st.PasswordVerifications < flood {
		t.Fatalf("%d verifications for %d logins", st.PasswordVerifications, flood)
	}
	// 1,000 unbounded 1 MiB hashes would need about 1 GiB at once.
	if grew := int64(peakHeap.Load()) - int64(base); grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB during the flood", grew>>20)
	}
	t.Logf("peak hashes in flight %d, heap growth %d KiB", st.PeakHashesInFlight, (int64(peakHeap.Load())-int64(base))>>10)
}

// TestWaitingForHashHonoursContext: a caller queued behind busy hash slots
// gives up when its context ends, without spending a password attempt.
func TestWaitingForHashHonoursContext(t *testing.T) {
	m := newManager(t, usermgmt.WithMaxConcurrentHashes(1))
	ctx := context.Background()
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Busy",
		Admin: usermgmt.NewUser{Email: "busy@example.com", FirstName: "B", LastName: "Y", Password: "correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}
	release := usermgmt.HoldHashSlots(m, 1)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = m.Authenticate(short, c.User.Email, "wrong password here")
	release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Authenticate while slots are busy: %v, want DeadlineExceeded", err)
	}
	u, err := m.User(ctx, c.User.ID, c.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.FailedAttempts != 0 {
		t.Fatalf("a login that never ran spent an attempt: FailedAttempts %d", u.FailedAttempts)
	}
}
