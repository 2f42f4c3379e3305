package memstore_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
	"github.com/usermgmt/usermgmt/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) usermgmt.Store { return memstore.New() })
}

// TestChaos runs the shared randomised concurrent invariant test
// (storetest.Chaos; USERMGMT_CHAOS_SEEDS=n and USERMGMT_CHAOS_OPS=n for
// more). The Managers share the one store, as goroutines of one process.
func TestChaos(t *testing.T) {
	storetest.Chaos(t, func(t *testing.T) usermgmt.Store { return memstore.New() }, nil)
}
