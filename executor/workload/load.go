package workload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Arrival is how an open loop spaces its requests.
type Arrival string

// Arrival processes, as vLLM's --burstiness draws them.
const (
	// ArrivalConstant sends at exactly 1/rate apart.
	ArrivalConstant Arrival = "constant"
	// ArrivalPoisson draws exponential gaps (gamma with shape 1).
	ArrivalPoisson Arrival = "poisson"
	// ArrivalGamma draws gamma gaps of shape Burstiness: below 1 burstier
	// than Poisson, above 1 more regular.
	ArrivalGamma Arrival = "gamma"
)

// Load is the schedule of one step: a closed loop (Concurrency) or an open
// loop (Rate), bounded by a number of requests or a duration.
type Load struct {
	// Concurrency, when set, runs that many workers, each sending its next
	// request as soon as its previous one finished.
	Concurrency int
	// Rate, when set, sends requests at this many per second on an
	// absolute schedule, whether earlier ones finished or not;
	// math.Inf(1) sends them all at once.
	Rate float64
	// Arrival and Burstiness shape an open loop's gaps; the zero Arrival
	// is Poisson.
	Arrival    Arrival
	Burstiness float64
	// MaxConcurrency caps an open loop's requests in flight; a request
	// due while the cap is reached waits for a slot, and the wait counts
	// as client queue time. Zero means no cap.
	MaxConcurrency int
	// Requests is the number of measured requests; with Duration instead,
	// a closed loop sends until the duration has passed and an open loop
	// schedules Rate×Duration requests.
	Requests int
	Duration time.Duration
	// Drain is how long requests still in flight when Duration has
	// passed may take to finish; then they are cut off (Record.Err begins
	// with CutOffPrefix). Zero waits for them without bound.
	Drain time.Duration
	// Warmup requests are sent, and finished, before the measured window,
	// at most MaxConcurrency (or Concurrency) at once; they reuse the first
	// prompt, as vLLM's --num-warmups does.
	Warmup int
	// Seed seeds an open loop's random gaps.
	Seed int64
}

// Step is everything one measured step sends.
type Step struct {
	API       API
	Prompts   []Prompt
	MaxTokens int
	// IDPrefix starts every X-Request-Id: IDPrefix-seq.
	IDPrefix string
	Options  Options
	Load     Load
	// BeforeWindow, when set, is called after the warm-up, just before
	// the measured window starts, so that samplers beside the step cover
	// exactly the window.
	BeforeWindow func()
	// Draining, when set, is called when a step bounded by a duration
	// reaches it with requests still in flight, which then have
	// Load.Drain to finish.
	Draining func(inFlight int)
}

// Window is the measured part of a step: from just before the first
// measured request is released to when the last one finished. Its Duration
// is vLLM's benchmark duration, the denominator of every throughput.
type Window struct {
	// Origin is when Run was called: every Record.Start counts from it, so
	// a request's send instant is Origin.Add(Start).
	Origin   time.Time
	Start    time.Time
	Duration time.Duration
	// Sent is the number of measured requests sent.
	Sent int
	// LastSend is when the last measured request was sent, from Start.
	LastSend time.Duration
	// TargetRate is an open loop's rate; zero for a closed loop.
	TargetRate float64
}

// AchievedRate is the rate at which measured requests were sent: Sent over
// the time to the last send. An open loop that kept its schedule achieves
// its target (vLLM's schedule puts the last of N requests at N/rate).
func (w Window) AchievedRate() float64 {
	if w.LastSend <= 0 {
		return 0
	}
	return float64(w.Sent) / w.LastSend.Seconds()
}

