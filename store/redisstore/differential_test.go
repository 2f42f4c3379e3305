package redisstore_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestDifferential runs the shared differential test: this store and
// the in-memory reference store driven by the same random calls, compared
// after each (storetest.Differential; USERMGMT_DIFF_SEEDS=n for more
// seeds).
func TestDifferential(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	storetest.Differential(t, func(t *testing.T) usermgmt.Store { return newStore(t) })
}

// TestDifferentialLargeBatches compares large CreateUsers batches with the
// reference store.
func TestDifferentialLargeBatches(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	storetest.DifferentialLargeBatches(t, newStore(t))
}
