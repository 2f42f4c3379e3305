package usermgmt_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestRules runs the shared conformance suite over the in-memory store from
// the root package: the Manager's rules — lockout, invitations, reset,
// email identity, inactivity, permissions, groups, audit — against the
// reference store.
func TestRules(t *testing.T) {
	storetest.Run(t, func(t *testing.T) usermgmt.Store { return memstore.New() })
}
