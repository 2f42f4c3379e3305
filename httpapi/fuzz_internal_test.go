package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// bodyTypes are the types of every JSON request body, with a seed each.
var bodyTypes = []struct {
	name string
	new  func() any
	seed string
}{
	{"NewUserRequest", func() any { return new(NewUserRequest) }, `{"email":"a@example.com","first_name":"A","last_name":"B","password":"x","groups":["g"],"invite":true,"reason":"r"}`},
	{"EmailRequest", func() any { return new(EmailRequest) }, `{"email":"a@example.com"}`},
	{"ProfileRequest", func() any { return new(ProfileRequest) }, `{"first_name":"A","last_name":"B","locale":"de","department":"","reason":"r"}`},
	{"RoleRequest", func() any { return new(RoleRequest) }, `{"role":"admin","reason":"r"}`},
	{"EmailChangeRequest", func() any { return new(EmailChangeRequest) }, `{"email":"b@example.com"}`},
	{"MoveRequest", func() any { return new(MoveRequest) }, `{"account_id":"x","reason":"r"}`},
	{"PasswordRequest", func() any { return new(PasswordRequest) }, `{"password":"p","reason":"r"}`},
	{"ActionRequest", func() any { return new(ActionRequest) }, `{"reason":"r"}`},
	{"GrantRequest", func() any { return new(GrantRequest) }, `{"permission":"p","resource":"t:1","department":"d"}`},
	{"NewAccountRequest", func() any { return new(NewAccountRequest) }, `{"parent_id":"p","name":"n","locale":"en","admin":{"email":"a@example.com","invite":true}}`},
	{"AccountPatchRequest", func() any { return new(AccountPatchRequest) }, `{"name":"n","locale":"en"}`},
	{"DepartmentRequest", func() any { return new(DepartmentRequest) }, `{"name":"Ops"}`},
	{"NewGroupRequest", func() any { return new(NewGroupRequest) }, `{"name":"g","description":"d","grants":[{"permission":"p"}]}`},
	{"GroupPatchRequest", func() any { return new(GroupPatchRequest) }, `{"name":"g","description":"d"}`},
	{"BulkInviteRequest", func() any { return new(BulkInviteRequest) }, `{"role":"general","rows":[{"email":"a@example.com"},{"email":"b@example.com","disabled":true}],"dry_run":true}`},
	{"TokenRequest", func() any { return new(TokenRequest) }, `{"token":"t"}`},
	{"AcceptRequest", func() any { return new(AcceptRequest) }, `{"token":"t","password":"p","first_name":"A","locale":"fr"}`},
	{"ResetRequest", func() any { return new(ResetRequest) }, `{"email":"a@example.com"}`},
	{"ResetConfirmRequest", func() any { return new(ResetConfirmRequest) }, `{"token":"t","password":"p"}`},
}

// FuzzDecodeBodies decodes arbitrary bytes as each request body type. The
// decoding never panics and either refuses with a 400 invalid_body
// problem or yields a value that survives a round trip: marshalled and
// decoded again it is accepted and equal, so what the handler acts on is
// exactly what the body says.
func FuzzDecodeBodies(f *testing.F) {
	for i, bt := range bodyTypes {
		f.Add(uint8(i), []byte(bt.seed))
		f.Add(uint8(i), []byte(`{"`+bt.name+`": 1}`))
	}
	f.Add(uint8(0), []byte(`{"email":"a","email":"b"}`))
	f.Add(uint8(0), []byte(`{"EMAIL":"a"}`))
	f.Add(uint8(2), []byte("{\"la\u017ft_name\":\"x\"}"))
	f.Add(uint8(14), []byte(`{"rows":[{"email":"a"}]} x`))
	f.Add(uint8(7), []byte(``))
	f.Add(uint8(7), []byte(`null`))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		bt := bodyTypes[int(kind)%len(bodyTypes)]
		v := bt.new()
		err := decodeJSON(data, v, kind%2 == 0)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.code != "invalid_body" {
				t.Fatalf("%s: %q refused with %v", bt.name, data, err)
			}
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: marshalling %#v: %v", bt.name, v, err)
		}
		w := bt.new()
		if err := decodeJSON(again, w, false); err != nil {
			t.Fatalf("%s: %q decoded, but its re-encoding %s is refused: %v", bt.name, data, again, err)
		}
		// Compared as JSON: an empty list and an absent one are alike.
		if third, _ := json.Marshal(w); !bytes.Equal(again, third) {
			t.Fatalf("%s: %q decoded to %s, its re-encoding to %s", bt.name, data, again, third)
		}
	})
}

// FuzzIfMatch parses arbitrary If-Match values: any value accepted is "*"
// or names exactly the version whose ETag it is.
func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{`"1"`, `*`, `W/"1"`, `"01"`, `"-1"`, `"1", "2"`, ` "7" `, `"9223372036854775807"`, `"9223372036854775808"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseIfMatch(s)
		if !ok {
			return
		}
		if v == -1 {
			if strings.TrimSpace(s) != "*" {
				t.Fatalf("%q read as *", s)
			}
			return
		}
		if got := etag(v); got != strings.TrimSpace(s) {
			t.Fatalf("%q read as version %d, whose ETag is %s", s, v, got)
		}
	})
}
