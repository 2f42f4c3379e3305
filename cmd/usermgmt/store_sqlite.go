//go:build !nosqlite

package main

import (
	"context"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// openSQLite opens (creating and migrating it on first use) the SQLite file.
func openSQLite(ctx context.Context, path string) (usermgmt.Store, func(), error) {
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

// withSQLite reports whether this build has the SQLite store.
const withSQLite = true
