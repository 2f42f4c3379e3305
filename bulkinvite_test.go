package usermgmt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// brokenAccount is a store whose reads of one account fail.
type brokenAccount struct {
	usermgmt.Store
	id string
}

func (s brokenAccount) Account(ctx context.Context, id string) (usermgmt.Account, error) {
	if id == s.id {
		return usermgmt.Account{}, errors.New("disk on fire")
	}
	return s.Store.Account(ctx, id)
}

// TestInviteUsersStoppedMidway: when the call fails while rows are being
// prepared, no row reports a user that was never written.
func TestInviteUsersStoppedMidway(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	root, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Root",
		Admin: usermgmt.NewUser{Email: "root@example.com", FirstName: "R", LastName: "A", Password: fixture.Password}})
	require.NoError(t, err)
	sub, _, err := m.CreateAccount(ctx, admin.User.ID, usermgmt.NewAccount{ParentID: root.ID, Name: "Sub",
		Admin: usermgmt.NewUser{Email: "sub@example.com", FirstName: "S", LastName: "A", Invite: true}})
	require.NoError(t, err)
	bad, err := usermgmt.New(brokenAccount{s, sub.ID}, usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	res, err := bad.InviteUsers(ctx, admin.User.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{
		{Email: "first@example.com"}, {Email: "bad email"}, {Email: "second@example.com", AccountID: sub.ID}, {Email: "third@example.com"},
	}})
	require.ErrorIs(t, err, usermgmt.ErrStore)
	require.Equal(t, usermgmt.NotRun, res[0].Outcome)
	require.Empty(t, res[0].UserID)
	require.Empty(t, res[0].Token)
	require.Equal(t, usermgmt.RejectedInvalid, res[1].Outcome)
	require.Equal(t, usermgmt.NotRun, res[2].Outcome)
	require.Equal(t, usermgmt.NotRun, res[3].Outcome)
	_, err = s.UserByEmail(ctx, "first@example.com")
	require.ErrorIs(t, err, usermgmt.ErrNotFound)
}
