package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/pgstore"
	"github.com/usermgmt/usermgmt/store/redisstore"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// openStore opens the store c selects: PostgreSQL (-postgres), Redis
// (-redis) or, by default, the SQLite file -db, created and migrated on
// first use. The returned function closes it.
func openStore(ctx context.Context, c config) (usermgmt.Store, func() error, error) {
	switch {
	case c.Postgres != "":
		s, err := pgstore.Open(ctx, c.Postgres)
		if err != nil {
			return nil, nil, fmt.Errorf("opening PostgreSQL: %w", err)
		}
		return s, func() error { s.Close(); return nil }, nil
	case c.Redis != "":
		opts, err := redis.ParseURL(c.Redis)
		if err != nil {
			return nil, nil, fmt.Errorf("-redis: %w", err)
		}
		// redisstore needs context deadlines honoured by the client.
		opts.ContextTimeoutEnabled = true
		rdb := redis.NewClient(opts)
		if err := rdb.Ping(ctx).Err(); err != nil {
			_ = rdb.Close()
			return nil, nil, fmt.Errorf("reaching Redis at %s: %w", opts.Addr, err)
		}
		s, err := redisstore.New(rdb, redisstore.Options{Prefix: c.RedisPrefix})
		if err != nil {
			_ = rdb.Close()
			return nil, nil, err
		}
		return s, rdb.Close, nil
	}
	s, err := sqlitestore.Open(ctx, c.DB)
	if err != nil {
		return nil, nil, fmt.Errorf("opening SQLite file %s: %w", c.DB, err)
	}
	return s, s.Close, nil
}
