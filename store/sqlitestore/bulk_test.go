package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt/store/sqlitestore"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/storebench"
)

// bulkPairs counts the pairs BenchmarkBulk has timed in this process, so
// that -count runs alternate which of the two goes first.
var bulkPairs int

// BenchmarkBulk invites 100,000 users (USERMGMT_BENCH_BULK_USERS) into a
// fresh file with Manager.InviteUsers (validation, tokens, events, the
// store's transactions of 500), twice per iteration: without the outbox,
// and with it (WithOutboxKeys: each invitation's email sealed and stored
// with the user, in the same transaction). It reports plain-ns/op,
// outbox-ns/op and their ratio, whose target is at most 1.05. The order of
// the two alternates between iterations and between runs of the benchmark
// (-count), so that neither always runs on a warmer machine; each timed
// invitation starts after a garbage collection, and its file is closed and
// deleted before the next one starts, so that the kernel is not still
// writing one run's file back while the other is timed. Run it with
// -benchtime 1x or more, and pool several pairs: one pair moves by ±5–10 %
// on a shared machine.
func BenchmarkBulk(b *testing.B) {
	n := storebench.Size("USERMGMT_BENCH_BULK_USERS", 100_000)
	ctx := context.Background()
	rows := make([]usermgmt.NewUser, n)
	for k := range rows {
		rows[k] = usermgmt.NewUser{Email: fmt.Sprintf("invitee%07d@bulk.example", k)}
	}
	invite := func(b *testing.B, outbox bool) time.Duration {
		var opts []usermgmt.Option
		if outbox {
			opts = append(opts, usermgmt.WithOutboxKeys(fixture.OutboxKey))
		}
		dir, err := os.MkdirTemp("", "usermgmt-bulk-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir) // with its unflushed pages, before the next run
		s, err := sqlitestore.Open(ctx, filepath.Join(dir, "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		m, err := usermgmt.New(s, opts...)
		if err != nil {
			b.Fatal(err)
		}
		a, _, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Bulk",
			Admin: usermgmt.NewUser{Email: "admin@bulk.example", FirstName: "Bulk", LastName: "Admin", Invite: true}})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		t0 := time.Now()
		res, err := m.InviteUsers(ctx, usermgmt.System, usermgmt.BulkInvite{AccountID: a.ID, Rows: rows})
		took := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if res[n-1].Outcome != usermgmt.Invited {
			b.Fatalf("last row: %+v", res[n-1])
		}
		// Every invitation's message is stored with the outbox, none without.
		want := 0
		if outbox {
			want = n + 1 // and the admin's
		}
		ms, err := s.Messages(ctx, usermgmt.MessageQuery{State: usermgmt.MessagePending, Limit: n + 10})
		if err != nil || len(ms) != want {
			b.Fatalf("%d messages pending (%v), want %d", len(ms), err, want)
		}
		return took
	}
	b.Run("invite_users", func(b *testing.B) {
		var plain, outbox time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if (bulkPairs+i)%2 == 0 {
				plain += invite(b, false)
				outbox += invite(b, true)
			} else {
				outbox += invite(b, true)
				plain += invite(b, false)
			}
		}
		bulkPairs += b.N
		b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "plain-ns/op")
		b.ReportMetric(float64(outbox.Nanoseconds())/float64(b.N), "outbox-ns/op")
		b.ReportMetric(float64(outbox)/float64(plain), "ratio")
	})
}
