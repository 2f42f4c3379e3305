package smtptest

import "syscall"

// procAttr makes the kernel kill the server when the test binary that
// started it dies, however it dies (a test timeout's panic skips every
// cleanup), so no server outlives its test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
