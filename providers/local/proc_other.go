//go:build !unix

package local

import (
	"errors"
	"syscall"
)

// canStart is set where servers can be started and stopped.
const canStart = false

func sysProcAttr() *syscall.SysProcAttr { return nil }

func kill(pid int, sig syscall.Signal) error {
	return errors.New("process signals are not supported on this system")
}
