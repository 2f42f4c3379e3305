// Package pgtest starts throwaway PostgreSQL clusters for tests and
// benchmarks: initdb and the postgres server from Debian's postgresql
// package (or any installation whose bin directory pg_config names), in a
// temporary directory, on a free loopback port. It never touches a server
// the machine already runs (such as one on 5432).
//
// initdb and postgres refuse to run as root. A test binary running as root
// (as CI does) runs them as the OS user "postgres", which Debian's package
// creates, and hands the cluster's directory to that user; any other user
// runs them as itself. The cluster's directory is handed to that user; its
// parent directories (the system's temporary directory, or USERMGMT_BENCH_DIR
// for the benchmarks' cluster) must let it pass, as /tmp does.
//
// The server is started directly (not through pg_ctl, which daemonizes it)
// with a parent-death signal on Linux, so it dies with the test binary
// however that ends.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usermgmt/usermgmt/internal/fixture"
)

// Environment variables the tests read.
const (
	// EnvURL names a server to test against instead of a throwaway one.
	EnvURL = "USERMGMT_TEST_POSTGRES_URL"
	// EnvRequire=1 turns a missing PostgreSQL into a failure instead of a skip.
	EnvRequire = "USERMGMT_REQUIRE_POSTGRES"
)

// Hint says how to make PostgreSQL available to the tests.
const Hint = "install PostgreSQL (Debian: apt-get install postgresql) or set " + EnvURL + "=postgres://user@host:port/db to run the PostgreSQL store's tests"

// ErrNoBinaries reports that initdb and postgres were not found.
var ErrNoBinaries = errors.New("pgtest: no PostgreSQL server binaries (initdb, postgres)")

// BinDir finds the directory holding initdb and postgres: pg_config's
// --bindir, then the newest /usr/lib/postgresql/*/bin (Debian keeps them
// off PATH), then PATH.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoBinaries
}

// version is the major version in a Debian bin directory's path
// (/usr/lib/postgresql/15/bin: 15), 0 when there is none.
func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// owner is the OS user a root process runs PostgreSQL's programs as.
type owner struct{ uid, gid int }

// Server is a throwaway PostgreSQL cluster.
type Server struct {
	Dir     string // the data directory
	Port    int
	bin     string
	durable bool
	owner   *owner // run the programs as this OS user (nil: as ourselves)
	cmd     *exec.Cmd
	exit    chan struct{}
	log     *os.File
}

// Start creates a cluster in a new directory under parent (the system's
// temporary directory when empty) and starts it on a free loopback port,
// with the test settings (see Server.Start). Remove it when done (or let
// it die with the process).
func Start(parent string) (*Server, error) {
	dir, err := os.MkdirTemp(parent, "usermgmt-pg-")
	if err != nil {
		return nil, err
	}
	return StartAt(dir, false)
}

// StartAt starts the cluster kept in dir, creating it first when dir holds
// none, on a free loopback port: benchmarks keep their large datasets in a
// cluster that outlives the run. A durable server keeps PostgreSQL's
// default fsync settings, for figures that stand for a real deployment;
// otherwise it runs with the test settings. Stop it when done.
func StartAt(dir string, durable bool) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{Dir: filepath.Join(dir, "data"), bin: bin, durable: durable}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the OS user postgres to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.owner = &owner{uid: uid, gid: gid}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		// The postgres user must reach the directory through its parents.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "PG_VERSION")); err != nil {
		_ = os.RemoveAll(s.Dir) // a half-made cluster
		init := s.command(filepath.Join(bin, "initdb"), "-D", s.Dir, "-U", "postgres", "--auth=trust",
			"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
		if out, err := init.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
		}
	}
	if s.Port, err = fixture.FreePort(); err != nil {
		return nil, err
	}
	return s, s.Start()
}

// command runs a PostgreSQL program as the cluster's owner.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = procAttr()
	if s.owner != nil {
		runAs(cmd.SysProcAttr, s.owner)
	}
	cmd.Dir = filepath.Dir(s.Dir)
	return cmd
}

// Start starts the server (again, after Stop or Crash) on its port and
// waits until it accepts connections. The test settings favour speed: no
// fsync (a killed server still recovers from its WAL; only an OS crash
// would lose data); a durable server keeps PostgreSQL's defaults. Either
// way it allows enough connections for many pools.
func (s *Server) Start() error {
	log, err := os.OpenFile(filepath.Join(filepath.Dir(s.Dir), "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.log = log
	s.awaitEarlierPostmaster()
	args := []string{"-D", s.Dir, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + s.Dir,
		"-c", "max_connections=400", "-c", "shared_buffers=256MB", "-c", "max_locks_per_transaction=256"}
	if !s.durable {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	s.cmd = s.command(filepath.Join(s.bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) {
		_ = cmd.Wait()
		close(exit)
	}(s.cmd, s.exit)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-s.exit:
			return fmt.Errorf("pgtest: postgres exited at start; see %s", log.Name())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("pgtest: postgres on port %d did not answer: %v", s.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitEarlierPostmaster waits, up to ten seconds, for the postmaster
// named in the cluster's lock file to be gone: one that an earlier run
// left to be killed with it (see procAttr) may still be exiting, and a
// server started beside it refuses to run.
func (s *Server) awaitEarlierPostmaster() {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && processAlive(pid); {
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns the URL of a database of the server, as the superuser.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// signal sends sig to the postmaster and waits for it to exit.
func (s *Server) signal(sig os.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exit:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
	s.log.Close()
}

// Stop shuts the server down at once, cleanly (fast shutdown).
func (s *Server) Stop() { s.signal(syscall.SIGINT) }

// Crash stops the server as a crash would (immediate shutdown: no
// checkpoint, backends killed); the next Start recovers from the WAL.
func (s *Server) Crash() { s.signal(syscall.SIGQUIT) }

// Remove stops the server and deletes its directory.
func (s *Server) Remove() {
	s.Stop()
	_ = os.RemoveAll(filepath.Dir(s.Dir))
}
