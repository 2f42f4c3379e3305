package pgtest

import "syscall"

// procAttr makes the kernel kill the server when the process that started
// it dies, however it dies (a test timeout's panic skips deferred stops).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

// processAlive reports whether a process with the ID pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
