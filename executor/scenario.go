package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// recordBatch and recordFlushInterval bound how many request records a
// crash can lose: records reach state in batches of this size, or sooner
// when this much time has passed since the last write.
const (
	recordBatch         = 256
	recordFlushInterval = time.Second
)

// runScenario runs every step of a scenario against each of its servers
// and records the run, its steps and every request in state as it goes.
func (a *applier) runScenario(ctx context.Context, c *Change) error {
	spec, err := lang.DecodeScenarioSpec(c.config)
	if err != nil {
		return err
	}
	prompts, err := buildPrompts(spec.Dataset, spec.Load.Requests)
	if err != nil {
		return err
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
	specJSON, _ := json.Marshal(runSpec{ScenarioSpec: spec, Servers: addrStrings(c.Servers), Dataset: DatasetNote(spec.Dataset)})
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
	if runErr != nil {
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
	Servers []string `json:"servers"`
	Dataset string   `json:"dataset_note"`
}

// serverIdentity is recomputed at run time, when every server is applied,
// from the same parts the plan compares: configuration hash and provider id.
func (a *applier) serverIdentity(c *Change) string {
	if c.ServerIdentity != "" {
		return c.ServerIdentity
	}
	var parts []string
	for _, s := range c.Servers {
		row, ok, err := a.opts.State.Resource(s.String())
		if err != nil || !ok {
			parts = append(parts, s.String()+"=?")
			continue
		}
		parts = append(parts, s.String()+"="+row.ConfigHash+"@"+row.ProviderID)
	}
	return strings.Join(parts, ",")
}

func (a *applier) runSteps(ctx context.Context, c *Change, spec lang.ScenarioSpec, prompts []workload.Prompt, runID int64) error {
	maxConc := 1
	for _, n := range spec.Load.Concurrency {
		maxConc = max(maxConc, n)
	}
	client := workload.NewClient(maxConc)
	defer client.CloseIdleConnections()

	index := 0
	for _, server := range c.Servers {
		endpoint, err := a.connect(ctx, server)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", server, err)
		}
		target := workload.Target{BaseURL: endpoint.BaseURL, APIKey: endpoint.APIKey, Model: endpoint.Model}
		for _, conc := range spec.Load.Concurrency {
			step := StepInfo{
				Index:       index,
				Server:      server,
				Label:       fmt.Sprintf("concurrency=%d", conc),
				Concurrency: conc,
				Requests:    spec.Load.Requests,
				Warmup:      spec.Load.Warmup,
			}
			index++
			err := a.runStep(ctx, c, spec, client, target, prompts, runID, step)
			if err != nil {
				release(endpoint)
				return err
			}
		}
		release(endpoint)
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
	config, diags := a.opts.Config.Decode(server, a.scope)
	if diags.HasErrors() {
		return providers.Endpoint{}, diags
	}
	return p.Connect(ctx, providers.ConnectRequest{
		Addr:   server.String(),
		State:  providers.State{ID: row.ProviderID, Name: row.Name, Attrs: attrs},
		Config: unmark(config),
	})
}

func (a *applier) runStep(ctx context.Context, c *Change, spec lang.ScenarioSpec, client *workload.Client, target workload.Target, prompts []workload.Prompt, runID int64, step StepInfo) error {
	st := a.opts.State
	started := a.now()
	if err := st.PutStep(state.Step{RunID: runID, Index: step.Index, Server: step.Server.String(), Label: step.Label, Status: state.RunRunning, StartedAt: started}); err != nil {
		return err
	}
	a.opts.Hook.StepStart(c.Addr, step)

	slo := workload.SLO{TTFT: spec.SLO.TTFT, TPOT: spec.SLO.TPOT, ITL: spec.SLO.ITL, E2EL: spec.SLO.E2EL}
	summary := workload.NewSummary(spec.Percentiles, slo)
	rec := &recorder{store: st, runID: runID, step: step.Index, lastFlush: time.Now()}
	idPrefix := fmt.Sprintf("benchform-%d-%d", runID, step.Index)
	load := workload.ClosedLoop{Concurrency: step.Concurrency, Requests: step.Requests, Warmup: step.Warmup}
	window, runErr := workload.RunClosed(ctx, client, target, workload.API(spec.API), prompts, spec.MaxTokens, idPrefix, load, func(r workload.Record) {
		summary.Add(r)
		rec.add(r)
		a.opts.Hook.RequestDone(c.Addr, step, &r)
	})
	flushErr := rec.flush()

	status := state.RunCompleted
	if runErr != nil {
		status = state.RunInterrupted
		if ctx.Err() == nil {
			status = state.RunFailed
		}
	}
	hasSLO := slo != (workload.SLO{})
	result := Summarize(step, summary.Close(window.Duration), spec.Percentiles, hasSLO, status)
	body, err := json.Marshal(result)
	if err != nil {
		return err
	}
	if err := st.PutStep(state.Step{RunID: runID, Index: step.Index, Server: step.Server.String(), Label: step.Label, Status: status, Summary: body, StartedAt: started, FinishedAt: a.now()}); err != nil {
		return multierror.Append(runErr, err)
	}
	a.opts.Hook.StepDone(c.Addr, step, result)
	if runErr != nil || flushErr != nil {
		return errors.Join(runErr, flushErr)
	}
	if result.Completed == 0 {
		return fmt.Errorf("%s %s: every request failed: %s", step.Server, step.Label, firstError(result))
	}
	return nil
}

func firstError(s StepSummary) string {
	if len(s.Errors) == 0 {
		return "no error recorded"
	}
	return s.Errors[0].Message
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
	r.buf = append(r.buf, state.RequestRecord{
		RunID:        r.runID,
		Step:         r.step,
		Seq:          rec.Seq,
		RequestID:    rec.ID,
		Warmup:       rec.Warmup,
		Start:        rec.Start,
		QueueTime:    rec.QueueTime,
		TTFT:         rec.TTFT,
		E2EL:         rec.E2EL,
		Gaps:         rec.Gaps,
		PromptTokens: rec.PromptTokens,
		OutputTokens: rec.OutputTokens,
		TokenSource:  string(rec.TokenSource),
		HTTPStatus:   rec.HTTPStatus,
		Error:        rec.Err,
	})
	if len(r.buf) >= recordBatch || time.Since(r.lastFlush) >= recordFlushInterval {
		r.flushLocked()
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
