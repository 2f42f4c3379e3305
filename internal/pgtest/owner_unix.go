//go:build unix

package pgtest

import "syscall"

// runAs makes the program run as o.
func runAs(attr *syscall.SysProcAttr, o *owner) {
	attr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}
}
