//go:build !linux

package redisstore_test

import "syscall"

// serverProcAttr has no portable way to tie the server's life to this test
// binary's outside Linux; TestMain's deferred stop ends it.
func serverProcAttr() *syscall.SysProcAttr { return nil }