func (l Load) validate() error {
	switch {
	case l.Concurrency > 0 && l.Rate != 0:
		return errors.New("a step has either a concurrency or a rate, not both")
	case l.Concurrency < 0:
		return fmt.Errorf("concurrency must be at least 1, got %d", l.Concurrency)
	case l.Concurrency == 0 && !(l.Rate > 0):
		return errors.New("a step needs a concurrency or a rate above zero")
	case l.Requests < 0 || l.Duration < 0:
		return errors.New("requests and duration must not be negative")
	case l.Requests == 0 && l.Duration == 0:
		return errors.New("a step needs a number of requests or a duration")
	case l.Requests > 0 && l.Duration > 0:
		return errors.New("a step has either a number of requests or a duration, not both")
	case math.IsInf(l.Rate, 1) && l.Duration > 0:
		return errors.New("an infinite rate sends everything at once, so it needs a number of requests, not a duration")
	case l.Warmup < 0:
		return fmt.Errorf("warm-up requests must not be negative, got %d", l.Warmup)
	case l.MaxConcurrency < 0:
		return fmt.Errorf("max concurrency must not be negative, got %d", l.MaxConcurrency)
	case l.Arrival == ArrivalGamma && !(l.Burstiness > 0):
		return fmt.Errorf("gamma arrivals need a burstiness above zero, got %g", l.Burstiness)
	}
	switch l.Arrival {
	case "", ArrivalConstant, ArrivalPoisson, ArrivalGamma:
		return nil
	}
	return fmt.Errorf("unknown arrival %q", l.Arrival)
}

// Run sends a step's warm-up requests and then its measured ones, request i
// using Prompts[i%len(Prompts)]. Requests are numbered in the order they are
// released across the whole step (warm-up first) and carry the ID
// IDPrefix-seq. Record.Start counts from the call to Run.
//
// Every Record, warm-up included, is passed to emit, which may be nil.
// Calls to emit are serialized on one goroutine and made in completion
// order, so emit need not be safe for concurrent use; records queue without
// bound while it runs, so a slow emit never delays a request. Run returns
// after the last call to emit.
//
// When ctx ends, requests in flight are cut off and emitted with Err "cut
// off: interrupted" (or "cut off: deadline exceeded", or the StopCause's
// reason), no new request starts, and Run
// returns the window so far with ctx.Err(). It returns nil if every
// measured request had completed.
func Run(ctx context.Context, c *Client, t Target, st Step, emit func(Record)) (Window, error) {
	load := st.Load
	switch {
	case c == nil:
		return Window{}, errors.New("workload: nil client")
	case len(st.Prompts) == 0:
		return Window{}, errors.New("workload: no prompts")
	case st.MaxTokens < 1:
		return Window{}, fmt.Errorf("workload: max tokens must be at least 1, got %d", st.MaxTokens)
	case st.API != APIChat && st.API != APICompletions:
		return Window{}, fmt.Errorf("workload: unknown api %q", st.API)
	}
	if err := load.validate(); err != nil {
		return Window{}, fmt.Errorf("workload: %w", err)
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
			if st.IDPrefix != "" {
				id = st.IDPrefix + "-" + id
			}
			return Request{API: st.API, Prompt: p, MaxTokens: st.MaxTokens, ID: id, Options: st.Options}
		},
	}

	if load.Warmup > 0 {
		workers := load.Concurrency
		if workers == 0 {
			workers = load.MaxConcurrency
		}
		if workers == 0 {
			workers = load.Warmup
		}
		s.pool(min(workers, load.Warmup), load.Warmup, 0, time.Time{}, true, func(int) Prompt { return st.Prompts[0] })
		if err := ctx.Err(); err != nil {
			return Window{}, err
		}
	}

	prompt := func(i int) Prompt { return st.Prompts[i%len(st.Prompts)] }
	if st.BeforeWindow != nil {
		st.BeforeWindow()
	}
	win := Window{Origin: s.start, Start: time.Now()}
	if load.Duration > 0 {
		stopDrain := s.drainAt(win.Start.Add(load.Duration), load.Drain, st.Draining)
		defer stopDrain()
	}
	var res poolResult
	if load.Concurrency > 0 {
		var deadline time.Time
		n := load.Requests
		workers := load.Concurrency
		if load.Duration > 0 {
			deadline, n = win.Start.Add(load.Duration), math.MaxInt
		} else {
			workers = min(workers, n)
		}
		res = s.pool(workers, n, load.Warmup, deadline, false, prompt)
	} else {
		win.TargetRate = load.Rate
		n := load.Requests
		if load.Duration > 0 {
			n = max(1, int(math.Ceil(load.Rate*load.Duration.Seconds())))
		}
		res = s.open(win.Start, schedule(n, load), load.MaxConcurrency, load.Warmup, prompt)
	}
	win.Sent = res.sent
	if !res.lastSend.IsZero() {
		win.LastSend = res.lastSend.Sub(win.Start)
	}
	if !res.end.IsZero() {
		win.Duration = res.end.Sub(win.Start)
	}
	// A step bounded by time that is stopped before its time is up is cut
	// short as much as one bounded by count that has requests left.
	cutShort := res.completed < res.sent+res.unsent || (load.Duration > 0 && time.Since(win.Start) < load.Duration)
	if err := ctx.Err(); err != nil && cutShort {
		if res.end.IsZero() {
			win.Duration = time.Since(win.Start)
		}
		return win, err
	}
	return win, nil
}

