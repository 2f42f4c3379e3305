package redisstore_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// Benchmarks run against the test server (a throwaway redis-server unless
// USERMGMT_TEST_REDIS_URL is set). Each dataset (200,000 users for lookups
// and pages, 1,000,000 for the sweep; USERMGMT_BENCH_REDIS_USERS and
// USERMGMT_BENCH_SWEEP_USERS) is loaded once per server, under a prefix of
// its own.

func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, newStore(b)) }

var (
	dataOnce  sync.Once
	dataStore *redisstore.Store
	data      storebench.Dataset
)

// dataset is the 200,000 users (USERMGMT_BENCH_REDIS_USERS) that lookups
// and pages read, loaded once per server.
func dataset(b *testing.B) (*redisstore.Store, storebench.Dataset) {
	dataOnce.Do(func() {
		dataStore, data = load(b, storebench.Size("USERMGMT_BENCH_REDIS_USERS", 200_000))
	})
	if dataStore == nil {
		b.Fatal("the dataset failed to load")
	}
	return dataStore, data
}

// load writes a dataset of n users under a prefix of its own on the test
// server (or finds it there).
func load(b *testing.B, n int) (*redisstore.Store, storebench.Dataset) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	// A client of its own: the dataset outlives the benchmark that loads it.
	s, err := redisstore.New(redis.NewClient(serverOptions), redisstore.Options{Prefix: "usermgmt-bench:" + strconv.Itoa(n) + ":"})
	if err != nil {
		b.Fatal(err)
	}
	d := storebench.NewDataset(n)
	d.Load(b, s)
	return s, d
}

// BenchmarkLookup reads users by ID and by email beside a bare go-redis
// HGETALL of the same user's hash; raw_get_then_hgetall is what a
// hand-written email lookup costs without a script (two round trips).
func BenchmarkLookup(b *testing.B) {
	s, d := dataset(b)
	rdb, p := s.Client(), s.Prefix()
	hgetall := func(ctx context.Context, u usermgmt.UserRecord) error {
		return rdb.HGetAll(ctx, p+"u:"+u.ID).Err()
	}
	storebench.Lookup(b, s, d, hgetall, hgetall)
	b.Run("by_email/raw_get_then_hgetall", func(b *testing.B) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			u := d.Users[i%len(d.Users)]
			i += 7919
			id, err := rdb.Get(ctx, p+"email:"+u.Email).Result()
			if err != nil {
				b.Fatal(err)
			}
			if err := rdb.HGetAll(ctx, p+"u:"+id).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPages(b *testing.B) {
	s, d := dataset(b)
	storebench.Pages(b, s, d)
}

// BenchmarkSweep sweeps 1,000,000 users (USERMGMT_BENCH_SWEEP_USERS), the
// size the sweep is held to, in a dataset of their own.
func BenchmarkSweep(b *testing.B) {
	s, d := load(b, storebench.Size("USERMGMT_BENCH_SWEEP_USERS", 1_000_000))
	storebench.Sweep(b, s, d, nil)
}

// BenchmarkConcurrentLogins runs logins of many users at once on several
// Managers sharing the store.
func BenchmarkConcurrentLogins(b *testing.B) { storebench.ConcurrentLogins(b, newStore(b)) }

// BenchmarkCanOn checks permissions: UserAccess (one round trip) and the
// group cache.
func BenchmarkCanOn(b *testing.B) { storebench.CanOn(b, newStore(b)) }
