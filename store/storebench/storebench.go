// Package storebench holds the benchmarks every store runs, each beside a
// bare baseline measured in the same run, so that what the library adds can
// be read as a ratio: library / baseline. Sub-benchmarks whose name starts
// with "baseline" are the baselines of their group; cmd/usermgmt-bench runs
// every store's benchmarks and prints the ratios.
package storebench

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"testing"

	"github.com/usermgmt/usermgmt"
	"golang.org/x/crypto/argon2"
)

// Password is the password of the benchmark users.
const Password = "correct horse battery staple"

// Authenticate benchmarks Manager.Authenticate over s with the library's
// default (OWASP) argon2id parameters, beside a bare argon2id verification
// with the same parameters:
//
//	baseline_argon2id  argon2.IDKey and a constant-time compare, nothing else
//	right_password     lookup, attempt reservation, verification, login record
//	wrong_password     lookup, attempt reservation, verification
//	unknown_email      lookup miss, verification against the dummy hash
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
	b.Run("baseline_argon2id", func(b *testing.B) {
		for b.Loop() {
			k := argon2.IDKey([]byte(Password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
			_ = subtle.ConstantTimeCompare(k, key)
		}
	})
	b.Run("right_password", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Authenticate(ctx, email, Password); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrong_password", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Authenticate(ctx, email, "not the password"); err != usermgmt.ErrInvalidCredentials {
				b.Fatal(err)
			}
		}
	})
	b.Run("unknown_email", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Authenticate(ctx, "nobody-here@example.com", "not the password"); err != usermgmt.ErrInvalidCredentials {
				b.Fatal(err)
			}
		}
	})
}
