package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ClosedLoop is a schedule with a fixed number of workers, each sending its
// next request as soon as its previous one finishes: vLLM's
// --request-rate inf with --max-concurrency.
type ClosedLoop struct {
	// Concurrency is the number of workers, hence the most requests in
	// flight.
	Concurrency int
	// Requests is the number of measured requests.
	Requests int
	// Warmup requests are sent, and finished, before the measured window;
	// they reuse the first prompt, as vLLM's --num-warmups does.
	Warmup int
}

// Window is the measured part of a step: from just before the first
// measured request is released to when the last one finished. Its Duration
// is vLLM's benchmark duration, the denominator of every throughput.
type Window struct {
	Start    time.Time
	Duration time.Duration
}

// RunClosed sends load.Warmup warm-up requests and then load.Requests
// measured ones, request i using prompts[i%len(prompts)], with at most
// load.Concurrency in flight. Requests are numbered in the order they are
// released across the whole step (warm-up first) and carry the ID
// idPrefix-seq (just seq when idPrefix is empty). Record.Start counts from
// the call to RunClosed.
//
// Every Record, warm-up included, is passed to emit, which may be nil.
// Calls to emit are serialized on one goroutine and made in completion
// order, so emit need not be safe for concurrent use; records queue without
// bound while it runs, so a slow emit never delays a request. RunClosed
// returns after the last call to emit.
//
// A request is released when a worker takes it, as soon as the worker's
// previous request finished, so QueueTime measures only the client's own
// delay, unlike vLLM's client_queue_time under an infinite rate, which
// counts from the start of the run.
//
// When ctx ends, requests in flight are cut short and emitted with Err
// "cancelled" (or "deadline exceeded"), no new request starts, and RunClosed
// returns the window so far with ctx.Err(). It returns nil if every
// measured request had completed.
func RunClosed(ctx context.Context, c *Client, t Target, api API, prompts []Prompt, maxTokens int, idPrefix string, load ClosedLoop, emit func(Record)) (Window, error) {
	switch {
	case c == nil:
		return Window{}, errors.New("closed loop: nil client")
	case load.Concurrency < 1:
		return Window{}, fmt.Errorf("closed loop: concurrency must be at least 1, got %d", load.Concurrency)
	case load.Requests < 1:
		return Window{}, fmt.Errorf("closed loop: requests must be at least 1, got %d", load.Requests)
	case load.Warmup < 0:
		return Window{}, fmt.Errorf("closed loop: warm-up requests must not be negative, got %d", load.Warmup)
	case len(prompts) == 0:
		return Window{}, errors.New("closed loop: no prompts")
	case maxTokens < 1:
		return Window{}, fmt.Errorf("closed loop: max tokens must be at least 1, got %d", maxTokens)
	case api != APIChat && api != APICompletions:
		return Window{}, fmt.Errorf("closed loop: unknown api %q", api)
	}
	if err := ctx.Err(); err != nil {
		return Window{}, err
	}

	em := newEmitter(emit)
	defer em.close()
	s := step{
		ctx:    ctx,
		client: c,
		target: t,
		emit:   em,
		start:  time.Now(),
		request: func(seq int, p Prompt) Request {
			id := strconv.Itoa(seq)
			if idPrefix != "" {
				id = idPrefix + "-" + id
			}
			return Request{API: api, Prompt: p, MaxTokens: maxTokens, ID: id}
		},
	}

	if load.Warmup > 0 {
		s.pool(min(load.Concurrency, load.Warmup), load.Warmup, 0, true, func(int) Prompt { return prompts[0] })
		if err := ctx.Err(); err != nil {
			return Window{}, err
		}
	}

	win := Window{Start: time.Now()}
	res := s.pool(min(load.Concurrency, load.Requests), load.Requests, load.Warmup, false, func(i int) Prompt {
		return prompts[i%len(prompts)]
	})
	if !res.end.IsZero() {
		win.Duration = res.end.Sub(win.Start)
	}
	if err := ctx.Err(); err != nil && (res.completed < load.Requests) {
		if res.end.IsZero() {
			win.Duration = time.Since(win.Start)
		}
		return win, err
	}
	return win, nil
}

// step is what the workers of one schedule share.
type step struct {
	ctx     context.Context
	client  *Client
	target  Target
	emit    *emitter
	start   time.Time // Record.Start is relative to this
	request func(seq int, p Prompt) Request
}

type poolResult struct {
	end       time.Time // when the last request finished; zero if none ran
	completed int       // requests not cut short by the context
}

// pool sends n requests numbered from seq0 through the given number of
// workers and waits for them.
func (s *step) pool(workers, n, seq0 int, warmup bool, prompt func(i int) Prompt) poolResult {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		results = make([]poolResult, workers)
	)
	for w := range workers {
		wg.Go(func() {
			res := &results[w]
			for {
				i := int(next.Add(1)) - 1
				if i >= n || s.ctx.Err() != nil {
					return
				}
				released := time.Now()
				rec, sent := s.client.do(s.ctx, s.target, s.request(seq0+i, prompt(i)), released)
				end := time.Now()
				rec.Seq = seq0 + i
				rec.Warmup = warmup
				rec.Start = sent.Sub(s.start)
				if end.After(res.end) {
					res.end = end
				}
				if !isCtxFailure(rec.Err) {
					res.completed++
				}
				s.emit.push(rec)
			}
		})
	}
	wg.Wait()
	var out poolResult
	for _, r := range results {
		if r.end.After(out.end) {
			out.end = r.end
		}
		out.completed += r.completed
	}
	return out
}

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
