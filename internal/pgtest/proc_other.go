//go:build !linux

package pgtest

import "syscall"

// procAttr has no parent-death signal outside Linux: Stop the server.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// processAlive reports false outside Linux: a server stopped with Stop has
// exited by the time Stop returns.
func processAlive(int) bool { return false }
