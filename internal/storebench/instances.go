package storebench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
)

// InstanceUsers is how many users the multi-instance benchmark spreads its
// work over.
const InstanceUsers = 256

// InstanceAdmin is the email of the admin whose edits the "writes" work makes.
const InstanceAdmin = "admin@example.com"

// SetupInstances fills a fresh store for the multi-instance benchmark: an
// account, its admin InstanceAdmin and InstanceUsers users (bench0000@...)
// with fixture.Password, hashed with the default argon2id parameters.
func SetupInstances(ctx context.Context, s usermgmt.Store) error {
	m, err := usermgmt.New(s)
	if err != nil {
		return err
	}
	_, c, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Instances",
		Admin: usermgmt.NewUser{Email: InstanceAdmin, FirstName: "Ada", LastName: "Admin", Password: fixture.Password}})
	if err != nil {
		return err
	}
	for i := range InstanceUsers {
		if _, err := m.CreateUser(ctx, c.User.ID, usermgmt.NewUser{Email: fixture.Email("bench", i), FirstName: "B", LastName: "U", Password: fixture.Password}); err != nil {
			return err
		}
	}
	return nil
}

// InstanceWork is one application instance's share of the multi-instance
// benchmark, run in its own OS process on a store SetupInstances filled:
// for d, 16 goroutines either log users in ("logins": right password,
// default argon2id parameters) or edit their profiles as the admin
// ("writes": a versioned write with its audit event each). It returns how
// many it completed.
func InstanceWork(ctx context.Context, s usermgmt.Store, mode string, d time.Duration) (int64, error) {
	if mode != "logins" && mode != "writes" {
		return 0, fmt.Errorf("storebench: unknown instance work %q", mode)
	}
	m, err := usermgmt.New(s)
	if err != nil {
		return 0, err
	}
	admin, err := s.UserByEmail(ctx, InstanceAdmin)
	if err != nil {
		return 0, err
	}
	stop := time.Now().Add(d)
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := g; time.Now().Before(stop); i += 16 {
				email := fixture.Email("bench", (os.Getpid()*7+i)%InstanceUsers)
				var err error
				if mode == "logins" {
					_, err = m.Authenticate(ctx, email, fixture.Password)
				} else {
					var u usermgmt.UserRecord
					if u, err = s.UserByEmail(ctx, email); err == nil {
						name := fmt.Sprint("N", i)
						_, err = m.UpdateProfile(ctx, admin.ID, u.ID, usermgmt.Profile{FirstName: &name})
					}
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", mode, err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return done.Load(), err
	}
	return done.Load(), nil
}
