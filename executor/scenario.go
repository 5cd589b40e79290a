package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// recordBatch and recordFlushInterval bound how many request records a
// crash can lose: records reach state in batches of this size, and at
// least this often while a step runs, whether more records arrive or not.
const (
	recordBatch         = 256
	recordFlushInterval = time.Second
)

// runScenario runs every step of a scenario against each of its servers
// and records the run, its steps and every request in state as it goes.
func (a *applier) runScenario(ctx context.Context, c *Change) error {
	// However the run ends, it is done with its servers, which pods
	// destroyed after use wait for; doneWith is idempotent.
	defer func() {
		for _, s := range c.Servers {
			a.doneWith(c.Addr, s)
		}
	}()
	spec, err := lang.DecodeScenarioSpec(c.config)
	if err != nil {
		return err
	}
	// Each step gets prompts of its own, so that a server's prefix cache,
	// warmed by one step, does not flatter the next; every server gets the
	// same prompts for the same step, so that servers compare fairly.
	perStep := promptsNeeded(spec)
	nSteps := len(steps(spec))
	if spec.Load.Search != nil {
		nSteps = maxProbes
	}
	prompts, note, err := loadDataset(spec.Dataset, a.opts.Config.Dir, perStep*nSteps)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	st := a.opts.State

	// The scenario row is tainted while it runs: a run cut short by a
	// crash is run again by the next apply.
	row := state.Resource{
		Address:      c.Addr.String(),
		Kind:         string(c.Addr.Kind),
		Status:       state.StatusTainted,
		ConfigHash:   c.configHash,
		Dependencies: addrStrings(c.Servers),
	}
	obj := scenarioObject(c.config, c.Servers)
	if err := a.putObject(row, obj); err != nil {
		return err
	}
	manifest := a.manifest(c, spec)
	specJSON, _ := json.Marshal(runSpec{ScenarioSpec: spec, Servers: addrStrings(c.Servers), DatasetNote: note, Manifest: &manifest})
	runID, err := st.BeginRun(state.Run{
		Scenario:       c.Addr.String(),
		SpecHash:       c.configHash,
		ServerIdentity: a.serverIdentity(c),
		Status:         state.RunRunning,
		Spec:           specJSON,
		StartedAt:      a.now(),
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.result.Runs = append(a.result.Runs, RunRef{Scenario: c.Addr, ID: runID, Status: state.RunRunning})
	a.mu.Unlock()

	runErr := a.runSteps(ctx, c, spec, prompts, runID)
	status := state.RunCompleted
	switch {
	case runErr != nil && ctx.Err() != nil:
		status = state.RunInterrupted
	case runErr != nil:
		status = state.RunFailed
	}
	errMsg := ""
	switch {
	case status == state.RunInterrupted && errors.Is(runErr, context.Canceled):
		errMsg = "interrupted"
	case runErr != nil:
		errMsg = runErr.Error()
	}
	if err := st.FinishRun(runID, status, errMsg, a.now()); err != nil {
		runErr = multierror.Append(runErr, err)
	}
	a.mu.Lock()
	for i := range a.result.Runs {
		if a.result.Runs[i].ID == runID {
			a.result.Runs[i].Status = status
		}
	}
	a.mu.Unlock()
	if runErr != nil {
		return runErr
	}
	row.Status = state.StatusReady
	return a.putObject(row, obj)
}

// runSpec is what a run stores about the settings it ran with.
type runSpec struct {
	lang.ScenarioSpec
	Servers     []string `json:"servers"`
	DatasetNote string   `json:"dataset_note"`
	// Manifest is nil in runs stored before manifests were.
	Manifest *Manifest `json:"manifest,omitempty"`
}

// serverIdentity is recomputed at run time, when every server is applied,
// from the same parts the plan compares: configuration hash and provider id.
func (a *applier) serverIdentity(c *Change) string {
	if c.ServerIdentity != "" {
		return c.ServerIdentity
	}
	var parts []string
	for _, s := range c.Servers {
		if pod, ok := afterUsePod(a.opts.Config, s); ok {
			parts = append(parts, afterUseIdentity(a.opts.Config, s, pod))
			continue
		}
		row, ok, err := a.opts.State.Resource(s.String())
		if err != nil || !ok {
			parts = append(parts, s.String()+"=?")
			continue
		}
		parts = append(parts, s.String()+"="+row.ConfigHash+"@"+row.ProviderID)
	}
	return strings.Join(parts, ",")
}

// plannedStep is one step of a scenario run against one server.
type plannedStep struct {
	info StepInfo
	load workload.Load
	// watch, when set, sees each finished request and ends the step
	// early by saying why.
	watch func(workload.Record) string
	// probe, when set, makes the step a probe of a capacity search: it is
	// given the step's statistics and why it stopped early, if it did,
	// and returns what the probe decided, stored with the step.
	probe func(stats workload.Stats, stopped string) *ProbeInfo
	// ungated spares the step the checks that fail a run whose steps
	// fail too many requests: a search probes loads that fail on purpose.
	ungated bool
}

// steps lists the steps of a scenario for one server, in order: one per
// concurrency value or per rate. A search's steps are decided as it goes.
func steps(spec lang.ScenarioSpec) []plannedStep {
	var loads []plannedStep
	for _, c := range spec.Load.Concurrency {
		loads = append(loads, loadStep(spec, float64(c), false))
	}
	for _, r := range spec.Load.Rates {
		loads = append(loads, loadStep(spec, r, true))
	}
	if spec.Load.Repeat <= 1 {
		return loads
	}
	// Each load's repeats run in a row, each with its own warm-up and
	// its own share of prompts.
	var out []plannedStep
	for _, ps := range loads {
		for r := 1; r <= spec.Load.Repeat; r++ {
			ps.info.Repeat, ps.info.Repeats = r, spec.Load.Repeat
			out = append(out, ps)
		}
	}
	return out
}

// loadStep is a step of the scenario at one load: a concurrency, or a
// rate.
func loadStep(spec lang.ScenarioSpec, load float64, rate bool) plannedStep {
	l := workload.Load{Requests: spec.Load.Requests, Duration: spec.Load.Duration, Drain: spec.Timeouts.Drain, Warmup: spec.Load.Warmup}
	var info StepInfo
	if rate {
		l.Rate, l.Arrival, l.Burstiness = load, workload.Arrival(spec.Load.Arrival), spec.Load.Burstiness
		l.MaxConcurrency, l.Seed = spec.Load.MaxConcurrency, spec.Load.Seed
		info = StepInfo{Label: lang.RateLabel(load), Rate: load, MaxConcurrency: spec.Load.MaxConcurrency}
	} else {
		l.Concurrency = int(load)
		info = StepInfo{Label: lang.ConcurrencyLabel(l.Concurrency), Concurrency: l.Concurrency}
	}
	info.Requests, info.Duration, info.Warmup = spec.Load.Requests, spec.Load.Duration, spec.Load.Warmup
	return plannedStep{info: info, load: l}
}

// promptsNeeded is how many distinct prompts a step can use: one per
// request, or for a duration, as many as an open loop schedules (a closed
// loop cycles through a generous pool).
func promptsNeeded(spec lang.ScenarioSpec) int {
	if spec.Load.Requests > 0 {
		return spec.Load.Requests
	}
	n := 1024
	for _, r := range spec.Load.Rates {
		if !math.IsInf(r, 1) {
			n = max(n, int(math.Ceil(r*spec.Load.Duration.Seconds())))
		}
	}
	return n
}

// stepPrompts is the i-th step's share of a dataset: the next perStep
// prompts, wrapping around a dataset too small to give each step its own.
func stepPrompts(all []workload.Prompt, i, perStep int) []workload.Prompt {
	if len(all) >= (i+1)*perStep {
		return all[i*perStep : (i+1)*perStep]
	}
	out := make([]workload.Prompt, min(perStep, len(all)))
	for j := range out {
		out[j] = all[(i*perStep+j)%len(all)]
	}
	return out
}

// requestOptions are the request settings for one server: what the
// scenario asks for, as far as the server's engine honours it. A running
// token count on every chunk is asked of engines that give one unless the
// scenario says otherwise; a strict OpenAI-compatible endpoint may refuse
// it.
func (a *applier) requestOptions(c *Change, spec lang.ScenarioSpec, server lang.Addr) workload.Options {
	e := a.engine(server)
	to := spec.Timeouts
	opts := workload.Options{ExtraBody: spec.ExtraBody, TokenLimit: e.Request.TokenLimit,
		Timeouts: workload.Timeouts{Connect: to.Connect, FirstByte: to.FirstByte, Idle: to.Idle, Request: to.Request}}
	opts.ContinuousUsage = e.Request.ContinuousUsage
	if spec.ContinuousUsage != nil {
		opts.ContinuousUsage = *spec.ContinuousUsage
	}
	if spec.IgnoreEOS {
		opts.IgnoreEOS = e.Request.IgnoreEOS
		if !e.Request.IgnoreEOS {
			a.opts.Hook.Warn(c.Addr, fmt.Sprintf("%s runs %s, which does not honour ignore_eos: answers may end before max_tokens", server, e.Name))
		}
	}
	return opts
}

// engine is the engine a configured server runs; an address the
// configuration no longer declares gets the generic OpenAI-compatible one.
func (a *applier) engine(server lang.Addr) *engines.Engine {
	if s := a.opts.Config.Servers[server]; s != nil && s.Engine != nil {
		return s.Engine
	}
	return engines.Generic()
}

func (a *applier) runSteps(ctx context.Context, c *Change, spec lang.ScenarioSpec, prompts []workload.Prompt, runID int64) error {
	maxConns := 0 // an open loop without a cap needs a connection per request in flight
	switch {
	case len(spec.Load.Concurrency) > 0:
		maxConns = slices.Max(spec.Load.Concurrency)
	case spec.Load.Search != nil && spec.Load.Search.Over == "concurrency":
		maxConns = int(spec.Load.Search.Max)
	case spec.Load.MaxConcurrency > 0:
		maxConns = spec.Load.MaxConcurrency
	}
	client, err := newTimedClient(spec, maxConns)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()

	perStep := promptsNeeded(spec)
	index := 0
	var failing []string
	var outcome RunOutcome
	defer func() {
		b, _ := json.Marshal(outcome)
		if err := a.opts.State.SetRunOutcome(runID, b); err != nil {
			a.opts.Hook.Warn(c.Addr, err.Error())
		}
	}()
	for _, server := range c.Servers {
		endpoint, err := a.connect(ctx, server)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", server, err)
		}
		outcome.Servers = append(outcome.Servers, a.serverFacts(server))
		sc := &serverSteps{a: a, c: c, spec: spec, client: client, runID: runID, server: server, index: &index,
			target:   workload.Target{BaseURL: endpoint.BaseURL, APIKey: endpoint.APIKey, Model: endpoint.Model},
			opts:     a.requestOptions(c, spec, server),
			warnings: a.warmCacheWarnings(c, spec, server, runID),
			in:       a.instrument(ctx, c, spec, server, endpoint, runID),
			prompts:  func(i int) []workload.Prompt { return stepPrompts(prompts, i, perStep) },
		}
		if spec.Load.Search != nil {
			var r SearchResult
			r, err = sc.search(ctx)
			if err == nil || r.Probes > 0 {
				outcome.Searches = append(outcome.Searches, r)
			}
		} else {
			for i, ps := range steps(spec) {
				if _, err = sc.run(ctx, ps, i); err != nil && !isFailureRate(err) {
					break
				}
				if isFailureRate(err) {
					failing = append(failing, err.Error())
					err = nil
				}
			}
		}
		release(endpoint)
		a.doneWith(c.Addr, server)
		if isFailureRate(err) {
			failing = append(failing, err.Error())
			err = nil
		}
		if err != nil {
			return err
		}
	}
	if len(failing) > 0 {
		return fmt.Errorf("too many requests failed:\n  %s", strings.Join(failing, "\n  "))
	}
	return nil
}

// newTimedClient makes the client of a scenario's steps with the event
// times it asks for: by default the kernel's receive times, where they can
// be read, else when reads return.
func newTimedClient(spec lang.ScenarioSpec, maxConns int) (*workload.Client, error) {
	timing := workload.Timing(spec.Timing)
	if timing == "" {
		timing = workload.TimingRead
		if workload.KernelTimingAvailable() {
			timing = workload.TimingKernel
		}
	}
	return workload.NewTimedClient(maxConns, timing)
}

func isFailureRate(err error) bool {
	var fr *failureRateError
	return errors.As(err, &fr)
}

// serverSteps runs the steps of a scenario against one server, numbering
// them across the run.
type serverSteps struct {
	a        *applier
	c        *Change
	spec     lang.ScenarioSpec
	client   *workload.Client
	target   workload.Target
	opts     workload.Options
	runID    int64
	server   lang.Addr
	index    *int
	warnings []string // said once, with the server's first step
	in       *instruments
	prompts  func(i int) []workload.Prompt
}

// run runs ps as the server's i-th step, with the i-th share of prompts.
func (sc *serverSteps) run(ctx context.Context, ps plannedStep, i int) (StepSummary, error) {
	ps.info.Index, ps.info.Server = *sc.index, sc.server
	*sc.index++
	warnings := sc.warnings
	sc.warnings = nil
	return sc.a.runStep(ctx, sc.c, sc.spec, sc.client, sc.target, sc.opts, sc.prompts(i), sc.runID, ps, warnings, sc.in)
}

// search runs a capacity search against the server: each probe a step.
// The first probe is checked as any step is, so that a server that fails
// every request ends the run rather than the search.
func (sc *serverSteps) search(ctx context.Context) (SearchResult, error) {
	spec := *sc.spec.Load.Search
	slo := sloOf(sc.spec)
	probes := 0
	s := newSearcher(spec, func(load float64, decide func(probeOutcome) ProbeInfo) (probeOutcome, error) {
		ps := loadStep(sc.spec, load, spec.Over == "rate")
		w := newProbeWatch(slo, sc.spec.Load.Requests, spec.Attainment)
		ps.watch = w.add
		ps.ungated = probes > 0
		out := probeOutcome{step: *sc.index}
		ps.probe = func(st workload.Stats, stopped string) *ProbeInfo {
			out.good, out.total, out.missed, out.stopped = st.Good, st.Completed+st.Failed, st.Missed, stopped
			info := decide(out)
			return &info
		}
		probes++
		_, err := sc.run(ctx, ps, probes-1)
		return out, err
	})
	r, err := s.search()
	r.Server = sc.server.String()
	return r, err
}

// sloOf is a scenario's objectives as the workload applies them.
func sloOf(spec lang.ScenarioSpec) workload.SLO {
	return workload.SLO{TTFT: spec.SLO.TTFT, TPOT: spec.SLO.TPOT, ITL: spec.SLO.ITL, E2EL: spec.SLO.E2EL}
}

// RunOutcome is what a run concluded beyond its steps.
type RunOutcome struct {
	// Servers say what each server ran on, for the run's decision.
	Servers []ServerFacts `json:"servers,omitempty"`
	// Searches are the capacity searches' results, one per server.
	Searches []SearchResult `json:"searches,omitempty"`
}

// warmCacheWarnings warns when an earlier completed run sent the same
// dataset (same settings and seed) to the same server: the server's prefix
// cache may still hold those prompts, which flatters TTFT and throughput.
func (a *applier) warmCacheWarnings(c *Change, spec lang.ScenarioSpec, server lang.Addr, runID int64) []string {
	row, ok, err := a.opts.State.Resource(server.String())
	if err != nil || !ok {
		return nil
	}
	identity := server.String() + "=" + row.ConfigHash + "@" + row.ProviderID
	runs, err := a.opts.State.Runs("")
	if err != nil {
		return nil
	}
	for _, r := range runs {
		if r.ID == runID || r.Status != state.RunCompleted || !slices.Contains(strings.Split(r.ServerIdentity, ","), identity) {
			continue
		}
		var prev runSpec
		if json.Unmarshal(r.Spec, &prev) != nil || !reflect.DeepEqual(prev.ScenarioSpec.Dataset, spec.Dataset) {
			continue
		}
		return []string{fmt.Sprintf("%s already served this dataset, with the same seed, in run #%d: its prefix cache may be warm, which flatters TTFT and throughput; change dataset.seed or restart the server for a cold measurement", server, r.ID)}
	}
	return nil
}

func release(e providers.Endpoint) {
	if e.Release != nil {
		e.Release()
	}
}

func (a *applier) connect(ctx context.Context, server lang.Addr) (providers.Endpoint, error) {
	row, ok, err := a.opts.State.Resource(server.String())
	if err != nil {
		return providers.Endpoint{}, err
	}
	if !ok {
		return providers.Endpoint{}, fmt.Errorf("%s is not in state", server)
	}
	p := a.opts.Providers[row.Provider]
	if p == nil {
		return providers.Endpoint{}, fmt.Errorf("the %q provider is not available", row.Provider)
	}
	attrs, err := decodeValue(row.Attributes)
	if err != nil {
		return providers.Endpoint{}, err
	}
	config, diags := decodeForProvider(a.opts.Config, server, a.scope)
	if diags.HasErrors() {
		return providers.Endpoint{}, diags
	}
	return p.Connect(ctx, providers.ConnectRequest{
		Addr:   server.String(),
		State:  providers.State{ID: row.ProviderID, Name: row.Name, Attrs: attrs},
		Config: unmark(config),
	})
}

// runStep runs one step, records it with its requests, and returns its
// summary. Its error says why the run cannot go on, or, as a
// failureRateError, that the step failed more requests than the scenario
// allows.
func (a *applier) runStep(ctx context.Context, c *Change, spec lang.ScenarioSpec, client *workload.Client, target workload.Target, opts workload.Options, prompts []workload.Prompt, runID int64, ps plannedStep, warnings []string, in *instruments) (StepSummary, error) {
	st := a.opts.State
	step := ps.info
	started := a.now()
	if err := st.PutStep(state.Step{RunID: runID, Index: step.Index, Server: step.Server.String(), Label: step.Label, Status: state.RunRunning, StartedAt: started}); err != nil {
		return StepSummary{}, err
	}
	a.opts.Hook.StepStart(c.Addr, step)
	for _, w := range warnings {
		a.opts.Hook.Warn(c.Addr, w)
	}

	slo := sloOf(spec)
	summary := workload.NewSummary(spec.Percentiles, slo)
	// A watched step runs under a context of its own, which the watch
	// cancels to end it early. The watch is called from the records'
	// one goroutine, which has finished when Run returns.
	runCtx, stopped := ctx, ""
	watch := func(workload.Record) {}
	if ps.watch != nil {
		var cancel context.CancelCauseFunc
		runCtx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		watch = func(r workload.Record) {
			if stopped != "" {
				return
			}
			if why := ps.watch(r); why != "" {
				stopped = why
				cancel(workload.StopCause("the step was stopped early: " + why))
			}
		}
	}
	rec := &recorder{store: st, runID: runID, step: step.Index, lastFlush: time.Now()}
	stopFlushing := rec.flushEvery(recordFlushInterval)
	m := &measuring{in: in}
	window, runErr := workload.Run(runCtx, client, target, workload.Step{
		API:          workload.API(spec.API),
		Prompts:      prompts,
		MaxTokens:    spec.MaxTokens,
		IDPrefix:     fmt.Sprintf("benchform-%d-%d", runID, step.Index),
		Options:      opts,
		Load:         ps.load,
		BeforeWindow: func() { m.start(ctx) },
		Draining: func(n int) {
			a.opts.Hook.Warn(c.Addr, fmt.Sprintf("%s %s: its %s are up with %d %s still running; waiting up to %s (timeouts.drain) before cutting %s off",
				step.Server, step.Label, ps.load.Duration, n, pluralVerb(n, "request", "requests"), ps.load.Drain, pluralVerb(n, "it", "them")))
		},
	}, func(r workload.Record) {
		summary.Add(r)
		rec.add(r)
		a.opts.Hook.RequestDone(c.Addr, step, &r)
		watch(r)
	})
	if stopped != "" && ctx.Err() == nil {
		runErr = nil // ended on purpose
	}
	stopFlushing()
	flushErr := rec.flush()
	measured := m.stop()

	status := state.RunCompleted
	if runErr != nil {
		status = state.RunInterrupted
		if ctx.Err() == nil {
			status = state.RunFailed
		}
	}
	hasSLO := slo != (workload.SLO{})
	stats := summary.Close(window.Duration)
	result := Summarize(step, stats, window, spec.Percentiles, hasSLO, status)
	result.Warnings = append(append(warnings, clientWarnings(step, result)...), countWarnings(stats)...)
	measured.attach(&result, in.pricePerHour)
	result.ServerVersion = in.version
	result.Timing = string(client.Timing())
	if stopped != "" {
		result.Warnings = append(result.Warnings, "stopped early: "+stopped)
	}
	if ps.probe != nil {
		result.Probe = ps.probe(stats, stopped)
	}
	for _, w := range result.Warnings[len(warnings):] {
		a.opts.Hook.Warn(c.Addr, w)
	}
	if len(measured.serverRaw) > 0 {
		a.putSamples(c.Addr, runID, step.Index, samplesServer, measured.serverRaw)
	}
	if len(measured.gpuSamples) > 0 {
		a.putSamples(c.Addr, runID, step.Index, samplesGPU, measured.gpuSamples)
	}
	body, err := json.Marshal(result)
	if err != nil {
		return result, err
	}
	if err := st.PutStep(state.Step{RunID: runID, Index: step.Index, Server: step.Server.String(), Label: step.Label, Status: status, Summary: body, StartedAt: started, FinishedAt: a.now()}); err != nil {
		return result, multierror.Append(runErr, err)
	}
	a.opts.Hook.StepDone(c.Addr, step, result)
	if runErr != nil || flushErr != nil {
		return result, errors.Join(runErr, flushErr)
	}
	if ps.ungated {
		return result, nil
	}
	switch {
	case result.Completed == 0 && result.Failed == 0 && result.CutOff > 0:
		return result, fmt.Errorf("%s %s: no request finished: the %d sent were still running when the step's duration and drain had passed; lengthen load.duration or timeouts.drain", step.Server, step.Label, result.CutOff)
	case result.Completed == 0:
		return result, fmt.Errorf("%s %s: every request failed: %s", step.Server, step.Label, firstError(result))
	}
	if n := result.Completed + result.Failed; float64(result.Failed) > spec.MaxFailureRate*float64(n) {
		return result, &failureRateError{fmt.Sprintf("%s %s: %d of %d requests failed (max_failure_rate %g): %s", step.Server, step.Label, result.Failed, n, spec.MaxFailureRate, firstError(result))}
	}
	return result, nil
}

// failureRateError is a step with more failed requests than its scenario
// allows. Its run goes on with the next steps, and the scenario then
// fails with every such step named.
type failureRateError struct{ step string }

func (e *failureRateError) Error() string { return e.step }

// clientWarnings says when the client, not the server, limited a step: it
// fell behind its own schedule, or sent slower than the target rate.
func clientWarnings(step StepInfo, s StepSummary) []string {
	var out []string
	lagP99 := s.Latency[LatencyKey("p99", "client_lag")]
	// Lateness matters against the pace of the load: a tenth of the gap
	// between requests in an open loop, a twentieth of a request's
	// duration in a closed one, and never less than a millisecond.
	limit := max(1.0, 0.05*s.Latency[LatencyKey("median", "e2el")]) // ms
	if step.Rate > 0 && !math.IsInf(step.Rate, 1) {
		limit = max(1.0, 0.1*1000/step.Rate)
	}
	if lagP99 > limit && !Rate(step.Rate).IsInf() {
		out = append(out, fmt.Sprintf("the client fell behind its own schedule (client lag p99 %.1f ms): the client, not the server, limited this step's load", lagP99))
	}
	if step.Rate > 0 && !math.IsInf(step.Rate, 1) && step.MaxConcurrency == 0 && s.AchievedRate < 0.9*step.Rate {
		out = append(out, fmt.Sprintf("requests were sent at %.2f/s, below the target of %s/s: the client could not keep the schedule", s.AchievedRate, Rate(step.Rate)))
	}
	return out
}

// countWarnings says when token counts are not what they should be: the
// server streamed past the output limit of some requests (it ignored the
// field the limit was sent in, so lengths and throughputs are not the
// scenario's), or reported usage counts that were not believed.
func countWarnings(stats workload.Stats) []string {
	var out []string
	if stats.OverLimit > 0 {
		out = append(out, fmt.Sprintf("%d of %d requests streamed more tokens than their max_tokens (up to %d for a limit of %d): the server ignored the limit, so lengths and throughputs are not the scenario's",
			stats.OverLimit, stats.Completed+stats.Failed, stats.WorstOver.OutputTokens, stats.WorstOver.MaxTokens))
	}
	if n := stats.UsageRejected; n > 0 {
		share := float64(n) / float64(stats.Completed)
		verdict := fmt.Sprintf("past %g %% of them, the step is marked suspect", 100*SuspectShare)
		if share <= SuspectShare {
			verdict = fmt.Sprintf("within the %g %% that would mark the step suspect", 100*SuspectShare)
		}
		out = append(out, fmt.Sprintf("the server's usage count was not believed for %d of %d requests (%.1f %%; the first: %s): their output tokens are the token events counted; %s",
			n, stats.Completed, 100*share, stats.FirstRejected, verdict))
	}
	if stats.NoAnswer > 0 {
		out = append(out, noAnswerWarning(stats))
	}
	return out
}

// noAnswerWarning says how many requests of a reasoning model produced no
// answer and why that most likely was: the thinking took every token the
// request allowed, and the step measured reasoning rather than answers.
func noAnswerWarning(stats workload.Stats) string {
	n, atLimit := stats.NoAnswer, stats.NoAnswerAtLimit
	head := fmt.Sprintf("%d of %d requests (%.1f %%) produced no answer", n, stats.Completed, 100*float64(n)/float64(stats.Completed))
	limits := strconv.Itoa(stats.NoAnswerMaxTokens[0])
	if lo, hi := stats.NoAnswerMaxTokens[0], stats.NoAnswerMaxTokens[1]; lo != hi {
		limits = fmt.Sprintf("%d to %d", lo, hi)
	}
	switch {
	case atLimit == n:
		return fmt.Sprintf("%s: their reasoning used up max_tokens (%s); raise max_tokens", head, limits)
	case atLimit > 0:
		return fmt.Sprintf("%s; the reasoning of %d of them used up max_tokens (%s): raise max_tokens", head, atLimit, limits)
	}
	return head + ", though within their max_tokens: the model stopped after its reasoning"
}

func firstError(s StepSummary) string {
	if len(s.Errors) == 0 {
		return "no error recorded"
	}
	// The reason is the server's own words, and this error reaches the
	// terminal: one line, escaped.
	return safetext.Line(s.Errors[0].Message)
}

// recorder writes request records to state in batches. Records come from
// the workload one at a time; the lock makes add safe whatever goroutine
// calls it.
type recorder struct {
	store     *state.Store
	runID     int64
	step      int
	mu        sync.Mutex
	buf       []state.RequestRecord
	lastFlush time.Time
	err       error
}

func (r *recorder) add(rec workload.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, storedRecord(r.runID, r.step, rec))
	if len(r.buf) >= recordBatch || time.Since(r.lastFlush) >= recordFlushInterval {
		r.flushLocked()
	}
}

// flushEvery writes what has accumulated every interval until the
// returned function is called, so that a process killed mid-step loses at
// most the last interval's records, even when no record arrives after
// them.
func (r *recorder) flushEvery(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.mu.Lock()
				if time.Since(r.lastFlush) >= interval {
					r.flushLocked()
				}
				r.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (r *recorder) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
	return r.err
}

func (r *recorder) flushLocked() {
	r.lastFlush = time.Now()
	if len(r.buf) == 0 {
		return
	}
	if err := r.store.InsertRecords(r.buf); err != nil && r.err == nil {
		r.err = fmt.Errorf("record requests: %w", err)
	}
	r.buf = r.buf[:0]
}
