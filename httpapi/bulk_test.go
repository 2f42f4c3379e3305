package httpapi_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
	"github.com/usermgmt/usermgmt/httpapi"
)

// upload is a multipart body with the file as its "file" part.
func upload(t *testing.T, name string, file []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", name)
	require.NoError(t, err)
	_, err = fw.Write(file)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return mw.FormDataContentType(), b.Bytes()
}

func (e *env) importFile(as, query, name string, file []byte) *resp {
	e.t.Helper()
	ct, body := upload(e.t, name, file)
	return e.do(req{method: "POST", path: base + "/import" + query, as: as, body: body, header: map[string]string{"Content-Type": ct}})
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	sub, _ := e.sub(e.root.ID, "Client B", "b-admin@example.com")
	_, err := e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{AccountID: sub.ID, Name: "Analysts"})
	require.NoError(t, err)
	e.user(e.root.ID, "taken@example.com", usermgmt.RoleGeneral)
	csv := "Email,First Name,Last Name,Account,Groups,Active,Shoe Size\n" +
		"ann@example.com,Ann,A,Client B,analysts,yes,38\n" + // line 2
		"taken@example.com,T,K,,,,\n" + // line 3
		"bob@example.com,Bob,B,,,maybe,\n" + // line 4: not a boolean
		"cid@example.com,Cid,C,Client B,Gardeners,,\n" + // line 5: no such group
		"ANN@example.com,Ann,Again,,,,\n" + // line 6: repeats line 2
		"dee@example.com,Dee,D,Nowhere,,,\n" + // line 7: no such account
		"eve@example.com,Eve,E,,,no,\n" // line 8: created disabled
	type row struct {
		line    int
		outcome usermgmt.InviteOutcome
		field   string
	}
	want := []row{{2, usermgmt.Invited, ""}, {3, usermgmt.SkippedExists, ""}, {4, usermgmt.Rejected, "active"},
		{5, usermgmt.Rejected, "groups"}, {6, usermgmt.SkippedDuplicate, ""}, {7, usermgmt.Rejected, "account"}, {8, usermgmt.CreatedDisabled, ""}}
	check := func(r *resp, dry bool) httpapi.ImportResponse {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var out httpapi.ImportResponse
		r.json(&out)
		require.Equal(t, dry, out.DryRun)
		require.Equal(t, "csv", out.Format)
		require.Equal(t, []string{"Shoe Size"}, out.UnknownColumns)
		var got []row
		for _, x := range out.Rows {
			got = append(got, row{x.Line, x.Outcome, x.Field})
		}
		require.Equal(t, want, got, "%s", r.body)
		require.Equal(t, 2, out.Rows[4].DuplicateOf)
		return out
	}
	// A dry run writes nothing.
	check(e.importFile(e.admin.ID, "?dry_run=true", "users.csv", []byte(csv)), true)
	_, err = e.m.UserByEmail(e.ctx, usermgmt.System, "ann@example.com")
	require.ErrorIs(t, err, usermgmt.ErrNotFound)

	out := check(e.importFile(e.admin.ID, "", "users.csv", []byte(csv)), false)
	ann, err := e.m.UserByEmail(e.ctx, usermgmt.System, "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, ann.ID, out.Rows[0].UserID)
	require.Equal(t, sub.ID, ann.AccountID)
	require.Len(t, ann.Groups, 1)
	require.Equal(t, usermgmt.StatusInvited, ann.Status)
	eve, err := e.m.UserByEmail(e.ctx, usermgmt.System, "eve@example.com")
	require.NoError(t, err)
	require.Equal(t, usermgmt.StatusDisabled, eve.Status)
	// Re-running it changes nothing: every row is skipped or refused alike.
	r := e.importFile(e.admin.ID, "", "users.csv", []byte(csv))
	var again httpapi.ImportResponse
	r.json(&again)
	require.Equal(t, usermgmt.SkippedPending, again.Rows[0].Outcome)
}

func TestImportRefusals(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) { o.ImportLimits = bulk.Limits{MaxBytes: 1000} })
	count := func() int {
		p, err := e.m.ListUsers(e.ctx, usermgmt.System, usermgmt.UserQuery{AccountID: e.root.ID, IncludeRemoved: true})
		require.NoError(t, err)
		return len(p.Items)
	}
	n := count()
	good := []byte("Email\nz@example.com\n")
	e.importFile(e.admin.ID, "", "u.csv", []byte("Name\nZed\n")).refused(http.StatusUnprocessableEntity, "invalid_file")
	e.importFile(e.admin.ID, "", "u.csv", []byte("")).refused(http.StatusUnprocessableEntity, "invalid_file")
	e.importFile(e.admin.ID, "", "u.xlsx", []byte("PK\x03\x04 not a workbook")).refused(http.StatusUnprocessableEntity, "invalid_file")
	e.importFile(e.admin.ID, "", "u.csv", []byte("Email\n"+strings.Repeat("y@example.com\n", 100))).refused(http.StatusRequestEntityTooLarge, "body_too_large")
	e.importFile(e.admin.ID, "?dry=1", "u.csv", good).refused(http.StatusBadRequest, "invalid_query")
	e.importFile(e.admin.ID, "?role=wizard", "u.csv", good).refused(http.StatusUnprocessableEntity, "unknown_role")
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	n++
	e.importFile(g.ID, "", "u.csv", good).refused(http.StatusForbidden, "permission_denied")
	e.importFile("", "", "u.csv", good).refused(http.StatusUnauthorized, "unauthenticated")
	// Only multipart/form-data, with a file part.
	e.do(req{method: "POST", path: base + "/import", as: e.admin.ID, body: map[string]any{"file": "Email\nz@example.com"}}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	require.NoError(t, mw.WriteField("other", "x"))
	require.NoError(t, mw.Close())
	e.do(req{method: "POST", path: base + "/import", as: e.admin.ID, body: b.Bytes(), header: map[string]string{"Content-Type": mw.FormDataContentType()}}).refused(http.StatusBadRequest, "invalid_body")
	require.Equal(t, n, count())
	// The file itself is fine.
	r := e.importFile(e.admin.ID, "", "u.csv", good)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, n+1, count())
}

