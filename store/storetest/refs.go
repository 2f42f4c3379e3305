package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/usermgmt/usermgmt"
)

// Races between a write that gives a user a department or a group and the
// removal of that department or group, each reproduced deterministically:
// a hooked store runs one operation whole at the moment the other is
// about to write. Whatever the order, no user ends in a department their
// account does not have, or in a deleted group.

// hookStore runs each of its hooks once: before the first UpdateUser or
// CreateUsers, after the first UpdateUser committed, before the first
// UpdateAccount, and after the first UpdateAccount or UpdateGroup
// committed. It passes every call on.
type hookStore struct {
	usermgmt.Store
	beforeUser    func()
	afterUser     func()
	beforeAccount func()
	afterWrite    func() // after an UpdateAccount or UpdateGroup
	once          [4]sync.Once
}

func (h *hookStore) fire(i int, f func()) {
	if f != nil {
		h.once[i].Do(f)
	}
}

func (h *hookStore) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	h.fire(0, h.beforeUser)
	err := h.Store.UpdateUser(ctx, up)
	if err == nil {
		h.fire(3, h.afterUser)
	}
	return err
}

func (h *hookStore) CreateUsers(ctx context.Context, cs []usermgmt.UserCreate) error {
	h.fire(0, h.beforeUser)
	return h.Store.CreateUsers(ctx, cs)
}

func (h *hookStore) UpdateAccount(ctx context.Context, up usermgmt.AccountUpdate) error {
	h.fire(1, h.beforeAccount)
	err := h.Store.UpdateAccount(ctx, up)
	if err == nil {
		h.fire(2, h.afterWrite)
	}
	return err
}

func (h *hookStore) UpdateGroup(ctx context.Context, up usermgmt.GroupUpdate) error {
	err := h.Store.UpdateGroup(ctx, up)
	if err == nil {
		h.fire(2, h.afterWrite)
	}
	return err
}

// checkRefs fails when a user of the env is in a department their
// account lacks or in a deleted group.
func (e *env) checkRefs(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		u := e.get(id)
		a, err := e.store.Account(e.ctx, u.AccountID)
		ok(e.t, err)
		if u.Department != "" && !slices.Contains(a.Departments, u.Department) {
			e.t.Errorf("user %s is in department %q; the account has %v", u.Email, u.Department, a.Departments)
		}
		gs, err := e.store.Groups(e.ctx, u.Groups)
		ok(e.t, err)
		for _, g := range gs {
			if g.Deleted || g.AccountID != u.AccountID {
				e.t.Errorf("user %s is in group %s (deleted %v, account %s)", u.Email, g.Name, g.Deleted, g.AccountID)
			}
		}
	}
}

