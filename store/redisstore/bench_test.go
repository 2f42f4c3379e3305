package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
	"github.com/usermgmt/usermgmt/store/storebench"
)

func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, newStore(b)) }

// benchUsers is the size of the lookup dataset: 200,000 unless
// USERMGMT_BENCH_REDIS_USERS says otherwise.
func benchUsers() int {
	if n, err := strconv.Atoi(os.Getenv("USERMGMT_BENCH_REDIS_USERS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

var (
	lookupOnce  sync.Once
	lookupStore *redisstore.Store
	lookupUsers []usermgmt.User
)

// lookupData loads the lookup dataset once per test binary, under its own
// prefix, through the store's own batch writes.
func lookupData(b *testing.B) (*redisstore.Store, []usermgmt.User) {
	lookupOnce.Do(func() {
		s, err := redisstore.New(client(b), redisstore.Options{Prefix: "usermgmt-bench:" + strconv.Itoa(benchUsers()) + ":"})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		acct := usermgmt.Account{ID: "01900000-0000-7000-8000-000000000001", Name: "Bench", CreatedAt: now}
		n := benchUsers()
		users := make([]usermgmt.User, n)
		for i := range users {
			users[i] = usermgmt.User{ID: fmt.Sprintf("01900000-0000-7000-8000-%012d", i+2), AccountID: acct.ID,
				Email: fmt.Sprintf("user%07d@bench.example", i), FirstName: "First" + strconv.Itoa(i), LastName: "Last",
				Role: usermgmt.RoleGeneral, Status: usermgmt.StatusActive, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
				CreatedAt: now, UpdatedAt: now, ActivatedAt: now, LastActiveAt: now, Version: 1}
		}
		if _, err := s.User(ctx, users[n-1].ID); err != nil { // not cached yet
			admin := users[0]
			admin.Role = usermgmt.RoleAdmin
			if err := s.CreateAccount(ctx, acct, admin, event(admin)); err != nil {
				b.Fatal(err)
			}
			for start := 1; start < n; start += 500 {
				batch := users[start:min(start+500, n)]
				evs := make([]usermgmt.AuditEvent, len(batch))
				for i, u := range batch {
					evs[i] = event(u)
				}
				if err := s.CreateUsers(ctx, batch, evs); err != nil {
					b.Fatal(err)
				}
			}
		}
		lookupStore, lookupUsers = s, users
	})
	if lookupStore == nil {
		b.Fatal("lookup dataset failed to load")
	}
	return lookupStore, lookupUsers
}

func event(u usermgmt.User) usermgmt.AuditEvent {
	return usermgmt.AuditEvent{ID: "e" + u.ID, At: u.CreatedAt, ActorID: usermgmt.System, Action: usermgmt.ActionCreate,
		UserID: u.ID, AccountID: u.AccountID, Changes: []usermgmt.Change{{Field: "status", New: string(u.Status)}}}
}

// BenchmarkLookup reads random users of a 200,000-user store by ID and by
// email, beside a bare go-redis HGETALL of the same user's hash.
func BenchmarkLookup(b *testing.B) {
	s, users := lookupData(b)
	ctx := context.Background()
	rdb := s.Client()
	b.Run("baseline_hgetall", func(b *testing.B) {
		for b.Loop() {
			u := users[rand.IntN(len(users))]
			if f, err := rdb.HGetAll(ctx, s.Prefix()+"u:"+u.ID).Result(); err != nil || len(f) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("by_id", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.User(ctx, users[rand.IntN(len(users))].ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("by_email", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UserByEmail(ctx, users[rand.IntN(len(users))].Email); err != nil {
				b.Fatal(err)
			}
		}
	})
}
