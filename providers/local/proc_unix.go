//go:build unix

package local

import "syscall"

// canStart is set where servers can be started and stopped.
const canStart = true

// sysProcAttr puts a server in a session of its own, which makes it the
// leader of a new process group too: Ctrl-C and a terminal hangup aimed at
// benchform do not reach it, and one signal to the group reaches the
// engine's workers. No parent-death signal is set: the server is meant to
// outlive benchform.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

func kill(pid int, sig syscall.Signal) error {
	return syscall.Kill(pid, sig)
}
