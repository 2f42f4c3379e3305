package storebench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// Epoch is the time the benchmark datasets are written at.
var Epoch = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// Dataset is a deterministic population: one account whose first user is
// its admin, and n-1 general users, all Active since Epoch.
type Dataset struct {
	Account usermgmt.Account
	Users   []usermgmt.UserRecord // Users[0] is the admin
}

// NewDataset returns the population of n users (n >= 1). User i has ID
// 01900000-0000-7000-8000-<i padded to 12 digits>, email
// user<i padded to 7>@bench.example and first name First<i>.
func NewDataset(n int) Dataset {
	d := Dataset{Account: usermgmt.Account{ID: "01900000-0000-7000-8000-a00000000000", Name: "Bench", CreatedAt: Epoch, UpdatedAt: Epoch, Version: 1}}
	d.Users = make([]usermgmt.UserRecord, n)
	for i := range d.Users {
		d.Users[i] = usermgmt.UserRecord{ID: fmt.Sprintf("01900000-0000-7000-8000-%012d", i), AccountID: d.Account.ID,
			Email: fmt.Sprintf("user%07d@bench.example", i), FirstName: "First" + strconv.Itoa(i), LastName: "Benchmark",
			Role: usermgmt.RoleGeneral, Status: usermgmt.StatusActive,
			PasswordHash:    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
			PasswordVersion: 1, CreatedAt: Epoch, UpdatedAt: Epoch, ActivatedAt: Epoch, LastActiveAt: Epoch, Version: 1}
	}
	d.Users[0].Role = usermgmt.RoleAdmin
	return d
}

// Event is the audit event of a benchmark user's creation.
func Event(u usermgmt.UserRecord) usermgmt.AuditEvent {
	return usermgmt.AuditEvent{ID: "01900000-0000-7000-9000-" + u.ID[len(u.ID)-12:], At: u.CreatedAt, ActorID: usermgmt.System,
		Action: usermgmt.ActionCreate, UserID: u.ID, AccountID: u.AccountID,
		Changes: []usermgmt.Change{{Field: "email", New: u.Email}, {Field: "status", New: string(u.Status)}}}
}

// Create is the creation of a benchmark user with its event.
func Create(u usermgmt.UserRecord) usermgmt.UserCreate {
	return usermgmt.UserCreate{User: u, Event: Event(u)}
}

// Admin returns the dataset's admin.
func (d Dataset) Admin() usermgmt.UserRecord { return d.Users[0] }

// Load writes the dataset to s through the Store's own batch writes, unless
// its last user is already there (a cached dataset).
func (d Dataset) Load(tb testing.TB, s usermgmt.Store) {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.User(ctx, d.Users[len(d.Users)-1].ID); err == nil {
		return
	}
	began := time.Now()
	if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: d.Account, Admin: Create(d.Users[0])}); err != nil {
		tb.Fatalf("loading dataset: %v", err)
	}
	const batch = 1000
	for start := 1; start < len(d.Users); start += batch {
		us := d.Users[start:min(start+batch, len(d.Users))]
		cs := make([]usermgmt.UserCreate, len(us))
		for i, u := range us {
			cs[i] = Create(u)
		}
		if err := s.CreateUsers(ctx, cs); err != nil {
			tb.Fatalf("loading dataset: %v", err)
		}
	}
	tb.Logf("loaded %d users in %v", len(d.Users), time.Since(began).Round(time.Millisecond))
}

// Dir is where large datasets are cached: $USERMGMT_BENCH_DIR, or
// usermgmt-bench in the temporary directory.
func Dir(tb testing.TB) string {
	dir := os.Getenv("USERMGMT_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "usermgmt-bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Size reads a dataset size from the environment variable, or returns def.
func Size(env string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
		return n
	}
	return def
}

// Manager returns a Manager over s whose clock stands a day after Epoch.
func Manager(tb testing.TB, s usermgmt.Store) (*usermgmt.Manager, *usermgmt.FakeClock) {
	tb.Helper()
	clock := usermgmt.NewFakeClock(Epoch.Add(24 * time.Hour))
	m, err := usermgmt.New(s, usermgmt.WithClock(clock))
	if err != nil {
		tb.Fatal(err)
	}
	return m, clock
}
