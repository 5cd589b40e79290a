package telemetry

import (
	"context"
	"time"
)

// every calls fn every interval in a goroutine until the returned stop is
// called or ctx ends; stop waits for the goroutine to return. A ticker drops
// ticks while a slow fn runs, so calls never pile up behind a slow source.
// fn gets a context that stop cancels, so a call under way ends promptly.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			fn(ctx)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
