package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/usermgmt/usermgmt"
)

// call is one request being served.
type call struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context // the request's, with metadata and expected version
	actor  string
	meta   usermgmt.RequestMeta
	pinned bool  // If-Match named a version
	want   int64 // that version
}

// prepare runs the steps every route shares before its own work.
func (c *call) prepare(rt route, write bool) error {
	if rt.upload {
		// multipart/form-data is what an HTML form of any site may post,
		// with the browser's cookies and no preflight: refuse a browser's
		// request from another origin before it goes further.
		if err := c.h.xorigin.Check(c.r); err != nil {
			return errCrossOrigin
		}
	}
	if rt.public {
		if err := c.h.allow(c.w, c.h.opts.AddressLimiter, AddressKey(c.h.opts.ClientIP(c.r))); err != nil {
			return err
		}
	} else {
		id, err := c.h.opts.Actor(c.r)
		if err != nil || id == "" {
			c.h.log.DebugContext(c.ctx, "httpapi: request without an actor", "error", err)
			return errUnauthenticated
		}
		c.actor = id
	}
	if !write {
		return nil
	}
	switch {
	case rt.upload:
		if mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
			return errMediaType
		}
	case c.r.Method != http.MethodDelete || c.r.ContentLength != 0:
		if err := requireJSON(c.r); err != nil {
			return err
		}
	}
	c.meta = usermgmt.RequestMeta{IP: c.h.opts.ClientIP(c.r), UserAgent: c.r.UserAgent(), Reason: c.r.Header.Get("X-Reason")}
	c.ctx = usermgmt.WithRequestMeta(c.ctx, c.meta)
	if v := c.r.Header.Get("If-Match"); v != "" && !rt.public {
		version, ok := parseIfMatch(v)
		if !ok {
			return errPrecondition
		}
		if version >= 0 {
			c.pinned, c.want = true, version
			c.ctx = usermgmt.WithExpectedVersion(c.ctx, version)
		}
	}
	return nil
}

// requireJSON refuses a write whose body is not declared application/json.
func requireJSON(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errMediaType
	}
	return nil
}

// parseIfMatch reads an If-Match header: -1 for "*", else the version of a
// strong ETag this API issued. A list, a weak tag or any other value can
// match no current version: ok is false.
func parseIfMatch(v string) (version int64, ok bool) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return -1, true
	}
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(v[1:len(v)-1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != v[1:len(v)-1] {
		return 0, false
	}
	return n, true
}

// etag is the strong ETag of a version.
func etag(version int64) string {
	var b [24]byte
	return string(append(strconv.AppendInt(append(b[:0], '"'), version, 10), '"'))
}

// setETag sets the ETag header of a version.
func setETag(hd http.Header, version int64) { hd["Etag"] = []string{etag(version)} }

var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
)

// reason records a reason given in the body, over the X-Reason header.
func (c *call) reason(r string) {
	if r == "" {
		return
	}
	c.meta.Reason = r
	c.ctx = usermgmt.WithRequestMeta(c.ctx, c.meta)
}

// decode reads a JSON body into v: at most MaxBodyBytes, no unknown field,
// nothing after the value. An empty body (no bytes at all, not even
// spaces, which are not JSON) is {} when emptyOK.
func (c *call) decode(v any, emptyOK bool) error {
	return decodeBody(c.w, c.r, c.h.opts.MaxBodyBytes, v, emptyOK)
}

func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, emptyOK bool) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", title: "request body too large",
				detail: fmt.Sprintf("the body exceeds %d bytes", limit)}
		}
		return &httpError{status: http.StatusBadRequest, code: "invalid_body", title: "unreadable request body"}
	}
	return decodeJSON(data, v, emptyOK)
}

// decodeJSON is the decoding of every JSON request body.
func decodeJSON(data []byte, v any, emptyOK bool) error {
	if len(data) == 0 {
		if emptyOK {
			return nil
		}
		return bodyError("", "the body is empty")
	}
	if data = bytes.TrimSpace(data); len(data) == 0 || data[0] != '{' {
		return bodyError("", "the body must be a JSON object")
	}
	if err := checkKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return bodyError("", fmt.Sprintf("malformed JSON at byte %d", se.Offset))
		case errors.As(err, &te):
			return bodyError(jsonPath(te.Field), "must be "+jsonKind(te.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return bodyError(f, "is not a field of this request")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return bodyError("", "the JSON ends too early")
		}
		return bodyError("", "not a JSON value of the expected shape")
	}
	if dec.More() {
		return bodyError("", "data follows the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bodyError("", "data follows the JSON value")
	}
	return nil
}

// checkKeys refuses object keys that encoding/json would match to a field
// without being its exact name: its matching ignores case, and folds
// some non-ASCII letters (U+017F, the Kelvin sign) onto ASCII ones, so
// that "EMAIL" or "ſearch" would be taken for "email" or "search". Every
// field of every request body is snake_case ASCII, so any other key is
// unknown. A key repeated in one object is refused too: decoders differ on
// which copy wins. Malformed JSON is left for the decoder to report.
func checkKeys(data []byte) error {
	type frame struct {
		obj, key bool // an object, expecting a key next
		seen     map[string]bool
	}
	var stack []frame
	done := func() { // a value ended: its object expects a key again
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].key = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].key && tok != json.Delim('}') {
			k, _ := tok.(string)
			if !isFieldName(k) {
				return bodyError(k, "is not a field of this request")
			}
			if stack[n-1].seen[k] {
				return bodyError(k, "is given more than once")
			}
			stack[n-1].seen[k] = true
			stack[n-1].key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, key: true, seen: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

func isFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// jsonPath drops from a decoding error's field path the names of embedded
// Go structs ("NewUser.email" is the body's "email").
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && (p[0] < 'A' || p[0] > 'Z') {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// required is the refusal of a request that lacks a field.
func required(field string) error {
	return &usermgmt.FieldError{Field: field, Reason: "is required", Err: usermgmt.ErrInvalidInput}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return "of another type"
}

func bodyError(field, reason string) error {
	e := &httpError{status: http.StatusBadRequest, code: "invalid_body", title: "invalid request body", detail: reason}
	if field != "" {
		e.detail = field + ": " + reason
		e.fields = []fieldProblem{{Field: field, Reason: reason}}
	}
	return e
}

// json writes v with the status.
func (c *call) json(status int, v any) error {
	hd := c.w.Header()
	// Shared, canonically keyed values: what Header.Set would store,
	// without its allocations on every response.
	hd["Content-Type"] = jsonType
	hd["Cache-Control"] = noStore
	c.w.WriteHeader(status)
	if err := json.NewEncoder(c.w).Encode(v); err != nil {
		// The status is sent: all that is left is to say so in the log.
		c.h.log.ErrorContext(c.ctx, "httpapi: writing a response", "error", err)
	}
	return nil
}

// user writes a user with its ETag.
func (c *call) user(status int, u usermgmt.User) error {
	setETag(c.w.Header(), u.Version)
	return c.json(status, u)
}

// created writes a 201 with the Location of the new resource.
func (c *call) created(location string, version int64, v any) error {
	c.w.Header().Set("Location", c.h.opts.BasePath+location)
	c.w.Header().Set("ETag", etag(version))
	return c.json(http.StatusCreated, v)
}

func (c *call) noContent() error {
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
