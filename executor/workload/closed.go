package workload

import "sync"

// emitter hands Records to one goroutine that calls the caller's function,
// so workers never wait on it: a push is an append under a mutex.
type emitter struct {
	fn     func(Record)
	mu     sync.Mutex
	queue  []Record
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newEmitter(fn func(Record)) *emitter {
	e := &emitter{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if e.fn == nil {
		e.fn = func(Record) {}
	}
	go e.run()
	return e
}

func (e *emitter) push(r Record) {
	e.mu.Lock()
	e.queue = append(e.queue, r)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// close waits until every pushed Record has been emitted. It must be called
// after the last push.
func (e *emitter) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	<-e.done
}

func (e *emitter) run() {
	defer close(e.done)
	var batch []Record
	for range e.wake {
		e.mu.Lock()
		batch, e.queue = e.queue, batch[:0]
		closed := e.closed
		e.mu.Unlock()
		for _, r := range batch {
			e.fn(r)
		}
		clear(batch)
		if closed {
			return
		}
	}
}
