package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// unchanged runs f and checks that the user's stored version and history
// did not move.
func (e *env) unchanged(userID string, f func()) {
	e.t.Helper()
	before, n := e.get(userID).Version, len(e.events(userID))
	f()
	require.Equal(e.t, before, e.get(userID).Version, "the user changed")
	require.Len(e.t, e.events(userID), n, "an event was written")
}

func TestGetUser(t *testing.T) {
	e := newEnv(t)
	u := e.do(req{method: "GET", path: base + "/users/" + e.admin.ID, as: e.admin.ID}).user()
	require.Equal(t, e.admin.ID, u.ID)
	require.Equal(t, "root-admin@example.com", u.Email)

	e.do(req{method: "GET", path: base + "/users/nope", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
	e.do(req{method: "GET", path: base + "/users/" + e.admin.ID}).refused(http.StatusUnauthorized, "unauthenticated")
	e.do(req{method: "GET", path: base + "/users/" + e.admin.ID, as: "ghost"}).refused(http.StatusUnauthorized, "actor_inactive")

	// Outside the actor's reach is answered like absent.
	_, oc, err := e.m.CreateAccount(e.ctx, usermgmt.System, usermgmt.NewAccount{Name: "Other",
		Admin: usermgmt.NewUser{Email: "other@example.com", FirstName: "O", LastName: "T", Password: fixture.Password}})
	require.NoError(t, err)
	outsider := oc.User
	absent := e.do(req{method: "GET", path: base + "/users/0190f0f0-0000-7000-8000-000000000000", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
	hidden := e.do(req{method: "GET", path: base + "/users/" + outsider.ID, as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
	require.Equal(t, absent, hidden)

	// A general user may read themselves only.
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "GET", path: base + "/users/" + g.ID, as: g.ID}).user()
	e.do(req{method: "GET", path: base + "/users/" + e.admin.ID, as: g.ID}).refused(http.StatusForbidden, "permission_denied")
}

func TestListUsers(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.user(e.root.ID, fmt.Sprintf("list%d@example.com", i), usermgmt.RoleGeneral)
	}
	e.invited(e.root.ID, "invitee@example.com")

	r := e.do(req{method: "GET", path: base + "/users?limit=2", as: e.admin.ID})
	require.Equal(t, http.StatusOK, r.status)
	var p struct {
		Items      []usermgmt.User `json:"items"`
		NextCursor string          `json:"next_cursor"`
		Next       string          `json:"next"`
	}
	r.json(&p)
	require.Len(t, p.Items, 2)
	require.NotEmpty(t, p.NextCursor)
	require.Equal(t, base+"/users?cursor="+url.QueryEscape(p.NextCursor)+"&limit=2", p.Next)
	require.Equal(t, "<"+p.Next+`>; rel="next"`, r.header.Get("Link"))

	// Following the next links visits every user once.
	seen := map[string]bool{}
	next := base + "/users?limit=2"
	for next != "" {
		var pg struct {
			Items []usermgmt.User `json:"items"`
			Next  string          `json:"next"`
		}
		e.do(req{method: "GET", path: next, as: e.admin.ID}).json(&pg)
		for _, u := range pg.Items {
			require.False(t, seen[u.ID])
			seen[u.ID] = true
		}
		next = pg.Next
	}
	require.Len(t, seen, 7)

	// Filters: status (repeated), role, search, total.
	var f struct {
		Items []usermgmt.User `json:"items"`
		Total *int            `json:"total"`
		Next  string          `json:"next"`
	}
	e.do(req{method: "GET", path: base + "/users?status=invited", as: e.admin.ID}).json(&f)
	require.Len(t, f.Items, 1)
	require.Equal(t, "invitee@example.com", f.Items[0].Email)
	e.do(req{method: "GET", path: base + "/users?status=invited&status=active&role=admin", as: e.admin.ID}).json(&f)
	require.Len(t, f.Items, 1)
	require.Equal(t, e.admin.ID, f.Items[0].ID)
	e.do(req{method: "GET", path: base + "/users?search=list3", as: e.admin.ID}).json(&f)
	require.Len(t, f.Items, 1)
	e.do(req{method: "GET", path: base + "/users?total=true&limit=1", as: e.admin.ID}).json(&f)
	require.Len(t, f.Items, 1)
	require.NotNil(t, f.Total)
	require.Equal(t, 7, *f.Total)

	// Refusals.
	e.do(req{method: "GET", path: base + "/users?limit=0x", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	p2 := e.do(req{method: "GET", path: base + "/users?statuses=active", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	require.True(t, hasField(p2, "statuses"))
	e.do(req{method: "GET", path: base + "/users?limit=5000", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "GET", path: base + "/users?cursor=bogus", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_cursor")
	e.do(req{method: "GET", path: base + "/users?search=ab", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	// The problem names the query parameter, status, not UserQuery's field.
	p3 := e.do(req{method: "GET", path: base + "/users?status=asleep", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	require.True(t, hasField(p3, "status"), "%+v", p3)
	require.False(t, hasField(p3, "statuses"), "%+v", p3)
	e.do(req{method: "GET", path: base + "/users?role=emperor", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "unknown_role")
	e.do(req{method: "GET", path: base + "/users?include_removed=maybe", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	e.do(req{method: "GET", path: base + "/users?account_id=0190f0f0-0000-7000-8000-000000000000", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
	g := e.user(e.root.ID, "plain@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "GET", path: base + "/users", as: g.ID}).refused(http.StatusForbidden, "permission_denied")
	e.do(req{method: "GET", path: base + "/users"}).refused(http.StatusUnauthorized, "unauthenticated")
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: base + "/users", as: e.admin.ID, body: map[string]any{
		"email": "New.User@Example.com", "first_name": "New", "last_name": "User", "password": fixture.Password, "reason": "hired"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var c struct {
		User            usermgmt.User `json:"user"`
		InvitationToken string        `json:"invitation_token"`
	}
	r.json(&c)
	require.Equal(t, "new.user@example.com", c.User.Email)
	require.Equal(t, usermgmt.StatusActive, c.User.Status)
	require.Equal(t, base+"/users/"+c.User.ID, r.header.Get("Location"))
	require.Equal(t, `"1"`, r.header.Get("ETag"))
	evs := e.events(c.User.ID)
	require.Len(t, evs, 1)
	require.Equal(t, "hired", evs[0].Reason)
	require.Equal(t, "192.0.2.10", evs[0].IP)
	require.Equal(t, "httpapi-test", evs[0].UserAgent)

	// An invitation through POST /users keeps its token to itself by default.
	r = e.do(req{method: "POST", path: base + "/users", as: e.admin.ID, body: map[string]any{
		"email": "inv@example.com", "first_name": "In", "last_name": "Vited", "invite": true}})
	require.Equal(t, http.StatusCreated, r.status)
	r.json(&c)
	require.Empty(t, c.InvitationToken)
	require.Equal(t, usermgmt.StatusInvited, c.User.Status)

	count := func() int {
		p, err := e.m.ListUsers(e.ctx, usermgmt.System, usermgmt.UserQuery{AccountID: e.root.ID, IncludeRemoved: true})
		require.NoError(t, err)
		return len(p.Items)
	}
	n := count()
	refuse := func(body any, status int, code, field string) {
		t.Helper()
		p := e.do(req{method: "POST", path: base + "/users", as: e.admin.ID, body: body}).refused(status, code)
		if field != "" {
			require.True(t, hasField(p, field), "%+v", p)
		}
		require.Equal(t, n, count(), "a refused create created a user")
	}
	refuse(map[string]any{"email": "new.user@example.com", "first_name": "A", "last_name": "B", "password": fixture.Password}, http.StatusConflict, "duplicate_email", "")
	refuse(map[string]any{"email": "not-an-address", "first_name": "A", "last_name": "B", "password": fixture.Password}, http.StatusUnprocessableEntity, "invalid_email", "")
	p := e.do(req{method: "POST", path: base + "/users", as: e.admin.ID, body: map[string]any{
		"email": "weak@example.com", "first_name": "A", "last_name": "B", "password": "short"}}).refused(http.StatusUnprocessableEntity, "weak_password")
	require.NotEmpty(t, p.Reasons)
	require.True(t, hasField(p, "password"))
	refuse(map[string]any{"email": "x@example.com", "first_name": "A", "last_name": "B"}, http.StatusUnprocessableEntity, "invalid_input", "password")
	refuse(map[string]any{"email": "x@example.com", "first_name": "", "last_name": "B", "password": fixture.Password}, http.StatusUnprocessableEntity, "invalid_input", "first_name")
	refuse(map[string]any{"email": "x@example.com", "first_name": "A", "last_name": "B", "password": fixture.Password, "role": "emperor"}, http.StatusUnprocessableEntity, "unknown_role", "role")
	refuse(map[string]any{"email": "x@example.com", "first_name": "A", "last_name": "B", "password": fixture.Password, "nickname": "x"}, http.StatusBadRequest, "invalid_body", "nickname")
	refuse(map[string]any{"email": 42}, http.StatusBadRequest, "invalid_body", "email")
	refuse(`{"email": "x@example.com"} {}`, http.StatusBadRequest, "invalid_body", "")
	refuse(`{"email": `, http.StatusBadRequest, "invalid_body", "")
	refuse(``, http.StatusBadRequest, "invalid_body", "")
	refuse(map[string]any{"email": "x@mailinator.com", "first_name": "A", "last_name": "B", "password": fixture.Password}, http.StatusUnprocessableEntity, "disposable_email", "email")
	// A user admin cannot make an admin.
	ua := e.user(e.root.ID, "ua@example.com", "user_admin")
	n = count()
	e.do(req{method: "POST", path: base + "/users", as: ua.ID, body: map[string]any{
		"email": "boss@example.com", "first_name": "A", "last_name": "B", "password": fixture.Password, "role": "admin"}}).refused(http.StatusForbidden, "target_outranks")
	require.Equal(t, n, count())
	e.do(req{method: "POST", path: base + "/users", body: map[string]any{"email": "anon@example.com"}}).refused(http.StatusUnauthorized, "unauthenticated")
	e.do(req{method: "POST", path: base + "/users", as: e.admin.ID, noType: true, body: map[string]any{
		"email": "form@example.com", "first_name": "A", "last_name": "B", "password": fixture.Password}}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")
	e.do(req{method: "POST", path: base + "/users", as: e.admin.ID, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body: "email=form@example.com"}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")
	require.Equal(t, n, count())
}

func TestExposeTokens(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) { o.ExposeTokens = true })
	r := e.do(req{method: "POST", path: base + "/invitations", as: e.admin.ID, body: map[string]any{
		"email": "inv@example.com", "first_name": "In", "last_name": "Vited"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var c struct {
		User            usermgmt.User `json:"user"`
		InvitationToken string        `json:"invitation_token"`
	}
	r.json(&c)
	require.NotEmpty(t, c.InvitationToken)
	inv, err := e.m.Invitation(e.ctx, c.InvitationToken)
	require.NoError(t, err)
	require.Equal(t, c.User.ID, inv.UserID)

	var ec struct {
		User  usermgmt.User `json:"user"`
		Token string        `json:"token"`
	}
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/email", as: e.admin.ID, body: map[string]any{"email": "gina@example.com"}}).json(&ec)
	require.NotEmpty(t, ec.Token)
	var resent usermgmt.Invitation
	e.do(req{method: "POST", path: base + "/invitations/" + c.User.ID + "/resend", as: e.admin.ID, body: map[string]any{}}).json(&resent)
	require.NotEmpty(t, resent.Token)
}

func TestLookupUser(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	u := e.do(req{method: "POST", path: base + "/users/lookup", as: e.admin.ID, body: map[string]any{"email": "GENE@example.com"}}).user()
	require.Equal(t, g.ID, u.ID)
	e.do(req{method: "POST", path: base + "/users/lookup", as: e.admin.ID, body: map[string]any{"email": "nobody@example.com"}}).refused(http.StatusNotFound, "not_found")
	e.do(req{method: "POST", path: base + "/users/lookup", as: e.admin.ID, body: map[string]any{"email": "nonsense"}}).refused(http.StatusUnprocessableEntity, "invalid_email")
	e.do(req{method: "POST", path: base + "/users/lookup", as: g.ID, body: map[string]any{"email": "root-admin@example.com"}}).refused(http.StatusForbidden, "permission_denied")
	e.do(req{method: "POST", path: base + "/users/lookup", as: e.admin.ID, body: map[string]any{"mail": "x"}}).refused(http.StatusBadRequest, "invalid_body")
}

func TestUpdateProfile(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID
	u := e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"first_name": "Gina"},
		header: map[string]string{"If-Match": `"1"`, "X-Reason": "typo"}}).user()
	require.Equal(t, "Gina", u.FirstName)
	require.Equal(t, int64(2), u.Version)
	require.Equal(t, "typo", e.events(g.ID)[0].Reason)

	// A stale If-Match is 412 and changes nothing; so is a malformed or weak one.
	e.unchanged(g.ID, func() {
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"first_name": "Gloria"},
			header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"first_name": "Gloria"},
			header: map[string]string{"If-Match": `W/"2"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"first_name": "Gloria"},
			header: map[string]string{"If-Match": `"02"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"first_name": ""}}).refused(http.StatusUnprocessableEntity, "invalid_input")
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"department": "Nowhere"}}).refused(http.StatusUnprocessableEntity, "invalid_input")
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"nick": "G"}}).refused(http.StatusBadRequest, "invalid_body")
		e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"first_name": 7}}).refused(http.StatusBadRequest, "invalid_body")
		e.do(req{method: "PATCH", path: base + "/users/" + e.admin.ID, as: g.ID, body: map[string]any{"first_name": "X"}}).refused(http.StatusForbidden, "permission_denied")
	})
	// "*" matches any version; the current ETag matches.
	e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: map[string]any{"last_name": "Star"}, header: map[string]string{"If-Match": "*"}}).user()
	u = e.do(req{method: "PATCH", path: path, as: g.ID, body: map[string]any{"locale": "de-CH"}, header: map[string]string{"If-Match": `"3"`}}).user()
	require.Equal(t, "de-CH", u.Locale)
	e.do(req{method: "PATCH", path: base + "/users/0190f0f0-0000-7000-8000-000000000000", as: e.admin.ID, body: map[string]any{"first_name": "X"}}).refused(http.StatusNotFound, "not_found")
}

func TestChangeRole(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID + "/role"
	u := e.do(req{method: "PUT", path: path, as: e.admin.ID, body: map[string]any{"role": "user_admin"}}).user()
	require.Equal(t, "user_admin", u.Role)
	e.unchanged(g.ID, func() {
		e.do(req{method: "PUT", path: path, as: e.admin.ID, body: map[string]any{"role": "emperor"}}).refused(http.StatusUnprocessableEntity, "unknown_role")
		e.do(req{method: "PUT", path: path, as: g.ID, body: map[string]any{"role": "admin"}}).refused(http.StatusForbidden, "target_outranks")
		e.do(req{method: "PUT", path: path, as: e.admin.ID, body: map[string]any{"role": "general"}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	})
	e.unchanged(e.admin.ID, func() {
		e.do(req{method: "PUT", path: base + "/users/" + e.admin.ID + "/role", as: e.admin.ID, body: map[string]any{"role": "general"}}).refused(http.StatusConflict, "last_admin")
	})
}

func TestChangeEmail(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID + "/email"
	r := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"email": "gina@example.com"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var ec struct {
		User  usermgmt.User `json:"user"`
		Token string        `json:"token"`
	}
	r.json(&ec)
	require.Equal(t, "gina@example.com", ec.User.PendingEmail)
	require.Empty(t, ec.Token)
	require.Equal(t, fmt.Sprintf(`"%d"`, ec.User.Version), r.header.Get("ETag"))
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"email": "root-admin@example.com"}}).refused(http.StatusConflict, "duplicate_email")
		e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"email": "bad"}}).refused(http.StatusUnprocessableEntity, "invalid_email")
	})
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/ban", as: e.admin.ID, body: map[string]any{}}).user()
	p := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"email": "gigi@example.com"}}).refused(http.StatusConflict, "invalid_transition")
	require.Equal(t, "cannot email_change a user who is banned", p.Detail)
}

