package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var auditTests = map[string]func(*testing.T, *suite){
	"EveryChangeWritesOneEvent":      testEveryChangeOneEvent,
	"FailedWriteLeavesNoTrace":       testFailedWriteLeavesNoTrace,
	"HistoryPagesAndOutlivesRemoval": testHistoryPages,
	"AccountTrailFiltered":           testAccountTrail,
	"RequestMetaAndActorEmail":       testRequestMeta,
	"ObserverSeesCommittedOnly":      testObserver,
	"LoginEventsWhenAskedFor":        testLoginEvents,
	"InviteEventListsWhatMatters":    testInviteEvent,
}

func testEveryChangeOneEvent(t *testing.T, su *suite) {
	e := su.env(t)
	secret := "a secret long passphrase"
	u, first := e.invite(e.root.ID, "lifecycle@example.com")
	g := e.group(e.root.ID, "Lifecycle")
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	inv, err := e.m.ResendInvitation(e.ctx, e.admin.ID, u.ID)
	step("resend", err)
	token := inv.Token
	_, err = e.m.AcceptInvitation(e.ctx, token, usermgmt.Acceptance{Password: secret})
	step("accept", err)
	_, err = e.m.UpdateProfile(e.ctx, u.ID, u.ID, usermgmt.Profile{LastName: ptr("Renamed")})
	step("profile", err)
	_, err = e.m.ChangeRole(e.ctx, e.admin.ID, u.ID, usermgmt.RoleAdmin)
	step("role", err)
	_, err = e.m.Grant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "reports"})
	step("grant", err)
	_, err = e.m.RevokeGrant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "reports"})
	step("revoke grant", err)
	_, err = e.m.AddToGroup(e.ctx, e.admin.ID, u.ID, g.ID)
	step("group", err)
	_, err = e.m.SetPassword(e.ctx, e.admin.ID, u.ID, Password)
	step("set password", err)
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
	ch, err := e.m.ChangeEmail(e.ctx, e.admin.ID, u.ID, "lifecycle-new@example.com")
	step("email change", err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	step("email confirm", err)
	sub, subAdmin := e.account(e.admin.ID, e.root.ID, "Lifecycle Sub", "lifecycle-sub@example.com")
	_, err = e.m.MoveUser(e.ctx, e.admin.ID, u.ID, sub.ID)
	step("move", err)
	e.clock.Set(start.AddDate(0, 2, 0))
	e.login(e.admin)
	e.login(subAdmin.User)
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
	_, err = e.m.Authenticate(e.ctx, "lifecycle-new@example.com", Password)
	isErr(t, err, usermgmt.ErrInvalidCredentials)

	eq(t, "actions", e.actions(u.ID), "invite,resend,accept,profile_change,role_change,grant,revoke_grant,group_membership,password_set,"+
		"disable,enable,ban,unban,lock,unlock,email_change,email_change,move,inactive,reactivate,remove")
	stored := e.get(u.ID)
	for _, ev := range e.history(u.ID) {
		eq(t, "event user", ev.UserID, u.ID)
		if ev.ActorID == "" || ev.At.IsZero() || ev.ID == "" {
			t.Fatalf("event %+v lacks actor, time or ID", ev)
		}
		if len(ev.Changes) == 0 {
			t.Fatalf("event %s records no change", ev.Action)
		}
		for _, c := range ev.Changes {
			for _, s := range []string{secret, Password, first, token, "$argon2id$", stored.PasswordHash} {
				if s != "" && (strings.Contains(c.Old, s) || strings.Contains(c.New, s)) {
					t.Fatalf("event %s change %+v reveals a secret", ev.Action, c)
				}
			}
		}
	}
	for _, ev := range e.history(u.ID) {
		if ev.Action == usermgmt.ActionRoleChange {
			if len(ev.Changes) != 1 || ev.Changes[0] != (usermgmt.Change{Field: "role", Old: "general", New: "admin"}) {
				t.Fatalf("role change recorded as %+v", ev.Changes)
			}
			eq(t, "role change actor email", ev.ActorEmail, e.admin.Email)
		}
	}
}

