package telemetry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultGPUInterval is the sampling interval of a GPUSampler created with
// interval 0. utilization.gpu changes about every 200 ms, so sampling faster
// buys nothing there, and instantaneous power at this rate integrates to
// within a few percent of NVML's energy counter.
const DefaultGPUInterval = 200 * time.Millisecond

// queryTimeout bounds one GPU query: nvidia-smi answers in tens of
// milliseconds unless the driver is wedged.
const queryTimeout = 10 * time.Second

// GPUSnapshot is one query of every GPU, taken at idle before the first step.
type GPUSnapshot struct {
	Time time.Time `json:"time"`
	// Fields are the sampled fields the source accepted (GPUFields minus
	// what the probe dropped, plus EnergyField when answered).
	Fields []string     `json:"fields"`
	GPUs   []GPUReading `json:"gpus"`
}

// GPUSample is one query during a window: every GPU's reading, stamped
// with the midpoint of the query on this machine's clock.
type GPUSample struct {
	Time           time.Time    `json:"time"`
	QueryLatencyMS float64      `json:"query_latency_ms"`
	GPUs           []GPUReading `json:"gpus"`
}

// GPUWindow is what a GPUSampler saw over one step.
type GPUWindow struct {
	// Start and End delimit the measured window: Start when sampling
	// began, End when Stop was called. Energy is clipped to them.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Idle is the snapshot from GPUSampler.Idle, if it was taken.
	Idle *GPUSnapshot `json:"idle,omitempty"`
	// Samples include one taken as the window opened and one as it
	// closed (just after End), which carry the energy counter.
	Samples        []GPUSample `json:"samples"`
	FailedQueries  int         `json:"failed_queries"`
	MalformedLines int         `json:"malformed_lines"`
	// Errors keeps the first few query and parse errors.
	Errors []string `json:"errors,omitempty"`
}

// GPUSampler samples a GPUSource during steps, one step at a time.
type GPUSampler struct {
	src      GPUSource
	interval time.Duration

	mu         sync.Mutex
	edgeFields []string // nil until probed
	idle       *GPUSnapshot
	running    bool
	startCtx   context.Context
	stop       func() // ends the sampling goroutine; nil when not running
	win        GPUWindow
}

// NewGPUSampler returns a sampler of src; interval 0 means
// DefaultGPUInterval.
func NewGPUSampler(src GPUSource, interval time.Duration) *GPUSampler {
	if interval <= 0 {
		interval = DefaultGPUInterval
	}
	return &GPUSampler{src: src, interval: interval}
}

// sampleFields are the fields of a periodic sample: the edge fields without
// the energy counter, which only the edges need.
func sampleFields(edge []string) []string {
	return slices.DeleteFunc(slices.Clone(edge), func(f string) bool { return f == EnergyField })
}

// Idle probes which fields the source supports and takes the idle
// snapshot: identity, limits and idle power of every GPU. Call it once
// before the first step, while the GPUs are idle.
func (g *GPUSampler) Idle(ctx context.Context) (GPUSnapshot, error) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	t := time.Now()
	infoFields, out, err := probe(qctx, g.src, append(slices.Clone(GPUInfoFields), EnergyField))
	if err != nil {
		return GPUSnapshot{}, fmt.Errorf("telemetry: gpu idle snapshot: %w", err)
	}
	readings, perr := ParseNvidiaSMI(out, infoFields)
	if len(readings) == 0 {
		return GPUSnapshot{}, fmt.Errorf("telemetry: gpu idle snapshot: no GPU readings: %w", errors.Join(perr, errors.New("empty output")))
	}
	edge, _, err := probe(qctx, g.src, append(slices.Clone(GPUFields), EnergyField))
	if err != nil {
		return GPUSnapshot{}, fmt.Errorf("telemetry: gpu idle snapshot: %w", err)
	}
	snap := GPUSnapshot{Time: t, Fields: edge, GPUs: readings}
	g.mu.Lock()
	g.edgeFields = edge
	g.idle = &snap
	g.mu.Unlock()
	// A malformed line is reported, but the snapshot of the other GPUs
	// stands.
	return snap, perr
}

// Start opens a window: it takes a first sample at once (probing the
// source's fields if Idle has not) and then samples every interval in the
// background until Stop or until ctx ends. It fails only when already
// running or when the source rejects every field.
func (g *GPUSampler) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		return errors.New("telemetry: gpu sampler: already started")
	}
	g.running = true
	edge := g.edgeFields
	g.win = GPUWindow{Start: time.Now(), Idle: g.idle}
	g.startCtx = ctx
	g.mu.Unlock()

	if edge == nil {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		probed, _, err := probe(qctx, g.src, append(slices.Clone(GPUFields), EnergyField))
		cancel()
		if err != nil {
			g.mu.Lock()
			g.running = false
			g.mu.Unlock()
			return fmt.Errorf("telemetry: gpu sampler: %w", err)
		}
		edge = probed
		g.mu.Lock()
		g.edgeFields = edge
		g.mu.Unlock()
	}
	g.sample(ctx, edge)

	fields := sampleFields(edge)
	stop := every(ctx, g.interval, func(ctx context.Context) { g.sample(ctx, fields) })
	g.mu.Lock()
	g.stop = stop
	g.mu.Unlock()
	return nil
}

// sample queries the source once and records the outcome.
func (g *GPUSampler) sample(ctx context.Context, fields []string) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	t0 := time.Now()
	out, err := g.src.Query(qctx, fields)
	t1 := time.Now()
	if ctx.Err() != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.fail(err)
		return
	}
	readings, perr := ParseNvidiaSMI(out, fields)
	if perr != nil {
		g.win.MalformedLines += countJoined(perr)
		g.note(perr)
	}
	if len(readings) == 0 {
		g.fail(errors.New("telemetry: gpu query: no GPU readings"))
		return
	}
	g.win.Samples = append(g.win.Samples, GPUSample{
		Time:           t0.Add(t1.Sub(t0) / 2),
		QueryLatencyMS: float64(t1.Sub(t0)) / float64(time.Millisecond),
		GPUs:           readings,
	})
}

// countJoined counts the errors joined inside err (one per bad line).
func countJoined(err error) int {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return len(j.Unwrap())
		}
	}
	return 1
}

func (g *GPUSampler) fail(err error) {
	g.win.FailedQueries++
	g.note(err)
}

func (g *GPUSampler) note(err error) {
	if len(g.win.Errors) < maxErrors {
		g.win.Errors = append(g.win.Errors, err.Error())
	}
}

// Stop closes the window: it ends sampling, takes a last sample with the
// energy counter and returns the window. Stop without Start returns an
// empty window.
func (g *GPUSampler) Stop() GPUWindow {
	end := time.Now()
	g.mu.Lock()
	if !g.running || g.stop == nil {
		g.mu.Unlock()
		return GPUWindow{}
	}
	stop, startCtx, edge := g.stop, g.startCtx, g.edgeFields
	g.mu.Unlock()
	stop()

	// The closing sample brackets End for interpolation and reads the
	// energy counter; it runs even when the step was cancelled, so that
	// an interrupted step still reports the energy it used.
	ctx, cancelLast := context.WithCancel(context.WithoutCancel(startCtx))
	g.sample(ctx, edge)
	cancelLast()

	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.win
	w.End = end
	g.running, g.stop, g.startCtx = false, nil, nil
	g.win = GPUWindow{}
	return w
}
