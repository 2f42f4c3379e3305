package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/pgstore"
	"github.com/usermgmt/usermgmt/store/redisstore"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// openStore opens the store the flags name: Redis with -redis, PostgreSQL
// with -postgres, otherwise the SQLite file -db. close releases it.
func (a *app) openStore(ctx context.Context) (s usermgmt.Store, closeFn func(), err error) {
	switch {
	case a.redisURL != "" && a.pgDSN != "":
		return nil, nil, usageError("give -redis or -postgres, not both")
	case a.redisURL != "":
		opts, err := redis.ParseURL(a.redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("-redis: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		c := redis.NewClient(opts)
		if err := c.Ping(ctx).Err(); err != nil {
			_ = c.Close()
			return nil, nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
		}
		s, err := redisstore.New(c, redisstore.Options{Prefix: a.redisPrefix})
		if err != nil {
			_ = c.Close()
			return nil, nil, err
		}
		return s, func() { _ = c.Close() }, nil
	case a.pgDSN != "":
		s, err := pgstore.Open(ctx, a.pgDSN)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	}
	if a.dbPath == "" {
		return nil, nil, errors.New("-db: no SQLite file given")
	}
	db, err := sqlitestore.Open(ctx, a.dbPath) // created and migrated on first use
	if err != nil {
		return nil, nil, err
	}
	return db, func() { _ = db.Close() }, nil
}
