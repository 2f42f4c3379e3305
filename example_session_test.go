package usermgmt_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// session is what an application keeps in its session store (a cookie
// session with github.com/alexedwards/scs, say): the user and the session
// version at login.
type session struct {
	userID  string
	version int64
}

// requireSession is the middleware pattern: end the session at once when
// the user's session version moved (password changed, locked, banned,
// disabled, removed, role changed...), and record activity so that a user
// who works every day in one long session is not swept to Inactive.
func requireSession(m *usermgmt.Manager, sessions map[string]session, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := sessions[r.Header.Get("Cookie")]
		if !ok {
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		valid, err := m.SessionValid(r.Context(), s.userID, s.version)
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if !valid {
			delete(sessions, r.Header.Get("Cookie"))
			http.Error(w, "signed out", http.StatusUnauthorized)
			return
		}
		_ = m.Touch(r.Context(), s.userID) // at most one write an hour per user
		next.ServeHTTP(w, r)
	})
}

func ExampleManager_SessionValid() {
	ctx := context.Background()
	m, _ := usermgmt.New(memstore.New(),
		usermgmt.WithHashParams(usermgmt.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	_, admin, _ := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Acme",
		Admin: usermgmt.NewUser{Email: "ada@acme.example", FirstName: "Ada", LastName: "Admin", Password: "correct horse battery staple"}})
	_, _ = m.CreateUser(ctx, admin.User.ID, usermgmt.NewUser{Email: "grace@acme.example", FirstName: "Grace", LastName: "Hopper", Password: "a long and unusual passphrase"})

	// Login: keep the user's ID and session version in the session.
	u, _ := m.Authenticate(ctx, "grace@acme.example", "a long and unusual passphrase")
	sessions := map[string]session{"sid=1": {u.ID, u.SessionVersion}}
	h := requireSession(m, sessions, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
	get := func() int {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", "sid=1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	fmt.Println(get())

	// An admin bans the user: the very next request ends the session.
	_, _ = m.Ban(ctx, admin.User.ID, u.ID)
	fmt.Println(get(), len(sessions))
	// Output:
	// 200
	// 401 0
}
