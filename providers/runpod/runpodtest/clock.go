package runpodtest

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake clock for a Server and the code under test: Sleep
// returns at once and moves the clock forward, so that waits of minutes
// (image pulls, backoffs, readiness timeouts) take no real time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
	// slept adds up every Sleep, for tests that assert on waiting.
	slept time.Duration
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep moves the clock forward by d, or returns ctx's error when ctx is
// done. It has the signature of the providers' injectable Sleep.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.mu.Lock()
		c.t = c.t.Add(d)
		c.slept += d
		c.mu.Unlock()
	}
	return nil
}

// Slept returns the sum of every Sleep so far.
func (c *Clock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}
