package storebench

import (
	"context"
	"fmt"
	"testing"

	"github.com/usermgmt/usermgmt"
)

// CanOn benchmarks Manager.CanOn for a user in 20 groups of 50 grants
// each, the permission found in the last grant of the last group (the
// whole set is searched), beside a bare store read of the same user
// (Store.User): what a permission check costs over the one read it needs.
// The target is an absolute one: at most 50 µs per check on SQLite.
func CanOn(b *testing.B, s usermgmt.Store) {
	ctx := context.Background()
	m, err := usermgmt.New(s)
	if err != nil {
		b.Fatal(err)
	}
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Permissions",
		Admin: usermgmt.NewUser{Email: "perm-admin@bench.example", FirstName: "P", LastName: "A", Password: Password}})
	if err != nil {
		b.Fatal(err)
	}
	admin := c.User.ID
	u, err := m.CreateUser(ctx, admin, usermgmt.NewUser{Email: "perm-user@bench.example", FirstName: "P", LastName: "U", Invite: true})
	if err != nil {
		b.Fatal(err)
	}
	for g := 0; g < 20; g++ {
		grants := make([]usermgmt.Grant, 50)
		for i := range grants {
			grants[i] = usermgmt.Grant{Permission: usermgmt.Permission(fmt.Sprintf("module%02d.view", g)), Resource: fmt.Sprintf("insight:%d", i)}
		}
		grp, err := m.CreateGroup(ctx, admin, usermgmt.NewGroup{Name: fmt.Sprint("Group ", g), Grants: grants})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.AddToGroup(ctx, admin, u.User.ID, grp.ID); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := m.SetPassword(ctx, admin, u.User.ID, Password); err != nil {
		b.Fatal(err)
	}
	target := usermgmt.Resource{Type: "insight", ID: "49"}
	check := func() error {
		ok, err := m.CanOn(ctx, u.User.ID, "module19.view", target)
		if err == nil && !ok {
			err = fmt.Errorf("CanOn answered false")
		}
		return err
	}
	read := func() error { _, err := s.User(ctx, u.User.ID); return err }
	b.Run("20_groups_50_grants", func(b *testing.B) { Paired(b, read, check) })
}
