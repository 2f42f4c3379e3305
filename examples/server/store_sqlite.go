package main

import (
	"context"
	"fmt"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
)

// openSQLite opens the SQLite store at path, creating the file and its
// tables on first use.
func openSQLite(ctx context.Context, path string) (usermgmt.Store, func() error, error) {
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening SQLite file %s: %w", path, err)
	}
	return s, s.Close, nil
}
