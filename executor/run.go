package executor

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/benchform/benchform/executor/workload"
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
	if len(r.Spec) > 0 && json.Unmarshal(r.Spec, &spec) == nil {
		out.Note = spec.DatasetNote
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
		if len(s.Summary) == 0 {
			continue // a step that was cut off before it had a summary
		}
		var sum StepSummary
		if err := json.Unmarshal(s.Summary, &sum); err != nil {
			return StoredRun{}, fmt.Errorf("run %d step %d: corrupt summary: %w", id, s.Index, err)
		}
		out.Steps = append(out.Steps, sum)
		if detailed {
			recs, err := st.Records(id, s.Index)
			if err != nil {
				return StoredRun{}, err
			}
			out.Requests = append(out.Requests, WorkloadRecords(recs))
			out.StepSamples = append(out.StepSamples, byStep[s.Index])
		}
	}
	return out, nil
}

// ReconcileRuns marks interrupted every run still marked running. Only the
// holder of the state lock runs scenarios, so the caller, holding it, knows
// that such a run belongs to a process that died.
func ReconcileRuns(st *state.Store, now time.Time) (int, error) {
	return st.MarkUnfinishedRuns(state.RunInterrupted, now)
}
