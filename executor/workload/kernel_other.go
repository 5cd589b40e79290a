//go:build !linux

package workload

import (
	"context"
	"errors"
	"net"
)

func kernelDial(context.Context, *net.Dialer, string, string) (net.Conn, error) {
	return nil, errors.New("kernel receive times need Linux")
}

// KernelTimingAvailable reports whether events can be stamped with the
// kernel's receive time here: never but on Linux.
func KernelTimingAvailable() bool { return false }
