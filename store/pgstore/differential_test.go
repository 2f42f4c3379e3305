package pgstore_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/pgstore"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestDifferential runs the shared differential test: this store and
// the in-memory reference store driven by the same random calls, compared
// after each (storetest.Differential; USERMGMT_DIFF_SEEDS=n for more
// seeds).
func TestDifferential(t *testing.T) {
	storetest.Differential(t, func(t *testing.T) usermgmt.Store { return newStore(t) })
}

// TestDifferentialLargeBatches compares large CreateUsers batches (the
// COPY path) with the reference store, then checks the schema's tables
// against one another.
func TestDifferentialLargeBatches(t *testing.T) {
	s := newStore(t)
	storetest.DifferentialLargeBatches(t, s)
	checkConsistent(t, testURL, s.Schema(), false)
}

// TestDifferentialPools runs the small-pool differential test
// (storetest.DifferentialPools), then checks the schema's tables against
// one another.
func TestDifferentialPools(t *testing.T) {
	storetest.DifferentialPools(t, func(t *testing.T) usermgmt.Store { return newStore(t) },
		func(t *testing.T, s usermgmt.Store) { checkConsistent(t, testURL, s.(*pgstore.Store).Schema(), false) })
}

// TestChaos runs the shared randomised concurrent invariant test
// (storetest.Chaos; USERMGMT_CHAOS_SEEDS=n and USERMGMT_CHAOS_OPS=n for
// more), each Manager on a pool of its own, then checks the schema's
// tables against one another.
func TestChaos(t *testing.T) {
	needServer(t)
	storetest.Chaos(t, func(t *testing.T) usermgmt.Store {
		s := newStore(t)
		t.Cleanup(func() { checkConsistent(t, testURL, s.Schema(), false) })
		return s
	}, reopen)
}
