// Package httpapi is the admin HTTP API of usermgmt: an http.Handler that an
// application mounts (say under /admin/api/) to expose every Manager
// operation over JSON, described by an embedded OpenAPI 3.1 document served
// at {base}/openapi.json.
//
// # Authentication
//
// Authentication stays the application's. Options.Actor tells the handler
// who is acting on each admin request: BearerActor adapts a token the
// application verifies, SCSActor a session of github.com/alexedwards/scs/v2.
// An error from the Actor is answered 401. The public routes
// ({base}/public/...: invitation look-up and acceptance, password reset,
// email-change confirmation) need no actor; they are rate-limited per client
// address and per target email and never reveal whether an address exists.
//
// # Routes
//
// Relative to Options.BasePath; GET {base}/openapi.json describes each.
//
//	GET    /roles
//	GET    /accounts                      POST /accounts (a sub-account and its admin)
//	GET    /accounts/{id}                 PATCH /accounts/{id}
//	POST   /accounts/{id}/departments     DELETE /accounts/{id}/departments/{name}
//	GET    /accounts/{id}/history
//	GET    /users (filters, cursor pages) POST /users        POST /users/lookup
//	GET    /users/{id}                    PATCH /users/{id}  DELETE /users/{id} (remove)
//	PUT    /users/{id}/role               POST /users/{id}/email   POST /users/{id}/move
//	PUT    /users/{id}/password           POST /users/{id}/unlock
//	POST   /users/{id}/ban, unban, disable, enable, reactivate
//	POST   /users/{id}/grants             DELETE /users/{id}/grants?permission=&resource=&department=
//	GET    /users/{id}/history
//	GET    /invitations                   POST /invitations  POST /invitations/bulk
//	POST   /invitations/{user_id}/resend  DELETE /invitations/{user_id}
//	GET    /groups                        POST /groups
//	GET    /groups/{id}                   PATCH /groups/{id} DELETE /groups/{id}
//	POST   /groups/{id}/grants            DELETE /groups/{id}/grants?permission=...
//	PUT    /groups/{id}/members/{user_id} DELETE /groups/{id}/members/{user_id}
//	POST   /import (multipart)            GET /export?format=csv|xlsx
//	GET    /messages/dead                 POST /messages/dead/{id}/requeue
//	POST   /public/invitation             POST /public/invitation/accept
//	POST   /public/password-reset         POST /public/password-reset/confirm
//	POST   /public/email-change/confirm
//
// # Conventions
//
//   - JSON bodies with snake_case names; unknown fields, trailing data and
//     bodies over 1 MB are refused (400, 413).
//   - Writes accept only Content-Type application/json (415 otherwise), so
//     that a cross-site HTML form cannot make a change: every POST, PUT and
//     PATCH, even one whose body is optional and left empty (POST
//     /users/{id}/ban needs the header too), and a DELETE that has a body.
//     POST /import takes multipart/form-data instead, as a form can, so it
//     is refused (403 cross_origin) when a browser sends it from an origin
//     other than the handler's own and not listed in Options.AllowedOrigins
//     (Sec-Fetch-Site and Origin, as http.CrossOriginProtection reads
//     them). No CORS header is sent unless Options.AllowedOrigins lists the
//     origin.
//   - Errors are RFC 9457 problem details (application/problem+json) with
//     the stable code of the usermgmt error ("code"), the fields at fault
//     ("errors": [{"field", "reason"}]) and the broken password rules
//     ("reasons"). A target outside the actor's reach is 404, like an absent
//     one. Errors that are not the library's own are answered 500 with a
//     generic detail and logged through Options.Logger.
//   - Every response carrying one user, group or account has a strong ETag
//     from its version; a write with If-Match is refused with 412 when the
//     stored version differs (usermgmt.WithExpectedVersion).
//   - Listings are cursor pages: {"items", "next_cursor", "next"}, "next"
//     being the URL of the following page, also sent as a Link header.
//   - The client address, User-Agent and a reason (the X-Reason header or a
//     "reason" body field) are recorded on the audit events of a change
//     (usermgmt.WithRequestMeta).
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
)

// DefaultMaxBodyBytes bounds JSON request bodies: 1 MB.
const DefaultMaxBodyBytes = 1 << 20

