//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

func init() {
	dialRx = dialRxConn
	clients = append(clients, bareRxClient)
}

// rxConn is a TCP connection that asks the kernel to timestamp what it
// receives (SO_TIMESTAMPNS) and remembers the receive time of the last
// segment each read took, on the wall clock. Such a time does not depend on
// when the reading goroutine got to run.
type rxConn struct {
	*net.TCPConn
	raw  syscall.RawConn
	oob  []byte
	last atomic.Int64 // Unix nanoseconds
}

func (c *rxConn) received() int64 { return c.last.Load() }

func dialRxConn(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
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
	return &rxConn{TCPConn: tc, raw: raw, oob: make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{}))))}, nil
}

func (c *rxConn) Read(p []byte) (int, error) {
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
