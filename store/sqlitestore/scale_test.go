package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

// TestScale loads a large dataset (1,000,000 users unless told otherwise)
// and reports what the main reads cost on it. It is not part of the default
// run; start it with
//
//	SQLITESTORE_SCALE=1000000 go test -run TestScale -timeout 60m -v ./store/sqlitestore/
//
// The dataset is built once and kept in the system's temporary directory
// (SQLITESTORE_SCALE_DIR overrides), keyed by size and schema version, so
// later runs only measure. SQLITESTORE_SCALE_SWEEP=1 also runs
// Manager.Sweep, which writes every stale user, on a copy of the dataset.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SQLITESTORE_SCALE"))
	if n <= 0 {
		t.Skip("set SQLITESTORE_SCALE to a number of users (1000000 for the figures in the docs) to run")
	}
	ctx := context.Background()
	dir := os.Getenv("SQLITESTORE_SCALE_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("usermgmt-sqlitestore-scale-%d-v%d.db", n, len(migrations())))
	d := scaleData{n: n}
	if _, err := os.Stat(path + ".done"); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		start := time.Now()
		d.build(t, path)
		t.Logf("built %d users in %v", n, time.Since(start).Round(time.Second))
		if err := os.WriteFile(path+".done", nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err == nil {
		t.Logf("database file: %s, %d MiB", path, fi.Size()>>20)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var rootID string
	if err := s.read.QueryRow("SELECT id FROM accounts WHERE parent_id IS NULL").Scan(&rootID); err != nil {
		t.Fatal(err)
	}
	var client string // a client account, about a twentieth of the users
	if err := s.read.QueryRow("SELECT id FROM accounts WHERE parent_id = ? ORDER BY id LIMIT 1", rootID).Scan(&client); err != nil {
		t.Fatal(err)
	}
	deep := func(account string, frac float64) string {
		var seq, total int
		s.read.QueryRow("SELECT seq FROM accounts WHERE id = ?", account).Scan(&seq)
		s.read.QueryRow("SELECT count(*) FROM user_tree WHERE account_seq = ?", seq).Scan(&total)
		var id string
		if err := s.read.QueryRow("SELECT user_id FROM user_tree WHERE account_seq = ? ORDER BY user_id LIMIT 1 OFFSET ?",
			seq, int(float64(total)*frac)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	deepRoot, deepClient := deep(rootID, 0.9), deep(client, 0.9)

	type row struct {
		what  string
		count int // rows returned by the last run
		times []time.Duration
	}
	var rows []row
	measure := func(what string, runs int, f func(i int) int) {
		r := row{what: what}
		f(0) // warm the page cache
		for i := 1; i <= runs; i++ {
			start := time.Now()
			r.count = f(i)
			r.times = append(r.times, time.Since(start))
		}
		slices.Sort(r.times)
		rows = append(rows, r)
	}
	must := func(us []usermgmt.UserRecord, err error) int {
		if err != nil {
			t.Fatal(err)
		}
		return len(us)
	}
	list := func(q usermgmt.ListQuery) func(int) int {
		return func(int) int { return must(s.ListUsers(ctx, q)) }
	}

	rng := rand.New(rand.NewPCG(1, 2))
	measure("UserByEmail, random existing emails", 2000, func(int) int {
		_, err := s.UserByEmail(ctx, d.email(rng.IntN(n)))
		if err != nil && !errors.Is(err, usermgmt.ErrNotFound) {
			t.Fatal(err)
		}
		return 1
	})
	measure("User by ID", 2000, func(int) int {
		if _, err := s.User(ctx, deepRoot); err != nil {
			t.Fatal(err)
		}
		return 1
	})
	const page = 51 // the Manager asks for one more than its default 50
	measure("list page 1, top account (all users)", 200, list(usermgmt.ListQuery{AccountID: rootID, Limit: page}))
	measure("list deep page (after 90%), top account", 200, list(usermgmt.ListQuery{AccountID: rootID, After: deepRoot, Limit: page}))
	measure("list page 1, client account", 200, list(usermgmt.ListQuery{AccountID: client, Limit: page}))
	measure("list deep page (after 90%), client account", 200, list(usermgmt.ListQuery{AccountID: client, After: deepClient, Limit: page}))
	measure("list page 1, status=locked (1% of users)", 50, list(usermgmt.ListQuery{AccountID: rootID, Statuses: []usermgmt.Status{usermgmt.StatusLocked}, Limit: page}))

	rare := fmt.Sprintf(".%d@", n/2+1)      // one active user
	medium := d.lastName(12345 % lastNames) // one last name: ~n/lastNames users
	for _, c := range []struct {
		name, term string
	}{
		{"rare term " + strconv.Quote(rare), rare},
		{"last name " + strconv.Quote(medium), medium},
		{"common term \"son\"", "son"},
		{"two letters \"qz\" (no trigram)", "qz"},
	} {
		for _, bound := range []int{searchCandidates, 0} {
			path := "chosen path"
			if bound == 0 {
				path = "walk forced"
				if c.term == "qz" {
					continue // the walk is the only path
				}
			}
			s.searchCandidates = bound
			measure(fmt.Sprintf("search %s, top account, page 1 (%s)", c.name, path), 20, list(usermgmt.ListQuery{AccountID: rootID, Search: c.term, Limit: page}))
			measure(fmt.Sprintf("search %s, client account, page 1 (%s)", c.name, path), 20, list(usermgmt.ListQuery{AccountID: client, Search: c.term, Limit: page}))
		}
		s.searchCandidates = searchCandidates
	}

	cutoff := d.cutoff()
	measure("sweep: first page of 1000 stale users", 50, func(int) int {
		return must(s.StaleUsers(ctx, usermgmt.StaleQuery{Status: usermgmt.StatusActive, Before: cutoff, Limit: 1000}))
	})
	measure("sweep: walk all stale users, pages of 1000", 3, func(int) int {
		q := usermgmt.StaleQuery{Status: usermgmt.StatusActive, Before: cutoff, Limit: 1000}
		total := 0
		for {
			us, err := s.StaleUsers(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			total += len(us)
			if len(us) < q.Limit {
				return total
			}
			q.AfterTime, q.AfterID = us[len(us)-1].LastActiveAt, us[len(us)-1].ID
		}
	})

	if os.Getenv("SQLITESTORE_SCALE_SWEEP") != "" {
		// Manager.Sweep for real, on a copy: it moves every stale user to
		// Inactive, one versioned write and audit event each.
		cp := filepath.Join(t.TempDir(), "sweep.db")
		if _, err := s.write.ExecContext(ctx, "VACUUM INTO ?", cp); err != nil {
			t.Fatal(err)
		}
		cs, err := Open(ctx, cp)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		m, err := usermgmt.New(cs, usermgmt.WithClock(usermgmt.NewFakeClock(d.base())))
		if err != nil {
			t.Fatal(err)
		}
		var moved int
		measure("Manager.Sweep on a copy: every stale user made Inactive", 1, func(i int) int {
			if i == 0 {
				return 0 // no warm-up: the sweep changes the data
			}
			res, err := m.Sweep(ctx)
			if err != nil {
				t.Fatal(err)
			}
			moved = res.Inactive
			return moved
		})
	}

	t.Logf("%d users, GOMAXPROCS %d, %s", n, runtime.GOMAXPROCS(0), runtime.Version())
	t.Logf("%-95s %6s %10s %10s", "operation", "rows", "median", "p95")
	for _, r := range rows {
		t.Logf("%-95s %6d %10v %10v", r.what, r.count, r.times[len(r.times)/2].Round(time.Microsecond),
			r.times[len(r.times)*95/100].Round(time.Microsecond))
	}
}

// scaleData describes the generated dataset: a top-level account with 20
// clients, each with 2 sub-accounts; users spread over them; 10% of all
// users active but stale.
type scaleData struct{ n int }

const (
	clients       = 20
	subsPerClient = 2
	lastNames     = 30 * 30 * 30
)

var syllables = []string{"an", "ber", "cal", "dor", "el", "fin", "gar", "hol", "is", "jen", "kor", "lam", "mor", "nel", "ol",
	"par", "quin", "ros", "sten", "tor", "ul", "vin", "wes", "xan", "yor", "zel", "son", "ley", "ton", "ward"}

var firstNames = []string{"Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
	"Mateo", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Ulla", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë"}

func (scaleData) lastName(i int) string {
	i %= lastNames
	n := syllables[i%30] + syllables[i/30%30] + syllables[i/900%30]
	return string(n[0]-'a'+'A') + n[1:]
}

func (d scaleData) email(i int) string {
	return fmt.Sprintf("%c.%s.%d@client%d.example", firstNames[i%len(firstNames)][0]|0x20, d.lastName(i*7919), i, i%clients)
}

func (scaleData) base() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// cutoff is the sweep's Before: users active before it are stale.
func (d scaleData) cutoff() time.Time { return d.base().AddDate(0, -3, 0) }

func (d scaleData) user(i int, account string) usermgmt.UserCreate {
	at := d.base().Add(-time.Duration(i) * time.Second)
	id := fmt.Sprintf("0190%04x-%04x-7%03x-8%03x-%012x", i>>28, (i>>12)&0xffff, i&0xfff, i%0xfff, i)
	u := usermgmt.UserRecord{ID: id, AccountID: account, Email: d.email(i), FirstName: firstNames[i%len(firstNames)],
		LastName: d.lastName(i * 7919), Role: usermgmt.RoleGeneral, Status: usermgmt.StatusActive,
		PasswordHash:    "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		PasswordVersion: 1, CreatedAt: at, UpdatedAt: at, ActivatedAt: at, LastActiveAt: d.base().Add(-time.Duration(i%1000) * time.Hour), Version: 1}
	switch {
	case i%10 == 3: // 10% stale
		u.LastActiveAt = d.cutoff().Add(-time.Duration(1+i%5000) * time.Hour)
	case i%100 == 5:
		u.Status, u.LockedAt = usermgmt.StatusLocked, at
		u.FailedAttempts = 10
	case i%100 == 7:
		u.Status = usermgmt.StatusRemoved
	case i%100 == 9:
		u.Status, u.PasswordHash, u.PasswordVersion = usermgmt.StatusInvited, "", 0
		u.Tokens = []usermgmt.Token{{Purpose: usermgmt.TokenInvitation, Hash: fmt.Sprintf("%064x", i), IssuedAt: at, ExpiresAt: at.Add(168 * time.Hour)}}
		u.InvitedBy, u.InvitedAt = usermgmt.System, at
	}
	if i%1000 == 0 {
		u.Role = usermgmt.RoleAdmin
	}
	ev := usermgmt.AuditEvent{ID: id[:len(id)-1] + "e", At: at, ActorID: usermgmt.System, Action: usermgmt.ActionCreate,
		UserID: id, AccountID: account, Changes: []usermgmt.Change{{Field: "status", New: string(u.Status)}}}
	return usermgmt.UserCreate{User: u, Event: ev}
}

func (d scaleData) build(t *testing.T, path string) {
	ctx := context.Background()
	s, err := Open(ctx, path, WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := d.base()
	var accounts []string
	root := usermgmt.Account{ID: "00000000-0000-7000-8000-000000000000", Name: "All Clients", CreatedAt: at, UpdatedAt: at, Version: 1}
	if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: root, Admin: d.user(0, root.ID)}); err != nil {
		t.Fatal(err)
	}
	accounts = append(accounts, root.ID)
	next := 1
	for c := 0; c < clients; c++ {
		a := usermgmt.Account{ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", 1000*(c+1)), ParentID: root.ID,
			Ancestors: []string{root.ID}, Name: fmt.Sprintf("Client %d", c), CreatedAt: at, UpdatedAt: at, Version: 1}
		admin := d.user(next, a.ID)
		next++
		if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: a, Admin: admin}); err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, a.ID)
		for k := 0; k < subsPerClient; k++ {
			sub := usermgmt.Account{ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", 1000*(c+1)+k+1), ParentID: a.ID,
				Ancestors: []string{root.ID, a.ID}, Name: fmt.Sprintf("Client %d.%d", c, k), CreatedAt: at, UpdatedAt: at, Version: 1}
			admin := d.user(next, sub.ID)
			next++
			if err := s.CreateAccount(ctx, usermgmt.AccountCreate{Account: sub, Admin: admin}); err != nil {
				t.Fatal(err)
			}
			accounts = append(accounts, sub.ID)
		}
	}
	// Build the batches on another goroutine while the store writes.
	type batch struct{ creates []usermgmt.UserCreate }
	batches := make(chan batch, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		const size = 5000
		for i := next; i < d.n; i += size {
			var b batch
			for j := i; j < min(i+size, d.n); j++ {
				b.creates = append(b.creates, d.user(j, accounts[j%len(accounts)]))
			}
			batches <- b
		}
	}()
	done := next
	for b := range batches {
		if err := s.CreateUsers(ctx, b.creates); err != nil {
			t.Fatal(err)
		}
		done += len(b.creates)
		if done%100000 < len(b.creates) {
			t.Logf("%d users", done)
		}
	}
	wg.Wait()
	if _, err := s.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
}