func testDepartmentRemovalRaces(t *testing.T, su *suite) {
	sales := "Sales"
	// assign gives the user the department on m, however the operation does it.
	assigns := map[string]func(e *env, m *usermgmt.Manager, u usermgmt.User, dest usermgmt.Account) (string, error){
		"Profile": func(e *env, m *usermgmt.Manager, _ usermgmt.User, dest usermgmt.Account) (string, error) {
			page, err := e.m.ListUsers(e.ctx, usermgmt.System, usermgmt.UserQuery{AccountID: dest.ID, Limit: 1})
			if err != nil || len(page.Items) != 1 {
				e.t.Fatalf("the destination's admin: %v", err)
			}
			id := page.Items[0].ID
			_, err = m.UpdateProfile(e.ctx, usermgmt.System, id, usermgmt.Profile{Department: &sales})
			return id, err
		},
		"Move": func(e *env, m *usermgmt.Manager, u usermgmt.User, dest usermgmt.Account) (string, error) {
			_, err := m.MoveUser(e.ctx, usermgmt.System, u.ID, dest.ID)
			return u.ID, err
		},
		"Create": func(e *env, m *usermgmt.Manager, _ usermgmt.User, dest usermgmt.Account) (string, error) {
			c, err := m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{AccountID: dest.ID, Email: "new-sales@example.com",
				FirstName: "New", LastName: "Seller", Department: sales, Password: Password})
			return c.User.ID, err
		},
		"Invite": func(e *env, m *usermgmt.Manager, _ usermgmt.User, dest usermgmt.Account) (string, error) {
			res, err := m.InviteUsers(e.ctx, usermgmt.System, usermgmt.BulkInvite{AccountID: dest.ID,
				Rows: []usermgmt.NewUser{{Email: "invited-sales@example.com", Department: sales}}})
			if err != nil || len(res) != 1 {
				return "", err
			}
			return res[0].UserID, res[0].Err
		},
	}
	for _, name := range sortedKeys(assigns) {
		assign := assigns[name]
		// The assignment writes while the removal is between its check and its write.
		t.Run(name+"DuringRemoval", func(t *testing.T) {
			e := su.env(t)
			dest, u := e.salesWorld(sales)
			var id string
			var aerr error
			m := e.manager(&hookStore{Store: e.store, beforeAccount: func() { id, aerr = assign(e, e.m, u, dest) }})
			_, rerr := m.RemoveDepartment(e.ctx, usermgmt.System, dest.ID, sales)
			t.Logf("assignment: %v; removal: %v", aerr, rerr)
			e.checkRefs(u.ID)
			if id != "" {
				e.checkRefs(id)
			}
		})
		// The removal runs whole while the assignment is about to write.
		t.Run("RemovalDuring"+name, func(t *testing.T) {
			e := su.env(t)
			dest, u := e.salesWorld(sales)
			var rerr error
			m := e.manager(&hookStore{Store: e.store, beforeUser: func() {
				_, rerr = e.m.RemoveDepartment(e.ctx, usermgmt.System, dest.ID, sales)
			}})
			id, aerr := assign(e, m, u, dest)
			t.Logf("assignment: %v; removal: %v", aerr, rerr)
			ok(t, rerr)
			e.checkRefs(u.ID)
			if id != "" {
				e.checkRefs(id)
			}
		})
	}
}

// salesWorld gives the env a sub-account with the department and a user
// of the root account in it (for a move) and returns both.
func (e *env) salesWorld(dept string) (usermgmt.Account, usermgmt.User) {
	e.t.Helper()
	dest, _ := e.account(usermgmt.System, e.root.ID, "Client", "client-admin@example.com")
	var err error
	for _, a := range []string{e.root.ID, dest.ID} {
		_, err = e.m.AddDepartment(e.ctx, usermgmt.System, a, dept)
		ok(e.t, err)
	}
	u := e.user(e.root.ID, "seller@example.com", usermgmt.RoleGeneral)
	if _, err := e.m.UpdateProfile(e.ctx, usermgmt.System, u.ID, usermgmt.Profile{Department: &dept}); err != nil {
		e.t.Fatal(err)
	}
	if u, err = e.m.User(e.ctx, usermgmt.System, u.ID); err != nil {
		e.t.Fatal(err)
	}
	if dest, err = e.m.Account(e.ctx, usermgmt.System, dest.ID); err != nil {
		e.t.Fatal(err)
	}
	return dest, u
}

