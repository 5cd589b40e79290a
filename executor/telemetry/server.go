package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/benchform/benchform/engines"
)

// DefaultServerInterval is the sampling interval of a ServerSampler created
// with interval 0: often enough to see the batch fill and drain, rarely
// enough that the scrapes themselves cost the server nothing measurable.
const DefaultServerInterval = time.Second

const (
	// scrapeTimeout bounds one scrape; a server that takes longer is
	// counted as a failed scrape.
	scrapeTimeout = 10 * time.Second
	// afterTimeout bounds the after scrape, which may run after the
	// step's context was cancelled.
	afterTimeout = 5 * time.Second
	// maxErrors bounds the scrape errors a window keeps for the report.
	maxErrors = 10
)

// ServerSample is the compact record of one scrape kept in state: what the
// server's scheduler looked like at that moment.
type ServerSample struct {
	Time            time.Time       `json:"time"`
	ScrapeLatencyMS float64         `json:"scrape_latency_ms"`
	Replicas        []ReplicaSample `json:"replicas"`
}

// ReplicaSample holds one replica's gauges at a scrape, and the cumulative
// token counters from which the caller can draw throughput over time.
type ReplicaSample struct {
	Replica string   `json:"replica,omitempty"`
	Running *float64 `json:"running,omitempty"`
	Waiting *float64 `json:"waiting,omitempty"`
	// KVCacheUsage is a fraction from 0 to 1.
	KVCacheUsage *float64 `json:"kv_cache_usage,omitempty"`
	// PromptTokens and GenerationTokens are cumulative counters since the
	// server started, not deltas.
	PromptTokens     *float64 `json:"prompt_tokens,omitempty"`
	GenerationTokens *float64 `json:"generation_tokens,omitempty"`
	// GenThroughput is SGLang's own tokens/s over its last log interval.
	GenThroughput *float64 `json:"gen_throughput_tok_s,omitempty"`
}

// SampleOf reduces a scrape to its compact sample.
func SampleOf(s Scrape) ServerSample {
	out := ServerSample{Time: s.Time, ScrapeLatencyMS: float64(s.Latency) / float64(time.Millisecond)}
	replicas := map[string]*ReplicaSample{}
	get := func(r string) *ReplicaSample {
		if replicas[r] == nil {
			replicas[r] = &ReplicaSample{Replica: r}
		}
		return replicas[r]
	}
	gauge := func(q engines.Quantity, field func(*ReplicaSample) **float64) {
		for r, v := range gaugeByReplica(s, q) {
			*field(get(r)) = num(v)
		}
	}
	counter := func(q engines.Quantity, field func(*ReplicaSample) **float64) {
		f, ok := find(&s, q)
		if !ok {
			return
		}
		for r, v := range sumSplits(counterByReplica(&s, f, nil)) {
			*field(get(r)) = num(v)
		}
	}
	gauge(engines.Running, func(r *ReplicaSample) **float64 { return &r.Running })
	gauge(engines.Waiting, func(r *ReplicaSample) **float64 { return &r.Waiting })
	gauge(engines.KVCacheUsage, func(r *ReplicaSample) **float64 { return &r.KVCacheUsage })
	gauge(engines.GenThroughput, func(r *ReplicaSample) **float64 { return &r.GenThroughput })
	counter(engines.PromptTokens, func(r *ReplicaSample) **float64 { return &r.PromptTokens })
	counter(engines.GenerationTokens, func(r *ReplicaSample) **float64 { return &r.GenerationTokens })
	for _, k := range slices.Sorted(maps.Keys(replicas)) {
		out.Replicas = append(out.Replicas, *replicas[k])
	}
	return out
}

// ServerWindow is what a ServerSampler saw over one step.
type ServerWindow struct {
	// Before and After are the scrapes bracketing the step; nil when that
	// scrape failed.
	Before, After *Scrape
	// AfterFromSample is true when the after scrape failed and After is
	// the last successful sample instead.
	AfterFromSample bool
	// Samples are the scrapes taken during the step, in order.
	Samples []ServerSample
	// FailedScrapes counts scrapes that failed, before and after included.
	FailedScrapes int
	// Errors keeps the first few scrape errors.
	Errors []string
}

// ServerSampler scrapes an inference server's Prometheus endpoint around
// and during a step. It may be reused for step after step, one at a time.
type ServerSampler struct {
	url      string
	apiKey   string
	interval time.Duration
	client   *http.Client

	mu        sync.Mutex
	running   bool
	startCtx  context.Context
	stop      func() // ends the sampling goroutine; nil when not running
	win       ServerWindow
	beforeErr error
	last      *Scrape
}

