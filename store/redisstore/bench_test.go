package redisstore_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
	"github.com/usermgmt/usermgmt/store/storebench"
)

// Benchmarks run against the test server (a throwaway redis-server unless
// USERMGMT_TEST_REDIS_URL is set). The dataset (200,000 users unless
// USERMGMT_BENCH_REDIS_USERS says otherwise) is loaded once per server,
// under its own prefix.

func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, newStore(b)) }

var (
	dataOnce  sync.Once
	dataStore *redisstore.Store
	data      storebench.Dataset
)

func dataset(b *testing.B) (*redisstore.Store, storebench.Dataset) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	dataOnce.Do(func() {
		n := storebench.Size("USERMGMT_BENCH_REDIS_USERS", 200_000)
		// A client of its own: the dataset outlives the benchmark that loads it.
		s, err := redisstore.New(redis.NewClient(serverOptions), redisstore.Options{Prefix: "usermgmt-bench:" + strconv.Itoa(n) + ":"})
		if err != nil {
			b.Fatal(err)
		}
		d := storebench.NewDataset(n)
		d.Load(b, s)
		dataStore, data = s, d
	})
	if dataStore == nil {
		b.Fatal("the dataset failed to load")
	}
	return dataStore, data
}

// BenchmarkLookup reads users by ID and by email beside a bare go-redis
// HGETALL of the same user's hash; raw_get_then_hgetall is what a
// hand-written email lookup costs without a script (two round trips).
func BenchmarkLookup(b *testing.B) {
	s, d := dataset(b)
	rdb, p := s.Client(), s.Prefix()
	hgetall := func(ctx context.Context, u usermgmt.User) error {
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

func BenchmarkSweep(b *testing.B) {
	s, d := dataset(b)
	storebench.Sweep(b, s, d)
}
