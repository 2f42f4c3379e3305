package usermgmt_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
)

// TestHistoryNeedsUserID: History without a UserID is a mistake of the
// caller (AccountHistory lists an account's events), said as such rather
// than as ErrNotFound, which reads as "no such user".
func TestHistoryNeedsUserID(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	_, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	require.NoError(t, err)

	_, err = m.History(ctx, admin.User.ID, usermgmt.AuditQuery{AccountID: admin.User.AccountID})
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	require.NotErrorIs(t, err, usermgmt.ErrNotFound)
	var fe *usermgmt.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "user_id", fe.Field)

	page, err := m.History(ctx, admin.User.ID, usermgmt.AuditQuery{UserID: admin.User.ID})
	require.NoError(t, err)
	require.NotEmpty(t, page.Items)
}
