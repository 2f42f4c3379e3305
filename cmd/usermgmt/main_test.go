package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/bulk"
	"github.com/usermgmt/usermgmt/internal/pgtest"
)

// The tests build the command and run it as a process against each real
// store: a SQLite file in t.TempDir(); Redis on a throwaway redis-server
// this test binary starts on a free loopback port (or the one at
// USERMGMT_TEST_REDIS_URL), under a fresh key prefix; PostgreSQL in a fresh
// database of a throwaway cluster (internal/pgtest; or the server at
// USERMGMT_TEST_POSTGRES_URL) — never a server already running on 6379 or
// 5432.

var (
	binary    string // the built command
	redisAddr string // host:port of the test Redis, or ""
	redisSkip string // why there is no Redis
	pgURL     string // a database of the test PostgreSQL server, or ""
	pgSkip    string // why there is no PostgreSQL
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "usermgmt-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "usermgmt")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building usermgmt: %v\n%s", err, out)
		return 1
	}
	stop, err := startRedis(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmd/usermgmt: %v\n", err)
		return 1
	}
	defer stop()
	stopPG, err := startPostgres()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmd/usermgmt: %v\n", err)
		return 1
	}
	defer stopPG()
	return m.Run()
}

// startPostgres finds or starts the PostgreSQL server the tests use (see
// internal/pgtest): the one at USERMGMT_TEST_POSTGRES_URL, or a throwaway
// cluster on a free loopback port.
func startPostgres() (stop func(), err error) {
	stop = func() {}
	if url := os.Getenv(pgtest.EnvURL); url != "" {
		pgURL = url
		return stop, nil
	}
	srv, err := pgtest.Start("")
	if errors.Is(err, pgtest.ErrNoBinaries) {
		if os.Getenv(pgtest.EnvRequire) == "1" {
			return stop, fmt.Errorf("%s=1 but %v", pgtest.EnvRequire, err)
		}
		pgSkip = err.Error() + ": " + pgtest.Hint
		return stop, nil
	}
	if err != nil {
		return stop, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	pgURL = srv.URL("postgres")
	return srv.Remove, nil
}

// newDatabase creates a database on the test server, dropped when t ends,
// and returns its URL.
func newDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "cli_" + hex.EncodeToString(b)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(pgURL)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// startRedis finds or starts the Redis the tests use.
func startRedis(dir string) (stop func(), err error) {
	stop = func() {}
	if url := os.Getenv("USERMGMT_TEST_REDIS_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return stop, fmt.Errorf("bad USERMGMT_TEST_REDIS_URL: %w", err)
		}
		redisAddr = opts.Addr
		return stop, nil
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("USERMGMT_REQUIRE_REDIS") == "1" {
			return stop, fmt.Errorf("USERMGMT_REQUIRE_REDIS=1 but no redis-server on PATH")
		}
		redisSkip = "no redis-server on PATH (Debian: apt-get install redis-server)"
		return stop, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log")
	cmd.SysProcAttr = serverProcAttr()
	if err := cmd.Start(); err != nil {
		return stop, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			redisAddr = addr
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return func() {}, fmt.Errorf("redis-server on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to start, not for a rule of time
	}
}

// backend is a store the command runs against: its flags.
type backend struct {
	name  string
	flags []string
}

// backends returns a fresh, empty store of each kind available.
func backends(t *testing.T) []backend {
	t.Helper()
	out := []backend{{"sqlite", []string{"-db", filepath.Join(t.TempDir(), "users.db")}}}
	if redisAddr != "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		out = append(out, backend{"redis", []string{"-redis", "redis://" + redisAddr + "/0", "-redis-prefix", "usermgmt-cli-test:" + hex.EncodeToString(b) + ":"}})
	} else {
		t.Log("Redis: " + redisSkip)
	}
	if pgURL != "" {
		out = append(out, backend{"postgres", []string{"-postgres", newDatabase(t)}})
	} else {
		t.Log("PostgreSQL: " + pgSkip)
	}
	return out
}

// outboxKey is the tests' outbox key, as USERMGMT_OUTBOX_KEY takes it.
var outboxKey = usermgmt.OutboxKey{ID: "cli-test", Key: []byte("0123456789abcdef0123456789abcdef")}

func outboxEnv() string {
	return "USERMGMT_OUTBOX_KEY=" + outboxKey.ID + ":" + base64.StdEncoding.EncodeToString(outboxKey.Key)
}

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the command with the backend's flags and the outbox key.
func (b backend) cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return b.cliEnv(t, []string{outboxEnv()}, stdin, args...)
}

func (b backend) cliEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, append(append([]string{}, b.flags...), args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errOut.String(), code}
}

