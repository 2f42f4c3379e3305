package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt"
)

var auditTests = map[string]func(*testing.T, *suite){
	"EveryChangeWritesOneEvent":      testEveryChangeOneEvent,
	"FailedWriteLeavesNoTrace":       testFailedWriteLeavesNoTrace,
	"HistoryPagesAndOutlivesRemoval": testHistoryPages,
}

func testEveryChangeOneEvent(t *testing.T, su *suite) {
	e := su.env(t)
	secret := "a secret long passphrase"
	u, token := e.invite(e.root.ID, "lifecycle@example.com")
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var err error
	token, err = e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	step("resend", err)
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: secret})
	step("accept", err)
	_, err = e.m.UpdateProfile(e.ctx, u.ID, u.ID, usermgmt.Profile{LastName: "Renamed"})
	step("profile", err)
	step("role", e.m.ChangeRole(e.ctx, e.admin.ID, u.ID, usermgmt.RoleAdmin))
	step("grant", e.m.Grant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "reports"}))
	step("revoke grant", e.m.RevokeGrant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "reports"}))
	step("set password", e.m.SetPassword(e.ctx, e.admin.ID, u.ID, Password))
	_, err = e.m.Disable(e.ctx, e.admin.ID, u.ID)
	step("disable", err)
	_, err = e.m.Enable(e.ctx, e.admin.ID, u.ID)
	step("enable", err)
	_, err = e.m.Ban(e.ctx, e.admin.ID, u.ID)
	step("ban", err)
	_, err = e.m.Unban(e.ctx, e.admin.ID, u.ID)
	step("unban", err)
	e.fail(u.Email, 10)
	_, err = e.m.Unlock(e.ctx, e.admin.ID, u.ID, "")
	step("unlock", err)
	e.clock.Set(start.AddDate(0, 2, 0))
	e.login(e.admin)
	e.clock.Set(start.AddDate(0, 4, 0))
	_, err = e.m.Sweep(e.ctx)
	step("sweep", err)
	_, err = e.m.Reactivate(e.ctx, e.admin.ID, u.ID)
	step("reactivate", err)
	_, err = e.m.Remove(e.ctx, e.admin.ID, u.ID)
	step("remove", err)

	// Refused operations add nothing.
	_, err = e.m.Ban(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrInvalidTransition)
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)

	got := strings.Join(actionStrings(e.actions(u.ID)), ",")
	eq(t, "actions", got, "invite,resend,accept,profile_change,role_change,grant,revoke_grant,password_set,"+
		"disable,enable,ban,unban,lock,unlock,inactive,reactivate,remove")
	stored := e.get(u.ID)
	for _, ev := range e.history(u.ID) {
		eq(t, "event user", ev.UserID, u.ID)
		eq(t, "event account", ev.AccountID, e.root.ID)
		if ev.ActorID == "" || ev.At.IsZero() || ev.ID == "" {
			t.Fatalf("event %+v lacks actor, time or ID", ev)
		}
		if len(ev.Changes) == 0 {
			t.Fatalf("event %s records no change", ev.Action)
		}
		for _, c := range ev.Changes {
			for _, s := range []string{secret, Password, token, "$argon2id$", stored.PasswordHash} {
				if s != "" && (strings.Contains(c.Old, s) || strings.Contains(c.New, s)) {
					t.Fatalf("event %s change %+v reveals a secret", ev.Action, c)
				}
			}
		}
	}
	roleEv := e.history(u.ID)[12] // newest first: role_change is the 5th of 17
	eq(t, "role event action", roleEv.Action, usermgmt.ActionRoleChange)
	if len(roleEv.Changes) != 1 || roleEv.Changes[0] != (usermgmt.Change{Field: "role", Old: "general", New: "admin"}) {
		t.Fatalf("role change recorded as %+v", roleEv.Changes)
	}
}

