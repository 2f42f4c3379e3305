package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
)

// sessionAPI holds the login, logout and "who am I" routes, and is the
// admin API's Actor: the user signed in to the request's session.
//
// Sessions live in the server's memory (scs's default store): a restart
// signs everyone out, and several instances behind one address need a
// shared scs store (Redis, PostgreSQL) instead. The cookie is HttpOnly and
// SameSite=Lax; -secure-cookie adds Secure for a server behind HTTPS.
type sessionAPI struct {
	m        *usermgmt.Manager
	sessions *scs.SessionManager
	actor    httpapi.SCSActor
	limiter  httpapi.Limiter // logins per client address; nil for none
	log      *slog.Logger
}

// maxLoginBody bounds the body of POST /login.
const maxLoginBody = 8 << 10

// loginEvery is how often a client address earns one more login attempt
// when -login-burst limits them: 20 a minute.
const loginEvery = 3 * time.Second

// newSessionAPI returns the session routes over m, configured by c:
// sessions last at most c.SessionLifetime, the cookie is Secure with
// c.SecureCookie, and logins are limited per client address by
// c.LoginBurst.
func newSessionAPI(m *usermgmt.Manager, c config, log *slog.Logger) *sessionAPI {
	sm := scs.New()
	sm.Lifetime = c.SessionLifetime
	sm.Cookie.Name = "usermgmt_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = c.SecureCookie
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		log.ErrorContext(r.Context(), "session store failed", "error", err)
		writeProblem(w, httpapi.Problem{Status: http.StatusInternalServerError, Code: "internal", Title: "internal error"})
	}
	s := &sessionAPI{m: m, sessions: sm, actor: httpapi.SCSActor{Sessions: sm, Manager: m}, log: log}
	if c.LoginBurst > 0 {
		s.limiter = httpapi.NewMemoryLimiter(httpapi.LimiterConfig{Burst: c.LoginBurst, Every: loginEvery})
	}
	return s
}

// loginRequest is the body of POST /login.
type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login checks an email and password with Manager.Authenticate and, on
// success, starts a session (a new token, against fixation) holding the
// user's ID and session version, and answers the user. Every refusal of
// the credentials or of the user's status (wrong password, unknown email,
// locked, banned, disabled, inactive) is the same 401 invalid_credentials:
// nothing tells a stranger which addresses exist or are locked; the
// lockout email tells the mailbox's owner. Attempts still being verified
// for the user, and a client address over its login limit (checked before
// any password work), answer 429 with Retry-After.
func (s *sessionAPI) login(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeProblem(w, httpapi.Problem{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Title: "unsupported media type", Detail: "POST /login takes Content-Type application/json"})
		return
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.Allow(httpapi.AddressKey(httpapi.RemoteIP(r))); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			writeProblem(w, httpapi.Problem{Status: http.StatusTooManyRequests, Code: "rate_limited",
				Title: "too many requests; try again later"})
			return
		}
	}
	var in loginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		writeProblem(w, httpapi.Problem{Status: http.StatusBadRequest, Code: "invalid_body", Title: "invalid request body",
			Detail: `want {"email": "...", "password": "..."}`})
		return
	}
	ctx := usermgmt.WithRequestMeta(r.Context(), usermgmt.RequestMeta{IP: httpapi.RemoteIP(r), UserAgent: r.UserAgent()})
	u, err := s.m.Authenticate(ctx, in.Email, in.Password)
	switch {
	case err == nil:
	case errors.Is(err, usermgmt.ErrAttemptsInFlight):
		w.Header().Set("Retry-After", "1")
		writeProblem(w, httpapi.Problem{Status: http.StatusTooManyRequests, Code: usermgmt.ErrorCode(err),
			Title: "too many attempts in flight; try again"})
		return
	case refusedLogin(err):
		writeProblem(w, httpapi.Problem{Status: http.StatusUnauthorized, Code: usermgmt.ErrInvalidCredentials.Code(),
			Title: "email or password is wrong"})
		return
	default:
		s.fail(w, r, "login failed", err)
		return
	}
	if err := s.actor.Login(r.Context(), u); err != nil {
		s.fail(w, r, "starting a session failed", err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// refusedLogin reports whether err is Authenticate's refusal of the
// credentials or of the user's status.
func refusedLogin(err error) bool {
	for _, e := range []error{usermgmt.ErrInvalidCredentials, usermgmt.ErrLocked, usermgmt.ErrBanned,
		usermgmt.ErrDisabled, usermgmt.ErrInactive} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// logout ends the request's session, if any, and answers 204.
func (s *sessionAPI) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.actor.Logout(r.Context()); err != nil {
		s.fail(w, r, "ending the session failed", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// me answers the signed-in user, or 401.
func (s *sessionAPI) me(w http.ResponseWriter, r *http.Request) {
	id, err := s.Actor(r)
	if err != nil {
		writeProblem(w, httpapi.Problem{Status: http.StatusUnauthorized, Code: "unauthenticated", Title: "authentication required"})
		return
	}
	u, err := s.m.User(r.Context(), id, id)
	if err != nil {
		s.fail(w, r, "reading the signed-in user failed", err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// Actor is the admin API's httpapi.Options.Actor: the ID of the user
// signed in to the request's session, as long as Manager.SessionValid
// says the session may go on. A session that may not (the user's password
// changed, they were locked, banned, moved...) is destroyed, so its cookie
// is cleared. Each accepted request records the user's activity (Touch),
// which keeps a user who works in one long session from going Inactive.
func (s *sessionAPI) Actor(r *http.Request) (string, error) {
	ctx := r.Context()
	id, err := s.actor.Actor(r) // destroys a session that ended
	if err != nil {
		return "", err
	}
	if err := s.m.Touch(ctx, id); err != nil {
		var ue *usermgmt.Error
		if !errors.As(err, &ue) || errors.Is(err, usermgmt.ErrStore) {
			return "", err
		}
		// The user stopped being Active since SessionValid looked.
		s.end(r)
		return "", httpapi.ErrSessionEnded
	}
	return id, nil
}

// end destroys the request's session.
func (s *sessionAPI) end(r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "destroying an ended session failed", "error", err)
	}
}

// fail logs err and answers 500 without saying what it was.
func (s *sessionAPI) fail(w http.ResponseWriter, r *http.Request, msg string, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.ErrorContext(r.Context(), msg, "error", err)
	writeProblem(w, httpapi.Problem{Status: http.StatusInternalServerError, Code: "internal", Title: "internal error"})
}

// writeProblem answers p as RFC 9457 problem details, as the admin API
// answers its own errors.
func writeProblem(w http.ResponseWriter, p httpapi.Problem) {
	p.Type = "urn:usermgmt:problem:" + p.Code
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