// ok runs the command and requires it to succeed.
func (b backend) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := b.cli(t, stdin, args...)
	require.Equal(t, 0, r.code, "usermgmt %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// manager opens the backend's store in this process, as the command does,
// for what the command cannot show (delivering mail, failing logins).
func (b backend) manager(t *testing.T, opts ...usermgmt.Option) *usermgmt.Manager {
	t.Helper()
	a := &app{dbPath: "users.db", redisPrefix: "usermgmt:"}
	fs := a.flags("test")
	require.NoError(t, fs.Parse(b.flags))
	s, closeStore, err := a.openStore(context.Background())
	require.NoError(t, err)
	m, err := usermgmt.New(s, append([]usermgmt.Option{usermgmt.WithOutboxKeys(outboxKey)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(); closeStore() })
	return m
}

// sink records the notifications a Manager delivers.
type sink struct {
	mu sync.Mutex
	to []string
}

func (s *sink) Send(_ context.Context, n usermgmt.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to = append(s.to, string(n.Kind)+" "+n.To)
	return nil
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// field returns the whitespace-separated field i of the first line of out
// that starts with prefix.
func field(t *testing.T, out, prefix string, i int) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			f := strings.Fields(l)
			require.Greater(t, len(f), i, "%q", l)
			return f[i]
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", prefix, out)
	return ""
}

const password = "correct horse battery staple 7"

func TestSession(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { testSession(t, b) })
	}
}

