package usermgmt_test

import (
	"context"
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
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Panics",
		Admin: usermgmt.NewUser{Email: "panic@example.com", FirstName: "P", LastName: "R", Password: fixture.Password}})
	require.NoError(t, err)
	require.PanicsWithValue(t, "store broke", func() { _, _ = m.Authenticate(ctx, c.User.Email, fixture.Password) })
	s := m.Stats()
	require.Equal(t, int64(0), s.HashesInFlight)
	require.Equal(t, uint64(1), s.DummyVerifications, "the verification beside the failed reservation")
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = m.Authenticate(wait, c.User.Email, fixture.Password)
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Stats().PasswordVerifications)
}