// NewServerSampler returns a sampler for the metrics endpoint at rawURL; a
// URL without path gets /metrics. apiKey, when set, is sent as a bearer
// token (vLLM's --api-key does not cover /metrics, but proxies in front of
// it may). interval 0 means DefaultServerInterval, a nil client a plain
// http.Client.
func NewServerSampler(rawURL string, apiKey string, interval time.Duration, client *http.Client) *ServerSampler {
	if u, err := url.Parse(rawURL); err == nil && (u.Path == "" || u.Path == "/") {
		u.Path = "/metrics"
		rawURL = u.String()
	}
	if interval <= 0 {
		interval = DefaultServerInterval
	}
	if client == nil {
		client = &http.Client{}
	}
	return &ServerSampler{url: rawURL, apiKey: apiKey, interval: interval, client: client}
}

// Scrape fetches and parses the endpoint once. It is what the sampler uses
// for every scrape, and serves on its own to probe a server or read its
// configuration (Scrape.Info) once per run.
func (s *ServerSampler) Scrape(ctx context.Context) (Scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Scrape{}, fmt.Errorf("telemetry: scrape %s: %w", s.url, err)
	}
	// Ask for the classic text format: OpenMetrics would add # EOF and
	// different counter naming, and protobuf is not what servers expose.
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	if s.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+s.apiKey)
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Scrape{}, fmt.Errorf("telemetry: scrape %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return Scrape{}, fmt.Errorf("telemetry: scrape %s: status %s", s.url, resp.Status)
	}
	sc, err := ParseMetrics(resp.Body)
	if err != nil {
		return Scrape{}, fmt.Errorf("telemetry: scrape %s: %w", s.url, err)
	}
	sc.Time = start
	sc.Latency = time.Since(start)
	return sc, nil
}

// Start takes the before scrape and then samples every interval in the
// background until Stop or until ctx ends. A failed before scrape does not
// stop sampling; Stop reports it. Start fails only when the sampler is
// already running.
func (s *ServerSampler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("telemetry: server sampler: already started")
	}
	s.running = true
	s.win = ServerWindow{}
	s.beforeErr = nil
	s.last = nil
	s.startCtx = ctx
	s.mu.Unlock()

	// The before scrape is synchronous so that the caller starts its load
	// only after the counters' baseline is taken.
	before, err := s.Scrape(ctx)
	s.mu.Lock()
	if err != nil {
		s.fail(err)
		s.beforeErr = err
	} else {
		s.win.Before = &before
	}
	s.mu.Unlock()
	stop := every(ctx, s.interval, s.sample)
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	return nil
}

// sample scrapes once and records the outcome.
func (s *ServerSampler) sample(ctx context.Context) {
	sc, err := s.Scrape(ctx)
	if ctx.Err() != nil {
		return // stopped mid-scrape: not the server's failure
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.fail(err)
		return
	}
	s.win.Samples = append(s.win.Samples, SampleOf(sc))
	s.last = &sc
}

// fail records a failed scrape; s.mu is held.
func (s *ServerSampler) fail(err error) {
	s.win.FailedScrapes++
	if len(s.win.Errors) < maxErrors {
		s.win.Errors = append(s.win.Errors, err.Error())
	}
}

// Stop ends sampling, takes the after scrape and returns the window. The
// window is usable even with an error, which says that the before or after
// scrape failed and counter deltas are missing or approximate.
func (s *ServerSampler) Stop() (ServerWindow, error) {
	s.mu.Lock()
	if !s.running || s.stop == nil {
		s.mu.Unlock()
		return ServerWindow{}, errors.New("telemetry: server sampler: stop without start")
	}
	stop, startCtx := s.stop, s.startCtx
	s.mu.Unlock()
	stop()

	// The after scrape belongs to the step even when the step's context
	// was cancelled (the first Ctrl-C records what finished), so it runs
	// detached, under its own bound.
	ctx, cancelAfter := context.WithTimeout(context.WithoutCancel(startCtx), afterTimeout)
	after, afterErr := s.Scrape(ctx)
	cancelAfter()

	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.win
	var errs []error
	if s.beforeErr != nil {
		errs = append(errs, fmt.Errorf("before scrape: %w", s.beforeErr))
	}
	if afterErr != nil {
		s.fail(afterErr)
		w = s.win
		errs = append(errs, fmt.Errorf("after scrape: %w", afterErr))
		if s.last != nil {
			w.After = s.last
			w.AfterFromSample = true
		}
	} else {
		w.After = &after
	}
	s.running, s.stop, s.startCtx = false, nil, nil
	s.win, s.last, s.beforeErr = ServerWindow{}, nil, nil
	if len(errs) > 0 {
		return w, fmt.Errorf("telemetry: server window: %w", errors.Join(errs...))
	}
	return w, nil
}
