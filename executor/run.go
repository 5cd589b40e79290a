package executor

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/state"
)

// StoredRun is one scenario run as stored: its identity, the summaries of the
// steps that got one and, when loaded in detail, every measured request
// and the telemetry samples.
type StoredRun struct {
	ID       int64
	Scenario string
	Status   string
	Started  time.Time
	Finished time.Time // zero while running
	// Note says how the dataset's token counts were estimated.
	Note  string
	Error string
	Steps []StepSummary
	// Requests, when loaded in detail, holds each step's requests, aligned
	// with Steps.
	Requests [][]workload.Record
	// StepSamples, when loaded in detail, holds each step's telemetry
	// samples by kind ("server", "gpu"), aligned with Steps; RunSamples
	// those of the run as a whole, such as the GPU snapshot at idle.
	StepSamples []map[string]json.RawMessage
	RunSamples  map[string]json.RawMessage
	// Outcome is what the run concluded beyond its steps.
	Outcome RunOutcome
	// Confidence is the level of the intervals of repeated steps.
	Confidence float64
	// Manifest is what the run measured with; nil for runs stored before
	// runs had one.
	Manifest *Manifest
	// SLO is the scenario's objectives; zero when it had none.
	SLO lang.SLOSpec
}

// Step returns the summary of the step with index i, and whether the run
// has it.
func (r StoredRun) Step(i int) (StepSummary, bool) {
	for _, s := range r.Steps {
		if s.Index == i {
			return s, true
		}
	}
	return StepSummary{}, false
}

// LoadRun reads a run, its steps and their summaries from state, and with
// detailed every measured request and telemetry sample too.
func LoadRun(st *state.Store, id int64, detailed bool) (StoredRun, error) {
	r, err := st.Run(id)
	if err != nil {
		return StoredRun{}, err
	}
	out := StoredRun{ID: r.ID, Scenario: r.Scenario, Status: r.Status, Started: r.StartedAt, Finished: r.FinishedAt, Error: r.Error}
	var spec runSpec
	hasSpec := len(r.Spec) > 0 && json.Unmarshal(r.Spec, &spec) == nil
	if hasSpec {
		out.Note = spec.DatasetNote
		out.Confidence = spec.Load.Confidence
		out.Manifest = spec.Manifest
		out.SLO = spec.SLO
	}
	if len(r.Outcome) > 0 {
		if err := json.Unmarshal(r.Outcome, &out.Outcome); err != nil {
			return StoredRun{}, fmt.Errorf("run %d: corrupt outcome: %w", id, err)
		}
	}
	steps, err := st.Steps(id)
	if err != nil {
		return StoredRun{}, err
	}
	byStep := map[int]map[string]json.RawMessage{}
	if detailed {
		sets, err := st.Samples(id)
		if err != nil {
			return StoredRun{}, err
		}
		for _, set := range sets {
			if byStep[set.Step] == nil {
				byStep[set.Step] = map[string]json.RawMessage{}
			}
			byStep[set.Step][set.Kind] = json.RawMessage(set.Data)
		}
		out.RunSamples = byStep[-1]
	}
	for _, s := range steps {
		var recs []state.RequestRecord
		if detailed || len(s.Summary) == 0 {
			if recs, err = st.Records(id, s.Index); err != nil {
				return StoredRun{}, err
			}
		}
		var sum StepSummary
		switch {
		case len(s.Summary) > 0:
			if err := json.Unmarshal(s.Summary, &sum); err != nil {
				return StoredRun{}, fmt.Errorf("run %d step %d: corrupt summary: %w", id, s.Index, err)
			}
		case len(recs) > 0 && hasSpec:
			// A process killed mid-step left records but no summary:
			// the summary is rebuilt from them, marked as such.
			sum = rebuiltSummary(spec, s, WorkloadRecords(recs))
		default:
			continue // cut off before any request finished
		}
		sum.Index = s.Index
		out.Steps = append(out.Steps, sum)
		if detailed {
			out.Requests = append(out.Requests, WorkloadRecords(recs))
			out.StepSamples = append(out.StepSamples, byStep[s.Index])
		}
	}
	if out.Manifest != nil {
		completeManifest(out.Manifest, out.Steps)
	}
	return out, nil
}

// rebuiltSummary is the summary of a step cut off before it had one, from
// the records that reached state: its window runs from the first send to
// the last end among them, and telemetry is lost.
func rebuiltSummary(spec runSpec, st state.Step, recs []workload.Record) StepSummary {
	info := StepInfo{Index: st.Index, Label: st.Label}
	if server, err := lang.ParseAddr(st.Server); err == nil {
		info.Server = server
	}
	planned := steps(spec.ScenarioSpec)
	if len(planned) > 0 {
		p := planned[st.Index%len(planned)].info
		if p.Label == st.Label {
			info.Concurrency, info.Rate, info.MaxConcurrency = p.Concurrency, p.Rate, p.MaxConcurrency
		}
	}
	slo := workload.SLO{TTFT: spec.SLO.TTFT, TPOT: spec.SLO.TPOT, ITL: spec.SLO.ITL, E2EL: spec.SLO.E2EL}
	sum := workload.NewSummary(spec.Percentiles, slo)
	var first, last time.Duration = -1, 0
	measured := 0
	for _, r := range recs {
		sum.Add(r)
		if r.Warmup {
			continue
		}
		measured++
		if first < 0 || r.Start < first {
			first = r.Start
		}
		last = max(last, r.Start+r.E2EL)
	}
	win := workload.Window{Duration: max(last-first, 0), Sent: measured}
	stats := sum.Close(win.Duration)
	out := Summarize(info, stats, win, spec.Percentiles, slo != (workload.SLO{}), state.RunInterrupted)
	out.Warnings = append(countWarnings(stats), fmt.Sprintf("rebuilt from the %d request records that reached state before the run was cut off; its window is taken from them, and its telemetry is lost", len(recs)))
	return out
}

// ReconcileRuns marks interrupted every run still marked running. Only the
// holder of the state lock runs scenarios, so the caller, holding it, knows
// that such a run belongs to a process that died.
func ReconcileRuns(st *state.Store, now time.Time) (int, error) {
	return st.MarkUnfinishedRuns(state.RunInterrupted, now)
}
