package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// TestRoutesMatchDocument holds the routes the handler serves and the
// operations of the OpenAPI document to each other, both ways.
func TestRoutesMatchDocument(t *testing.T) {
	e := newEnv(t)
	d, _ := loadDoc(t)
	documented := map[string]bool{}
	for path, pi := range d.Paths.Map() {
		for method := range pi.Operations() {
			documented[method+" "+base+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range e.h.Routes() {
		served[r] = true
		require.True(t, documented[r], "the handler serves %s but the OpenAPI document lacks it", r)
	}
	for r := range documented {
		require.True(t, served[r], "the OpenAPI document has %s but the handler does not serve it", r)
	}
	require.Len(t, served, len(e.h.Routes()), "a route is registered twice")
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: base + "/openapi.json"})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var doc map[string]any
	r.json(&doc)
	require.Equal(t, "3.1.0", doc["openapi"])
	want, err := httpapi.OpenAPI()
	require.NoError(t, err)
	require.Equal(t, want, r.body)
}

func TestUnroutedRequests(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: base + "/nothing/here", as: e.admin.ID})
	r.refused(http.StatusNotFound, "not_found")
	r = e.do(req{method: "PUT", path: base + "/users/" + e.admin.ID, as: e.admin.ID, body: map[string]any{}})
	r.refused(http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, "GET, PATCH, DELETE", r.header.Get("Allow"))
	r = e.do(req{method: "GET", path: base + "/public/password-reset"})
	r.refused(http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, "POST", r.header.Get("Allow"))
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) { o.MaxBodyBytes = 100 })
	big := `{"first_name": "` + strings.Repeat("a", 200) + `"}`
	e.unchanged(e.admin.ID, func() {
		e.do(req{method: "PATCH", path: base + "/users/" + e.admin.ID, as: e.admin.ID, body: big}).refused(http.StatusRequestEntityTooLarge, "body_too_large")
	})
	// The default is 1 MB.
	e2 := newEnv(t)
	huge := `{"first_name": "` + strings.Repeat("a", 1<<20) + `"}`
	e2.do(req{method: "PATCH", path: base + "/users/" + e2.admin.ID, as: e2.admin.ID, body: huge}).refused(http.StatusRequestEntityTooLarge, "body_too_large")
	e2.do(req{method: "PATCH", path: base + "/users/" + e2.admin.ID, as: e2.admin.ID, body: `{"first_name": "` + strings.Repeat("a", 101) + `"}`}).refused(http.StatusUnprocessableEntity, "invalid_input")
}

func TestCORS(t *testing.T) {
	preflight := func(h http.Handler, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, base+"/users", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// Off by default: no CORS header, and the preflight is refused.
	e := newEnv(t)
	w := preflight(e.h, "https://evil.example")
	require.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	r := e.do(req{method: "GET", path: base + "/roles", as: e.admin.ID, header: map[string]string{"Origin": "https://evil.example"}})
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))

	e = newEnv(t, func(o *httpapi.Options) { o.AllowedOrigins = []string{"https://admin.example"} })
	w = preflight(e.h, "https://admin.example")
	require.Equal(t, http.StatusNoContent, w.Code)
	require.Equal(t, "https://admin.example", w.Header().Get("Access-Control-Allow-Origin"))
	require.Contains(t, w.Header().Get("Access-Control-Allow-Headers"), "If-Match")
	require.Contains(t, w.Header().Get("Access-Control-Allow-Methods"), "PATCH")
	r = e.do(req{method: "GET", path: base + "/roles", as: e.admin.ID, header: map[string]string{"Origin": "https://admin.example"}})
	require.Equal(t, "https://admin.example", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "ETag")
	w = preflight(e.h, "https://evil.example")
	require.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
}

func TestRequestMeta(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/ban", as: e.admin.ID, body: map[string]any{},
		header: map[string]string{"X-Reason": "abuse report #12"}}).user()
	ev := e.events(g.ID)[0]
	require.Equal(t, "abuse report #12", ev.Reason)
	require.Equal(t, "192.0.2.10", ev.IP)
	require.Equal(t, "httpapi-test", ev.UserAgent)
	require.Equal(t, e.admin.ID, ev.ActorID)
	// The body's reason wins over the header.
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/unban", as: e.admin.ID, body: map[string]any{"reason": "appeal granted"},
		header: map[string]string{"X-Reason": "ignored"}}).user()
	require.Equal(t, "appeal granted", e.events(g.ID)[0].Reason)
}

// failingStore fails reads of one user with a driver's error.
type failingStore struct {
	usermgmt.Store
	userID string
}

var errDriver = errors.New(`pq: relation "users_secret" does not exist at 10.0.0.5`)

func (s failingStore) UserAccess(ctx context.Context, id string) (usermgmt.UserRecord, []usermgmt.GroupStamp, error) {
	if id == s.userID {
		return usermgmt.UserRecord{}, nil, errDriver
	}
	return s.Store.UserAccess(ctx, id)
}

