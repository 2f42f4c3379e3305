package pgstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/pgstore"
)

// lockedReads counts the statements that read a user under lock by ID,
// FinishAttempt's first round trip, sent alone or in a batch.
type lockedReads struct{ n atomic.Int64 }

func (c *lockedReads) see(sql string) {
	if strings.HasSuffix(strings.TrimSpace(sql), "WHERE u.id = $1 FOR UPDATE") {
		c.n.Add(1)
	}
}

func (c *lockedReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.see(d.SQL)
	return ctx
}
func (c *lockedReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *lockedReads) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (c *lockedReads) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.see(d.SQL)
}
func (c *lockedReads) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// storeOnPool opens a Store on schema with a pool of its own, whose
// connections report to tracer when it is not nil; both close when the
// test ends.
func storeOnPool(t *testing.T, schema string, tracer pgx.QueryTracer) *pgstore.Store {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := pgstore.New(ctx, pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reserveLease reserves an attempt of the user id on s under lease (limit
// 10, held a minute from now) and fails the test unless the reservation
// holds; it returns the row the reservation returned.
func reserveLease(t *testing.T, s *pgstore.Store, id, lease string, now time.Time) usermgmt.UserRecord {
	t.Helper()
	r, res, err := s.ReserveAttempt(context.Background(), usermgmt.AttemptReservation{UserID: id, Now: now, Limit: 10,
		Lease: usermgmt.AttemptLease{ID: lease, Until: now.Add(time.Minute)}})
	if err != nil || res != usermgmt.ReserveOK {
		t.Fatalf("ReserveAttempt(%s) = %v, %v", lease, res, err)
	}
	return r
}

// A login's outcome is written in one round trip, with no read under lock,
// when this store reserved the attempt and nothing changed the user since;
// when another attempt changed the row in between, the outcome is decided
// on the row read under lock, and both ways give what the contract says.
func TestFinishAttemptInOneRoundTrip(t *testing.T) {
	needServer(t)
	ctx := context.Background()
	schema := randomSchema(t)
	t.Cleanup(func() { dropSchema(t, schema) })
	reads := &lockedReads{}
	s := storeOnPool(t, schema, reads)
	m, err := usermgmt.New(s, usermgmt.WithHashParams(fixture.FastHash))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := fixture.Admin(ctx, m, "one-trip@example.com")
	if err != nil {
		t.Fatal(err)
	}
	user := func() usermgmt.UserRecord {
		t.Helper()
		u, err := s.User(ctx, admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	want := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d, want %d", what, got, want)
		}
	}

	if _, err := m.Authenticate(ctx, admin.Email, "not the password"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	want("locked reads finishing a wrong password", reads.n.Load(), 0)
	want("failures", int64(user().FailedAttempts), 1)
	if _, err := m.Authenticate(ctx, admin.Email, fixture.Password); err != nil {
		t.Fatal(err)
	}
	want("locked reads finishing a right password", reads.n.Load(), 0)
	u := user()
	want("failures after a login", int64(u.FailedAttempts), 0)
	want("leases after a login", int64(len(u.AttemptLeases)), 0)
	if u.LastLoginAt.IsZero() {
		t.Error("the login was not recorded")
	}

	// Two attempts in flight: each finish finds the row changed since its
	// reservation (by the other's reservation, then by the other's finish).
	now := time.Now()
	a := reserveLease(t, s, admin.ID, "lease-a", now)
	reserveLease(t, s, admin.ID, "lease-b", now)
	got, recorded, err := s.FinishAttempt(ctx, usermgmt.AttemptOutcome{UserID: admin.ID, LeaseID: "lease-a", At: now, Limit: 10})
	if err != nil || !recorded {
		t.Fatalf("FinishAttempt(a) = %v, %v", recorded, err)
	}
	want("locked reads after a changed row", reads.n.Load(), 1)
	want("failures after a's wrong password", int64(got.FailedAttempts), 1)
	if len(got.AttemptLeases) != 1 || got.AttemptLeases[0].ID != "lease-b" {
		t.Errorf("leases after a's finish: %v, want lease-b alone", got.AttemptLeases)
	}
	got, recorded, err = s.FinishAttempt(ctx, usermgmt.AttemptOutcome{UserID: admin.ID, LeaseID: "lease-b", Success: true,
		PasswordVersion: a.PasswordVersion, VerifiedHash: a.PasswordHash, At: now, Limit: 10})
	if err != nil || !recorded {
		t.Fatalf("FinishAttempt(b) = %v, %v", recorded, err)
	}
	want("locked reads after b", reads.n.Load(), 2)
	stored := user()
	want("failures after b's login", int64(stored.FailedAttempts), 0)
	want("leases after b", int64(len(stored.AttemptLeases)), 0)
	want("version returned", got.Version, stored.Version)
}
