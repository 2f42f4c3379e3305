//go:build !linux

package main

import "syscall"

// procAttr sets nothing outside Linux: the tests' cleanups stop the
// processes they start.
func procAttr() *syscall.SysProcAttr { return nil }
