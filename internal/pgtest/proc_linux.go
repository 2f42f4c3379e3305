package pgtest

import "syscall"

// procAttr makes the kernel kill the server when the process that started
// it dies, however it dies (a test timeout's panic skips deferred stops).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