func TestMoveUser(t *testing.T) {
	e := newEnv(t)
	sub, _ := e.sub(e.root.ID, "Client B", "b-admin@example.com")
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID + "/move"
	u := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"account_id": sub.ID}}).user()
	require.Equal(t, sub.ID, u.AccountID)
	other, _, err := e.m.CreateAccount(e.ctx, usermgmt.System, usermgmt.NewAccount{Name: "Elsewhere",
		Admin: usermgmt.NewUser{Email: "else@example.com", FirstName: "E", LastName: "L", Password: fixture.Password}})
	require.NoError(t, err)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"account_id": other.ID}}).refused(http.StatusNotFound, "not_found")
		p := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{}}).refused(http.StatusUnprocessableEntity, "invalid_input")
		require.True(t, hasField(p, "account_id"))
		e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"account_id": e.root.ID}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	})
}

func TestSetPassword(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID + "/password"
	u := e.do(req{method: "PUT", path: path, as: e.admin.ID, body: map[string]any{"password": "a brand new passphrase"}}).user()
	require.Equal(t, int64(2), u.Version)
	_, err := e.m.Authenticate(e.ctx, "gene@example.com", "a brand new passphrase")
	require.NoError(t, err)
	e.unchanged(g.ID, func() {
		p := e.do(req{method: "PUT", path: path, as: e.admin.ID, body: map[string]any{"password": "short"}}).refused(http.StatusUnprocessableEntity, "weak_password")
		require.NotEmpty(t, p.Reasons)
		e.do(req{method: "PUT", path: path, as: e.admin.ID, body: map[string]any{"password": fixture.Password, "extra": 1}}).refused(http.StatusBadRequest, "invalid_body")
		e.do(req{method: "PUT", path: path, as: g.ID, body: map[string]any{"password": fixture.Password}}).refused(http.StatusForbidden, "permission_denied")
	})
}