func testSession(t *testing.T, b backend) {
	// An account with its admin, and a sub-account.
	out := b.ok(t, password+"\n", "account", "create", "Acme", "--admin", "ada@acme.example", "--first", "Ada", "--last", "Admin", "--password-stdin")
	acme := field(t, out, "account", 1)
	require.Contains(t, out, "ada@acme.example (active)")
	out = b.ok(t, "", "-as", "ada@acme.example", "account", "create", "Acme East", "--parent", acme, "--admin", "eve@acme.example", "--first", "Eve", "--last", "East")
	require.Contains(t, out, "eve@acme.example (invited)")

	file := writeFile(t, "users.csv", "Email,First Name,Last Name,Account,Role,Active,Shoe Size\n"+
		"grace@acme.example,Grace,Hopper,,,,38\n"+
		"alan@acme.example,Alan,Turing,Acme East,,no,\n"+
		"GRACE@acme.example,Grace,Again,,,,\n"+
		"bad@,Bad,Address,,,,\n"+
		"wiz@acme.example,Wiz,Ard,,wizard,,\n"+
		"ada@acme.example,Ada,Admin,,,,\n")

	// The dry run: a table of what would happen, nothing written.
	out = b.ok(t, "", "import", file, "--account", acme, "--dry-run")
	require.Contains(t, out, "would invite")
	require.Contains(t, out, "would create (disabled)")
	require.Contains(t, out, "skipped: duplicate of line 2")
	require.Contains(t, out, "rejected: invalid email")
	require.Contains(t, out, `unknown role: role: "wizard" is not registered`)
	require.Contains(t, out, "skipped: exists")
	require.Contains(t, out, "6 rows (dry run, nothing written)")
	require.Contains(t, out, "ignored columns: Shoe Size")
	r := b.cli(t, "", "users", "list", "--account", acme, "--search", "grace")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "grace@")

	// --strict makes rejected rows an error, in a dry run too.
	r = b.cli(t, "", "import", file, "--account", acme, "--dry-run", "--strict")
	require.Equal(t, exitRows, r.code)
	require.Contains(t, r.stderr, "2 rows rejected")

	// Apply as the admin, with a JSON report.
	out = b.ok(t, "", "-as", "ada@acme.example", "import", file, "--json")
	var rep bulk.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.False(t, rep.DryRun)
	require.Len(t, rep.Rows, 6)
	require.Equal(t, usermgmt.Invited, rep.Rows[0].Outcome)
	require.NotEmpty(t, rep.Rows[0].UserID)
	require.Equal(t, usermgmt.CreatedDisabled, rep.Rows[1].Outcome)
	require.Equal(t, 2, rep.Rows[2].DuplicateOf)
	require.Equal(t, "role", rep.Rows[4].Field)
	require.Equal(t, 2, rep.Rejected())

	// The invitation went to the outbox: a Manager of the application delivers it.
	sent := &sink{}
	m := b.manager(t, usermgmt.WithSender(sent))
	_, err := m.DeliverDue(context.Background(), usermgmt.DeliveryOptions{})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"invitation eve@acme.example", "invitation grace@acme.example"}, sent.to)
	alan, err := m.UserByEmail(context.Background(), usermgmt.System, "alan@acme.example")
	require.NoError(t, err)
	require.Equal(t, usermgmt.StatusDisabled, alan.Status)

	// Listing, with filters.
	out = b.ok(t, "", "users", "list", "--account", acme)
	for _, e := range []string{"ada@acme.example", "eve@acme.example", "grace@acme.example", "alan@acme.example"} {
		require.Contains(t, out, e)
	}
	require.Contains(t, out, "Acme East")
	out = b.ok(t, "", "-as", "ada@acme.example", "users", "list", "--status", "disabled")
	require.Contains(t, out, "alan@acme.example")
	require.NotContains(t, out, "grace@acme.example")
	out = b.ok(t, "", "users", "list", "--account", acme, "--search", "hopp", "--json")
	var users []usermgmt.User
	require.NoError(t, json.Unmarshal([]byte(out), &users))
	require.Len(t, users, 1)
	require.Equal(t, "grace@acme.example", users[0].Email)

	// Export, then import the export: every row is skipped as existing.
	for _, name := range []string{"export.csv", "export.xlsx"} {
		path := filepath.Join(t.TempDir(), name)
		r := b.cli(t, "", "export", path, "--account", acme)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stderr, "exported 4 users")
		out = b.ok(t, "", "import", path, "--account", acme, "--json", "--strict")
		var again bulk.Report
		require.NoError(t, json.Unmarshal([]byte(out), &again))
		require.Len(t, again.Rows, 4)
		for _, row := range again.Rows {
			require.Contains(t, []usermgmt.InviteOutcome{usermgmt.SkippedExists, usermgmt.SkippedPending}, row.Outcome, "%s %s", name, row.Email)
		}
	}
	out = b.ok(t, "", "export", "--account", acme, "--status", "disabled")
	require.True(t, strings.HasPrefix(out, "Email,First Name,Last Name,Role,Account"), out)
	require.Equal(t, 2, strings.Count(out, "\n"), out)

	// Invitations from the command line.
	out = b.ok(t, "", "invite", "ken@acme.example", "lin@acme.example", "grace@acme.example", "--account", acme)
	require.Contains(t, out, "ken@acme.example")
	require.Contains(t, out, "skipped: invitation pending")
	// ...which resend renews, voiding the old token.
	out = b.ok(t, "", "resend", "grace@acme.example")
	require.Contains(t, out, "grace@acme.example\tinvited until ")
	r = b.cli(t, "", "resend", "ada@acme.example")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "ada@acme.example")

	// Status changes and history.
	out = b.ok(t, "", "-as", "ada@acme.example", "ban", "grace@acme.example")
	require.Contains(t, out, "grace@acme.example\tbanned")
	b.ok(t, "", "unban", "grace@acme.example")
	b.ok(t, "", "enable", "alan@acme.example")
	b.ok(t, "", "disable", "alan@acme.example")
	out = b.ok(t, "", "remove", "lin@acme.example")
	require.Contains(t, out, "lin@acme.example\tremoved")
	r = b.cli(t, "", "ban", "nobody@acme.example", "ken@acme.example")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "nobody@acme.example")
	require.Contains(t, r.stdout, "ken@acme.example\tbanned", "the other emails are still done")
	out = b.ok(t, "", "history", "grace@acme.example")
	require.Contains(t, out, "invite")
	require.Contains(t, out, "ban")
	require.Contains(t, out, "unban")
	require.Contains(t, out, "ada@acme.example")
	out = b.ok(t, "", "history", "grace@acme.example", "--json", "--limit", "1")
	var events []usermgmt.AuditEvent
	require.NoError(t, json.Unmarshal([]byte(out), &events))
	require.Len(t, events, 1)
	require.Equal(t, usermgmt.ActionUnban, events[0].Action)

	// Ten wrong passwords lock Ada; unlock sets a new password from stdin.
	for range 10 {
		_, _ = m.Authenticate(context.Background(), "ada@acme.example", "wrong password entirely")
	}
	ada, err := m.UserByEmail(context.Background(), usermgmt.System, "ada@acme.example")
	require.NoError(t, err)
	require.Equal(t, usermgmt.StatusLocked, ada.Status)
	out = b.ok(t, "a brand new passphrase 42\n", "unlock", "ada@acme.example", "--password")
	require.Contains(t, out, "ada@acme.example\tactive")
	_, err = m.Authenticate(context.Background(), "ada@acme.example", "a brand new passphrase 42")
	require.NoError(t, err)

	out = b.ok(t, "", "sweep")
	require.Contains(t, out, "made inactive: 0")
}

