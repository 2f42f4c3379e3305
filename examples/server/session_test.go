package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// The login, logout and session handlers, tested in process through
// newHandler over an in-memory store, with a fake clock for the
// inactivity rule.

// app is the server's handler over a fresh store with one account: the
// admin Ada and the general user Grace, both Active with fixture.Password.
type app struct {
	m       *usermgmt.Manager
	clock   *usermgmt.FakeClock
	h       http.Handler
	adminID string
	graceID string
}

func newApp(t *testing.T) *app {
	t.Helper()
	return newAppWith(t, config{SessionLifetime: time.Hour})
}

// newAppWith is newApp with the server configured by c.
func newAppWith(t *testing.T, c config) *app {
	t.Helper()
	ctx := context.Background()
	clock := usermgmt.NewFakeClock(fixture.Start)
	m, err := usermgmt.New(memstore.New(), usermgmt.WithClock(clock), usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	_, admin, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	if err != nil {
		t.Fatal(err)
	}
	grace, err := m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace",
		LastName: "Hopper", Password: fixture.Password})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(m, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &app{m: m, clock: clock, h: h, adminID: admin.User.ID, graceID: grace.User.ID}
}

// serve sends one request, with the cookie when not nil.
func (a *app) serve(method, path, contentType, body string, cookie *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// login posts the credentials as JSON.
func (a *app) login(email, password string) *httptest.ResponseRecorder {
	b, _ := json.Marshal(loginRequest{Email: email, Password: password})
	return a.serve("POST", "/login", "application/json", string(b), nil)
}

// sessionCookie is the session cookie a response set, failing the test
// when there is none.
func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "usermgmt_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", w.Header())
	return nil
}

// problemCode is the code of a problem answer.
func problemCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (%d %s)", ct, w.Code, w.Body)
	}
	var p struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p.Code
}

func TestLoginStartsASession(t *testing.T) {
	a := newApp(t)
	w := a.login("ada@acme.example", fixture.Password)
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	var u usermgmt.User
	if err := json.Unmarshal(w.Body.Bytes(), &u); err != nil || u.ID != a.adminID {
		t.Fatalf("login answered %s (%v)", w.Body, err)
	}
	c := sessionCookie(t, w)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, not Secure by default", c)
	}
	if w := a.serve("GET", "/me", "", "", c); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), a.adminID) {
		t.Fatalf("GET /me: %d %s", w.Code, w.Body)
	}
	if w := a.serve("GET", "/admin/api/users/"+a.graceID, "", "", c); w.Code != http.StatusOK {
		t.Fatalf("admin API with the session: %d %s", w.Code, w.Body)
	}
	if w := a.serve("GET", "/admin/api/users/"+a.graceID, "", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("admin API without a session: %d %s", w.Code, w.Body)
	}
}

func TestLoginRenewsTheSessionToken(t *testing.T) {
	a := newApp(t)
	first := sessionCookie(t, a.login("ada@acme.example", fixture.Password))
	// Logging in again from the same browser gets a new token: one
	// planted before the login (session fixation) is worth nothing after.
	b, _ := json.Marshal(loginRequest{Email: "grace@acme.example", Password: fixture.Password})
	w := a.serve("POST", "/login", "application/json", string(b), first)
	second := sessionCookie(t, w)
	if second.Value == first.Value {
		t.Fatal("the session token was not renewed at login")
	}
	if w := a.serve("GET", "/me", "", "", first); w.Code != http.StatusUnauthorized {
		t.Fatalf("the token from before the login still works: %d %s", w.Code, w.Body)
	}
	if w := a.serve("GET", "/me", "", "", second); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), a.graceID) {
		t.Fatalf("GET /me with the new token: %d %s", w.Code, w.Body)
	}
}