func testGroupDeletionRaces(t *testing.T, su *suite) {
	assigns := map[string]func(e *env, m *usermgmt.Manager, u usermgmt.User, g usermgmt.Group) (string, error){
		"Add": func(e *env, m *usermgmt.Manager, u usermgmt.User, g usermgmt.Group) (string, error) {
			_, err := m.AddToGroup(e.ctx, usermgmt.System, u.ID, g.ID)
			return u.ID, err
		},
		"Create": func(e *env, m *usermgmt.Manager, _ usermgmt.User, g usermgmt.Group) (string, error) {
			c, err := m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{AccountID: g.AccountID, Email: "new-member@example.com",
				FirstName: "New", LastName: "Member", Groups: []string{g.ID}, Invite: true})
			return c.User.ID, err
		},
	}
	// A membership taken back by a RemoveFromGroup right after the add is
	// not an add to a deleted group: the add succeeded.
	t.Run("RemovalAfterAdd", func(t *testing.T) {
		e := su.env(t)
		g := e.group(e.root.ID, "Kept")
		u := e.user(e.root.ID, "joiner@example.com", usermgmt.RoleGeneral)
		m := e.manager(&hookStore{Store: e.store, afterUser: func() {
			_, err := e.m.RemoveFromGroup(e.ctx, usermgmt.System, u.ID, g.ID)
			ok(t, err)
		}})
		_, err := m.AddToGroup(e.ctx, usermgmt.System, u.ID, g.ID)
		ok(t, err)
		eq(t, "groups", len(e.get(u.ID).Groups), 0)
	})
	for _, name := range sortedKeys(assigns) {
		assign := assigns[name]
		t.Run("DeletionDuring"+name, func(t *testing.T) {
			e := su.env(t)
			g := e.group(e.root.ID, "Doomed")
			u := e.user(e.root.ID, "joiner@example.com", usermgmt.RoleGeneral)
			var derr error
			m := e.manager(&hookStore{Store: e.store, beforeUser: func() {
				_, derr = e.m.DeleteGroup(e.ctx, usermgmt.System, g.ID)
			}})
			id, aerr := assign(e, m, u, g)
			t.Logf("assignment: %v; deletion: %v", aerr, derr)
			ok(t, derr)
			e.checkRefs(u.ID)
			if id != "" {
				e.checkRefs(id)
			}
		})
	}
}

// testRemoverDeactivatedMidway: an admin deleting a group or removing a
// department is disabled right after the group or account is written. The
// members still leave the group, and the department: the removal was
// authorised, and its sequence must not stop halfway for lack of an actor
// (nobody else could resume it under that admin's name).
func testRemoverDeactivatedMidway(t *testing.T, su *suite) {
	removals := map[string]func(e *env, m *usermgmt.Manager, actorID string, dest usermgmt.Account, g usermgmt.Group) error{
		"Group": func(e *env, m *usermgmt.Manager, actorID string, _ usermgmt.Account, g usermgmt.Group) error {
			_, err := m.DeleteGroup(e.ctx, actorID, g.ID)
			return err
		},
		"Department": func(e *env, m *usermgmt.Manager, actorID string, dest usermgmt.Account, _ usermgmt.Group) error {
			_, err := m.RemoveDepartment(e.ctx, actorID, dest.ID, "Sales")
			return err
		},
	}
	for _, name := range sortedKeys(removals) {
		remove := removals[name]
		t.Run(name, func(t *testing.T) {
			e := su.env(t)
			dest, _ := e.salesWorld("Sales")
			g := e.group(dest.ID, "Doomed")
			other := e.user(e.root.ID, "other-admin@example.com", usermgmt.RoleAdmin)
			// A member of the group; for the department, a user given it
			// between the removal's check and its write.
			join := func() string {
				c, err := e.m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{AccountID: dest.ID, Email: "racer@example.com",
					FirstName: "Race", LastName: "R", Department: "Sales", Groups: []string{g.ID}, Invite: true})
				ok(t, err)
				return c.User.ID
			}
			var uid string
			if name == "Group" {
				uid = join()
			}
			m := e.manager(&hookStore{Store: e.store, beforeAccount: func() { uid = join() }, afterWrite: func() {
				_, err := e.m.Disable(e.ctx, usermgmt.System, other.ID)
				ok(t, err)
			}})
			err := remove(e, m, other.ID, dest, g)
			t.Logf("removal: %v", err)
			if uid == "" {
				t.Fatal("no user joined")
			}
			e.checkRefs(uid)
		})
	}
}
