package usermgmt_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// panicOnReserve panics in its first ReserveAttempt, as a broken store
// might.
type panicOnReserve struct {
	usermgmt.Store
	once *sync.Once
}

func (s panicOnReserve) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	s.once.Do(func() { panic("store broke") })
	return s.Store.ReserveAttempt(ctx, r)
}

// The first reservation of a login runs on a goroutine of its own beside
// the verification: a panic there reaches Authenticate's caller, after the
// verification has ended, and frees the hash slot, so the next login
// (one slot in all) is not stuck behind it.
func TestReservePanicReachesTheCaller(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	m, err := usermgmt.New(panicOnReserve{Store: store, once: new(sync.Once)},
		usermgmt.WithHashParams(fixture.FastHash), usermgmt.WithMaxConcurrentHashes(1))
	require.NoError(t, err)
	admin, err := fixture.Admin(ctx, m, "panic@example.com")
	require.NoError(t, err)
	require.PanicsWithValue(t, "store broke", func() { _, _ = m.Authenticate(ctx, admin.Email, fixture.Password) })
	s := m.Stats()
	require.Equal(t, int64(0), s.HashesInFlight)
	require.Equal(t, uint64(1), s.DummyVerifications, "the verification beside the failed reservation")
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = m.Authenticate(wait, admin.Email, fixture.Password)
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Stats().PasswordVerifications)
}

// nbsp types a candidate so that NormalizePassword (PRECIS OpaqueString
// maps non-ASCII spaces to U+0020) changes it: the hasher then tries the
// normalised form and, only when that fails, the typed form too.
func nbsp(p string) string { return strings.ReplaceAll(p, " ", "\u00a0") }

// oracleEnv makes a user whose every attempt slot is held by attempts in
// flight (an attacker's own concurrent guesses, here reserved directly), so
// that every further login is refused a slot on its first reservation and
// must not learn anything about its password.
func oracleEnv(t *testing.T, hp usermgmt.HashParams) (*usermgmt.Manager, string) {
	t.Helper()
	ctx := context.Background()
	store := memstore.New()
	m, err := usermgmt.New(store, usermgmt.WithHashParams(hp),
		usermgmt.WithPolicy(usermgmt.Policy{AttemptWait: 5 * time.Millisecond, AttemptLease: time.Hour}))
	require.NoError(t, err)
	admin, err := fixture.Admin(ctx, m, "oracle@example.com")
	require.NoError(t, err)
	now := time.Now()
	for i := range m.Policy().MaxFailedAttempts {
		_, res, err := store.ReserveAttempt(ctx, usermgmt.AttemptReservation{UserID: admin.ID, Limit: m.Policy().MaxFailedAttempts,
			Now: now, Lease: usermgmt.AttemptLease{ID: "held-" + string(rune('a'+i)), Until: now.Add(time.Hour)}})
		require.NoError(t, err)
		require.Equal(t, usermgmt.ReserveOK, res)
	}
	return m, admin.Email
}

// A login refused a slot must spend the same verification work whatever its
// password: its verdict is to be discarded unseen (DESIGN.md, lockout.go).
// The verification beside the first reservation runs against the real hash
// and stops after one argon2id pass when the normalised form matches, two
// when it does not, so a refused guess's cost (and Stats) tells right from
// wrong, beyond MaxFailedAttempts and without counting a failure.
func TestRefusedAttemptCostDoesNotRevealVerdict(t *testing.T) {
	m, email := oracleEnv(t, fixture.FastHash)
	cost := func(password string) uint64 {
		before := m.Stats()
		_, err := m.Authenticate(context.Background(), email, password)
		require.ErrorIs(t, err, usermgmt.ErrAttemptsInFlight)
		after := m.Stats()
		require.Equal(t, before.PasswordVerifications, after.PasswordVerifications, "no verdict used")
		return after.DummyVerifications - before.DummyVerifications
	}
	right := cost(nbsp(fixture.Password))
	wrong := cost(nbsp("correct horse battery stapler"))
	require.Equal(t, wrong, right, "argon2id passes spent on a refused attempt: right password %d, wrong %d", right, wrong)
}

// exitOnReserve ends its goroutine in its first ReserveAttempt without
// returning, as a test double calling t.FailNow would.
type exitOnReserve struct {
	usermgmt.Store
	once *sync.Once
}

func (s exitOnReserve) ReserveAttempt(ctx context.Context, r usermgmt.AttemptReservation) (usermgmt.UserRecord, usermgmt.ReserveResult, error) {
	s.once.Do(runtime.Goexit)
	return s.Store.ReserveAttempt(ctx, r)
}

// A reservation that never answered is an error, not ReserveOK: no verdict
// is used, no outcome written, and the slot is free for the next login.
func TestReserveWithoutAnswerIsAnError(t *testing.T) {
	ctx := context.Background()
	m, err := usermgmt.New(exitOnReserve{Store: memstore.New(), once: new(sync.Once)},
		usermgmt.WithHashParams(fixture.FastHash), usermgmt.WithMaxConcurrentHashes(1))
	require.NoError(t, err)
	admin, err := fixture.Admin(ctx, m, "exit@example.com")
	require.NoError(t, err)
	_, err = m.Authenticate(ctx, admin.Email, fixture.Password)
	require.ErrorIs(t, err, usermgmt.ErrStore)
	require.ErrorContains(t, err, "exited without returning")
	require.Equal(t, uint64(0), m.Stats().PasswordVerifications)
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = m.Authenticate(wait, admin.Email, fixture.Password)
	require.NoError(t, err)
}