func TestStoreFailureNotLeaked(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	m, err := usermgmt.New(failingStore{Store: e.store, userID: g.ID}, usermgmt.WithClock(e.clock), usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	var logs bytes.Buffer
	opts := e.opts
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	h, err := httpapi.New(m, opts)
	require.NoError(t, err)
	r := serve(t, h, req{method: "GET", path: base + "/users/" + g.ID, as: e.admin.ID})
	p := r.refused(http.StatusServiceUnavailable, "store_failure")
	require.NotContains(t, string(r.body), "users_secret")
	require.NotContains(t, string(r.body), "10.0.0.5")
	require.Empty(t, p.Detail)
	require.Contains(t, logs.String(), "users_secret", "the cause is logged")
}

func TestActorErrors(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(o *httpapi.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// No token, a malformed header, and a token the application refuses.
	e.do(req{method: "GET", path: base + "/roles"}).refused(http.StatusUnauthorized, "unauthenticated")
	r := e.do(req{method: "GET", path: base + "/roles", header: map[string]string{"Authorization": "Basic abc"}})
	r.refused(http.StatusUnauthorized, "unauthenticated")
	require.NotEmpty(t, r.header.Get("WWW-Authenticate"))
	require.Contains(t, logs.String(), "no credentials")

	e2 := newEnv(t, func(o *httpapi.Options) {
		o.Actor = httpapi.BearerActor(func(context.Context, string) (string, error) { return "", errors.New("token expired") })
	})
	e2.do(req{method: "POST", path: base + "/users/" + e2.admin.ID + "/ban", as: "whatever", body: map[string]any{}}).refused(http.StatusUnauthorized, "unauthenticated")
	require.Equal(t, usermgmt.StatusActive, e2.get(e2.admin.ID).Status)

	// An actor who is no longer active is 401 too (their session should end).
	g := e.user(e.root.ID, "gene@example.com", "user_admin")
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/disable", as: e.admin.ID, body: map[string]any{}}).user()
	e.do(req{method: "GET", path: base + "/users", as: g.ID}).refused(http.StatusUnauthorized, "actor_inactive")
}

func TestNewRefusesBadOptions(t *testing.T) {
	e := newEnv(t)
	_, err := httpapi.New(nil, e.opts)
	require.Error(t, err)
	_, err = httpapi.New(e.m, httpapi.Options{})
	require.Error(t, err)
	for _, bp := range []string{"admin", "/admin/"} {
		o := e.opts
		o.BasePath = bp
		_, err = httpapi.New(e.m, o)
		require.Error(t, err, bp)
	}
	// At the root.
	o := e.opts
	o.BasePath = ""
	h, err := httpapi.New(e.m, o)
	require.NoError(t, err)
	require.True(t, slices.Contains(h.Routes(), "GET /users/{id}"))
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/users/"+e.admin.ID, nil)
	r.Header.Set("Authorization", "Bearer "+e.admin.ID)
	h.ServeHTTP(rec, r)
	require.Equal(t, http.StatusOK, rec.Code)
	var u usermgmt.User
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &u))
	require.Equal(t, e.admin.ID, u.ID)
}

// TestBodyKeysExact refuses keys that encoding/json would take for a
// field without being its name, repeated keys, and bodies that are not
// objects; nothing changes.
func TestBodyKeysExact(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	path := base + "/users/" + g.ID
	e.unchanged(g.ID, func() {
		for body, field := range map[string]string{
			`{"First_Name": "Gina"}`:                       "First_Name",
			`{"FIRST_NAME": "Gina"}`:                       "FIRST_NAME",
			"{\"la\u017ft_name\": \"Star\"}":               "la\u017ft_name",
			"{\"locale\": \"de\", \"\u212aey\": 1}":        "\u212aey",
			`{"first_name": "Gina", "first_name": "Gigi"}`: "first_name",
		} {
			p := e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: body}).refused(http.StatusBadRequest, "invalid_body")
			require.True(t, hasField(p, field), "%s: %+v", body, p)
		}
		for _, body := range []string{`null`, `[]`, `"x"`, `12`, `[{"first_name": "G"}]`} {
			e.do(req{method: "PATCH", path: path, as: e.admin.ID, body: body}).refused(http.StatusBadRequest, "invalid_body")
			e.do(req{method: "POST", path: path + "/ban", as: e.admin.ID, body: body}).refused(http.StatusBadRequest, "invalid_body")
		}
	})
	// Nested objects are held to the same rule.
	e.do(req{method: "POST", path: base + "/invitations/bulk", as: e.admin.ID,
		body: `{"rows": [{"email": "a@example.com", "Role": "admin"}]}`}).refused(http.StatusBadRequest, "invalid_body")
	_, err := e.m.UserByEmail(e.ctx, usermgmt.System, "a@example.com")
	require.ErrorIs(t, err, usermgmt.ErrNotFound)
}
