package storebench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/usermgmt/usermgmt"
)

// Lookup benchmarks reading random users of the dataset by ID and by email
// through the store, each alternated with the store's bare, hand-written
// read of the same user (baselineByID, baselineByEmail).
func Lookup(b *testing.B, s usermgmt.Store, d Dataset, baselineByID, baselineByEmail func(ctx context.Context, u usermgmt.UserRecord) error) {
	ctx := context.Background()
	// Each side picks its own random user, so that neither reads what the
	// other just brought into a cache.
	pick := func() usermgmt.UserRecord { return d.Users[rand.IntN(len(d.Users))] }
	b.Run("by_id", func(b *testing.B) {
		Paired(b, func() error { return baselineByID(ctx, pick()) },
			func() error { _, err := s.User(ctx, pick().ID); return err })
	})
	b.Run("by_email", func(b *testing.B) {
		Paired(b, func() error { return baselineByEmail(ctx, pick()) },
			func() error { _, err := s.UserByEmail(ctx, pick().Email); return err })
	})
}

// SearchTerm matches 11,111 users of a dataset of 130,000 or more
// (First12, First120..First129, and so on), enough for a page 10,000 deep.
const SearchTerm = "first12"

// Pages benchmarks Manager.ListUsers: the page of 50 that starts 10,000
// entries deep, alternated with the first page, of the whole account and of
// a search. Keyset pagination should make the deep page cost what the first
// does.
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
			page := func(q usermgmt.UserQuery) func() error {
				return func() error {
					p, err := m.ListUsers(ctx, admin, q)
					if err == nil && len(p.Items) != 50 {
						err = fmt.Errorf("page of %d", len(p.Items))
					}
					return err
				}
			}
			b.Run("deep_page_10000", func(b *testing.B) { Paired(b, page(first), page(deep)) })
		})
	}
}
