package usermgmt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func newManager(t *testing.T, opts ...usermgmt.Option) *usermgmt.Manager {
	t.Helper()
	m, err := usermgmt.New(memstore.New(), append([]usermgmt.Option{usermgmt.WithHashParams(fixture.FastHash)}, opts...)...)
	require.NoError(t, err)
	return m
}

func TestPasswordPolicy(t *testing.T) {
	p := usermgmt.DefaultPolicy().Password
	for _, c := range []struct {
		pw      string
		reasons []string
	}{
		{"correct horse battery staple", nil},
		{"short", []string{"must be at least 12 characters"}},
		{strings.Repeat("x", 129), []string{"must be at most 128 characters"}},
		{"Password123!", []string{"is a commonly used password"}},
		{"my grace.hopper@example.com pass", []string{"must not contain your email address"}},
		{"grace.hopper is my password", []string{"must not contain the part of your email address before the @"}},
		{"ääääääääääää", nil}, // twelve characters, twenty-four bytes
	} {
		err := p.Check(c.pw, "grace.hopper@example.com")
		if c.reasons == nil {
			require.NoError(t, err, c.pw)
			continue
		}
		require.ErrorIs(t, err, usermgmt.ErrWeakPassword)
		var pe *usermgmt.PasswordError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, c.reasons, pe.Reasons, c.pw)
	}
	lenient := usermgmt.PasswordPolicy{AllowCommon: true, AllowEmail: true, MinLength: 8}
	require.NoError(t, lenient.Check("Password123!", ""))
	require.NoError(t, lenient.Check("grace.hopper!", "grace.hopper@example.com"))
	require.Equal(t, "Use 12 to 128 characters. Avoid common passwords. Do not include your email address or the part of it before the @.", usermgmt.PasswordPolicy{}.Describe())
	require.Equal(t, "Use 8 to 128 characters.", lenient.Describe())
}

func TestNormalizePassword(t *testing.T) {
	for in, want := range map[string]string{
		"Kra\u0308ftig":  "Kr\u00e4ftig",
		"pass\u00a0word": "pass word",
		"plain ascii":    "plain ascii",
		"\u3000wide":     " wide",
	} {
		got, err := usermgmt.NormalizePassword(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"bell\x07", "nul\x00", "bad\xff"} {
		_, err := usermgmt.NormalizePassword(in)
		require.ErrorIs(t, err, usermgmt.ErrWeakPassword, "%q", in)
	}
}

func TestVerifyPasswordForms(t *testing.T) {
	m := newManager(t)
	const composed = "Kr\u00e4ftig B\u00e4ume"
	const decomposed = "Kra\u0308ftig Ba\u0308ume"
	// A hash of the normalised form verifies either form, and is not stale.
	h := usermgmt.HashPassword(m, composed)
	for _, typed := range []string{composed, decomposed} {
		ok, stale, err := usermgmt.VerifyPassword(m, typed, h)
		require.NoError(t, err)
		require.True(t, ok, typed)
		require.False(t, stale)
	}
	ok, _, err := usermgmt.VerifyPassword(m, "something else", h)
	require.NoError(t, err)
	require.False(t, ok)
	// A hash of the unnormalised form (made before normalisation) verifies
	// the form it was made from, and asks to be re-hashed.
	legacy := usermgmt.HashPassword(m, decomposed)
	ok, stale, err := usermgmt.VerifyPassword(m, decomposed, legacy)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, stale)
	// Other parameters ask to be re-hashed.
	other := newManager(t, usermgmt.WithHashParams(usermgmt.HashParams{Memory: 128, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}))
	ok, stale, err = usermgmt.VerifyPassword(m, composed, usermgmt.HashPassword(other, composed))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, stale)
	// A stored string that is no hash at all is an error, not a mismatch.
	for _, bad := range []string{"", "plaintext", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",
		"$pbkdf2-sha256$i=10$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5", "$2a$99$abc"} {
		_, _, err := usermgmt.VerifyPassword(m, composed, bad)
		require.Error(t, err, bad)
	}
}

