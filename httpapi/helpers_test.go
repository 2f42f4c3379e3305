package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

const base = "/admin/api"

// The OpenAPI document, loaded once, and the operations the suite has
// exercised.
var (
	docOnce   sync.Once
	doc       *openapi3.T
	docRouter routers.Router
	docErr    error

	exercisedMu sync.Mutex
	exercised   = map[string]bool{} // operationId -> answered with its documented success
)

func loadDoc(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	docOnce.Do(func() {
		raw, err := httpapi.OpenAPI()
		if err != nil {
			docErr = err
			return
		}
		openapi3filter.RegisterBodyDecoder("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", openapi3filter.FileBodyDecoder)
		loader := openapi3.NewLoader()
		doc, docErr = loader.LoadFromData(raw)
		if docErr != nil {
			return
		}
		if docErr = doc.Validate(loader.Context); docErr != nil {
			return
		}
		docRouter, docErr = legacy.NewRouter(doc)
	})
	require.NoError(t, docErr, "the OpenAPI document")
	return doc, docRouter
}

// TestMain runs the suite and then, when it ran whole, checks that every
// operation of the document was exercised with a success.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() &&
		flag.Lookup("test.fuzz").Value.String() == "" {
		d, _ := loadDocForMain()
		var missing []string
		for _, pi := range d.Paths.Map() {
			for _, op := range pi.Operations() {
				if !exercised[op.OperationID] {
					missing = append(missing, op.OperationID)
				}
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: documented operations no test answered with success: %s\n", strings.Join(missing, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

func loadDocForMain() (*openapi3.T, error) {
	raw, err := httpapi.OpenAPI()
	if err != nil {
		return nil, err
	}
	return openapi3.NewLoader().LoadFromData(raw)
}

// env is a Manager over a memory store with a root account and its admin,
// and the handler under test mounted at base.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  *memstore.Store
	clock  *usermgmt.FakeClock
	m      *usermgmt.Manager
	h      *httpapi.Handler
	opts   httpapi.Options
	root   usermgmt.Account
	admin  usermgmt.User
	sender *capture
}

type envOption func(*httpapi.Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), store: memstore.New(), clock: usermgmt.NewFakeClock(fixture.Start), sender: &capture{}}
	m, err := usermgmt.New(e.store, usermgmt.WithClock(e.clock), usermgmt.WithHashParams(fixture.FastHash),
		usermgmt.WithOutboxKeys(fixture.OutboxKey), usermgmt.WithSender(e.sender), usermgmt.WithRoles(usermgmt.PortalRoles()...))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	e.m = m
	a, c, err := m.CreateAccount(e.ctx, usermgmt.System, usermgmt.NewAccount{Name: "All Clients",
		Admin: usermgmt.NewUser{Email: "root-admin@example.com", FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	require.NoError(t, err)
	e.root, e.admin = a, c.User
	e.opts = httpapi.Options{
		BasePath: base,
		// The test token is the user's ID.
		Actor: httpapi.BearerActor(func(_ context.Context, token string) (string, error) { return token, nil }),
		// Generous limits, so that only the tests of limits meet them.
		AddressLimiter: httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: 1000, Every: time.Millisecond}),
		EmailLimiter:   httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: 1000, Every: time.Millisecond}),
	}
	for _, o := range opts {
		o(&e.opts)
	}
	e.h, err = httpapi.New(m, e.opts)
	require.NoError(t, err)
	return e
}

// capture is a Sender that keeps what it is given.
type capture struct {
	mu   sync.Mutex
	sent []usermgmt.Notification
}

func (c *capture) Send(_ context.Context, n usermgmt.Notification) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, n)
	return nil
}

// token delivers due messages and returns the token of the last one of
// the kind sent to the address.
func (e *env) token(kind usermgmt.NotificationKind, to string) string {
	e.t.Helper()
	e.m.Wait()
	_, err := e.m.DeliverDue(e.ctx, usermgmt.DeliveryOptions{})
	require.NoError(e.t, err)
	e.sender.mu.Lock()
	defer e.sender.mu.Unlock()
	tok := ""
	for _, n := range e.sender.sent {
		if n.Kind == kind && n.To == to {
			tok = n.Token
		}
	}
	return tok
}

// user creates an active user in the account with the role.
func (e *env) user(accountID, email, role string) usermgmt.User {
	e.t.Helper()
	c, err := e.m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{AccountID: accountID, Email: email,
		FirstName: "Gene", LastName: "User", Role: role, Password: fixture.Password})
	require.NoError(e.t, err)
	return c.User
}

// invited creates an invited user and returns it with its token.
func (e *env) invited(accountID, email string) (usermgmt.User, string) {
	e.t.Helper()
	c, err := e.m.CreateUser(e.ctx, usermgmt.System, usermgmt.NewUser{AccountID: accountID, Email: email,
		FirstName: "Ivy", LastName: "Invitee", Invite: true})
	require.NoError(e.t, err)
	return c.User, c.InvitationToken
}

