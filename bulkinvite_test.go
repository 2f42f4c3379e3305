package usermgmt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// TestInviteUsersAcrossBatches invites more rows than one store write
// takes, with a repeat and an existing user in later batches: the dry run
// reports what the real run then does, and writes nothing; each repeat
// names its first row and gets that row's user.
func TestInviteUsersAcrossBatches(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	_, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Root",
		Admin: usermgmt.NewUser{Email: "root@example.com", FirstName: "R", LastName: "A", Password: fixture.Password}})
	require.NoError(t, err)
	rows := make([]usermgmt.NewUser, 1203)
	for i := range rows {
		rows[i] = usermgmt.NewUser{Email: fmt.Sprintf("user%04d@example.com", i)}
	}
	rows[700].Email = "USER0003@example.com" // repeats row 3, two batches later
	rows[1100].Email = "root@example.com"    // exists

	check := func(res []usermgmt.InviteResult) {
		t.Helper()
		require.Len(t, res, len(rows))
		for i, r := range res {
			switch i {
			case 700:
				require.Equal(t, usermgmt.SkippedDuplicate, r.Outcome)
				require.Equal(t, 3, r.DuplicateOf)
				require.Equal(t, res[3].UserID, r.UserID)
			case 1100:
				require.Equal(t, usermgmt.SkippedExists, r.Outcome)
			default:
				require.Equal(t, usermgmt.Invited, r.Outcome, "row %d", i)
			}
		}
	}
	dry, err := m.InviteUsers(ctx, admin.User.ID, usermgmt.BulkInvite{Rows: rows, DryRun: true})
	require.NoError(t, err)
	check(dry)
	page, err := m.ListUsers(ctx, admin.User.ID, usermgmt.UserQuery{Total: true})
	require.NoError(t, err)
	require.Equal(t, 1, *page.Total, "the dry run wrote users")

	res, err := m.InviteUsers(ctx, admin.User.ID, usermgmt.BulkInvite{Rows: rows})
	require.NoError(t, err)
	check(res)
	require.NotEmpty(t, res[3].UserID)
	page, err = m.ListUsers(ctx, admin.User.ID, usermgmt.UserQuery{Total: true})
	require.NoError(t, err)
	require.Equal(t, 1+1201, *page.Total)
}

// TestInviteResultDuplicateOfFirstRow: a row repeating row 0 says so in
// JSON too. DuplicateOf is an index, and omitempty dropped the 0, leaving
// "skipped_duplicate" without saying of which row.
func TestInviteResultDuplicateOfFirstRow(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	admin, err := fixture.Admin(ctx, m, "ada@acme.example")
	require.NoError(t, err)
	res, err := m.InviteUsers(ctx, admin.ID, usermgmt.BulkInvite{DryRun: true, Rows: []usermgmt.NewUser{
		{Email: "x@acme.example"}, {Email: "y@acme.example"}, {Email: "X@acme.example"}, {Email: "y@acme.example"}}})
	require.NoError(t, err)
	var got []map[string]any
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &got))
	require.NotContains(t, got[0], "duplicate_of")
	require.NotContains(t, got[1], "duplicate_of")
	require.Equal(t, "skipped_duplicate", got[2]["outcome"])
	require.Equal(t, 0.0, got[2]["duplicate_of"])
	require.Equal(t, 1.0, got[3]["duplicate_of"])

	// And back.
	var back []usermgmt.InviteResult
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, usermgmt.SkippedDuplicate, back[2].Outcome)
	require.Equal(t, 1, back[3].DuplicateOf)
}