func TestStatusChanges(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	p := func(action string) string { return base + "/users/" + g.ID + "/" + action }
	u := e.do(req{method: "POST", path: p("ban"), as: e.admin.ID, body: map[string]any{"reason": "spam"}}).user()
	require.Equal(t, usermgmt.StatusBanned, u.Status)
	require.Equal(t, "spam", e.events(g.ID)[0].Reason)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: p("ban"), as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "invalid_transition")
		e.do(req{method: "POST", path: p("enable"), as: e.admin.ID}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")
		e.do(req{method: "POST", path: p("unban"), as: e.admin.ID, body: map[string]any{"why": "x"}}).refused(http.StatusBadRequest, "invalid_body")
		e.do(req{method: "POST", path: p("unban"), as: e.admin.ID, body: map[string]any{}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	})
	// An empty JSON body is {}.
	u = e.do(req{method: "POST", path: p("unban"), as: e.admin.ID, body: "", header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}).user()
	require.Equal(t, usermgmt.StatusActive, u.Status)
	u = e.do(req{method: "POST", path: p("disable"), as: e.admin.ID, body: map[string]any{}, header: map[string]string{"If-Match": fmt.Sprintf(`"%d"`, u.Version)}}).user()
	require.Equal(t, usermgmt.StatusDisabled, u.Status)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: p("disable"), as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "invalid_transition")
		e.do(req{method: "POST", path: p("reactivate"), as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "invalid_transition")
		e.do(req{method: "POST", path: p("unlock"), as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "invalid_transition")
	})
	u = e.do(req{method: "POST", path: p("enable"), as: e.admin.ID, body: map[string]any{}}).user()
	require.Equal(t, usermgmt.StatusActive, u.Status)

	// Reactivate an inactive user.
	e.clock.Advance(60 * 24 * time.Hour)
	_, err := e.m.Authenticate(e.ctx, e.admin.Email, fixture.Password)
	require.NoError(t, err)
	e.clock.Advance(60 * 24 * time.Hour)
	_, err = e.m.Sweep(e.ctx)
	require.NoError(t, err)
	require.Equal(t, usermgmt.StatusInactive, e.get(g.ID).Status)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: p("enable"), as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "invalid_transition")
	})
	u = e.do(req{method: "POST", path: p("reactivate"), as: e.admin.ID, body: map[string]any{}}).user()
	require.Equal(t, usermgmt.StatusActive, u.Status)

	// Remove, with DELETE: no body needs no Content-Type.
	u = e.do(req{method: "DELETE", path: base + "/users/" + g.ID, as: e.admin.ID}).user()
	require.Equal(t, usermgmt.StatusRemoved, u.Status)
	e.unchanged(g.ID, func() {
		e.do(req{method: "DELETE", path: base + "/users/" + g.ID, as: e.admin.ID}).refused(http.StatusConflict, "invalid_transition")
		e.do(req{method: "DELETE", path: base + "/users/" + g.ID, as: e.admin.ID, body: "reason=x", noType: true}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	e.unchanged(e.admin.ID, func() {
		e.do(req{method: "DELETE", path: base + "/users/" + e.admin.ID, as: e.admin.ID, body: map[string]any{"reason": "leaving"}}).refused(http.StatusConflict, "last_admin")
		e.do(req{method: "POST", path: base + "/users/" + e.admin.ID + "/ban", as: e.admin.ID, body: map[string]any{}}).refused(http.StatusConflict, "last_admin")
	})
}

func TestUnlock(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	lock := func() {
		for range 10 {
			_, _ = e.m.Authenticate(e.ctx, "gene@example.com", "not the password")
		}
		require.Equal(t, usermgmt.StatusLocked, e.get(g.ID).Status)
	}
	lock()
	path := base + "/users/" + g.ID + "/unlock"
	e.unchanged(g.ID, func() {
		p := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"password": "short"}}).refused(http.StatusUnprocessableEntity, "weak_password")
		require.NotEmpty(t, p.Reasons)
	})
	u := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{}}).user()
	require.Equal(t, usermgmt.StatusActive, u.Status)
	lock()
	u = e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"password": "unlocked with a new one"}}).user()
	require.Equal(t, usermgmt.StatusActive, u.Status)
	_, err := e.m.Authenticate(e.ctx, "gene@example.com", "unlocked with a new one")
	require.NoError(t, err)
}