func TestExport(t *testing.T) {
	e := newEnv(t)
	sub, _ := e.sub(e.root.ID, "Client B", "b-admin@example.com")
	grp, err := e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{AccountID: sub.ID, Name: "Analysts"})
	require.NoError(t, err)
	c, err := e.m.CreateUser(e.ctx, e.admin.ID, usermgmt.NewUser{AccountID: sub.ID, Email: "ann@example.com",
		FirstName: "=cmd|' /C calc'!A0", LastName: "A", Groups: []string{grp.ID}, Invite: true})
	require.NoError(t, err)
	_, err = e.m.Disable(e.ctx, e.admin.ID, c.User.ID)
	require.NoError(t, err)

	r := e.do(req{method: "GET", path: base + "/export?format=csv", as: e.admin.ID})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=users.csv`, r.header.Get("Content-Disposition"))
	text := string(r.body)
	require.Contains(t, text, "ann@example.com")
	require.Contains(t, text, "Client B")
	require.Contains(t, text, "Analysts")
	require.NotContains(t, text, ",=cmd", "a formula is neutralised")

	// What export writes, import reads: re-importing it is all skips.
	r = e.importFile(e.admin.ID, "?dry_run=true", "users.csv", r.body)
	var out httpapi.ImportResponse
	r.json(&out)
	require.Len(t, out.Rows, 3)
	require.Empty(t, out.UnknownColumns)
	for _, row := range out.Rows {
		require.Contains(t, []usermgmt.InviteOutcome{usermgmt.SkippedExists}, row.Outcome, "%+v", row)
	}

	// XLSX, filtered.
	r = e.do(req{method: "GET", path: base + "/export?format=xlsx&status=disabled", as: e.admin.ID})
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, bytes.HasPrefix(r.body, []byte("PK")))
	rd, err := bulk.NewReader(context.Background(), bytes.NewReader(r.body), bulk.ReadOptions{Name: "users.xlsx"})
	require.NoError(t, err)
	row, err := rd.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ann@example.com", row.Email)
	require.Equal(t, "=cmd|' /C calc'!A0", row.FirstName)
	require.Equal(t, "Client B", row.Account)
	require.Equal(t, []string{"Analysts"}, row.Groups)
	require.NotNil(t, row.Active)
	require.False(t, *row.Active)
	_, err = rd.Next(context.Background())
	require.Error(t, err)

	e.do(req{method: "GET", path: base + "/export?format=pdf", as: e.admin.ID}).refused(http.StatusBadRequest, "invalid_query")
	p := e.do(req{method: "GET", path: base + "/export?status=sleeping", as: e.admin.ID}).refused(http.StatusUnprocessableEntity, "invalid_input")
	require.True(t, hasField(p, "status"), "%+v", p)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "GET", path: base + "/export", as: g.ID}).refused(http.StatusForbidden, "permission_denied")
}

// TestImportRefusesCrossSiteForms: an import is the one write that takes
// multipart/form-data, which a page of another site can send (a form, or a
// fetch in no-cors mode) without a preflight, with the browser's cookies.
// Such a request, told apart by Sec-Fetch-Site or an Origin that is not the
// handler's host, must be refused before any row is read; the same upload
// from the API's own origin, from an origin listed in AllowedOrigins, or
// from a client that is not a browser still works.
func TestImportRefusesCrossSiteForms(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) { o.AllowedOrigins = []string{"https://admin.example"} })
	file := []byte("Email,Role\nmallory@evil.example,admin\n")
	send := func(header map[string]string) *resp {
		t.Helper()
		ct, body := upload(t, "users.csv", file)
		header["Content-Type"] = ct
		return e.do(req{method: "POST", path: base + "/import?role=admin", as: e.admin.ID, body: body, header: header})
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site", "Origin": "null"},
	} {
		send(h).refused(http.StatusForbidden, "cross_origin")
	}
	_, err := e.m.UserByEmail(e.ctx, usermgmt.System, "mallory@evil.example")
	require.ErrorIs(t, err, usermgmt.ErrNotFound, "a cross-site upload imported a user")

	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"},
		{"Origin": "https://admin.example", "Sec-Fetch-Site": "cross-site"},
		{"Origin": "http://example.com"}, // httptest's host
		{},                               // not a browser
	} {
		r := send(h)
		require.Equal(t, http.StatusOK, r.status, "%v: %s", h, r.body)
	}
}

// TestImportCreateDisabled: the upload takes ImportOptions.CreateDisabled
// as the CLI's --disabled does: rows without an Active cell are created
// Disabled, uninvited; a row saying yes is still invited.
func TestImportCreateDisabled(t *testing.T) {
	e := newEnv(t)
	csv := "Email,Active\nfay@example.com,\ngus@example.com,yes\n"
	r := e.importFile(e.admin.ID, "?create_disabled=true", "users.csv", []byte(csv))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out httpapi.ImportResponse
	r.json(&out)
	require.Len(t, out.Rows, 2)
	require.Equal(t, usermgmt.CreatedDisabled, out.Rows[0].Outcome)
	require.Equal(t, usermgmt.Invited, out.Rows[1].Outcome)
	fay, err := e.m.UserByEmail(e.ctx, usermgmt.System, "fay@example.com")
	require.NoError(t, err)
	require.Equal(t, usermgmt.StatusDisabled, fay.Status)
}
