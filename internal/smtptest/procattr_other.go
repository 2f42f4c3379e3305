//go:build !linux

package smtptest

import "syscall"

// procAttr has no portable way to tie the server's life to the test
// binary's outside Linux. The server exits when its standard input closes,
// which the operating system does when the test binary dies.
func procAttr() *syscall.SysProcAttr { return nil }