func testFailedWriteLeavesNoTrace(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "sabotaged@example.com", usermgmt.RoleGeneral)
	before := e.get(u.ID)
	bad := e.manager(failing{Store: e.store, takenEventID: e.history(e.admin.ID)[0].ID})
	ops := map[string]func() error{
		"ban":  func() error { _, err := bad.Ban(e.ctx, e.admin.ID, u.ID); return err },
		"role": func() error { _, err := bad.ChangeRole(e.ctx, e.admin.ID, u.ID, usermgmt.RoleAdmin); return err },
		"grant": func() error {
			_, err := bad.Grant(e.ctx, e.admin.ID, u.ID, usermgmt.Grant{Permission: "reports"})
			return err
		},
		"profile": func() error {
			_, err := bad.UpdateProfile(e.ctx, e.admin.ID, u.ID, usermgmt.Profile{FirstName: ptr("X")})
			return err
		},
		"password": func() error { _, err := bad.SetPassword(e.ctx, e.admin.ID, u.ID, "some other passphrase"); return err },
		"create": func() error {
			_, err := bad.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "never@example.com", FirstName: "N", LastName: "V", Invite: true})
			return err
		},
		"account": func() error {
			_, _, err := bad.CreateAccount(e.ctx, e.admin.ID, usermgmt.NewAccount{ParentID: e.root.ID, Name: "Never",
				Admin: usermgmt.NewUser{Email: "never-admin@example.com", FirstName: "N", LastName: "A", Invite: true}})
			return err
		},
	}
	for _, name := range sortedKeys(ops) {
		isErr(t, ops[name](), usermgmt.ErrDuplicateID)
	}
	sameUser(t, e.get(u.ID), before)
	eq(t, "events of the user", len(e.history(u.ID)), 1)
	eq(t, "events of the admin", len(e.history(e.admin.ID)), 1)
	for _, addr := range []string{"never@example.com", "never-admin@example.com"} {
		_, err := e.store.UserByEmail(e.ctx, addr)
		isErr(t, err, usermgmt.ErrNotFound)
	}
	accts, err := e.m.Accounts(e.ctx, e.admin.ID, usermgmt.AccountListQuery{})
	ok(t, err)
	eq(t, "accounts", len(accts.Items), 1)
}

