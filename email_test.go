package usermgmt_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/usermgmt/usermgmt"
)

func TestNormalizeEmail(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{" Grace.Hopper@Example.COM ", "grace.hopper@example.com"},
		{"user@bücher.example", "user@xn--bcher-kva.example"},
		{"USER@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"},
		{"user@BÜCHER.example", "user@xn--bcher-kva.example"},
		{"caf\u00e9@example.com", "caf\u00e9@example.com"},
		{"cafe\u0301@example.com", "caf\u00e9@example.com"},       // decomposed é composes
		{"CAFÉ@example.com", "caf\u00e9@example.com"},             // non-ASCII upper case folds to non-ASCII
		{"ÅSA@example.com", "åsa@example.com"},                    // Å (U+00C5)
		{"eve@g\u0130thub.example", "eve@xn--github-qyd.example"}, // not github.example
		{"user@ｅxample.com", "user@example.com"},                  // UTS #46 maps fullwidth in domains
		{"o'brien+tag@example.co.uk", "o'brien+tag@example.co.uk"},
	} {
		got, err := usermgmt.NormalizeEmail(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
		again, err := usermgmt.NormalizeEmail(got)
		require.NoError(t, err)
		require.Equal(t, got, again, "not idempotent on %q", c.in)
	}
}

func TestNormalizeEmailRefuses(t *testing.T) {
	for _, in := range []string{
		"", "   ", "no-at-sign", "@example.com", "user@", "user@localhost", "user@example.",
		"Ada <ada@example.com>", "<ada@example.com>", `"quoted local"@example.com`, "a b@example.com",
		"user@exa_mple.com", "user@-example.com", "user@example.123", "user@example..com",
		"\u212Aelvin@example.com",     // Kelvin sign: "k" in disguise
		"\u0130nci@example.com",       // dotted capital I: lower-cases to "i"
		"\u017Fam@example.com",        // long s: upper-cases to "S"
		"what\u037E@example.com",      // Greek question mark: NFC gives ";"
		"zero\u200bwidth@example.com", // invisible
		"bell\x07@example.com",
		"bad\xffutf8@example.com",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 250) + ".com",
	} {
		_, err := usermgmt.NormalizeEmail(in)
		require.ErrorIs(t, err, usermgmt.ErrInvalidEmail, "%q", in)
		var fe *usermgmt.FieldError
		require.True(t, errors.As(err, &fe), "%q", in)
		require.Equal(t, "email", fe.Field)
		if len(in) > 14 && utf8.ValidString(in) {
			require.NotContains(t, err.Error(), in, "the error repeats the input")
		}
	}
}

// FuzzNormalizeEmail checks, for any input: no panic; an accepted address
// normalises to a form that is accepted again unchanged (idempotent, always
// re-validates); and the form never names another mailbox — the local
// part changes only by NFC composition and case, a non-ASCII character
// never becoming an ASCII one, and the domain only by UTS #46.
//
//	go test -run '^$' -fuzz FuzzNormalizeEmail -fuzztime 1000000x .
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"grace@example.com", "User@Bücher.Example", "cafe\u0301@example.com", "eve@g\u0130thub.example",
		"\u212Aelvin@example.com", "ß@example.com", "Ǆ@example.com", "ﬀ@example.com", "a@b.c", "x@xn--bcher-kva.example",
		"Σίσυφος@παράδειγμα.δοκιμή", "用户@例子.广告", "ÅÄÖ@example.se", "a\u0301\u0302@example.com", "İ@x.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := usermgmt.NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, usermgmt.ErrInvalidEmail) {
				t.Fatalf("NormalizeEmail(%q): %v, not ErrInvalidEmail", in, err)
			}
			return
		}
		again, err := usermgmt.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeEmail(%q) = %q, which gives %q, %v", in, out, again, err)
		}
		if len(out) > 254 {
			t.Fatalf("NormalizeEmail(%q) = %q: longer than 254 bytes", in, out)
		}
		trimmed := strings.TrimSpace(in)
		at := strings.LastIndexByte(trimmed, '@')
		oat := strings.LastIndexByte(out, '@')
		inLocal, inDomain := norm.NFC.String(trimmed[:at]), trimmed[at+1:]
		outLocal, outDomain := out[:oat], out[oat+1:]
		// The local part: the same characters, each the same or its lower
		// case, never an ASCII one for a non-ASCII one.
		a, b := []rune(inLocal), []rune(outLocal)
		if len(a) != len(b) {
			t.Fatalf("local part %q became %q: %d characters, not %d", inLocal, outLocal, len(b), len(a))
		}
		for i := range a {
			switch {
			case a[i] == b[i]:
			case unicode.ToLower(a[i]) == b[i] && (a[i] < utf8.RuneSelf) == (b[i] < utf8.RuneSelf):
			default:
				t.Fatalf("local part %q became %q: %q at %d became %q", inLocal, outLocal, a[i], i, b[i])
			}
		}
		// The domain: the A-label UTS #46 gives for the input, and nothing else.
		want, err := idna.Lookup.ToASCII(inDomain)
		if err != nil || want != outDomain {
			t.Fatalf("domain %q became %q, UTS #46 gives %q (%v)", inDomain, outDomain, want, err)
		}
	})
}
