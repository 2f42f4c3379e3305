package memstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, memstore.New()) }

var (
	dataOnce  sync.Once
	dataStore *memstore.Store
	data      storebench.Dataset
)

// dataset is 200,000 users (USERMGMT_BENCH_MEM_USERS), built once per run.
func dataset(b *testing.B) (*memstore.Store, storebench.Dataset) {
	dataOnce.Do(func() {
		data = storebench.NewDataset(storebench.Size("USERMGMT_BENCH_MEM_USERS", 200_000))
		dataStore = memstore.New()
		data.Load(b, dataStore)
	})
	return dataStore, data
}

// sink receives the baseline's users, as a caller would: a lookup returns
// the user, and the library's does.
var sink usermgmt.UserRecord

// BenchmarkLookup reads users beside a bare map lookup under a read lock
// that hands the user back, which is what a hand-written in-memory store
// would do.
func BenchmarkLookup(b *testing.B) {
	s, d := dataset(b)
	var mu sync.RWMutex
	byID := make(map[string]usermgmt.UserRecord, len(d.Users))
	byEmail := make(map[string]string, len(d.Users))
	for _, u := range d.Users {
		byID[u.ID], byEmail[u.Email] = u, u.ID
	}
	errMissing := errors.New("missing")
	storebench.Lookup(b, s, d,
		func(_ context.Context, u usermgmt.UserRecord) error {
			mu.RLock()
			defer mu.RUnlock()
			found, ok := byID[u.ID]
			if !ok {
				return errMissing
			}
			sink = found
			return nil
		},
		func(_ context.Context, u usermgmt.UserRecord) error {
			mu.RLock()
			defer mu.RUnlock()
			found, ok := byID[byEmail[u.Email]]
			if !ok {
				return errMissing
			}
			sink = found
			return nil
		})
}

func BenchmarkPages(b *testing.B) {
	s, d := dataset(b)
	storebench.Pages(b, s, d)
}

// BenchmarkSweep sweeps a store of its own: 1,000,000 users
// (USERMGMT_BENCH_SWEEP_USERS), the size the sweep is held to.
func BenchmarkSweep(b *testing.B) {
	sweepOnce.Do(func() {
		sweepData = storebench.NewDataset(storebench.Size("USERMGMT_BENCH_SWEEP_USERS", 1_000_000))
		sweepStore = memstore.New()
		sweepData.Load(b, sweepStore)
	})
	storebench.Sweep(b, sweepStore, sweepData, nil)
}

var (
	sweepOnce  sync.Once
	sweepStore *memstore.Store
	sweepData  storebench.Dataset
)

func BenchmarkConcurrentLogins(b *testing.B) { storebench.ConcurrentLogins(b, memstore.New()) }

func BenchmarkCanOn(b *testing.B) { storebench.CanOn(b, memstore.New()) }
