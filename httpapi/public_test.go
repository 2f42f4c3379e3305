package httpapi_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

func TestInvitationLookupAndAccept(t *testing.T) {
	e := newEnv(t)
	u, tok := e.invited(e.root.ID, "ivy@example.com")
	var inv usermgmt.Invitation
	r := e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": tok}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(&inv)
	require.Equal(t, u.ID, inv.UserID)
	require.Empty(t, inv.Token)
	// Looking up does not spend it.
	e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": tok}}).json(&inv)

	e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": "forged"}}).refused(http.StatusNotFound, "token_invalid")
	e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{}}).refused(http.StatusNotFound, "token_invalid")
	e.do(req{method: "POST", path: base + "/public/invitation", body: "token=" + tok, noType: true}).refused(http.StatusUnsupportedMediaType, "unsupported_media_type")

	e.unchanged(u.ID, func() {
		p := e.do(req{method: "POST", path: base + "/public/invitation/accept", body: map[string]any{"token": tok, "password": "short"}}).refused(http.StatusUnprocessableEntity, "weak_password")
		require.NotEmpty(t, p.Reasons)
		e.do(req{method: "POST", path: base + "/public/invitation/accept", body: map[string]any{"token": "forged", "password": fixture.Password}}).refused(http.StatusNotFound, "token_invalid")
		e.do(req{method: "POST", path: base + "/public/invitation/accept", body: map[string]any{"token": tok, "password": fixture.Password, "role": "admin"}}).refused(http.StatusBadRequest, "invalid_body")
	})
	r = e.do(req{method: "POST", path: base + "/public/invitation/accept", body: map[string]any{"token": tok, "password": fixture.Password, "first_name": "Ivana"}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	rec := e.get(u.ID)
	require.Equal(t, usermgmt.StatusActive, rec.Status)
	require.Equal(t, "Ivana", rec.FirstName)
	require.Equal(t, "192.0.2.10", e.events(u.ID)[0].IP)
	e.do(req{method: "POST", path: base + "/public/invitation/accept", body: map[string]any{"token": tok, "password": fixture.Password}}).refused(http.StatusNotFound, "token_invalid")

	// Expired.
	_, tok2 := e.invited(e.root.ID, "late@example.com")
	e.clock.Advance(8 * 24 * time.Hour)
	e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": tok2}}).refused(http.StatusGone, "token_expired")
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)

	// The same answer whether or not the address exists.
	known := e.do(req{method: "POST", path: base + "/public/password-reset", body: map[string]any{"email": "Gene@Example.com"}})
	unknown := e.do(req{method: "POST", path: base + "/public/password-reset", body: map[string]any{"email": "nobody@example.com"}})
	require.Equal(t, http.StatusAccepted, known.status)
	require.Equal(t, known.status, unknown.status)
	require.Equal(t, known.body, unknown.body)
	require.Equal(t, known.header, unknown.header)

	e.do(req{method: "POST", path: base + "/public/password-reset", body: map[string]any{"email": "not an address"}}).refused(http.StatusUnprocessableEntity, "invalid_email")
	e.do(req{method: "POST", path: base + "/public/password-reset", body: map[string]any{"email": "a@example.com", "x": 1}}).refused(http.StatusBadRequest, "invalid_body")

	tok := e.token(usermgmt.NotifyPasswordReset, "gene@example.com")
	require.NotEmpty(t, tok)
	e.unchanged(g.ID, func() {
		p := e.do(req{method: "POST", path: base + "/public/password-reset/confirm", body: map[string]any{"token": tok, "password": "short"}}).refused(http.StatusUnprocessableEntity, "weak_password")
		require.NotEmpty(t, p.Reasons)
		e.do(req{method: "POST", path: base + "/public/password-reset/confirm", body: map[string]any{"token": "forged", "password": "a new long passphrase"}}).refused(http.StatusNotFound, "token_invalid")
	})
	r := e.do(req{method: "POST", path: base + "/public/password-reset/confirm", body: map[string]any{"token": tok, "password": "a new long passphrase"}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	_, err := e.m.Authenticate(e.ctx, "gene@example.com", "a new long passphrase")
	require.NoError(t, err)
	e.do(req{method: "POST", path: base + "/public/password-reset/confirm", body: map[string]any{"token": tok, "password": "another long passphrase"}}).refused(http.StatusNotFound, "token_invalid")
}

func TestPasswordResetNotConfigured(t *testing.T) {
	e := newEnv(t)
	m, err := usermgmt.New(e.store, usermgmt.WithClock(e.clock), usermgmt.WithHashParams(fixture.FastHash))
	require.NoError(t, err)
	h, err := httpapi.New(m, e.opts)
	require.NoError(t, err)
	serve(t, h, req{method: "POST", path: base + "/public/password-reset", body: map[string]any{"email": "gene@example.com"}}).refused(http.StatusNotImplemented, "not_configured")
}

func TestConfirmEmailChange(t *testing.T) {
	e := newEnv(t)
	g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	e.do(req{method: "POST", path: base + "/users/" + g.ID + "/email", as: e.admin.ID, body: map[string]any{"email": "gina@example.com"}}).json(&struct{}{})
	tok := e.token(usermgmt.NotifyEmailChange, "gina@example.com")
	require.NotEmpty(t, tok)
	e.unchanged(g.ID, func() {
		e.do(req{method: "POST", path: base + "/public/email-change/confirm", body: map[string]any{"token": "forged"}}).refused(http.StatusNotFound, "token_invalid")
		e.do(req{method: "POST", path: base + "/public/email-change/confirm", body: `{"token": "` + tok + `"`}).refused(http.StatusBadRequest, "invalid_body")
	})
	r := e.do(req{method: "POST", path: base + "/public/email-change/confirm", body: map[string]any{"token": tok}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, "gina@example.com", e.get(g.ID).Email)
	e.do(req{method: "POST", path: base + "/public/email-change/confirm", body: map[string]any{"token": tok}}).refused(http.StatusNotFound, "token_invalid")
}

// fakeNow is a clock for limiters.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func TestPublicRateLimits(t *testing.T) {
	clock := &fakeNow{t: fixture.Start}
	e := newEnv(t, func(o *httpapi.Options) {
		o.AddressLimiter = httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: 3, Every: time.Minute, Now: clock.now})
		o.EmailLimiter = httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: 2, Every: time.Hour, Now: clock.now})
	})
	e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
	reset := func(email string) *resp {
		return e.do(req{method: "POST", path: base + "/public/password-reset", body: map[string]any{"email": email}})
	}
	// Per target email: the third request for one address is refused,
	// alike for a known and an unknown address.
	for _, email := range []string{"gene@example.com", "nobody@example.com"} {
		require.Equal(t, http.StatusAccepted, reset(email).status)
		require.Equal(t, http.StatusAccepted, reset(email).status)
		clock.add(2 * time.Minute) // the address bucket refills; the email one does not
	}
	// An hour a request: gene's bucket has refilled for 4 minutes, the
	// other address's for 2.
	for email, wait := range map[string]string{"GENE@example.com": "3360", "nobody@example.com": "3480"} {
		r := reset(email)
		r.refused(http.StatusTooManyRequests, "rate_limited")
		require.Equal(t, wait, r.header.Get("Retry-After"))
	}
	// Per client address: three requests, then 429 until the bucket refills.
	clock.add(time.Hour)
	for range 3 {
		e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": "x"}}).refused(http.StatusNotFound, "token_invalid")
	}
	r := e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": "x"}})
	r.refused(http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "60", r.header.Get("Retry-After"))
	clock.add(time.Minute)
	e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": "x"}}).refused(http.StatusNotFound, "token_invalid")
	// Admin routes are not rate-limited by it.
	for range 5 {
		e.do(req{method: "GET", path: base + "/roles", as: e.admin.ID}).json(&struct{}{})
	}
}

