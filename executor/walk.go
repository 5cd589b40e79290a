package executor

import (
	"context"
	"errors"
	"sync"

	"github.com/benchform/benchform/lang"
)

var (
	// errSkipped marks a change not applied because one it depends on
	// failed. The cause is reported once, with the change that failed.
	errSkipped = errors.New("skipped because a dependency failed")
	// errNotStarted marks a change not applied because the apply was
	// interrupted before its turn.
	errNotStarted = errors.New("not started: the apply was interrupted")
)

// walk calls fn for every change once all the changes it depends on have
// succeeded, with at most parallelism calls at once. A change whose
// dependency did not succeed is not applied and gets errSkipped, so
// independent branches finish while a failed one stops. Once ctx is done no
// change starts. It returns the error of every change that did not succeed.
func walk(ctx context.Context, changes []*Change, parallelism int, fn func(*Change) error) map[lang.Addr]error {
	done := make(map[lang.Addr]chan struct{}, len(changes))
	for _, c := range changes {
		done[c.Addr] = make(chan struct{})
	}
	var (
		mu   sync.Mutex
		errs = map[lang.Addr]error{}
		sem  = make(chan struct{}, parallelism)
		wg   sync.WaitGroup
	)
	failed := func(a lang.Addr) bool {
		mu.Lock()
		defer mu.Unlock()
		return errs[a] != nil
	}
	for _, c := range changes {
		wg.Add(1)
		go func(c *Change) {
			defer wg.Done()
			defer close(done[c.Addr])
			var err error
			for _, dep := range c.DependsOn {
				ch, ok := done[dep]
				if !ok {
					continue // not part of this plan, so already in place
				}
				<-ch
				if failed(dep) {
					err = errSkipped
				}
			}
			if err == nil {
				// Acquiring a slot and checking for an interrupt happen in
				// this order so that a change waiting for a slot does not
				// start after Ctrl-C.
				sem <- struct{}{}
				if ctx.Err() != nil {
					err = errNotStarted
				} else {
					err = fn(c)
				}
				<-sem
			}
			if err != nil {
				mu.Lock()
				errs[c.Addr] = err
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	return errs
}
