package redisstore_test

import "syscall"

// serverProcAttr makes the kernel kill a redis-server this test binary
// started when the binary dies, however it dies (a test timeout's panic
// skips every deferred stop), so no server outlives its test run.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