func TestUserGrants(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID + "/grants"
	u := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"permission": "insights.view", "resource": "insight:42"}}).user()
	require.Equal(t, []usermgmt.Grant{{Permission: "insights.view", Resource: "insight:42"}}, u.Grants)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"permission": "users.manage"}}).refused(http.StatusUnprocessableEntity, "not_grantable")
		e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"permission": "x", "resource": "no-colon"}}).refused(http.StatusUnprocessableEntity, "invalid_input")
		e.do(req{method: "DELETE", path: path, as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
		e.do(req{method: "DELETE", path: path + "?permission=insights.view&scope=x", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	})
	u = e.do(req{method: "DELETE", path: path + "?permission=insights.view&resource=insight%3A42", as: e.admin.ID}).user()
	require.Empty(t, u.Grants)
}

func TestUserHistory(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	for _, a := range []string{"ban", "unban", "disable", "enable"} {
		e.do(req{method: "POST", path: base + "/users/" + g.ID + "/" + a, as: e.admin.ID, body: map[string]any{}}).user()
	}
	var p struct {
		Items []usermgmt.AuditEvent `json:"items"`
		Next  string                `json:"next"`
	}
	e.do(req{method: "GET", path: base + "/users/" + g.ID + "/history?limit=2", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 2)
	require.Equal(t, usermgmt.ActionEnable, p.Items[0].Action)
	e.do(req{method: "GET", path: p.Next, as: e.admin.ID}).json(&p)
	require.Equal(t, usermgmt.ActionUnban, p.Items[0].Action)
	e.do(req{method: "GET", path: base + "/users/" + g.ID + "/history?action=ban&action=create", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 2)
	since := fixture.Start.Add(-time.Hour).Format(time.RFC3339)
	e.do(req{method: "GET", path: base + "/users/" + g.ID + "/history?since=" + since + "&actor_id=" + e.admin.ID, as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 4)
	// A user reads their own history.
	e.do(req{method: "GET", path: base + "/users/" + g.ID + "/history", as: g.ID}).json(&p)

	e.do(req{method: "GET", path: base + "/users/" + g.ID + "/history?since=yesterday", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	e.do(req{method: "GET", path: base + "/users/" + g.ID + "/history?since=" + since + "&until=" + since, as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "GET", path: base + "/users/" + e.admin.ID + "/history", as: g.ID}).refused(http.StatusForbidden, "permission_denied")
	e.do(req{method: "GET", path: base + "/users/0190f0f0-0000-7000-8000-000000000000/history", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
}
