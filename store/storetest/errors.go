package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt"
)

var errorTests = map[string]func(*testing.T, *suite){
	"SentinelTextsHoldNoData":  testErrorTexts,
	"StoreErrorsMatchSentinel": testStoreErrorTexts,
	"CodesAndStatuses":         testCodes,
	"ExpectedVersionHonoured":  testExpectedVersion,
}

// testExpectedVersion: under WithExpectedVersion a stale version refuses
// the write, even one that would change nothing, and pins only the write
// it is about.
func testExpectedVersion(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "pinned@example.com", usermgmt.RoleGeneral)
	stale := usermgmt.WithExpectedVersion(e.ctx, u.Version-1)
	_, err := e.m.UpdateProfile(stale, e.admin.ID, u.ID, usermgmt.Profile{FirstName: ptr(u.FirstName)}) // no change
	isErr(t, err, usermgmt.ErrConflict)
	_, err = e.m.Ban(stale, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrConflict)
	eq(t, "status after a stale ban", e.get(u.ID).Status, usermgmt.StatusActive)
	got, err := e.m.Ban(usermgmt.WithExpectedVersion(e.ctx, u.Version), e.admin.ID, u.ID)
	ok(t, err)
	eq(t, "status", got.Status, usermgmt.StatusBanned)
	// Outside reach, the answer is not found, whatever the version.
	other, c := e.account(usermgmt.System, "", "Pinned elsewhere", "pinned-else@example.com")
	_ = other
	_, err = e.m.Unban(stale, c.User.ID, u.ID)
	isErr(t, err, usermgmt.ErrNotFound)
	// A group's version pins the group's write, not its members'.
	g := e.group(e.root.ID, "Pinned group")
	v := e.user(e.root.ID, "pinned-member@example.com", usermgmt.RoleGeneral)
	_, err = e.m.AddToGroup(e.ctx, e.admin.ID, v.ID, g.ID)
	ok(t, err)
	_, err = e.m.DeleteGroup(usermgmt.WithExpectedVersion(e.ctx, g.Version+7), e.admin.ID, g.ID)
	isErr(t, err, usermgmt.ErrConflict)
	_, err = e.m.DeleteGroup(usermgmt.WithExpectedVersion(e.ctx, g.Version), e.admin.ID, g.ID)
	ok(t, err)
	eq(t, "groups of the member", len(e.get(v.ID).Groups), 0)
	a, err := e.store.Account(e.ctx, e.root.ID)
	ok(t, err)
	_, err = e.m.UpdateAccount(usermgmt.WithExpectedVersion(e.ctx, a.Version+1), e.admin.ID, e.root.ID, usermgmt.AccountPatch{Name: ptr(a.Name)})
	isErr(t, err, usermgmt.ErrConflict)
	_, err = e.m.MoveUser(e.ctx, e.admin.ID, v.ID, "")
	isErr(t, err, usermgmt.ErrInvalidInput)
}

// clean fails the test when an error's text holds anything but words fit
// for an administrator: no address, ID or hash of the case, nothing of a
// driver.
func clean(t *testing.T, what string, err error, data ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	text := err.Error()
	for _, d := range data {
		if d != "" && strings.Contains(strings.ToLower(text), strings.ToLower(d)) {
			t.Fatalf("%s: error text %q holds %q", what, text, d)
		}
	}
	for _, w := range []string{"sql", "sqlite", "redis", "lua", "pgx", "postgres", "constraint", "unique", "script", "$argon2id", "syntax", "driver", "(2067)", "duplicate key"} {
		if strings.Contains(strings.ToLower(text), w) && !strings.Contains(text, "usermgmt: duplicate id") {
			t.Fatalf("%s: error text %q holds %q", what, text, w)
		}
	}
	if !strings.HasPrefix(text, "usermgmt: ") {
		t.Fatalf("%s: error text %q is not the library's", what, text)
	}
}