// sub creates a sub-account of parent with an admin.
func (e *env) sub(parent, name, adminEmail string) (usermgmt.Account, usermgmt.User) {
	e.t.Helper()
	a, c, err := e.m.CreateAccount(e.ctx, usermgmt.System, usermgmt.NewAccount{ParentID: parent, Name: name,
		Admin: usermgmt.NewUser{Email: adminEmail, FirstName: "Sub", LastName: "Admin", Password: fixture.Password}})
	require.NoError(e.t, err)
	return a, c.User
}

// get reads a user straight from the store.
func (e *env) get(id string) usermgmt.UserRecord {
	e.t.Helper()
	u, err := e.store.User(e.ctx, id)
	require.NoError(e.t, err)
	return u
}

// events counts a user's audit events.
func (e *env) events(userID string) []usermgmt.AuditEvent {
	e.t.Helper()
	evs, err := e.store.History(e.ctx, usermgmt.HistoryQuery{UserID: userID, Limit: 10000})
	require.NoError(e.t, err)
	return evs
}

// req is one request the suite makes.
type req struct {
	method, path string
	body         any // nil: none; string or []byte: sent as is; else JSON
	as           string
	header       map[string]string
	noType       bool // send a body without Content-Type
}

// resp is the answer, decoded.
type resp struct {
	t      *testing.T
	status int
	header http.Header
	body   []byte
}

func (r *resp) json(v any) {
	r.t.Helper()
	require.NoError(r.t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

func (r *resp) problem() httpapi.Problem {
	r.t.Helper()
	require.Equal(r.t, "application/problem+json", r.header.Get("Content-Type"), "body: %s", r.body)
	var p httpapi.Problem
	r.json(&p)
	require.Equal(r.t, r.status, p.Status)
	return p
}

func (r *resp) user() usermgmt.User {
	r.t.Helper()
	require.Equal(r.t, http.StatusOK, r.status, "body: %s", r.body)
	var u usermgmt.User
	r.json(&u)
	require.Equal(r.t, fmt.Sprintf("%q", fmt.Sprint(u.Version)), r.header.Get("ETag"))
	return u
}

// do sends a request as the given actor (empty: none) through the handler,
// checking it and its answer against the OpenAPI document.
func (e *env) do(q req) *resp {
	e.t.Helper()
	return serve(e.t, e.h, q)
}

// serve sends q to h and holds both to the OpenAPI document: a request the
// document refuses must be refused by the handler too (4xx), a response
// must match the document, and a route the handler serves must be in it.
func serve(t *testing.T, h http.Handler, q req) *resp {
	t.Helper()
	_, router := loadDoc(t)
	var raw []byte
	switch b := q.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
	}
	r := httptest.NewRequest(q.method, q.path, bytes.NewReader(raw))
	if raw == nil {
		r.Body = http.NoBody
		r.ContentLength = 0
	}
	if raw != nil && !q.noType {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.as != "" {
		r.Header.Set("Authorization", "Bearer "+q.as)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	r.RemoteAddr = "192.0.2.10:4711"
	r.Header.Set("User-Agent", "httpapi-test")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := &resp{t: t, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}

	// Hold the exchange to the document.
	vr := httptest.NewRequest(q.method, strings.TrimPrefix(q.path, base), bytes.NewReader(raw))
	vr.Header = r.Header.Clone()
	route, params, err := router.FindRoute(vr)
	if err != nil {
		require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, res.status,
			"%s %s is answered %d but the OpenAPI document lacks it (%v)", q.method, q.path, res.status, err)
		return res
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		require.True(t, res.status >= 400 && res.status < 500,
			"%s %s: the document refuses the request (%v) but the handler answered %d: %s", q.method, q.path, err, res.status, res.body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.status, Header: res.header,
		Body: io.NopCloser(bytes.NewReader(res.body)), Options: opts}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), out),
		"%s %s answered %d against the document: %s", q.method, q.path, res.status, res.body)
	if res.status < 300 {
		exercisedMu.Lock()
		exercised[route.Operation.OperationID] = true
		exercisedMu.Unlock()
	}
	return res
}

// refused checks a refusal: status and problem code.
func (r *resp) refused(status int, code string) httpapi.Problem {
	r.t.Helper()
	require.Equal(r.t, status, r.status, "body: %s", r.body)
	p := r.problem()
	require.Equal(r.t, code, p.Code, "problem: %+v", p)
	require.Equal(r.t, "urn:usermgmt:problem:"+code, p.Type)
	return p
}

func hasField(p httpapi.Problem, field string) bool {
	return slices.ContainsFunc(p.Errors, func(f httpapi.FieldProblem) bool { return f.Field == field })
}
