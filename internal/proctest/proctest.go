// Package proctest runs the test binary again as child processes, for the
// stores' tests that prove their guarantees across OS processes (the
// lockout bound, email uniqueness, migrations started at once).
//
// The protocol is line-based: a child prints "ready" once it is set up,
// waits for a line on its stdin (Go writes "go"), does its work, prints
// one result line and exits 0. The parent's TestMain recognises a child by
// an environment variable it passed and runs the child's work instead of
// the tests.
package proctest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Child is a running child process.
type Child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// Start runs the test binary with no tests selected and env ("KEY=value")
// added to this process's environment, and waits for its "ready" line.
// The child is killed at the end of the test if it is still running.
func Start(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	if line := c.Line(t); line != "ready" {
		t.Fatalf("child %v said %q, want ready", env, line)
	}
	return c
}

// Go tells the child to start its work.
func (c *Child) Go(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// Line reads the child's next line of output.
func (c *Child) Line(t testing.TB) string {
	t.Helper()
	if !c.out.Scan() {
		t.Fatalf("child ended without a line: %v", c.out.Err())
	}
	return c.out.Text()
}

// Finish reads the child's result line and waits for it to exit cleanly.
func (c *Child) Finish(t testing.TB) string {
	t.Helper()
	line := c.Line(t)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	return line
}
