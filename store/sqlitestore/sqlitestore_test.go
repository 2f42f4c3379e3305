package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// open opens a Store on path and closes it when the test ends.
func open(t testing.TB, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestConformance runs the shared suite on a fresh file per subtest; the
// cross-Manager cases get handles of their own on the same file, each with
// its own connection pools, as separate processes would have.
func TestConformance(t *testing.T) {
	var opts []storetest.Option
	opts = append(opts, storetest.Reopen(func(t *testing.T, s usermgmt.Store) usermgmt.Store {
		return open(t, s.(*sqlitestore.Store).Path())
	}))
	if testing.Short() {
		opts = append(opts, storetest.Short())
	}
	storetest.Run(t, func(t *testing.T) usermgmt.Store {
		return open(t, filepath.Join(t.TempDir(), "users.db"))
	}, opts...)
}
