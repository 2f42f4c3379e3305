package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/alexedwards/scs/v2"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// The examples use the in-memory store and cheap hash parameters so that
// they run quickly; applications keep the default (OWASP) parameters.

// ExampleNew mounts the API under /admin/api with an Actor from bearer
// tokens that the application issues and verifies itself.
func ExampleNew() {
	m, _ := usermgmt.New(memstore.New(), usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(context.Background(), usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	// The application's own tokens: here a map; in production a signed,
	// expiring token or a lookup in the application's token table.
	tokens := map[string]string{"s3cr3t-token": admin.User.ID}
	api, err := httpapi.New(m, httpapi.Options{
		BasePath: "/admin/api",
		Actor: httpapi.BearerActor(func(_ context.Context, token string) (string, error) {
			if id, ok := tokens[token]; ok {
				return id, nil
			}
			return "", errors.New("unknown token")
		}),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/api/", api)

	r := httptest.NewRequest("POST", "/admin/api/invitations", strings.NewReader(
		`{"email": "bob@acme.example", "first_name": "Bob", "last_name": "Builder"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer s3cr3t-token")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("ETag"))

	r = httptest.NewRequest("GET", "/admin/api/users?status=invited", nil)
	r.Header.Set("Authorization", "Bearer wrong")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// 201 "1"
	// 401 application/problem+json
}

// ExampleSCSActor keeps the acting user in a session of
// github.com/alexedwards/scs/v2: the application's login handler calls
// Login after Manager.Authenticate, and the API reads the session back,
// ending it as soon as the user's sessions must end.
func ExampleSCSActor() {
	m, _ := usermgmt.New(memstore.New(), usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, _, _ = m.CreateAccount(context.Background(), usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})

	sessions := scs.New()
	actor := httpapi.SCSActor{Sessions: sessions, Manager: m}
	api, _ := httpapi.New(m, httpapi.Options{BasePath: "/admin/api", Actor: actor.Actor})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		u, err := m.Authenticate(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"))
		if err != nil {
			http.Error(w, "invalid email or password", usermgmt.HTTPStatus(err))
			return
		}
		if err := actor.Login(r.Context(), u); err != nil {
			http.Error(w, "could not start the session", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/admin/api/", api)
	srv := sessions.LoadAndSave(mux)

	r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"email": {"ada@acme.example"}, "password": {"correct horse battery staple"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	cookie := w.Result().Cookies()[0]

	r = httptest.NewRequest("GET", "/admin/api/roles", nil)
	r.AddCookie(cookie)
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// 200
}
