package simulated

import (
	"container/list"
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
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

// stepClock is the engine of a batched server: one step every ITL for all
// streams, each step's length jittered once from the server's seed and
// lengthened by ITLPerSeq per running sequence but one, so that every
// stream that emits at a step emits at the same instant.
type stepClock struct {
	mu      sync.Mutex
	at      time.Time // the latest step laid out
	itl     time.Duration
	perSeq  time.Duration
	jitter  float64
	rng     *rand.Rand
	running func() int64
}

func newStepClock(origin time.Time, m Model, running func() int64) *stepClock {
	return &stepClock{at: origin, itl: m.ITL, perSeq: m.ITLPerSeq, jitter: m.Jitter,
		rng: rand.New(rand.NewPCG(uint64(m.Seed), 0x5eed)), running: running}
}

// after returns the first step later than t, laying out the steps up to
// it. An idle server's steps are skipped in one stride.
func (c *stepClock) after(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.itl <= 0 {
		return t.Add(1)
	}
	if idle := t.Sub(c.at); idle > 64*c.itl {
		c.at = c.at.Add(idle / c.itl * c.itl)
	}
	for !c.at.After(t) {
		step := c.itl + c.perSeq*time.Duration(max(0, c.running()-1))
		if c.jitter > 0 {
			step = time.Duration(float64(step) * (1 + c.jitter*(2*c.rng.Float64()-1)))
		}
		c.at = c.at.Add(max(step, 1))
	}
	return c.at
}