func testErrorTexts(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.user(e.root.ID, "grace@example.com", usermgmt.RoleGeneral)
	data := []string{u.Email, u.ID, e.admin.ID, e.admin.Email, e.root.ID, "grace"}
	_, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "Grace@Example.com", FirstName: "G", LastName: "H", Invite: true})
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	clean(t, "duplicate email", err, data...)
	eq(t, "duplicate email text", err.Error(), usermgmt.ErrDuplicateEmail.Error())
	_, err = e.m.User(e.ctx, e.admin.ID, newID())
	clean(t, "not found", err, data...)
	v := e.get(u.ID).Version
	_, err = e.m.Ban(usermgmt.WithExpectedVersion(e.ctx, v+5), e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrConflict)
	clean(t, "stale version", err, data...)
	_, err = e.m.Ban(e.ctx, e.admin.ID, e.admin.ID)
	isErr(t, err, usermgmt.ErrLastAdmin)
	clean(t, "last admin", err, data...)
	e.group(e.root.ID, "Grace's team")
	_, err = e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{Name: "grace's TEAM"})
	isErr(t, err, usermgmt.ErrDuplicateName)
	clean(t, "duplicate group name", err, data...)
	bad := e.manager(failing{Store: e.store, takenEventID: e.history(e.admin.ID)[0].ID})
	_, err = bad.Disable(e.ctx, e.admin.ID, u.ID)
	isErr(t, err, usermgmt.ErrDuplicateID)
	clean(t, "duplicate event ID", err, append(data, e.history(e.admin.ID)[0].ID)...)
	_, err = e.m.Authenticate(e.ctx, u.Email, "wrong")
	clean(t, "wrong password", err, data...)
	_, err = e.m.AcceptInvitation(e.ctx, strings.Repeat("x", 43), usermgmt.Acceptance{Password: Password})
	clean(t, "unknown token", err, data...)
	_, err = e.m.Ban(e.ctx, e.admin.ID, u.ID)
	ok(t, err)
	_, err = e.m.Ban(e.ctx, e.admin.ID, u.ID)
	clean(t, "invalid transition", err, data...)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: "grace@", FirstName: "G", LastName: "H", Invite: true})
	clean(t, "invalid email", err, data...)
}

// testStoreErrorTexts asks the store directly for each sentinel path: the
// error matches the sentinel, and its text names no data.
func testStoreErrorTexts(t *testing.T, su *suite) {
	e := su.env(t)
	u := e.rawUser(e.root.ID, "store-errors@example.com")
	e.createRaw(u)
	data := []string{u.Email, u.ID, e.root.ID}
	dup := e.rawUser(e.root.ID, u.Email)
	err := e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{{User: dup, Event: rawEvent(dup, usermgmt.ActionCreate)}})
	isErr(t, err, usermgmt.ErrDuplicateEmail)
	clean(t, "store: duplicate email", err, append(data, dup.ID)...)
	stale := u
	stale.Version = 9
	err = e.updateRaw(stale, false)
	isErr(t, err, usermgmt.ErrConflict)
	clean(t, "store: conflict", err, data...)
	_, err = e.store.User(e.ctx, newID())
	isErr(t, err, usermgmt.ErrNotFound)
	clean(t, "store: not found", err, data...)
	again := u
	err = e.store.CreateUsers(e.ctx, []usermgmt.UserCreate{{User: again, Event: rawEvent(again, usermgmt.ActionCreate)}})
	if !errors.Is(err, usermgmt.ErrDuplicateID) && !errors.Is(err, usermgmt.ErrDuplicateEmail) {
		t.Fatalf("store: a reused user ID: %v", err)
	}
	clean(t, "store: duplicate id", err, data...)
}

func testCodes(t *testing.T, su *suite) {
	e := su.env(t)
	_, err := e.m.User(e.ctx, e.admin.ID, newID())
	eq(t, "code", usermgmt.ErrorCode(err), "not_found")
	eq(t, "status", usermgmt.HTTPStatus(err), 404)
	_, err = e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{Email: e.admin.Email, FirstName: "A", LastName: "B", Invite: true})
	eq(t, "code", usermgmt.ErrorCode(err), "duplicate_email")
	eq(t, "status", usermgmt.HTTPStatus(err), 409)
	_, err = e.m.Authenticate(e.ctx, e.admin.Email, "wrong")
	eq(t, "code", usermgmt.ErrorCode(err), "invalid_credentials")
	eq(t, "status", usermgmt.HTTPStatus(err), 401)
}