func TestRefusals(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			out := b.ok(t, password+"\n", "account", "create", "Acme", "--admin", "ada@acme.example", "--first", "Ada", "--last", "Admin", "--password-stdin")
			acme := field(t, out, "account", 1)
			b.ok(t, "", "invite", "gen@acme.example", "--account", acme)

			// A file-level error: exit 1, the problem named, nothing written.
			noEmail := writeFile(t, "people.csv", "Name,Phone\nZed,555\n")
			r := b.cli(t, "", "import", noEmail, "--account", acme)
			require.Equal(t, exitFailed, r.code)
			require.Contains(t, r.stderr, "no email column")
			require.Contains(t, r.stderr, `"Name"`)
			r = b.cli(t, "", "import", filepath.Join(t.TempDir(), "missing.csv"), "--account", acme)
			require.Equal(t, exitFailed, r.code)
			notZip := writeFile(t, "book.xlsx", "PK\x03\x04 not really a workbook")
			r = b.cli(t, "", "import", notZip, "--account", acme)
			require.Equal(t, exitFailed, r.code)
			require.Contains(t, r.stderr, "not a valid CSV or XLSX file")

			// Row errors: exit 0 unless --strict.
			file := writeFile(t, "u.csv", "Email,Active\nok@acme.example,\nno@acme.example,perhaps\n")
			r = b.cli(t, "", "import", file, "--account", acme)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "active")
			r = b.cli(t, "", "import", file, "--account", acme, "--strict")
			require.Equal(t, exitRows, r.code)

			// Acting as System needs an account; an unknown -as or a
			// general user is refused.
			r = b.cli(t, "", "import", file)
			require.Equal(t, exitUsage, r.code)
			require.Contains(t, r.stderr, "--account ID is required when acting as System")
			r = b.cli(t, "", "-as", "nobody@acme.example", "users", "list")
			require.Equal(t, exitFailed, r.code)
			require.Contains(t, r.stderr, "-as nobody@acme.example: no user has this address")
			m := b.manager(t)
			gen, err := m.UserByEmail(context.Background(), usermgmt.System, "gen@acme.example")
			require.NoError(t, err)
			_, err = m.SetPassword(context.Background(), usermgmt.System, gen.ID, password)
			require.NoError(t, err)
			r = b.cli(t, "", "-as", "gen@acme.example", "import", file)
			require.Equal(t, exitFailed, r.code)
			require.Contains(t, r.stderr, "permission denied")

			// Usage errors.
			r = b.cli(t, "", "frobnicate")
			require.Equal(t, exitUsage, r.code)
			require.Contains(t, r.stderr, "unknown command")
			r = b.cli(t, "", "import")
			require.Equal(t, exitUsage, r.code)
			r = b.cli(t, "", "users", "list", "--no-such-flag")
			require.Equal(t, exitUsage, r.code)
			r = b.cli(t, "", "export", "--format", "pdf")
			require.Equal(t, exitUsage, r.code)
		})
	}
}

func TestNoOutboxKey(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			out := b.ok(t, password+"\n", "account", "create", "Acme", "--admin", "ada@acme.example", "--first", "Ada", "--last", "Admin", "--password-stdin")
			acme := field(t, out, "account", 1)
			r := b.cliEnv(t, []string{"USERMGMT_OUTBOX_KEY="}, "", "invite", "ken@acme.example", "--account", acme)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stderr, "USERMGMT_OUTBOX_KEY is not set")
			token := field(t, r.stdout, "invitation token for ken@acme.example:", 4)
			m := b.manager(t)
			inv, err := m.Invitation(context.Background(), token)
			require.NoError(t, err)
			require.Equal(t, "ken@acme.example", inv.Email)
			r = b.cliEnv(t, []string{"USERMGMT_OUTBOX_KEY=short:AAAA"}, "", "sweep")
			require.Equal(t, exitFailed, r.code)
			require.Contains(t, r.stderr, "USERMGMT_OUTBOX_KEY must be")
		})
	}
}

// TestProgress draws the bar into a buffer, as on a terminal.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	p.update(bulk.ImportProgress{Read: 256, Estimate: 1000})
	p.update(bulk.ImportProgress{Read: 1000, Estimate: 1000, Total: 1000})
	p.update(bulk.ImportProgress{Read: 1000, Estimate: 1000, Total: 1000, Applied: 500})
	require.True(t, p.applying)
	require.Equal(t, 500, int(p.bar.State().CurrentNum))
	require.Equal(t, 1000, int(p.bar.State().Max))
	require.Equal(t, "applying rows", p.bar.State().Description)
	require.Contains(t, buf.String(), "reading rows")
	p.finish()
	var nilBar *progress
	nilBar.finish()
}
