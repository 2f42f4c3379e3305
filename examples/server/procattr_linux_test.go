package main

import "syscall"

// procAttr makes the kernel kill a process the tests start (the server,
// redis-server) when the test binary dies, however it dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
