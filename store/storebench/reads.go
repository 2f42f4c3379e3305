package storebench

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/usermgmt/usermgmt"
)

// Lookup benchmarks reading random users of the dataset by ID and by email
// through the store, beside the store's bare, hand-written read of the same
// user (baselineByID and baselineByEmail), in the same run.
func Lookup(b *testing.B, s usermgmt.Store, d Dataset, baselineByID, baselineByEmail func(ctx context.Context, u usermgmt.User) error) {
	ctx := context.Background()
	pick := func() usermgmt.User { return d.Users[rand.IntN(len(d.Users))] }
	run := func(b *testing.B, name string, f func(u usermgmt.User) error) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := f(pick()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("by_id", func(b *testing.B) {
		run(b, "baseline_raw", func(u usermgmt.User) error { return baselineByID(ctx, u) })
		run(b, "store", func(u usermgmt.User) error { _, err := s.User(ctx, u.ID); return err })
	})
	b.Run("by_email", func(b *testing.B) {
		run(b, "baseline_raw", func(u usermgmt.User) error { return baselineByEmail(ctx, u) })
		run(b, "store", func(u usermgmt.User) error { _, err := s.UserByEmail(ctx, u.Email); return err })
	})
}

// SearchTerm matches 11,111 users of a dataset of 130,000 or more
// (First12, First120..First129, and so on), enough for a page 10,000 deep.
const SearchTerm = "first12"

// Pages benchmarks Manager.ListUsers: the first page of 50, and the page of
// 50 that starts 10,000 entries deep, of the whole account and of a search.
// Keyset pagination should make the deep page cost what the first does.
func Pages(b *testing.B, s usermgmt.Store, d Dataset) {
	ctx := context.Background()
	m, _ := Manager(b, s)
	admin := d.Admin().ID
	for _, q := range []struct {
		name string
		q    usermgmt.UserQuery
	}{{"list", usermgmt.UserQuery{}}, {"search", usermgmt.UserQuery{Search: SearchTerm}}} {
		b.Run(q.name, func(b *testing.B) {
			deep := q.q
			deep.Limit = 1000
			for i := 0; i < 10; i++ { // walk 10,000 entries to find the deep cursor
				p, err := m.ListUsers(ctx, admin, deep)
				if err != nil {
					b.Fatal(err)
				}
				if p.Next == "" {
					b.Fatalf("fewer than 10,050 users match %+v", q.q)
				}
				deep.Cursor = p.Next
			}
			deep.Limit = 50
			first := q.q
			first.Limit = 50
			for _, c := range []struct {
				name string
				q    usermgmt.UserQuery
			}{{"baseline_first_page", first}, {"deep_page_10000", deep}} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						p, err := m.ListUsers(ctx, admin, c.q)
						if err != nil || len(p.Items) != 50 {
							b.Fatalf("page of %d: %v", len(p.Items), err)
						}
					}
				})
			}
		})
	}
}
