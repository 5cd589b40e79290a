//go:build linux

package workload

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// kernelDial dials a TCP connection that asks the kernel to timestamp what
// it receives (SO_TIMESTAMPNS) and remembers, for each read, the receive
// time of the last segment it took: when the bytes reached the host,
// whenever the reading goroutine got to run.
func kernelDial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil // not TCP: reads are stamped as they return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		c.Close()
		return nil, errors.Join(err, serr)
	}
	return &kernelConn{TCPConn: tc, raw: raw, oob: make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{}))))}, nil
}

// kernelConn is a TCP connection whose reads carry the kernel's receive
// time.
type kernelConn struct {
	*net.TCPConn
	raw  syscall.RawConn
	oob  []byte
	last atomic.Int64 // Unix nanoseconds, CLOCK_REALTIME
}

// ReceivedNano is when the kernel received the last segment of the
// latest read, in Unix nanoseconds; 0 before any.
func (c *kernelConn) ReceivedNano() int64 { return c.last.Load() }

func (c *kernelConn) Read(p []byte) (int, error) {
	var n int
	var err error
	rerr := c.raw.Read(func(fd uintptr) bool {
		var oobn int
		n, oobn, _, _, err = syscall.Recvmsg(int(fd), p, c.oob, 0)
		if err == syscall.EAGAIN {
			return false
		}
		if err == nil && oobn > 0 {
			msgs, _ := syscall.ParseSocketControlMessage(c.oob[:oobn])
			for _, m := range msgs {
				if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
					ts := (*syscall.Timespec)(unsafe.Pointer(&m.Data[0]))
					c.last.Store(ts.Nano())
				}
			}
		}
		return true
	})
	n = max(n, 0) // -1 on error
	switch {
	case rerr != nil:
		return n, rerr
	case err != nil:
		return n, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// KernelTimingAvailable reports whether events can be stamped with the
// kernel's receive time here: on Linux, where a socket accepts
// SO_TIMESTAMPNS (a sandbox may not).
func KernelTimingAvailable() bool {
	kernelOnce.Do(func() {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			return
		}
		defer syscall.Close(fd)
		kernelWorks = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) == nil
	})
	return kernelWorks
}

var (
	kernelOnce  sync.Once
	kernelWorks bool
)
