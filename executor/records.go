package executor

import (
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/state"
)

// storedRecord is a request record as state keeps it; WorkloadRecords
// reads it back. The two are the only places that know both shapes.
func storedRecord(runID int64, step int, r workload.Record) state.RequestRecord {
	return state.RequestRecord{
		RunID:        runID,
		Step:         step,
		Seq:          r.Seq,
		RequestID:    r.ID,
		Warmup:       r.Warmup,
		Start:        r.Start,
		QueueTime:    r.QueueTime,
		Lag:          r.Lag,
		TTFT:         r.TTFT,
		E2EL:         r.E2EL,
		Gaps:         r.Gaps,
		ChunkTokens:  r.ChunkTokens,
		TokenEvents:  r.TokenEvents,
		UsageTokens:  r.UsageTokens,
		MaxTokens:    r.MaxTokens,
		PromptTokens: r.PromptTokens,
		OutputTokens: r.OutputTokens,
		TokenSource:  string(r.TokenSource),
		HTTPStatus:   r.HTTPStatus,
		Error:        r.Err,

		TTFC:                 r.TTFC,
		ReasoningTokens:      r.ReasoningTokens,
		AnswerTokens:         r.AnswerTokens,
		ReasoningSource:      string(r.ReasoningSource),
		UsageReasoningTokens: r.UsageReasoningTokens,
	}
}

// WorkloadRecords turns stored request records back into what the
// workload measured.
func WorkloadRecords(recs []state.RequestRecord) []workload.Record {
	out := make([]workload.Record, len(recs))
	for i, r := range recs {
		out[i] = workload.Record{
			ID:           r.RequestID,
			Seq:          r.Seq,
			Warmup:       r.Warmup,
			Start:        r.Start,
			QueueTime:    r.QueueTime,
			Lag:          r.Lag,
			TTFT:         r.TTFT,
			E2EL:         r.E2EL,
			Gaps:         r.Gaps,
			ChunkTokens:  r.ChunkTokens,
			TokenEvents:  r.TokenEvents,
			UsageTokens:  r.UsageTokens,
			MaxTokens:    r.MaxTokens,
			PromptTokens: r.PromptTokens,
			OutputTokens: r.OutputTokens,
			TokenSource:  workload.TokenSource(r.TokenSource),
			HTTPStatus:   r.HTTPStatus,
			Err:          r.Error,

			TTFC:                 r.TTFC,
			ReasoningTokens:      r.ReasoningTokens,
			AnswerTokens:         r.AnswerTokens,
			ReasoningSource:      workload.TokenSource(r.ReasoningSource),
			UsageReasoningTokens: r.UsageReasoningTokens,
		}
	}
	return out
}
