package usermgmt_test

import (
	"errors"
	"testing"

	"github.com/usermgmt/usermgmt"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Ann.Lee@Example.COM ": "ann.lee@example.com",
		"a+tag@sub.example.org":  "a+tag@sub.example.org",
	} {
		got, err := usermgmt.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "plain", "@example.com", "ann@", "ann@localhost", "Ann <ann@example.com>",
		"ann@example.com, bob@example.com", "ann@exa mple.com", "ann@example.com."} {
		_, err := usermgmt.NormalizeEmail(in)
		var fe *usermgmt.FieldError
		if !errors.Is(err, usermgmt.ErrInvalidEmail) || !errors.As(err, &fe) || fe.Field != "email" {
			t.Errorf("NormalizeEmail(%q) = %v, want an email FieldError", in, err)
		}
	}
}

func TestNamesMustBeValidUTF8(t *testing.T) {
	m := newManager(t)
	_, _, err := m.CreateAccount(t.Context(), usermgmt.System, usermgmt.NewAccount{Name: "Jos\xe9 Ltd",
		Admin: usermgmt.NewUser{Email: "jose@example.com", FirstName: "Jos\xe9", LastName: "L", Password: "correct horse battery staple"}})
	var fe *usermgmt.FieldError
	if !errors.Is(err, usermgmt.ErrInvalidInput) || !errors.As(err, &fe) || fe.Field != "name" {
		t.Fatalf("Latin-1 account name: %v, want a FieldError on name", err)
	}
	_, _, err = m.CreateAccount(t.Context(), usermgmt.System, usermgmt.NewAccount{Name: "José Ltd",
		Admin: usermgmt.NewUser{Email: "jose@example.com", FirstName: "Jos\xe9", LastName: "L", Password: "correct horse battery staple"}})
	if !errors.As(err, &fe) || fe.Field != "first_name" {
		t.Fatalf("Latin-1 first name: %v, want a FieldError on first_name", err)
	}
}
