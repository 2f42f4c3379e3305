// Package storebench holds the benchmarks every store runs, each beside a
// bare baseline measured in the same run, so that what the library adds can
// be read as a ratio: library / baseline. Each comparison is one
// sub-benchmark that alternates baseline and library (Paired) and reports
// base-ns/op, lib-ns/op and ratio; cmd/usermgmt-bench runs every store's
// benchmarks and prints the ratios beside the project's targets.
package storebench

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"testing"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"golang.org/x/crypto/argon2"
)

// Password is the password of the benchmark users.
const Password = fixture.Password

// Authenticate benchmarks Manager.Authenticate over s with the library's
// default (OWASP) argon2id parameters. Each sub-benchmark alternates the
// library with its baseline:
//
//	right_password    lookup, attempt reservation, verification, login record
//	wrong_password    lookup, attempt reservation, verification
//	unknown_email     lookup miss, verification against the dummy hash
//
// beside a bare argon2id verification with the same parameters
// (argon2.IDKey and a constant-time compare, nothing else), and
//
//	unknown_vs_wrong  an unknown email beside a wrong password: the two must
//	                  cost the same, or timing tells which emails exist
//
// The wrong-password user never locks: the benchmark's policy allows 2^30
// failures, so every iteration runs the same path.
func Authenticate(b *testing.B, s usermgmt.Store) {
	ctx := context.Background()
	m, err := usermgmt.New(s, usermgmt.WithPolicy(usermgmt.Policy{MaxFailedAttempts: 1 << 30}))
	if err != nil {
		b.Fatal(err)
	}
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Bench",
		Admin: usermgmt.NewUser{Email: "bench-auth@example.com", FirstName: "Bench", LastName: "Mark", Password: Password}})
	if err != nil {
		b.Fatal(err)
	}
	email := c.User.Email
	p := usermgmt.DefaultHashParams()
	salt, key := make([]byte, p.SaltLength), make([]byte, p.KeyLength)
	_, _ = rand.Read(salt)
	bare := func() error {
		k := argon2.IDKey([]byte(Password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
		_ = subtle.ConstantTimeCompare(k, key)
		return nil
	}
	expect := func(want error, email, password string) func() error {
		return func() error {
			if _, err := m.Authenticate(ctx, email, password); err != want {
				return fmt.Errorf("Authenticate(%s) = %v, want %v", email, err, want)
			}
			return nil
		}
	}
	right := expect(nil, email, Password)
	wrong := expect(usermgmt.ErrInvalidCredentials, email, "not the password")
	unknown := expect(usermgmt.ErrInvalidCredentials, "nobody-here@example.com", "not the password")
	b.Run("right_password", func(b *testing.B) { Paired(b, bare, right) })
	b.Run("wrong_password", func(b *testing.B) { Paired(b, bare, wrong) })
	b.Run("unknown_email", func(b *testing.B) { Paired(b, bare, unknown) })
	b.Run("unknown_vs_wrong", func(b *testing.B) { Paired(b, wrong, unknown) })
}