func testHistoryPages(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "pages@example.com", usermgmt.RoleGeneral)
	for i := 0; i < 7; i++ {
		_, err := e.m.UpdateProfile(e.ctx, e.admin.ID, u.ID, usermgmt.Profile{FirstName: ptr(email("n", i))})
		ok(t, err)
	}
	_, err := e.m.Remove(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	var actions []string
	cursor := ""
	for {
		page, err := e.m.History(e.ctx, e.admin.ID, usermgmt.AuditQuery{UserID: u.ID, Cursor: cursor, Limit: 3})
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

func testAccountTrail(t *testing.T, su *suite) {
	e := su.env(t)
	tr := e.tree()
	a := e.user(tr.a.ID, "trail-one@example.com", usermgmt.RoleGeneral)
	e.clock.Advance(time.Hour)
	_, err := e.m.Ban(e.ctx, tr.adminA.ID, a.ID)
	ok(t, err)
	b := e.user(tr.a1.ID, "trail-two@example.com", usermgmt.RoleGeneral)
	e.clock.Advance(time.Hour)
	_, err = e.m.Disable(e.ctx, e.admin.ID, b.ID)
	ok(t, err)
	all := func(q usermgmt.AuditQuery) []usermgmt.AuditEvent {
		t.Helper()
		var out []usermgmt.AuditEvent
		for {
			page, err := e.m.AccountHistory(e.ctx, tr.adminA.ID, q)
			ok(t, err)
			out = append(out, page.Items...)
			if page.Next == "" {
				return out
			}
			q.Cursor = page.Next
		}
	}
	evs := all(usermgmt.AuditQuery{Limit: 2})
	for _, ev := range evs {
		if ev.AccountID != tr.a.ID && ev.AccountID != tr.a1.ID {
			t.Fatalf("A's trail holds an event of account %s", ev.AccountID)
		}
	}
	bans := all(usermgmt.AuditQuery{Actions: []usermgmt.Action{usermgmt.ActionBan, usermgmt.ActionDisable}})
	eq(t, "bans and disables", len(bans), 2)
	eq(t, "newest first", bans[0].Action, usermgmt.ActionDisable)
	byA := all(usermgmt.AuditQuery{ActorID: tr.adminA.ID})
	for _, ev := range byA {
		eq(t, "actor", ev.ActorID, tr.adminA.ID)
	}
	window := all(usermgmt.AuditQuery{Since: start.Add(30 * time.Minute), Until: start.Add(90 * time.Minute)})
	eq(t, "events in the window", len(window), 2) // the ban and the creation of the second user
	a1Only, err := e.m.AccountHistory(e.ctx, tr.adminA.ID, usermgmt.AuditQuery{AccountID: tr.a1.ID})
	ok(t, err)
	for _, ev := range a1Only.Items {
		eq(t, "A1's trail", ev.AccountID, tr.a1.ID)
	}
	_, err = e.m.AccountHistory(e.ctx, tr.adminA.ID, usermgmt.AuditQuery{Since: start.Add(time.Hour), Until: start})
	isErr(t, err, usermgmt.ErrInvalidInput)
	g := e.user(tr.a.ID, "no-trail@example.com", usermgmt.RoleGeneral)
	_, err = e.m.AccountHistory(e.ctx, g.ID, usermgmt.AuditQuery{})
	isErr(t, err, usermgmt.ErrPermissionDenied)
}

func testRequestMeta(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "meta@example.com", usermgmt.RoleGeneral)
	ctx := usermgmt.WithRequestMeta(e.ctx, usermgmt.RequestMeta{IP: "198.51.100.7", UserAgent: "Mozilla/5.0\r\nX-Injected: 1", Reason: "left the company"})
	_, err := e.m.Disable(ctx, e.admin.ID, u.ID)
	ok(t, err)
	ev := e.history(u.ID)[0]
	eq(t, "IP", ev.IP, "198.51.100.7")
	eq(t, "user agent, control characters dropped", ev.UserAgent, "Mozilla/5.0X-Injected: 1")
	eq(t, "reason", ev.Reason, "left the company")
	eq(t, "actor email", ev.ActorEmail, e.admin.Email)
	// The actor's email is the one they had at the time.
	ch, err := e.m.ChangeEmail(e.ctx, usermgmt.System, e.admin.ID, "renamed-admin@example.com")
	ok(t, err)
	_, err = e.m.ConfirmEmailChange(e.ctx, ch.Token)
	ok(t, err)
	_, err = e.m.Enable(ctx, e.admin.ID, u.ID)
	ok(t, err)
	h := e.history(u.ID)
	eq(t, "the enable's actor email", h[0].ActorEmail, "renamed-admin@example.com")
	eq(t, "the disable keeps the old actor email", h[1].ActorEmail, e.admin.Email)
}

func testObserver(t *testing.T, su *suite) {
	var mu sync.Mutex
	var seen []usermgmt.Action
	e := su.env(t, usermgmt.WithObserver(func(_ context.Context, ev usermgmt.AuditEvent) {
		mu.Lock()
		seen = append(seen, ev.Action)
		mu.Unlock()
	}))
	mu.Lock()
	seen = nil // the env's own setup
	mu.Unlock()
	u := e.user(e.root.ID, "observed@example.com", usermgmt.RoleGeneral)
	_, err := e.m.Ban(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	_, err = e.m.Ban(e.ctx, e.admin.ID, u.ID) // refused
	isErr(t, err, usermgmt.ErrInvalidTransition)
	_, err = e.m.Unban(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	e.fail(u.Email, 10)
	_, err = e.m.InviteUsers(e.ctx, e.admin.ID, usermgmt.BulkInvite{Rows: []usermgmt.NewUser{{Email: "obs-1@example.com"}, {Email: "obs-2@example.com"}, {Email: "bad"}}})
	ok(t, err)
	mu.Lock()
	defer mu.Unlock()
	eq(t, "observed", strings.Join(actionsOf(seen), ","), "create,ban,unban,lock,invite,invite")
}

func actionsOf(as []usermgmt.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}

func testLoginEvents(t *testing.T, su *suite) {
	e := su.env(t, usermgmt.WithPolicy(usermgmt.Policy{AuditLogins: true}))
	u := e.user(e.root.ID, "audited-login@example.com", usermgmt.RoleGeneral)
	e.login(u)
	e.fail(u.Email, 1)
	eq(t, "actions", e.actions(u.ID), "create,login,login_failed")
	h := e.history(u.ID)
	eq(t, "login actor", h[1].ActorID, u.ID)
	// Off by default.
	d := su.env(t)
	v := d.user(d.root.ID, "quiet-login@example.com", usermgmt.RoleGeneral)
	d.login(v)
	d.fail(v.Email, 1)
	eq(t, "actions without the policy", d.actions(v.ID), "create")
}

func testInviteEvent(t *testing.T, su *suite) {
	e := su.env(t)
	u, _ := e.invite(e.root.ID, "what-matters@example.com")
	ev := e.history(u.ID)[0]
	fields := map[string]bool{}
	for _, c := range ev.Changes {
		fields[c.Field] = true
		if c.Field == "failed_attempts" {
			t.Fatalf("the invite event lists %+v", c)
		}
	}
	for _, f := range []string{"email", "first_name", "last_name", "role", "status", "invitation_token"} {
		if !fields[f] {
			t.Fatalf("the invite event lacks %s: %+v", f, ev.Changes)
		}
	}
}