// sabotage wraps a store so that every write carries an audit event whose
// ID is already taken: the store must then refuse the whole write.
type sabotage struct {
	usermgmt.Store
	takenEventID string
}

func (s sabotage) CreateUsers(ctx context.Context, users []usermgmt.User, events []usermgmt.AuditEvent) error {
	evs := append([]usermgmt.AuditEvent(nil), events...)
	evs[len(evs)-1].ID = s.takenEventID
	return s.Store.CreateUsers(ctx, users, evs)
}

func (s sabotage) UpdateUser(ctx context.Context, up usermgmt.UserUpdate) error {
	up.Event.ID = s.takenEventID
	return s.Store.UpdateUser(ctx, up)
}

func testFailedWriteLeavesNoTrace(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "sabotaged@example.com", usermgmt.RoleGeneral)
	before := e.get(u.ID)
	bad := e.manager(sabotage{Store: e.store, takenEventID: e.history(e.admin.ID)[0].ID})
	ops := map[string]func() error{
		"ban":   func() error { _, err := bad.Ban(e.ctx, e.admin.ID, u.ID); return err },
		"role":  func() error { return bad.ChangeRole(e.ctx, e.admin.ID, u.ID, usermgmt.RoleAdmin) },
		"grant": func() error { return bad.Grant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "reports"}) },
		"profile": func() error {
			_, err := bad.UpdateProfile(e.ctx, e.admin.ID, u.ID, usermgmt.Profile{FirstName: "X"})
			return err
		},
		"password": func() error { return bad.SetPassword(e.ctx, e.admin.ID, u.ID, "some other passphrase") },
		"create": func() error {
			_, err := bad.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: e.root.ID, Email: "never@example.com", FirstName: "N", LastName: "V"})
			return err
		},
		"invite": func() error {
			_, err := bad.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{AccountID: e.root.ID, Emails: []string{"n1@example.com", "n2@example.com"}})
			return err
		},
	}
	for _, name := range sortedKeys(ops) {
		isErr(t, ops[name](), usermgmt.ErrDuplicateID)
	}
	sameUser(t, e.get(u.ID), before)
	eq(t, "events of the user", len(e.history(u.ID)), 1)
	eq(t, "events of the admin", len(e.history(e.admin.ID)), 1)
	for _, addr := range []string{"never@example.com", "n1@example.com", "n2@example.com"} {
		_, err := e.store.UserByEmail(e.ctx, addr)
		isErr(t, err, usermgmt.ErrNotFound)
	}
	// Locking through a failing store does not lock half-way either.
	e.fail(u.Email, 9)
	_, err := bad.Authenticate(e.ctx, u.Email, "wrong again")
	isErr(t, err, usermgmt.ErrDuplicateID)
	got := e.get(u.ID)
	eq(t, "status after a failed lock", got.Status, usermgmt.StatusActive)
	eq(t, "events after a failed lock", len(e.history(u.ID)), 1)
	// The next attempt, through a healthy Manager, writes the lock.
	_, err = e.m.Authenticate(e.ctx, u.Email, Password)
	isErr(t, err, usermgmt.ErrLocked)
	eq(t, "status", e.get(u.ID).Status, usermgmt.StatusLocked)
}

func testHistoryPages(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "pages@example.com", usermgmt.RoleGeneral)
	for i := 0; i < 7; i++ {
		_, err := e.m.UpdateProfile(e.ctx, e.admin.ID, u.ID, usermgmt.Profile{FirstName: email("n", i)})
		ok(t, err)
	}
	_, err := e.m.Remove(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	var actions []string
	cursor := ""
	for {
		page, err := e.m.History(e.ctx, e.admin.ID, u.ID, cursor, 3)
		ok(t, err)
		for _, ev := range page.Items {
			actions = append(actions, string(ev.Action))
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	eq(t, "history of a removed user", strings.Join(actions, ","),
		"remove,profile_change,profile_change,profile_change,profile_change,profile_change,profile_change,profile_change,create")
}
