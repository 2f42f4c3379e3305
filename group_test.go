package usermgmt_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// TestGroupNameTakenNamesTheField: a group name the account already uses
// is refused as a *FieldError on "name", as a taken department name is,
// so that a form (and httpapi's problem "errors") can point at the field.
func TestGroupNameTakenNamesTheField(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	admin, err := fixture.Admin(ctx, m, "ada@acme.example")
	require.NoError(t, err)
	_, err = m.CreateGroup(ctx, admin.ID, usermgmt.NewGroup{Name: "Team"})
	require.NoError(t, err)
	other, err := m.CreateGroup(ctx, admin.ID, usermgmt.NewGroup{Name: "Other"})
	require.NoError(t, err)

	for _, call := range []func() error{
		func() error { _, err := m.CreateGroup(ctx, admin.ID, usermgmt.NewGroup{Name: "TEAM"}); return err },
		func() error {
			_, err := m.UpdateGroup(ctx, admin.ID, other.ID, usermgmt.GroupPatch{Name: new("team")})
			return err
		},
	} {
		err := call()
		require.ErrorIs(t, err, usermgmt.ErrDuplicateName)
		var fe *usermgmt.FieldError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, "name", fe.Field)
	}
}
