package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/httpapi"
	"github.com/usermgmt/usermgmt/store/memstore"
)

// FuzzRequests sends arbitrary bodies to every route of the handler, as
// the admin (or, on public routes, as anyone; to the import, as the
// uploaded file). Whatever the body, the
// exchange holds to the OpenAPI document (a request the document refuses
// is refused, every answer matches the document) and nothing is answered
// 500: no body makes the handler fail.
func FuzzRequests(f *testing.F) {
	seeds := map[string]string{
		"POST /users":                     `{"email":"n@example.com","first_name":"N","last_name":"U","password":"correct horse battery staple"}`,
		"POST /invitations":               `{"email":"i@example.com","first_name":"I","last_name":"V"}`,
		"POST /invitations/bulk":          `{"rows":[{"email":"b@example.com"},{"email":"x"}],"dry_run":false}`,
		"PATCH /users/{id}":               `{"first_name":"Gina","department":""}`,
		"PUT /users/{id}/role":            `{"role":"user_admin"}`,
		"POST /users/{id}/grants":         `{"permission":"insights.view","resource":"insight:1"}`,
		"POST /accounts":                  `{"name":"Sub","admin":{"email":"s@example.com","invite":true}}`,
		"POST /groups":                    `{"name":"G2","grants":[{"permission":"p"}]}`,
		"POST /public/password-reset":     `{"email":"gene@example.com"}`,
		"POST /public/invitation/accept":  `{"token":"t","password":"correct horse battery staple"}`,
		"POST /accounts/{id}/departments": `{"name":"Sales"}`,
		"POST /import":                    "Email,First Name,Groups,Active\nz@example.com,Zed,G,no\n",
	}
	m, err := usermgmt.New(memstore.New())
	if err != nil {
		f.Fatal(err)
	}
	h, err := httpapi.New(m, httpapi.Options{BasePath: base, Actor: func(*http.Request) (string, error) { return "", nil }})
	if err != nil {
		f.Fatal(err)
	}
	routes := h.Routes()
	for i, r := range routes {
		rel := strings.Replace(r, " "+base, " ", 1)
		f.Add(uint8(i), []byte(seeds[rel]))
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`{"reason":"fuzz"}`))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		e := newEnv(t)
		g := e.user(e.root.ID, "gene@example.com", usermgmt.RoleGeneral)
		inv, _ := e.invited(e.root.ID, "ivy@example.com")
		grp, err := e.m.CreateGroup(e.ctx, e.admin.ID, usermgmt.NewGroup{Name: "G"})
		if err != nil {
			t.Fatal(err)
		}
		rt := routes[int(route)%len(routes)]
		method, path, _ := strings.Cut(rt, " ")
		user := g.ID
		if strings.HasPrefix(path, base+"/invitations/") {
			user = inv.ID
		}
		id := user
		switch {
		case strings.HasPrefix(path, base+"/groups/"):
			id = grp.ID
		case strings.HasPrefix(path, base+"/accounts/"):
			id = e.root.ID
		}
		path = strings.NewReplacer("{id}", id, "{user_id}", user, "{name}", "Ops").Replace(path)
		q := req{method: method, path: path, as: e.admin.ID}
		if len(body) > 0 {
			q.body = body
		}
		if path == base+"/import" {
			// The body is the uploaded file.
			ct, b := upload(t, "users.csv", body)
			q.body, q.header = b, map[string]string{"Content-Type": ct}
		}
		r := e.do(q)
		if r.status >= http.StatusInternalServerError {
			t.Fatalf("%s %s %q answered %d: %s", method, path, body, r.status, r.body)
		}
	})
}
