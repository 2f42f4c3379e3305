package main

import "syscall"

// serverProcAttr makes the kernel kill the redis-server the tests started
// when the test binary dies, however it dies.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
