package simulated

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
)

// scheduler hands out MaxNumSeqs decode slots, first come first served. The
// counts are atomics so that /metrics and the ITL model read them without
// taking the lock; they change only under mu.
type scheduler struct {
	max     int64
	running atomic.Int64
	waiting atomic.Int64

	mu    sync.Mutex
	queue list.List // of *ticket, oldest first
}

// ticket is a queued request. A slot is handed to it directly on release
// (running does not drop and rise again), so a newcomer can never overtake
// the queue.
type ticket struct {
	ready   chan struct{}
	granted bool
}

func newScheduler(maxNumSeqs int) *scheduler {
	return &scheduler{max: int64(maxNumSeqs)}
}

// acquire waits for a slot. On cancellation it leaves the queue, or, when a slot arrived meanwhile,
// passes that slot on, so a slot is never lost.
func (s *scheduler) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.queue.Len() == 0 && s.running.Load() < s.max {
		s.running.Add(1)
		s.mu.Unlock()
		return nil
	}
	t := &ticket{ready: make(chan struct{})}
	e := s.queue.PushBack(t)
	s.waiting.Store(int64(s.queue.Len()))
	s.mu.Unlock()

	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if t.granted {
		s.mu.Unlock()
		s.release()
		return ctx.Err()
	}
	s.queue.Remove(e)
	s.waiting.Store(int64(s.queue.Len()))
	s.mu.Unlock()
	return ctx.Err()
}

// release frees a slot, handing it to the oldest waiting request if any.
func (s *scheduler) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.queue.Front(); e != nil {
		t := s.queue.Remove(e).(*ticket)
		s.waiting.Store(int64(s.queue.Len()))
		t.granted = true
		close(t.ready)
		return
	}
	s.running.Add(-1)
}

// prefixCache remembers the hashes of recent prompts, least recently used
// first out, to count prefix-cache hits as vLLM's automatic prefix caching
// would for a repeated prompt.
type prefixCache struct {
	mu      sync.Mutex
	max     int
	order   list.List // of uint64, most recent first
	entries map[uint64]*list.Element
}

// prefixCacheEntries bounds the memory of prompts seen.
const prefixCacheEntries = 4096

func newPrefixCache(n int) *prefixCache {
	return &prefixCache{max: n, entries: make(map[uint64]*list.Element, n)}
}

// seen records a prompt and reports whether it was already there.
func (c *prefixCache) seen(h uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[h]; ok {
		c.order.MoveToFront(e)
		return true
	}
	c.entries[h] = c.order.PushFront(h)
	if c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(uint64))
	}
	return false
}
