package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

func (e *env) account(id string) usermgmt.Account {
	e.t.Helper()
	a, err := e.store.Account(e.ctx, id)
	require.NoError(e.t, err)
	return a
}

func TestAccounts(t *testing.T) {
	e := newEnv(t)
	// Create a sub-account with its admin.
	r := e.do(req{method: "POST", path: base + "/accounts", as: e.admin.ID, body: map[string]any{
		"parent_id": e.root.ID, "name": "Client B",
		"admin": map[string]any{"email": "b-admin@example.com", "first_name": "Bea", "last_name": "Admin", "invite": true}}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var created struct {
		Account usermgmt.Account `json:"account"`
		Admin   struct {
			User            usermgmt.User `json:"user"`
			InvitationToken string        `json:"invitation_token"`
		} `json:"admin"`
	}
	r.json(&created)
	sub := created.Account
	require.Equal(t, e.root.ID, sub.ParentID)
	require.Equal(t, base+"/accounts/"+sub.ID, r.header.Get("Location"))
	require.Equal(t, usermgmt.RoleAdmin, created.Admin.User.Role)
	require.Empty(t, created.Admin.InvitationToken)

	// Refusals create nothing.
	count := func() int {
		p, err := e.m.Accounts(e.ctx, usermgmt.System, usermgmt.AccountListQuery{RootID: e.root.ID})
		require.NoError(t, err)
		return len(p.Items)
	}
	n := count()
	e.do(req{method: "POST", path: base + "/accounts", as: e.admin.ID, body: map[string]any{
		"name": "Top", "admin": map[string]any{"email": "top@example.com", "first_name": "T", "last_name": "P", "password": fixture.Password}}}).refused(http.StatusForbidden, "permission_denied")
	e.do(req{method: "POST", path: base + "/accounts", as: e.admin.ID, body: map[string]any{
		"parent_id": e.root.ID, "name": "", "admin": map[string]any{"email": "c@example.com", "invite": true}}}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "POST", path: base + "/accounts", as: e.admin.ID, body: map[string]any{
		"parent_id": e.root.ID, "name": "Client C", "admin": map[string]any{"email": "b-admin@example.com", "first_name": "B", "last_name": "A", "invite": true}}}).refused(http.StatusConflict, "duplicate_email")
	e.do(req{method: "POST", path: base + "/accounts", as: e.admin.ID, body: map[string]any{
		"parent_id": e.root.ID, "name": "Client C", "owner": "x"}}).refused(http.StatusBadRequest, "invalid_body")
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/accounts", as: g.ID, body: map[string]any{
		"parent_id": e.root.ID, "name": "Client C", "admin": map[string]any{"email": "c@example.com", "first_name": "C", "last_name": "A", "invite": true}}}).refused(http.StatusForbidden, "permission_denied")
	require.Equal(t, n, count())

	// List the subtree, get one.
	var p struct {
		Items []usermgmt.Account `json:"items"`
		Next  string             `json:"next"`
	}
	e.do(req{method: "GET", path: base + "/accounts?limit=1", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 1)
	require.NotEmpty(t, p.Next)
	e.do(req{method: "GET", path: p.Next, as: e.admin.ID}).json(&p)
	require.Equal(t, sub.ID, p.Items[0].ID)
	e.do(req{method: "GET", path: base + "/accounts?root_id=" + sub.ID, as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 1)
	e.do(req{method: "GET", path: base + "/accounts?depth=1", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")

	r = e.do(req{method: "GET", path: base + "/accounts/" + sub.ID, as: e.admin.ID})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, `"1"`, r.header.Get("ETag"))
	// The sub-account's admin does not reach the parent.
	e.do(req{method: "GET", path: base + "/accounts/" + e.root.ID, as: created.Admin.User.ID}).refused(http.StatusUnauthorized, "actor_inactive")
	_, sa := e.sub(e.root.ID, "Client D", "d-admin@example.com")
	e.do(req{method: "GET", path: base + "/accounts/" + e.root.ID, as: sa.ID}).refused(http.StatusNotFound, "not_found")
	e.do(req{method: "GET", path: base + "/accounts?root_id=" + e.root.ID, as: sa.ID}).refused(http.StatusNotFound, "not_found")

	// Rename, with If-Match.
	r = e.do(req{method: "PATCH", path: base + "/accounts/" + sub.ID, as: e.admin.ID, body: map[string]any{"name": "Client Bee"},
		header: map[string]string{"If-Match": `"1"`}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, `"2"`, r.header.Get("ETag"))
	require.Equal(t, "Client Bee", e.account(sub.ID).Name)
	e.do(req{method: "PATCH", path: base + "/accounts/" + sub.ID, as: e.admin.ID, body: map[string]any{"name": "Client Bzz"},
		header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	e.do(req{method: "PATCH", path: base + "/accounts/" + sub.ID, as: e.admin.ID, body: map[string]any{"name": " "}}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "PATCH", path: base + "/accounts/" + sub.ID, as: e.admin.ID, body: map[string]any{"locale": "no such tag!"}}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "PATCH", path: base + "/accounts/" + e.root.ID, as: sa.ID, body: map[string]any{"name": "Mine"}}).refused(http.StatusNotFound, "not_found")
	require.Equal(t, "Client Bee", e.account(sub.ID).Name)
	require.Equal(t, "All Clients", e.account(e.root.ID).Name)
}

func TestDepartments(t *testing.T) {
	e := newEnv(t)
	path := base + "/accounts/" + e.root.ID + "/departments"
	r := e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"name": "Operations"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, []string{"Operations"}, e.account(e.root.ID).Departments)
	e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"name": "operations"}}).refused(http.StatusConflict, "duplicate_name")
	e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"name": ""}}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "POST", path: path, as: e.admin.ID, body: map[string]any{"name": "Sales"}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	ua := e.user(e.root.ID, "ua@example.com", "user_admin")
	e.do(req{method: "POST", path: path, as: ua.ID, body: map[string]any{"name": "Sales"}}).refused(http.StatusForbidden, "permission_denied")
	require.Equal(t, []string{"Operations"}, e.account(e.root.ID).Departments)

	// A department in use cannot go; once empty it can.
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "PATCH", path: base + "/users/" + g.ID, as: e.admin.ID, body: map[string]any{"department": "Operations"}}).user()
	e.do(req{method: "DELETE", path: path + "/Operations", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "DELETE", path: path + "/Nowhere", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
	require.Equal(t, []string{"Operations"}, e.account(e.root.ID).Departments)
	e.do(req{method: "PATCH", path: base + "/users/" + g.ID, as: e.admin.ID, body: map[string]any{"department": ""}}).user()
	r = e.do(req{method: "DELETE", path: path + "/Operations", as: e.admin.ID, body: map[string]any{"reason": "reorganised"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Empty(t, e.account(e.root.ID).Departments)
}

func TestAccountHistory(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/ban", as: e.admin.ID, body: map[string]any{}}).user()
	var p struct {
		Items []usermgmt.AuditEvent `json:"items"`
	}
	e.do(req{method: "GET", path: base + "/accounts/" + e.root.ID + "/history?action=ban", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 1)
	require.Equal(t, g.ID, p.Items[0].UserID)
	other := e.user(e.root.ID, "other@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "GET", path: base + "/accounts/" + e.root.ID + "/history", as: other.ID}).refused(http.StatusForbidden, "permission_denied")
	e.do(req{method: "GET", path: base + "/accounts/" + e.root.ID + "/history?limit=-1", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	e.do(req{method: "GET", path: base + "/accounts/0190f0f0-0000-7000-8000-000000000000/history", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	var p struct {
		Items []usermgmt.Role `json:"items"`
	}
	e.do(req{method: "GET", path: base + "/roles", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 4)
	require.Equal(t, usermgmt.RoleAdmin, p.Items[0].Name)
	e.do(req{method: "GET", path: base + "/roles"}).refused(http.StatusUnauthorized, "unauthenticated")
}

func (e *env) group(id string) usermgmt.Group {
	e.t.Helper()
	gs, err := e.store.Groups(e.ctx, []string{id})
	require.NoError(e.t, err)
	require.Len(e.t, gs, 1)
	return gs[0]
}

func TestGroups(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: base + "/groups", as: e.admin.ID, body: map[string]any{
		"name": "Analysts", "description": "see insights", "grants": []map[string]any{{"permission": "insights.view"}}}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var g usermgmt.Group
	r.json(&g)
	require.Equal(t, base+"/groups/"+g.ID, r.header.Get("Location"))
	require.Equal(t, `"1"`, r.header.Get("ETag"))
	e.do(req{method: "POST", path: base + "/groups", as: e.admin.ID, body: map[string]any{"name": "analysts"}}).refused(http.StatusConflict, "duplicate_name")
	e.do(req{method: "POST", path: base + "/groups", as: e.admin.ID, body: map[string]any{"name": "X", "grants": []map[string]any{{"permission": "payment"}}}}).refused(http.StatusUnprocessableEntity, "not_grantable")
	e.do(req{method: "POST", path: base + "/groups", as: e.admin.ID, body: map[string]any{"title": "X"}}).refused(http.StatusBadRequest, "invalid_body")

	var p struct {
		Items []usermgmt.Group `json:"items"`
	}
	e.do(req{method: "GET", path: base + "/groups", as: e.admin.ID}).json(&p)
	require.Len(t, p.Items, 1)
	e.do(req{method: "GET", path: base + "/groups?account_id=nope", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")

	r = e.do(req{method: "GET", path: base + "/groups/" + g.ID, as: e.admin.ID})
	require.Equal(t, http.StatusOK, r.status)
	e.do(req{method: "GET", path: base + "/groups/nope", as: e.admin.ID}).refused(http.StatusNotFound, "not_found")
	gu := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "GET", path: base + "/groups/" + g.ID, as: gu.ID}).refused(http.StatusForbidden, "permission_denied")

	// Rename with If-Match; a stale one changes nothing.
	r = e.do(req{method: "PATCH", path: base + "/groups/" + g.ID, as: e.admin.ID, body: map[string]any{"name": "Analysts EU"}, header: map[string]string{"If-Match": `"1"`}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, `"2"`, r.header.Get("ETag"))
	e.do(req{method: "PATCH", path: base + "/groups/" + g.ID, as: e.admin.ID, body: map[string]any{"name": "Analysts US"}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	e.do(req{method: "PATCH", path: base + "/groups/" + g.ID, as: e.admin.ID, body: map[string]any{"name": ""}}).refused(http.StatusUnprocessableEntity, "invalid_input")
	require.Equal(t, "Analysts EU", e.group(g.ID).Name)

	// Grants.
	r = e.do(req{method: "POST", path: base + "/groups/" + g.ID + "/grants", as: e.admin.ID, body: map[string]any{"permission": "reports.view", "resource": "report:7"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Len(t, e.group(g.ID).Grants, 2)
	e.do(req{method: "POST", path: base + "/groups/" + g.ID + "/grants", as: e.admin.ID, body: map[string]any{"permission": "pricing"}}).refused(http.StatusUnprocessableEntity, "not_grantable")
	e.do(req{method: "DELETE", path: base + "/groups/" + g.ID + "/grants?resource=report:7", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	require.Len(t, e.group(g.ID).Grants, 2)
	r = e.do(req{method: "DELETE", path: base + "/groups/" + g.ID + "/grants?permission=reports.view&resource=report:7", as: e.admin.ID})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Len(t, e.group(g.ID).Grants, 1)

	// Members.
	e.do(req{method: "PUT", path: base + "/groups/" + g.ID + "/members/" + gu.ID, as: e.admin.ID}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")
	e.do(req{method: "PATCH", path: base + "/users/" + gu.ID, as: e.admin.ID, body: map[string]any{"first_name": "Gina"}}).user()
	e.unchanged(gu.ID, func() {
		e.do(req{method: "PUT", path: base + "/groups/nope/members/" + gu.ID, as: e.admin.ID, body: map[string]any{}}).refused(http.StatusNotFound, "not_found")
		e.do(req{method: "PUT", path: base + "/groups/" + g.ID + "/members/" + gu.ID, as: e.admin.ID, body: map[string]any{}, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	})
	m := e.do(req{method: "PUT", path: base + "/groups/" + g.ID + "/members/" + gu.ID, as: e.admin.ID, body: map[string]any{}, header: map[string]string{"If-Match": `"2"`}}).user()
	require.Equal(t, []string{g.ID}, m.Groups)
	var members struct {
		Items []usermgmt.User `json:"items"`
	}
	e.do(req{method: "GET", path: base + "/users?group_id=" + g.ID, as: e.admin.ID}).json(&members)
	require.Len(t, members.Items, 1)
	m = e.do(req{method: "DELETE", path: base + "/groups/" + g.ID + "/members/" + gu.ID, as: e.admin.ID}).user()
	require.Empty(t, m.Groups)
	e.do(req{method: "PUT", path: base + "/groups/" + g.ID + "/members/" + gu.ID, as: e.admin.ID, body: map[string]any{}}).user()

	// Delete: a stale If-Match changes nothing; the current one deletes
	// the group and takes every member out.
	version := e.group(g.ID).Version
	e.do(req{method: "DELETE", path: base + "/groups/" + g.ID, as: e.admin.ID, header: map[string]string{"If-Match": `"1"`}}).refused(http.StatusPreconditionFailed, "precondition_failed")
	require.False(t, e.group(g.ID).Deleted)
	r = e.do(req{method: "DELETE", path: base + "/groups/" + g.ID, as: e.admin.ID, header: map[string]string{"If-Match": `"` + itoa(version) + `"`}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.True(t, e.group(g.ID).Deleted)
	require.Empty(t, e.get(gu.ID).Groups)
	e.do(req{method: "PATCH", path: base + "/groups/" + g.ID, as: e.admin.ID, body: map[string]any{"name": "Back"}}).refused(http.StatusNotFound, "not_found")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
