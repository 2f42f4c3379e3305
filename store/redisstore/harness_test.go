package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/internal/fixture"
	"github.com/usermgmt/usermgmt/store/redisstore"
)

// The tests run against a real redis-server: the one at
// USERMGMT_TEST_REDIS_URL when set, otherwise a throwaway server this test
// binary starts on a free loopback port and stops at the end. They never
// touch a Redis the developer already runs.

var (
	serverOptions *redis.Options // how to reach the test server
	skipReason    string         // set when there is no server to test against
	ownServer     bool           // the test server is the throwaway one this binary started
)

const enableHint = "install redis-server (Debian: apt-get install redis-server) or set USERMGMT_TEST_REDIS_URL=redis://host:port/db to run the Redis store's tests"

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // the fault tests make the pool complain on purpose
	os.Exit(runTests(m))
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func runTests(m *testing.M) int {
	if url := os.Getenv("USERMGMT_TEST_REDIS_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			fmt.Fprintf(os.Stderr, "redisstore: bad USERMGMT_TEST_REDIS_URL: %v\n", err)
			return 1
		}
		opts.ContextTimeoutEnabled = true
		serverOptions = opts
		return m.Run()
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("USERMGMT_REQUIRE_REDIS") == "1" {
			fmt.Fprintf(os.Stderr, "redisstore: USERMGMT_REQUIRE_REDIS=1 but no redis-server on PATH: %s\n", enableHint)
			return 1
		}
		skipReason = "no redis-server on PATH: " + enableHint
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "usermgmt-redis-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := startServer(dir, false)
	if err != nil {
		fmt.Fprintf(os.Stderr, "redisstore: starting redis-server: %v\n", err)
		return 1
	}
	defer srv.stop()
	serverOptions = &redis.Options{Addr: srv.addr, ContextTimeoutEnabled: true}
	ownServer = true
	return m.Run()
}

// server is a redis-server process this test binary started.
type server struct {
	addr string
	dir  string
	aof  bool
	cmd  *exec.Cmd
}

// startServer starts redis-server in dir on a free loopback port, with AOF
// persistence (fsync on every write) when aof is set and none otherwise.
func startServer(dir string, aof bool) (*server, error) {
	port, err := fixture.FreePort()
	if err != nil {
		return nil, err
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, aof: aof}
	return s, s.start()
}

func (s *server) start() error {
	_, port, _ := net.SplitHostPort(s.addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--daemonize", "no",
		"--protected-mode", "yes", "--logfile", "redis.log"}
	if s.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command("redis-server", args...)
	s.cmd.SysProcAttr = serverProcAttr() // on Linux: the server dies with this test binary, even on a panic
	if err := s.cmd.Start(); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("redis-server on %s did not answer: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server at once, as a crash would.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// client returns a client of the test server, closed when the test ends,
// or skips the test when there is no server.
func client(t testing.TB) *redis.Client {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	c := redis.NewClient(serverOptions)
	t.Cleanup(func() { c.Close() })
	return c
}

func randomPrefix(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "usermgmt-test:" + hex.EncodeToString(b) + ":"
}

// newStore returns a store under a fresh random prefix on the test server
// and deletes its keys when the test ends.
func newStore(t testing.TB) *redisstore.Store {
	t.Helper()
	return storeOn(t, client(t))
}

// storeOn is newStore through the client c.
func storeOn(t testing.TB, c *redis.Client) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, redisstore.Options{Prefix: randomPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deletePrefix(c, s.Prefix()) })
	return s
}

func deletePrefix(c *redis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

// reopen opens another client onto the same server and prefix, as another
// application instance would.
func reopen(t *testing.T, s usermgmt.Store) usermgmt.Store {
	c := client(t)
	other, err := redisstore.New(c, redisstore.Options{Prefix: s.(*redisstore.Store).Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	return other
}

// hashHex is how the Manager stores a token: hex SHA-256.
func hashHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
