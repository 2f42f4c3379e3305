package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/sqlitestore"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestDifferential runs the shared differential test: this store and
// the in-memory reference store driven by the same random calls, compared
// after each (storetest.Differential; USERMGMT_DIFF_SEEDS=n for more
// seeds).
func TestDifferential(t *testing.T) {
	storetest.Differential(t, func(t *testing.T) usermgmt.Store { return open(t, filepath.Join(t.TempDir(), "diff.db")) })
}

// TestDifferentialLargeBatches compares large CreateUsers batches (many
// rows and messages to a statement) with the reference store.
func TestDifferentialLargeBatches(t *testing.T) {
	storetest.DifferentialLargeBatches(t, open(t, filepath.Join(t.TempDir(), "diff.db")))
}

// TestDifferentialPools runs the small-pool differential test
// (storetest.DifferentialPools).
func TestDifferentialPools(t *testing.T) {
	storetest.DifferentialPools(t, func(t *testing.T) usermgmt.Store { return open(t, filepath.Join(t.TempDir(), "diff.db")) }, nil)
}

// TestChaos runs the shared randomised concurrent invariant test
// (storetest.Chaos; USERMGMT_CHAOS_SEEDS=n and USERMGMT_CHAOS_OPS=n for
// more), each Manager on a handle of its own onto the same file.
func TestChaos(t *testing.T) {
	storetest.Chaos(t, func(t *testing.T) usermgmt.Store { return open(t, filepath.Join(t.TempDir(), "chaos.db")) },
		func(t *testing.T, s usermgmt.Store) usermgmt.Store { return open(t, s.(*sqlitestore.Store).Path()) })
}
