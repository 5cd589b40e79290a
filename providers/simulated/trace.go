package simulated

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"
)

// tracer records when the server flushed each token chunk of each
// streamed request: the ground truth a client's timings are checked
// against. One line per chunk, tab-separated: the request's X-Request-Id,
// the chunk's index from 0, and the wall-clock time of the flush in
// nanoseconds since the Unix epoch. A chat stream's role-only event goes
// out in the same write as chunk 0 and shares its line.
type tracer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func newTracer(w io.Writer) *tracer {
	return &tracer{w: bufio.NewWriterSize(w, 256<<10)}
}

// record appends one line. The lock is held for a few appends into the
// buffer, so concurrent streams barely wait on it.
func (t *tracer) record(id string, index int, at time.Time) {
	var line [96]byte
	b := append(line[:0], id...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	b = append(b, '\n')
	t.mu.Lock()
	if t.err == nil {
		_, t.err = t.w.Write(b)
	}
	t.mu.Unlock()
}

func (t *tracer) flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	return t.w.Flush()
}

// SetTrace makes the server write a line to w for every token chunk it
// flushes (see the format above), until Close, which flushes w. Set it
// before Start. The trace is what `benchform simulate -trace` writes and
// what accuracy tests compare a client's measurements with.
func (s *Server) SetTrace(w io.Writer) {
	s.trace = newTracer(w)
}
