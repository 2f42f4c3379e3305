package usermgmt_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// TestHistoryNeedsUserID: History without a UserID is a mistake of the
// caller (AccountHistory lists an account's events), said as such rather
// than as ErrNotFound, which reads as "no such user".
func TestHistoryNeedsUserID(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	admin, err := fixture.Admin(ctx, m, "ada@acme.example")
	require.NoError(t, err)

	_, err = m.History(ctx, admin.ID, usermgmt.AuditQuery{AccountID: admin.AccountID})
	require.ErrorIs(t, err, usermgmt.ErrInvalidInput)
	require.NotErrorIs(t, err, usermgmt.ErrNotFound)
	var fe *usermgmt.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "user_id", fe.Field)

	page, err := m.History(ctx, admin.ID, usermgmt.AuditQuery{UserID: admin.ID})
	require.NoError(t, err)
	require.NotEmpty(t, page.Items)
}

// TestEventChangesNeverNull: an event that changes no field (a login, a
// failed login) lists its changes as [], like every other list of the
// JSON views, not null.
func TestEventChangesNeverNull(t *testing.T) {
	ctx := context.Background()
	var observed []usermgmt.AuditEvent
	m := newManager(t, usermgmt.WithPolicy(usermgmt.Policy{AuditLogins: true}),
		usermgmt.WithObserver(func(_ context.Context, ev usermgmt.AuditEvent) { observed = append(observed, ev) }))
	admin, err := fixture.Admin(ctx, m, "ada@acme.example")
	require.NoError(t, err)
	_, err = m.Authenticate(ctx, "ada@acme.example", "correct horse battery staple")
	require.NoError(t, err)
	_, err = m.Authenticate(ctx, "ada@acme.example", "not the password")
	require.ErrorIs(t, err, usermgmt.ErrInvalidCredentials)

	page, err := m.History(ctx, admin.ID, usermgmt.AuditQuery{UserID: admin.ID,
		Actions: []usermgmt.Action{usermgmt.ActionLogin, usermgmt.ActionLoginFailed}})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	trail, err := m.AccountHistory(ctx, admin.ID, usermgmt.AuditQuery{
		Actions: []usermgmt.Action{usermgmt.ActionLogin, usermgmt.ActionLoginFailed}})
	require.NoError(t, err)
	require.Len(t, observed, 4) // the account and its admin created, the login, the failure
	for _, ev := range append(append(page.Items, trail.Items...), observed[2:]...) {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		require.Contains(t, string(b), `"changes":[]`, ev.Action)
	}
}
