package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/internal/storebench"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// sink is a ResponseWriter that keeps nothing between requests, so that
// neither side of a benchmark pays for a recorder.
type sink struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) WriteHeader(code int)        { s.status = code }
func (s *sink) Write(p []byte) (int, error) { return s.body.Write(p) }
func (s *sink) reset() {
	clear(s.h)
	s.status = 0
	s.body.Reset()
}

// benchSetup is a memory store with an admin and 200 users, the API over
// it, and the bare handler it is measured against: the same ServeMux
// routes, the same Manager calls, the same JSON, and nothing else.
func benchSetup(b *testing.B) (api, bare http.Handler, admin usermgmt.User, target string) {
	b.Helper()
	ctx := context.Background()
	m, err := usermgmt.New(memstore.New(), usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		b.Fatal(err)
	}
	root, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Bench",
		Admin: usermgmt.NewUser{Email: "admin@example.com", FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	if err != nil {
		b.Fatal(err)
	}
	admin = c.User
	for i := range 200 {
		c, err := m.CreateUser(ctx, usermgmt.System, usermgmt.NewUser{AccountID: root.ID, Email: fixture.Email("bench", i),
			FirstName: "Bench", LastName: fmt.Sprint("User ", i), Password: fixture.Password})
		if err != nil {
			b.Fatal(err)
		}
		target = c.User.ID
	}
	actor := func(*http.Request) (string, error) { return admin.ID, nil }
	h, err := httpapi.New(m, httpapi.Options{BasePath: "/admin/api", Actor: actor})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/api/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := actor(r)
		u, err := m.User(r.Context(), id, r.PathValue("id"))
		if err != nil {
			http.Error(w, err.Error(), usermgmt.HTTPStatus(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	})
	mux.HandleFunc("GET /admin/api/users", func(w http.ResponseWriter, r *http.Request) {
		id, _ := actor(r)
		p, err := m.ListUsers(r.Context(), id, usermgmt.UserQuery{Limit: 50})
		if err != nil {
			http.Error(w, err.Error(), usermgmt.HTTPStatus(err))
			return
		}
		// The same JSON, written as directly as it can be: a plain
		// struct (usermgmt.Page's MarshalJSON would cost an extra pass).
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Items []usermgmt.User `json:"items"`
			Next  string          `json:"next_cursor,omitempty"`
		}{p.Items, p.Next})
	})
	return h, mux, admin, target
}

func pairedRequests(b *testing.B, api, bare http.Handler, path string) {
	b.Helper()
	r := httptest.NewRequest("GET", path, nil)
	w := &sink{h: http.Header{}}
	serve := func(h http.Handler) func() error {
		return func() error {
			w.reset()
			h.ServeHTTP(w, r)
			if w.status != 0 && w.status != http.StatusOK {
				return fmt.Errorf("answered %d: %s", w.status, w.body.Bytes())
			}
			return nil
		}
	}
	// Both answer, and alike in size (the API adds its next link).
	for _, h := range []http.Handler{bare, api} {
		if err := serve(h)(); err != nil {
			b.Fatal(err)
		}
	}
	storebench.Paired(b, serve(bare), serve(api))
}

// BenchmarkGetUser: GET one user through the API against the bare handler.
func BenchmarkGetUser(b *testing.B) {
	api, bare, _, target := benchSetup(b)
	pairedRequests(b, api, bare, "/admin/api/users/"+target)
}

// BenchmarkListUsers: GET a page of 50 users through the API against the
// bare handler.
func BenchmarkListUsers(b *testing.B) {
	api, bare, _, _ := benchSetup(b)
	pairedRequests(b, api, bare, "/admin/api/users?limit=50")
}