// Options configure a Handler. Only Actor is required.
type Options struct {
	// Actor returns the ID of the user acting on an admin request (or
	// usermgmt.System for a trusted, non-user caller). An error is
	// answered 401 and the request goes no further. See BearerActor and
	// SCSActor.
	Actor func(r *http.Request) (actorID string, err error)
	// BasePath is the path the handler is mounted at, without a trailing
	// slash ("/admin/api"); routes, Location headers and next links are
	// under it. Mount the handler at BasePath+"/" without http.StripPrefix.
	// Default: "" (the root).
	BasePath string
	// Logger receives the errors answered 500 and the Actor's refusals (at
	// debug level). Default: no logging.
	Logger *slog.Logger
	// ClientIP returns the client's address, for rate limits and audit
	// events. Default RemoteIP (the connection's peer); see
	// ForwardedClientIP for a handler behind trusted proxies.
	ClientIP func(r *http.Request) string
	// AddressLimiter limits public requests per client address — an IPv6
	// client per /64, the least a site is given (RFC 6177), so that one
	// client cannot spread its requests over its many addresses. Default: a
	// MemoryLimiter of 20 requests a minute, bursts of 20.
	AddressLimiter Limiter
	// EmailLimiter limits public requests per target email (password-reset
	// requests). Default: a MemoryLimiter of 5 requests an hour, bursts of 5.
	EmailLimiter Limiter
	// AllowedOrigins turns CORS on for these origins ("https://admin.example.com");
	// "*" allows any origin, without credentials. Default: none, no CORS.
	// The listed origins (not "*") may also post imports from a browser.
	AllowedOrigins []string
	// ExposeTokens returns the raw tokens of invitations and email changes
	// in the responses of the admin routes that issue them. Leave it off
	// when the Manager mails them (WithOutboxKeys): an admin who learns a
	// user's token can act as that user. With neither (no outbox and
	// ExposeTokens off) an invitation issued through the API reaches
	// nobody: its token is neither mailed nor returned.
	ExposeTokens bool
	// MaxBodyBytes bounds JSON request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ImportLimits bound the files POST {base}/import reads (the upload's
	// size, rows, cells); zero fields take bulk's defaults.
	ImportLimits bulk.Limits
}

// Handler is the admin HTTP API. Create it with New.
type Handler struct {
	m       *usermgmt.Manager
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []route
	origins map[string]bool
	anyOrig bool
	// xorigin refuses uploads a browser sends from another origin (see
	// call.prepare).
	xorigin *http.CrossOriginProtection
}

// route is one operation the handler serves.
type route struct {
	method  string
	path    string // relative to BasePath, with {wildcards}
	public  bool   // no actor; rate-limited
	upload  bool   // takes multipart/form-data instead of JSON
	handler func(c *call) error
}

// New returns the API over m.
func New(m *usermgmt.Manager, opts Options) (*Handler, error) {
	if m == nil {
		return nil, errors.New("httpapi: nil Manager")
	}
	if opts.Actor == nil {
		return nil, errors.New("httpapi: Options.Actor is required")
	}
	if opts.BasePath != "" && (!strings.HasPrefix(opts.BasePath, "/") || strings.HasSuffix(opts.BasePath, "/")) {
		return nil, errors.New(`httpapi: Options.BasePath must start with "/" and not end with one`)
	}
	if opts.ClientIP == nil {
		opts.ClientIP = RemoteIP
	}
	if opts.AddressLimiter == nil {
		opts.AddressLimiter = NewMemoryLimiter(LimiterConfig{Burst: 20, Every: 3 * time.Second}) // 20 a minute
	}
	if opts.EmailLimiter == nil {
		opts.EmailLimiter = NewMemoryLimiter(LimiterConfig{Burst: 5, Every: 12 * time.Minute}) // 5 an hour
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &Handler{m: m, opts: opts, log: opts.Logger, mux: http.NewServeMux(), origins: map[string]bool{},
		xorigin: http.NewCrossOriginProtection()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			h.anyOrig = true
			continue // "*" is for requests without credentials: it trusts no origin with an upload
		}
		h.origins[o] = true
		// An origin that is no "scheme://host[:port]" is one no browser
		// sends: leaving it untrusted changes nothing.
		_ = h.xorigin.AddTrustedOrigin(o)
	}
	h.routes = h.table()
	for _, rt := range h.routes {
		h.mux.Handle(rt.method+" "+opts.BasePath+rt.path, h.wrap(rt))
	}
	h.mux.HandleFunc(opts.BasePath+"/", h.unrouted)
	return h, nil
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(h.origins) > 0 && r.Header.Get("Origin") != "" {
		if h.cors(w, r) {
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// Routes lists the routes the handler serves as "METHOD /path" patterns,
// BasePath included, in the order they are registered.
func (h *Handler) Routes() []string {
	out := make([]string, len(h.routes))
	for i, rt := range h.routes {
		out[i] = rt.method + " " + h.opts.BasePath + rt.path
	}
	return out
}

// wrap turns a route into an http.Handler: the actor or the public rate
// limit, the media type of writes, the request metadata and If-Match, and
// the problem for an error.
func (h *Handler) wrap(rt route) http.Handler {
	write := rt.method != http.MethodGet
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{h: h, w: w, r: r, ctx: r.Context()}
		if err := c.prepare(rt, write); err != nil {
			c.fail(err)
			return
		}
		if err := rt.handler(c); err != nil {
			c.fail(err)
		}
	})
}

// unrouted answers what no route matches: 405 with Allow when the path is
// served for other methods, else 404.
func (h *Handler) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r2 := r.Clone(context.WithoutCancel(r.Context()))
		r2.Method = method
		if _, pattern := h.mux.Handler(r2); pattern != h.opts.BasePath+"/" && pattern != "" {
			allow = append(allow, method)
		}
	}
	c := &call{h: h, w: w, r: r, ctx: r.Context()}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		c.fail(&httpError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", title: "method not allowed"})
		return
	}
	c.fail(usermgmt.ErrNotFound)
}

// cors answers a request that carries an Origin header; it reports
// whether the request was a preflight and has been answered.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if !h.anyOrig && !h.origins[origin] {
		return false
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	if h.origins[origin] {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
	} else {
		hd.Set("Access-Control-Allow-Origin", "*")
	}
	hd.Set("Access-Control-Expose-Headers", "ETag, Location, Link, Retry-After")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match, X-Reason")
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
