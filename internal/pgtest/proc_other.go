//go:build !linux

package pgtest

import "syscall"

// procAttr has no parent-death signal outside Linux: Stop the server.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