func TestLoginRefusalsLookAlike(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	if _, err := a.m.Ban(ctx, a.adminID, a.graceID); err != nil {
		t.Fatal(err)
	}
	cases := map[string]*httptest.ResponseRecorder{
		"wrong password": a.login("ada@acme.example", "not the password at all"),
		"unknown email":  a.login("nobody@acme.example", fixture.Password),
		"banned user":    a.login("grace@acme.example", fixture.Password),
		"bad email":      a.login("not an address", fixture.Password),
	}
	var want string
	for name, w := range cases {
		if w.Code != http.StatusUnauthorized || problemCode(t, w) != "invalid_credentials" {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
		if len(w.Result().Cookies()) != 0 {
			t.Fatalf("%s: a cookie was set: %v", name, w.Result().Cookies())
		}
		if want == "" {
			want = w.Body.String()
		} else if w.Body.String() != want {
			t.Fatalf("%s answered %s; another refusal answered %s", name, w.Body, want)
		}
	}
}

func TestLoginLocksAfterTenWrongPasswords(t *testing.T) {
	a := newApp(t)
	for i := range 10 {
		if w := a.login("grace@acme.example", "wrong password number "+string(rune('a'+i))); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := a.login("grace@acme.example", fixture.Password)
	if w.Code != http.StatusUnauthorized || problemCode(t, w) != "invalid_credentials" {
		t.Fatalf("right password while locked: %d %s", w.Code, w.Body)
	}
	u, err := a.m.User(context.Background(), a.adminID, a.graceID)
	if err != nil || u.Status != usermgmt.StatusLocked {
		t.Fatalf("Grace: %v, %v; want Locked", u.Status, err)
	}
}

func TestLoginRefusesBadRequests(t *testing.T) {
	a := newApp(t)
	cases := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"form post", "application/x-www-form-urlencoded", "email=ada@acme.example&password=x", http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"no content type", "", `{"email":"ada@acme.example","password":"x"}`, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"not JSON", "application/json", "email=ada", http.StatusBadRequest, "invalid_body"},
		{"unknown field", "application/json", `{"email":"ada@acme.example","password":"x","admin":true}`, http.StatusBadRequest, "invalid_body"},
		{"trailing data", "application/json", `{"email":"ada@acme.example","password":"x"} {}`, http.StatusBadRequest, "invalid_body"},
		{"too large", "application/json", `{"email":"ada@acme.example","password":"` + strings.Repeat("x", maxLoginBody) + `"}`, http.StatusBadRequest, "invalid_body"},
	}
	for _, c := range cases {
		w := a.serve("POST", "/login", c.contentType, c.body, nil)
		if w.Code != c.status || problemCode(t, w) != c.code {
			t.Errorf("%s: %d %s; want %d %s", c.name, w.Code, w.Body, c.status, c.code)
		}
	}
	if w := a.serve("PUT", "/login", "application/json", "{}", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /login: %d", w.Code)
	}
	if st := a.m.Stats(); st.PasswordVerifications+st.DummyVerifications != 0 {
		t.Errorf("a refused request reached a password check: %+v", st)
	}
}

