package redisstore_test

import (
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/redisstore"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestDifferential runs the shared differential test: this store and the
// in-memory reference store driven by the same random calls, compared
// after each (storetest.Differential; USERMGMT_DIFF_SEEDS=n for more
// seeds).
func TestDifferential(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	storetest.Differential(t, func(t *testing.T) usermgmt.Store { return newStore(t) })
}

// TestDifferentialPools runs the small-pool differential test
// (storetest.DifferentialPools), checking the key layout after each seed.
func TestDifferentialPools(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	storetest.DifferentialPools(t, func(t *testing.T) usermgmt.Store { return newStore(t) },
		func(t *testing.T, s usermgmt.Store) { checkLayout(t, s.(*redisstore.Store)) })
}

// TestDifferentialLargeBatches compares large CreateUsers batches with the
// reference store.
func TestDifferentialLargeBatches(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	storetest.DifferentialLargeBatches(t, newStore(t))
}

// t0 is the time the package's hand-written cases set their records at.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// TestChaos runs the shared randomised concurrent invariant test
// (storetest.Chaos; USERMGMT_CHAOS_SEEDS=n and USERMGMT_CHAOS_OPS=n for
// more), each Manager on a client of its own.
func TestChaos(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	storetest.Chaos(t, func(t *testing.T) usermgmt.Store { return newStore(t) }, reopen)
}
