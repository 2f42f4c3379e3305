package usermgmt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// TestDeadMessagesScanIsBounded: one tenant's listing of dead letters reads
// at most the scan bound of them a call, whatever other tenants hold; a
// short (even empty) page then carries a Next, and following Next finds
// every one of the tenant's dead letters once.
func TestDeadMessagesScanIsBounded(t *testing.T) {
	usermgmt.SetDeadMessageScan(t, 10)
	ctx := context.Background()
	s := memstore.New()
	counted := &countingStore{Store: s}
	m, err := usermgmt.New(counted, usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	mine, _, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Mine",
		Admin: usermgmt.NewUser{Email: "admin@mine.example", FirstName: "A", LastName: "Dmin", Password: fixture.Password}})
	require.NoError(t, err)
	admin, err := m.UserByEmail(ctx, usermgmt.System, "admin@mine.example")
	require.NoError(t, err)
	other := fixture.Account("Other", fixture.Start)
	require.NoError(t, s.CreateAccount(ctx, usermgmt.AccountCreate{Account: other,
		Admin: fixture.Create(fixture.Record(other.ID, "admin@other.example", fixture.Start))}))

	// 25 dead letters of the other tenant, then one of ours, then 25 more
	// of theirs, then one more of ours, in the list's (ID) order.
	var want []string
	dead := func(accountID, email string, n int) {
		u := fixture.Record(accountID, email, fixture.Start)
		c := fixture.Create(u)
		for range n {
			msg := fixture.Message(u, usermgmt.NotifyInvitation, fixture.Start)
			msg.State, msg.DeadAt, msg.LastError = usermgmt.MessageDead, fixture.Start.Add(time.Hour), "550 no such user"
			c.Messages = append(c.Messages, msg)
			if accountID == mine.ID {
				want = append(want, msg.ID)
			}
		}
		require.NoError(t, s.CreateUsers(ctx, []usermgmt.UserCreate{c}))
	}
	for i := range 2 {
		dead(other.ID, fmt.Sprintf("them%d@other.example", i), 25)
		dead(mine.ID, fmt.Sprintf("us%d@mine.example", i), 1)
	}

	var got []string
	calls := 0
	q := usermgmt.MessageListQuery{Limit: 5}
	for {
		counted.read = 0
		p, err := m.DeadMessages(ctx, admin.ID, q)
		require.NoError(t, err)
		require.LessOrEqual(t, counted.read, 10, "one call read more dead letters than the bound")
		require.LessOrEqual(t, len(p.Items), 5)
		for _, d := range p.Items {
			require.Equal(t, mine.ID, d.AccountID)
			got = append(got, d.ID)
		}
		calls++
		require.Less(t, calls, 20)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	require.Equal(t, want, got)
	require.GreaterOrEqual(t, calls, 6, "52 dead letters at 10 a call")

	// System sees them all, five to a page.
	all := 0
	q = usermgmt.MessageListQuery{Limit: 5}
	for {
		p, err := m.DeadMessages(ctx, usermgmt.System, q)
		require.NoError(t, err)
		all += len(p.Items)
		if p.Next == "" {
			break
		}
		require.Len(t, p.Items, 5)
		q.Cursor = p.Next
	}
	require.Equal(t, 52, all)
}

// countingStore counts the dead letters the Manager reads.
type countingStore struct {
	usermgmt.Store
	read int
}

func (c *countingStore) Messages(ctx context.Context, q usermgmt.MessageQuery) ([]usermgmt.Message, error) {
	ms, err := c.Store.Messages(ctx, q)
	c.read += len(ms)
	return ms, err
}