func TestParseImportedHash(t *testing.T) {
	good := []string{
		"$2a$04$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES",
		"$2b$04$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES",
		"$2y$04$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES",
		"$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$0cPF3+ROUiRJtbjvkAmluZtoB44uDOLd4wcj2p6+j1c",
		"$pbkdf2-sha256$1000$c2FsdHNhbHQ$0cPF3.ROUiRJtbjvkAmluZtoB44uDOLd4wcj2p6.j1c",
		"$argon2id$v=19$m=128,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk",
	}
	for _, h := range good {
		got, err := usermgmt.ParseImportedHash(" " + h + " ")
		require.NoError(t, err, h)
		require.Equal(t, h, got)
	}
	for _, h := range []string{"", "md5:abc", "$2a$04$short", "$2a$32$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES",
		"$pbkdf2-sha256$i=999$c2FsdHNhbHQ$0cPF3+ROUiRJtbjvkAmluZtoB44uDOLd4wcj2p6+j1c",
		"$pbkdf2-sha256$i=99999999$c2FsdHNhbHQ$0cPF3+ROUiRJtbjvkAmluZtoB44uDOLd4wcj2p6+j1c",
		"$pbkdf2-sha256$i=1000$!!$0cPF3+ROUiRJtbjvkAmluZtoB44uDOLd4wcj2p6+j1c",
		"$argon2id$v=19$m=99999999,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk",
		"$argon2i$v=19$m=128,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk"} {
		_, err := usermgmt.ParseImportedHash(h)
		require.ErrorIs(t, err, usermgmt.ErrInvalidInput, h)
		if h != "" {
			require.NotContains(t, err.Error(), h)
		}
	}
	m := newManager(t)
	ok, stale, err := usermgmt.VerifyPassword(m, "pbkdf2 password", good[4])
	require.NoError(t, err)
	require.True(t, ok, "passlib's adapted base64")
	require.True(t, stale)
	ok, _, err = usermgmt.VerifyPassword(m, "wrong", good[0])
	require.NoError(t, err)
	require.False(t, ok)
}

func TestHashParamsValidated(t *testing.T) {
	for _, p := range []usermgmt.HashParams{
		{Memory: 4, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 2 << 20, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 0, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 4, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 8},
	} {
		_, err := usermgmt.New(memstore.New(), usermgmt.WithHashParams(p))
		require.ErrorIs(t, err, usermgmt.ErrInvalidInput, "%+v", p)
	}
	require.Equal(t, uint32(19*1024), usermgmt.DefaultHashParams().Memory)
}

// TestImportedHashCostBounded: an imported hash chooses the work of every
// verification of its user's password, and any tenant admin may import
// one (NewUser.PasswordHash, bulk rows). A bcrypt cost of 31 is two days
// of CPU per login attempt, an argon2id of 1 GiB × 100 passes minutes and
// a GiB: a handful of logins for such a user would hold every hash slot
// of the service, for every tenant. Imports beyond a few seconds of work
// are refused, and a stored hash beyond them is not computed.
func TestImportedHashCostBounded(t *testing.T) {
	const tail = "$0RnQmOLyc5fQ9l51A.yPqup8ZEvlZBzlU6xkV6hkInKna7tPf8NES"
	for _, h := range []string{
		"$2a$15" + tail, "$2b$20" + tail, "$2y$31" + tail,
		"$argon2id$v=19$m=1048576,t=100,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk",
		"$argon2id$v=19$m=65536,t=65,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk",
	} {
		_, err := usermgmt.ParseImportedHash(h)
		require.ErrorIs(t, err, usermgmt.ErrInvalidInput, h)
	}
	for _, h := range []string{
		"$2a$14" + tail,
		"$argon2id$v=19$m=1048576,t=4,p=4$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk",
		"$argon2id$v=19$m=65536,t=64,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zGOsz3W827uJjGrvscRRbZ7XnhQjkHBSXEpsiuJl0Fk",
	} {
		_, err := usermgmt.ParseImportedHash(h)
		require.NoError(t, err, h)
	}
	// A hash that got into the store anyway is refused, not computed.
	m := newManager(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := usermgmt.VerifyPassword(m, "any password", "$2y$31"+tail)
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("verifying against a bcrypt hash of cost 31 did not return")
	}
}
