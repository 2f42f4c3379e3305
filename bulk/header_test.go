package bulk

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFieldForHeader(t *testing.T) {
	for field, headers := range map[Field][]string{
		FieldEmail:        {"Email", "E-mail", "e_mail", "EMAIL ADDRESS", "Email Address", "mail", " Mail: "},
		FieldFirstName:    {"First Name", "Given name", "Firstname", "first", "FIRST_NAME", "Forename"},
		FieldLastName:     {"Last Name", "Surname", "Family name", "last", "last-name"},
		FieldRole:         {"Role", "ROLE"},
		FieldAccount:      {"Account", "Client", "Account ID", "Sub-account", "account_id"},
		FieldDepartment:   {"Department", "Dept", "Dept."},
		FieldGroups:       {"Groups", "Group", "group(s)"},
		FieldActive:       {"Active", "active?"},
		FieldPasswordHash: {"Password hash", "Password_hash", "hash", "PasswordHash"},
		FieldLocale:       {"Locale", "Language"},
		FieldStatus:       {"Status"},
		FieldCreated:      {"Created"},
		FieldLastLogin:    {"Last Login", "last_login"},
		FieldUnknown:      {"", "Name", "Phone", "Emails", "Prénom", "Password", "\uFEFF"},
	} {
		for _, h := range headers {
			assert.Equal(t, field, FieldForHeader(h), "header %q", h)
		}
	}
	assert.Equal(t, FieldEmail, FieldForHeader("\uFEFFEmail"), "a stray byte-order mark is punctuation")
}

func TestFieldNames(t *testing.T) {
	for f := FieldEmail; f < numFields; f++ {
		assert.Equal(t, f, FieldForHeader(f.String()), "the canonical name of %d reads back", f)
	}
	assert.Equal(t, "Unknown", FieldUnknown.String())
	assert.Equal(t, "Unknown", Field(99).String())
	assert.True(t, FieldStatus.Informational())
	assert.True(t, FieldLastLogin.Informational())
	assert.False(t, FieldEmail.Informational())
}

func TestSplitList(t *testing.T) {
	assert.Nil(t, splitList(""))
	assert.Nil(t, splitList(" ; , "))
	assert.Equal(t, []string{"a", "b c", "d"}, splitList("a; b c ,d;;a"))
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"yes", "Y", "TRUE", "true", "1"} {
		v, ok := parseBool(s)
		assert.True(t, ok, s)
		assert.True(t, *v, s)
	}
	for _, s := range []string{"no", "N", "FALSE", "0"} {
		v, ok := parseBool(s)
		assert.True(t, ok, s)
		assert.False(t, *v, s)
	}
	v, ok := parseBool("")
	assert.True(t, ok)
	assert.Nil(t, v)
	for _, s := range []string{"maybe", "2", "oui", "-1"} {
		_, ok := parseBool(s)
		assert.False(t, ok, s)
	}
}

func TestColumnLetters(t *testing.T) {
	for n, want := range map[int]string{1: "A", 26: "Z", 27: "AA", 52: "AZ", 703: "AAA", 16384: "XFD"} {
		assert.Equal(t, want, columnLetters(n))
	}
}

func TestNeutralise(t *testing.T) {
	for in, want := range map[string]string{
		"":         "",
		"Anne":     "Anne",
		"-Anne":    "'-Anne",
		"=1+1":     "'=1+1",
		"+33 1":    "'+33 1",
		"@SUM(A1)": "'@SUM(A1)",
		"\tx":      "'\tx",
		"\rx":      "'\rx",
		"'-Anne":   "''-Anne",
		"'Anne":    "'Anne",
		"'":        "'",
		"a=b":      "a=b",
	} {
		assert.Equal(t, want, Neutralise(in), "Neutralise(%q)", in)
		assert.Equal(t, in, Unneutralise(Neutralise(in)), "round trip of %q", in)
	}
	// What people type: a leading quote before a trigger is the spreadsheet
	// way of saying "text", and is removed.
	assert.Equal(t, "-5", Unneutralise("'-5"))
	assert.Equal(t, "'5", Unneutralise("'5"))
}

func FuzzNeutralise(f *testing.F) {
	for _, s := range []string{"", "-a", "'", "''=", "'\t", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Neutralise(s)
		if Unneutralise(n) != s {
			t.Fatalf("Unneutralise(Neutralise(%q)) = %q", s, Unneutralise(n))
		}
		if n != "" && (n[0] == '=' || n[0] == '+' || n[0] == '-' || n[0] == '@' || n[0] == '\t' || n[0] == '\r') {
			t.Fatalf("Neutralise(%q) = %q starts a formula", s, n)
		}
	})
}
