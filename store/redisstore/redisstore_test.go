package redisstore_test

import (
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/storetest"
)

// TestConformance runs store/storetest, each case on a fresh key prefix,
// with every extra Manager of the cross-instance cases on its own client.
func TestConformance(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason) // once, not once per case
	}
	storetest.Run(t, func(t *testing.T) usermgmt.Store { return newStore(t) }, storetest.Reopen(reopen))
}