// schedule returns when each of n requests is due, from the start of the
// window, as vLLM draws it: gaps from Gamma(shape=burstiness,
// scale=1/(rate·burstiness)) (exponential for Poisson, exactly 1/rate for a
// constant rate), summed, and the sums rescaled so that the last request
// lands at n/rate. Precomputing the whole schedule keeps the sending loop
// to a sleep and a send, and the absolute offsets keep it from drifting.
func schedule(n int, l Load) []time.Duration {
	offsets := make([]time.Duration, n)
	if math.IsInf(l.Rate, 1) {
		return offsets
	}
	rng := rand.New(rand.NewPCG(uint64(l.Seed), 0x6172726976616c73))
	shape := 1.0
	switch l.Arrival {
	case ArrivalGamma:
		shape = l.Burstiness
	case ArrivalConstant:
		shape = math.Inf(1)
	}
	sums := make([]float64, n)
	total := 0.0
	for i := range sums {
		if math.IsInf(shape, 1) {
			total += 1 / l.Rate
		} else {
			total += gamma(rng, shape, 1/(l.Rate*shape))
		}
		sums[i] = total
	}
	scale := 1.0
	if total > 0 {
		scale = (float64(n) / l.Rate) / total
	}
	for i, v := range sums {
		offsets[i] = time.Duration(v * scale * float64(time.Second))
	}
	return offsets
}

// gamma draws from Gamma(shape, scale) by Marsaglia and Tsang's method,
// boosted for shapes below one.
func gamma(rng *rand.Rand, shape, scale float64) float64 {
	if shape < 1 {
		return gamma(rng, shape+1, scale) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * scale
		}
	}
}

// step is what the requests of one schedule share.
type step struct {
	ctx     context.Context
	client  *Client
	target  Target
	emit    *emitter
	start   time.Time // Record.Start is relative to this
	request func(seq int, p Prompt) Request
	// inFlight counts the requests sent and not yet finished.
	inFlight atomic.Int64
}

// drainAt arranges the end of a step bounded by a duration: at end, the
// requests still in flight are announced to draining and given drain to
// finish, then cut off. Requests from then on run under a context that
// the cut cancels; the caller's cancellation still reaches them through
// it. The returned function disarms both.
func (s *step) drainAt(end time.Time, drain time.Duration, draining func(int)) (disarm func()) {
	ctx, cut := context.WithCancelCause(s.ctx)
	s.ctx = ctx
	var cutTimer *time.Timer
	if drain > 0 {
		cutTimer = time.AfterFunc(time.Until(end)+drain, func() {
			cut(&stop{CutOffPrefix + fmt.Sprintf("still running %s after the step's duration ended", drain)})
		})
	}
	announce := time.AfterFunc(time.Until(end), func() {
		if n := s.inFlight.Load(); n > 0 && draining != nil {
			draining(int(n))
		}
	})
	return func() {
		announce.Stop()
		if cutTimer != nil {
			cutTimer.Stop()
		}
		cut(nil)
	}
}