func TestSessionEndsWhenTheUserMustSignInAgain(t *testing.T) {
	for name, change := range map[string]func(a *app) error{
		"password set by an admin": func(a *app) error {
			_, err := a.m.SetPassword(context.Background(), a.adminID, a.graceID, "another long passphrase")
			return err
		},
		"banned": func(a *app) error {
			_, err := a.m.Ban(context.Background(), a.adminID, a.graceID)
			return err
		},
		"three months idle": func(a *app) error {
			a.clock.Advance(24 * time.Hour * 93)
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newApp(t)
			c := sessionCookie(t, a.login("grace@acme.example", fixture.Password))
			if w := a.serve("GET", "/me", "", "", c); w.Code != http.StatusOK {
				t.Fatalf("before: %d %s", w.Code, w.Body)
			}
			if err := change(a); err != nil {
				t.Fatal(err)
			}
			w := a.serve("GET", "/admin/api/roles", "", "", c)
			if w.Code != http.StatusUnauthorized || problemCode(t, w) != "unauthenticated" {
				t.Fatalf("after: %d %s", w.Code, w.Body)
			}
			// The ended session is destroyed and its cookie cleared.
			if cleared := sessionCookie(t, w); cleared.MaxAge >= 0 && cleared.Value != "" {
				t.Fatalf("the cookie was not cleared: %+v", cleared)
			}
			if w := a.serve("GET", "/me", "", "", c); w.Code != http.StatusUnauthorized {
				t.Fatalf("the ended session came back: %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestSessionRecordsActivity(t *testing.T) {
	a := newApp(t)
	c := sessionCookie(t, a.login("grace@acme.example", fixture.Password))
	// Grace works in one session for months, never logging in again: each
	// request records her activity, so she is never swept to Inactive.
	for range 4 {
		a.clock.Advance(30 * 24 * time.Hour)
		if w := a.serve("GET", "/admin/api/roles", "", "", c); w.Code != http.StatusOK {
			t.Fatalf("request after a month: %d %s", w.Code, w.Body)
		}
	}
	if _, err := a.m.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := a.m.User(context.Background(), usermgmt.System, a.graceID)
	if err != nil || u.Status != usermgmt.StatusActive || !u.LastActiveAt.Equal(a.clock.Now()) {
		t.Fatalf("Grace after four months in one session: %s, last active %v (%v)", u.Status, u.LastActiveAt, err)
	}
}

func TestLogout(t *testing.T) {
	a := newApp(t)
	c := sessionCookie(t, a.login("ada@acme.example", fixture.Password))
	w := a.serve("POST", "/logout", "", "", c)
	if w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if cleared := sessionCookie(t, w); cleared.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %+v", cleared)
	}
	for _, path := range []string{"/me", "/admin/api/roles"} {
		if w := a.serve("GET", path, "", "", c); w.Code != http.StatusUnauthorized {
			t.Fatalf("GET %s with the old cookie: %d %s", path, w.Code, w.Body)
		}
	}
	// Logging out without a session is harmless.
	if w := a.serve("POST", "/logout", "", "", nil); w.Code != http.StatusNoContent {
		t.Fatalf("logout without a session: %d", w.Code)
	}
}

func TestMeWithoutSession(t *testing.T) {
	a := newApp(t)
	w := a.serve("GET", "/me", "", "", nil)
	if w.Code != http.StatusUnauthorized || problemCode(t, w) != "unauthenticated" {
		t.Fatalf("GET /me: %d %s", w.Code, w.Body)
	}
}

func TestLinkPages(t *testing.T) {
	a := newApp(t)
	for path := range pages {
		w := a.serve("GET", path+"?token=abc%22%3E%3Cscript%3E", "", "", nil)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Header())
		}
		body := w.Body.String()
		if !strings.Contains(body, `data-action="`+pages[path].Action+`"`) {
			t.Errorf("GET %s: the form does not post to %s", path, pages[path].Action)
		}
		if strings.Contains(body, `abc"><script>`) {
			t.Errorf("GET %s: the token reached the page unescaped", path)
		}
		if w.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: the token could leak through the Referer", path)
		}
	}
	for path, p := range pages {
		if w := a.serve("GET", path, "", "", nil); p.needsToken && w.Code != http.StatusNotFound {
			t.Errorf("GET %s without a token: %d", path, w.Code)
		}
	}
}

func TestLoginLimitPerAddress(t *testing.T) {
	a := newAppWith(t, config{SessionLifetime: time.Hour, LoginBurst: 3})
	for i := range 3 {
		if w := a.login("ada@acme.example", "not the password at all"); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	before := a.m.Stats()
	w := a.login("ada@acme.example", fixture.Password)
	if w.Code != http.StatusTooManyRequests || problemCode(t, w) != "rate_limited" || w.Header().Get("Retry-After") != "3" {
		t.Fatalf("fourth attempt at once: %d %s %v", w.Code, w.Body, w.Header())
	}
	if after := a.m.Stats(); after.PasswordVerifications+after.DummyVerifications != before.PasswordVerifications+before.DummyVerifications {
		t.Fatal("a limited attempt reached a password check")
	}
	// Another address is not limited by this one's attempts.
	r := httptest.NewRequest("POST", "/login", strings.NewReader(`{"email":"ada@acme.example","password":"`+fixture.Password+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "192.0.2.7:4000"
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("login from another address: %d %s", rec.Code, rec.Body)
	}
}
