package memstore_test

import (
	"testing"

	"github.com/usermgmt/usermgmt/store/memstore"
	"github.com/usermgmt/usermgmt/store/storebench"
)

func BenchmarkAuthenticate(b *testing.B) { storebench.Authenticate(b, memstore.New()) }