type poolResult struct {
	end       time.Time // when the last request finished; zero if none ran
	lastSend  time.Time // when the last request was sent
	sent      int       // requests sent
	unsent    int       // requests scheduled but never sent
	completed int       // requests not cut short by the context
}

func (r *poolResult) merge(o poolResult) {
	if o.end.After(r.end) {
		r.end = o.end
	}
	if o.lastSend.After(r.lastSend) {
		r.lastSend = o.lastSend
	}
	r.sent += o.sent
	r.unsent += o.unsent
	r.completed += o.completed
}

// send sends one request and emits its Record. due is when the schedule
// meant it to go, ready when it was also free to (a slot was available).
func (s *step) send(seq int, p Prompt, due, ready time.Time, warmup bool, res *poolResult) {
	s.inFlight.Add(1)
	rec, sent := s.client.do(s.ctx, s.target, s.request(seq, p), due, ready)
	s.inFlight.Add(-1)
	end := time.Now()
	rec.Seq = seq
	rec.Warmup = warmup
	rec.Start = sent.Sub(s.start)
	// A request cut off at the end of the step does not stretch the
	// window by the drain it was given.
	if end.After(res.end) && !IsCutOff(rec.Err) {
		res.end = end
	}
	if sent.After(res.lastSend) {
		res.lastSend = sent
	}
	res.sent++
	if !isCtxFailure(rec.Err) {
		res.completed++
	}
	s.emit.push(rec)
}

// pool sends up to n requests numbered from seq0 through the given number
// of workers, each taking the next as soon as its previous one finished, and
// waits for them. A non-zero deadline stops workers from taking requests
// after it.
func (s *step) pool(workers, n, seq0 int, deadline time.Time, warmup bool, prompt func(i int) Prompt) poolResult {
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
				if !deadline.IsZero() && !released.Before(deadline) {
					return
				}
				s.send(seq0+i, prompt(i), released, released, warmup, res)
			}
		})
	}
	wg.Wait()
	var out poolResult
	for _, r := range results {
		out.merge(r)
	}
	if s.ctx.Err() != nil && n != math.MaxInt {
		out.unsent = n - out.sent
	}
	return out
}

// open sends one request per offset, each at start+offset whether earlier
// ones finished or not, with at most maxInFlight in flight when that is
// set. The loop only sleeps and starts goroutines, so that it keeps the
// schedule; a late send is recorded as lag, not hidden.
func (s *step) open(start time.Time, offsets []time.Duration, maxInFlight, seq0 int, prompt func(i int) Prompt) poolResult {
	var (
		mu    sync.Mutex
		out   poolResult
		wg    sync.WaitGroup
		slots chan struct{}
	)
	if maxInFlight > 0 {
		slots = make(chan struct{}, maxInFlight)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for i, off := range offsets {
		due := start.Add(off)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.ctx.Done():
			}
		}
		ready := time.Now()
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-s.ctx.Done():
			}
			ready = time.Now()
		}
		if s.ctx.Err() != nil {
			mu.Lock()
			out.unsent += len(offsets) - i
			mu.Unlock()
			break
		}
		if ready.Before(due) {
			ready = due
		}
		wg.Add(1)
		go func(i int, due, ready time.Time) {
			defer wg.Done()
			var res poolResult
			s.send(seq0+i, prompt(i), due, ready, false, &res)
			if slots != nil {
				<-slots
			}
			mu.Lock()
			out.merge(res)
			mu.Unlock()
		}(i, due, ready)
	}
	wg.Wait()
	return out
}