func TestActorWithoutID(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options) {
		o.Actor = func(*http.Request) (string, error) { return "", nil }
	})
	// An actor function that names nobody is unauthenticated.
	e.do(req{method: "GET", path: base + "/roles", as: e.admin.ID}).refused(http.StatusUnauthorized, "unauthenticated")
}

// TestAddressLimitPerIPv6Prefix: a client holds a whole IPv6 /64, so the
// address limit counts the /64, not each address in it; an IPv4 address
// counts alike however it is written.
func TestAddressLimitPerIPv6Prefix(t *testing.T) {
	clock := &fakeNow{t: fixture.Start}
	var client string
	e := newEnv(t, func(o *httpapi.Options) {
		o.AddressLimiter = httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: 2, Every: time.Hour, Now: clock.now})
		o.ClientIP = func(*http.Request) string { return client }
	})
	try := func(ip string) *resp {
		client = ip
		return e.do(req{method: "POST", path: base + "/public/invitation", body: map[string]any{"token": "x"}})
	}
	for _, c := range []struct {
		ip      string
		limited bool
	}{
		{"2001:db8:1:2::1", false},
		{"2001:db8:1:2:ffff:ffff:ffff:fffe", false},
		{"2001:db8:1:2:aaaa::7", true}, // the same /64, a third time
		{"2001:db8:1:3::1", false},     // the next /64
		{"192.0.2.1", false},
		{"::ffff:192.0.2.1", false},
		{"192.0.2.1", true},
		{"192.0.2.2", false},
		{"not an address", false},
	} {
		r := try(c.ip)
		if c.limited {
			r.refused(http.StatusTooManyRequests, "rate_limited")
		} else {
			r.refused(http.StatusNotFound, "token_invalid")
		}
	}
}
