package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// Every application instance opens its own client onto the shared Redis
// and a Store with the same prefix; their Managers then share users,
// lockout counters and history.
func ExampleNew() {
	// ContextTimeoutEnabled makes every call end at its context's deadline,
	// even when Redis stalls; New requires it.
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.Options{Prefix: "myapp:users:"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := usermgmt.New(store)
	if err != nil {
		log.Fatal(err)
	}
	u, err := m.Authenticate(context.Background(), "ada@example.com", "her passphrase")
	fmt.Println(u.Email, err)
}
