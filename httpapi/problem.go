package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Problem is an RFC 9457 problem details object, as every error of the API
// is answered (Content-Type application/problem+json).
type Problem struct {
	// Type is "urn:usermgmt:problem:" followed by Code.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is the stable machine code: a usermgmt error code
	// (usermgmt.ErrorCode, such as "duplicate_email") or one of the
	// API's own: "unauthenticated", "unsupported_media_type",
	// "invalid_body", "invalid_query", "body_too_large", "invalid_file",
	// "method_not_allowed", "precondition_failed", "cross_origin", "internal".
	Code string `json:"code"`
	// Errors are the input fields at fault.
	Errors []FieldProblem `json:"errors,omitempty"`
	// Reasons are the password rules a password broke (weak_password).
	Reasons []string `json:"reasons,omitempty"`
	// Results is the per-row report of a bulk invitation that stopped
	// part-way: the rows written before the failure, the rest not_run.
	Results []usermgmt.InviteResult `json:"results,omitempty"`
	// Report is the per-row report of an import that stopped part-way.
	Report *ImportResponse `json:"report,omitempty"`
}

// resultsError is a bulk invitation's failure with its partial report.
type resultsError struct {
	err     error
	results []usermgmt.InviteResult
}

func (e *resultsError) Error() string { return e.err.Error() }
func (e *resultsError) Unwrap() error { return e.err }

// FieldProblem is one input field at fault.
type FieldProblem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

type fieldProblem = FieldProblem

// httpError is a refusal of the API layer itself.
type httpError struct {
	status     int
	code       string
	title      string
	detail     string
	fields     []fieldProblem
	retryAfter time.Duration
}

func (e *httpError) Error() string { return "httpapi: " + e.code + ": " + e.detail }

var (
	errUnauthenticated = &httpError{status: http.StatusUnauthorized, code: "unauthenticated", title: "authentication required"}
	errMediaType       = &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", title: "unsupported media type",
		detail: "writes take Content-Type application/json (an import, multipart/form-data)"}
	errCrossOrigin = &httpError{status: http.StatusForbidden, code: "cross_origin", title: "cross-origin request refused",
		detail: "an import is accepted from a browser only from the API's own origin or one of its allowed origins"}
	errPrecondition = &httpError{status: http.StatusPreconditionFailed, code: "precondition_failed", title: "precondition failed",
		detail: "If-Match does not name the current version"}
)

// problemOf maps an error to the problem answered for it.
func (c *call) problemOf(err error) (Problem, time.Duration) {
	var he *httpError
	if errors.As(err, &he) {
		return Problem{Status: he.status, Code: he.code, Title: he.title, Detail: he.detail, Errors: he.fields}, he.retryAfter
	}
	if c.pinned && errors.Is(err, usermgmt.ErrConflict) {
		return c.problemOf(errPrecondition)
	}
	p := Problem{Status: usermgmt.HTTPStatus(err), Code: usermgmt.ErrorCode(err)}
	var ue *usermgmt.Error
	if !errors.As(err, &ue) || errors.Is(err, usermgmt.ErrStore) {
		// Not the library's own refusal: say nothing of what it was.
		switch p.Code {
		case "canceled", "timeout":
			p.Title = "request " + map[string]string{"canceled": "canceled", "timeout": "timed out"}[p.Code]
		case usermgmt.ErrStore.Code():
			p.Title = usermgmt.ErrStore.Message()
			c.h.log.ErrorContext(c.ctx, "httpapi: storage failure", "method", c.r.Method, "path", c.r.URL.Path,
				"error", err, "cause", strings.Join(causes(err), "; "))
		default:
			p.Status, p.Code, p.Title = http.StatusInternalServerError, "internal", "internal error"
			c.h.log.ErrorContext(c.ctx, "httpapi: internal error", "method", c.r.Method, "path", c.r.URL.Path, "error", err)
		}
		return p, 0
	}
	p.Title = ue.Message()
	var fe *usermgmt.FieldError
	var pe *usermgmt.PasswordError
	var te *usermgmt.TransitionError
	switch {
	case errors.As(err, &pe):
		p.Reasons = pe.Reasons
		p.Errors = []FieldProblem{{Field: "password", Reason: strings.Join(pe.Reasons, "; ")}}
		p.Detail = strings.Join(pe.Reasons, "; ")
	case errors.As(err, &fe):
		p.Errors = []FieldProblem{{Field: fe.Field, Reason: fe.Reason}}
		p.Detail = fe.Field + ": " + fe.Reason
	case errors.As(err, &te):
		p.Detail = "cannot " + string(te.Action) + " a user who is " + string(te.From)
	default:
		// The library's messages are safe to show an administrator.
		p.Detail = strings.TrimPrefix(err.Error(), "usermgmt: ")
		if p.Detail == p.Title {
			p.Detail = ""
		}
	}
	var retry time.Duration
	switch {
	case errors.Is(err, usermgmt.ErrAttemptsInFlight):
		retry = time.Second
	case errors.Is(err, usermgmt.ErrRateLimited):
		retry = time.Minute
	}
	return p, retry
}

// causes lists the texts of the errors in err's tree that are not the
// library's sentinels: what a store wrapped (driver errors), for the log.
func causes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case *usermgmt.Error:
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
			} else {
				out = append(out, e.Error())
			}
		default:
			out = append(out, e.Error())
		}
	}
	walk(err)
	return out
}

// fail answers err as a problem.
func (c *call) fail(err error) {
	p, retry := c.problemOf(err)
	var re *resultsError
	if errors.As(err, &re) {
		p.Results = re.results
	}
	var ie *importError
	if errors.As(err, &ie) {
		p.Report = &ie.report
	}
	p.Type = "urn:usermgmt:problem:" + p.Code
	if p.Status == http.StatusTooManyRequests {
		secs := int((retry + time.Second - 1) / time.Second)
		c.w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	writeProblem(c.w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	hd := w.Header()
	hd.Del("ETag")
	hd.Del("Location")
	hd.Set("Content-Type", "application/problem+json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusUnauthorized && hd.Get("WWW-Authenticate") == "" {
		hd.Set("WWW-Authenticate", `Bearer realm="usermgmt"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
