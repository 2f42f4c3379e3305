//go:build nosqlite

package main

import (
	"context"
	"errors"

	"github.com/usermgmt/usermgmt"
)

// openSQLite refuses: this binary was built with -tags nosqlite, without
// the SQLite driver (a smaller binary for Redis or PostgreSQL only).
func openSQLite(context.Context, string) (usermgmt.Store, func(), error) {
	return nil, nil, errors.New("this usermgmt was built without SQLite (-tags nosqlite): give -redis URL or -postgres DSN")
}

// withSQLite reports whether this build has the SQLite store.
const withSQLite = false
