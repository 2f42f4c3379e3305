package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

func TestMemoryLimiter(t *testing.T) {
	clock := &fakeNow{t: fixture.Start}
	l := httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: 2, Every: 10 * time.Second, MaxKeys: 3, Now: clock.now})
	ok, _ := l.Allow("a")
	require.True(t, ok)
	ok, _ = l.Allow("a")
	require.True(t, ok)
	ok, wait := l.Allow("a")
	require.False(t, ok)
	require.Equal(t, 10*time.Second, wait)
	clock.add(5 * time.Second)
	ok, wait = l.Allow("a")
	require.False(t, ok)
	require.Equal(t, 5*time.Second, wait)
	clock.add(5 * time.Second)
	ok, _ = l.Allow("a")
	require.True(t, ok)
	// Other keys have their own buckets; memory stays bounded, forgetting
	// the key seen least recently.
	for _, k := range []string{"b", "c", "d", "e"} {
		ok, _ = l.Allow(k)
		require.True(t, ok)
	}
	require.Equal(t, 3, l.Len())
	ok, _ = l.Allow("a") // forgotten: a full bucket again
	require.True(t, ok)
	for i := range 10_000 {
		l.Allow(fmt.Sprint("flood-", i))
	}
	require.Equal(t, 3, l.Len())
}

func TestForwardedClientIP(t *testing.T) {
	ip := httpapi.ForwardedClientIP(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	r := func(peer string, xff ...string) *http.Request {
		q := httptest.NewRequest("GET", "/", nil)
		q.RemoteAddr = peer
		for _, v := range xff {
			q.Header.Add("X-Forwarded-For", v)
		}
		return q
	}
	require.Equal(t, "203.0.113.9", ip(r("203.0.113.9:1", "1.2.3.4")), "an untrusted peer's header is ignored")
	require.Equal(t, "1.2.3.4", ip(r("10.0.0.1:1", "1.2.3.4")))
	require.Equal(t, "1.2.3.4", ip(r("10.0.0.1:1", "6.6.6.6, 1.2.3.4, 10.0.0.2")), "the right-most untrusted hop")
	require.Equal(t, "1.2.3.4", ip(r("[::1]:1", "6.6.6.6", "1.2.3.4")))
	require.Equal(t, "10.0.0.1", ip(r("10.0.0.1:1")))
	require.Equal(t, "10.0.0.1", ip(r("10.0.0.1:1", "garbage, 1.2.3.4, nonsense")))
	require.Equal(t, "192.0.2.1", httpapi.RemoteIP(r("192.0.2.1:80")))
}

func TestClientIPOption(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) {
		o.ClientIP = httpapi.ForwardedClientIP(netip.MustParsePrefix("192.0.2.0/24"))
	})
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/ban", as: e.admin.ID, body: map[string]any{},
		header: map[string]string{"X-Forwarded-For": "198.51.100.7"}}).user()
	require.Equal(t, "198.51.100.7", e.events(g.ID)[0].IP)
}

func TestBearerActor(t *testing.T) {
	actor := httpapi.BearerActor(func(_ context.Context, token string) (string, error) {
		if token == "good" {
			return "user-1", nil
		}
		return "", errors.New("unknown token")
	})
	r := httptest.NewRequest("GET", "/", nil)
	_, err := actor(r)
	require.ErrorIs(t, err, httpapi.ErrNoCredentials)
	for _, h := range []string{"Bearer good", "bearer good", "BEARER  good "} {
		r.Header.Set("Authorization", h)
		id, err := actor(r)
		require.NoError(t, err, h)
		require.Equal(t, "user-1", id)
	}
	for _, h := range []string{"Bearer", "Bearer ", "Basic good", "good"} {
		r.Header.Set("Authorization", h)
		_, err := actor(r)
		require.ErrorIs(t, err, httpapi.ErrNoCredentials, h)
	}
	r.Header.Set("Authorization", "Bearer bad")
	_, err = actor(r)
	require.EqualError(t, err, "unknown token")
}

func TestSCSActor(t *testing.T) {
	e := newEnv(t)
	sessions := scs.New()
	a := httpapi.SCSActor{Sessions: sessions, Manager: e.m}
	h, err := httpapi.New(e.m, httpapi.Options{BasePath: base, Actor: a.Actor})
	require.NoError(t, err)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)

	// The application's login: authenticate, then start the session.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		u, err := e.m.Authenticate(r.Context(), r.FormValue("email"), r.FormValue("password"))
		if err != nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if err := a.Login(r.Context(), u); err != nil {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		_ = a.Logout(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle(base+"/", h)
	srv := sessions.LoadAndSave(mux)

	login := func(email string) *http.Cookie {
		r := httptest.NewRequest("POST", "/login", nil)
		r.Form = map[string][]string{"email": {email}, "password": {fixture.Password}}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		require.Equal(t, http.StatusNoContent, w.Code)
		cs := w.Result().Cookies()
		require.Len(t, cs, 1)
		return cs[0]
	}
	get := func(c *http.Cookie, path string) *resp {
		q := req{method: "GET", path: path}
		if c != nil {
			q.header = map[string]string{"Cookie": c.Name + "=" + c.Value}
		}
		return serve(t, srv, q)
	}
	adminCookie := login(e.admin.Email)
	geneCookie := login(g.Email)
	require.Equal(t, g.ID, get(geneCookie, base+"/users/"+g.ID).user().ID)
	get(nil, base+"/users/"+g.ID).refused(http.StatusUnauthorized, "unauthenticated")

	// A ban moves the session version: gene's session ends at once.
	r := serve(t, srv, req{method: "POST", path: base + "/users/" + g.ID + "/ban", body: map[string]any{},
		header: map[string]string{"Cookie": adminCookie.Name + "=" + adminCookie.Value}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	get(geneCookie, base+"/users/"+g.ID).refused(http.StatusUnauthorized, "unauthenticated")
	// ... and is destroyed: its data has left the session store.
	_, found, err := sessions.Store.Find(geneCookie.Value)
	require.NoError(t, err)
	require.False(t, found, "the ended session is still stored")
	_, found, err = sessions.Store.Find(adminCookie.Value)
	require.NoError(t, err)
	require.True(t, found, "the admin's session is gone too")

	// Logout ends the admin's.
	lr := httptest.NewRequest("POST", "/logout", nil)
	lr.AddCookie(adminCookie)
	srv.ServeHTTP(httptest.NewRecorder(), lr)
	get(adminCookie, base+"/users/"+g.ID).refused(http.StatusUnauthorized, "unauthenticated")

	// Without LoadAndSave, the adapter refuses instead of panicking.
	_, err = a.Actor(httptest.NewRequest("GET", "/", nil))
	require.Error(t, err)
}
