//go:build !unix

package pgtest

import "syscall"

// runAs is never needed outside Unix: only a root process (which Windows
// does not have) runs PostgreSQL's programs as another user.
func runAs(*syscall.SysProcAttr, *owner) {}
