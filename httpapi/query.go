package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usermgmt/usermgmt"
)

// query reads a request's query parameters, refusing unknown ones and
// malformed values (400 invalid_query).
type query struct {
	v      url.Values
	fields []FieldProblem
}

func newQuery(r *http.Request, allowed ...string) *query {
	q := &query{v: r.URL.Query()}
	for k := range q.v {
		if !slices.Contains(allowed, k) {
			q.bad(k, "is not a parameter of this route")
		}
	}
	return q
}

func (q *query) bad(name, reason string) {
	q.fields = append(q.fields, FieldProblem{Field: name, Reason: reason})
}

// str returns a single-valued parameter.
func (q *query) str(name string) string {
	vs := q.v[name]
	if len(vs) > 1 {
		q.bad(name, "is given more than once")
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (q *query) list(name string) []string { return q.v[name] }

func (q *query) int(name string) int {
	s := q.str(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		q.bad(name, "must be an integer")
	}
	return n
}

func (q *query) bool(name string) bool {
	switch q.str(name) {
	case "", "false":
		return false
	case "true":
		return true
	}
	q.bad(name, "must be true or false")
	return false
}

func (q *query) time(name string) time.Time {
	s := q.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.bad(name, "must be an RFC 3339 date-time")
	}
	return t
}

func (q *query) err() error {
	if len(q.fields) == 0 {
		return nil
	}
	slices.SortFunc(q.fields, func(a, b FieldProblem) int { return strings.Compare(a.Field, b.Field) })
	return &httpError{status: http.StatusBadRequest, code: "invalid_query", title: "invalid query parameters",
		detail: q.fields[0].Field + ": " + q.fields[0].Reason, fields: q.fields}
}

// pageBody is a page of a listing as the API answers it.
type pageBody[T any] struct {
	Items []T `json:"items"`
	// NextCursor is the cursor of the following page; Next its URL.
	NextCursor string `json:"next_cursor,omitempty"`
	Next       string `json:"next,omitempty"`
	Total      *int   `json:"total,omitempty"`
}

// page writes a page, with a Link header naming the next one.
func page[T any](c *call, p usermgmt.Page[T]) error {
	b := pageBody[T]{Items: p.Items, NextCursor: p.Next, Total: p.Total}
	if b.Items == nil {
		b.Items = []T{}
	}
	if p.Next != "" {
		v := c.r.URL.Query()
		v.Set("cursor", p.Next)
		b.Next = c.r.URL.Path + "?" + v.Encode()
		c.w.Header().Set("Link", "<"+b.Next+`>; rel="next"`)
	}
	return c.json(http.StatusOK, b)
}
