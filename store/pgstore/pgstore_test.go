package pgstore_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestConformance runs the shared suite on a fresh schema per subtest; the
// cross-instance cases get stores of their own on the same schema, each
// with its own connection pool, as separate application instances have.
func TestConformance(t *testing.T) {
	needServer(t)
	opts := []storetest.Option{storetest.Reopen(reopen)}
	if testing.Short() {
		opts = append(opts, storetest.Short())
	}
	storetest.Run(t, func(t *testing.T) usermgmt.Store { return newStore(t) }, opts...)
}
