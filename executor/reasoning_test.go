package executor

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/executor/workload"
)

// reasoningFigures lists the figures of a step that only reasoning brings,
// with their values.
func reasoningFigures(s StepSummary) map[string]float64 {
	out := map[string]float64{}
	for _, f := range Figures(s.Percentiles) {
		if v, ok := f.Value(s); ok && (strings.Contains(f.Key, "ttfc") || f.Name == "reasoning_tokens" || f.Name == "answer_tokens" || f.Name == "no_answer") {
			out[f.Key] = v
		}
	}
	return out
}

// TestSummarizeReasoning checks that a step reports TTFC, the split of its
// tokens and its requests without an answer when it streamed reasoning, and
// none of them when it did not.
func TestSummarizeReasoning(t *testing.T) {
	records := func(reasoning bool) workload.Stats {
		s := workload.NewSummary([]float64{50, 99}, workload.SLO{})
		for i := range 4 {
			r := workload.Record{TTFT: 10 * time.Millisecond, TTFC: 10 * time.Millisecond, E2EL: 50 * time.Millisecond, OutputTokens: 8, MaxTokens: 8, AnswerTokens: 8}
			if reasoning {
				// 30, 50 and 70 ms to the answer after 6 tokens of
				// thinking; the last request thinks to its limit.
				r.TTFC, r.ReasoningTokens, r.AnswerTokens = time.Duration(30+20*i)*time.Millisecond, 6, 2
				if i == 3 {
					r.TTFC, r.ReasoningTokens, r.AnswerTokens = 0, 8, 0
				}
			}
			s.Add(r)
		}
		return s.Close(time.Second)
	}
	plain := Summarize(StepInfo{}, records(false), workload.Window{}, []float64{50, 99}, false, "completed")
	if got := reasoningFigures(plain); len(got) != 0 {
		t.Errorf("a step without reasoning reports %v", got)
	}
	if _, ok := plain.Latency["median_ttfc_ms"]; ok {
		t.Errorf("a step without reasoning has a TTFC: %v", plain.Latency)
	}

	got := reasoningFigures(Summarize(StepInfo{}, records(true), workload.Window{}, []float64{50, 99}, false, "completed"))
	want := map[string]float64{
		"mean_ttfc_ms": 50, "median_ttfc_ms": 50, "std_ttfc_ms": 16.329932, "p50_ttfc_ms": 50, "p99_ttfc_ms": 69.6,
		"total_reasoning_tokens": 6 + 6 + 6 + 8, "total_answer_tokens": 2 + 2 + 2,
		"reasoning_tokens_from_usage": 0, "no_answer_requests": 1, "no_answer_pct": 25,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 })); diff != "" {
		t.Errorf("figures of a reasoning step (-want +got):\n%s", diff)
	}
}

func TestNoAnswerWarning(t *testing.T) {
	tests := []struct {
		name  string
		stats workload.Stats
		want  []string
	}{
		{name: "every request answered", stats: workload.Stats{Completed: 200}},
		{
			name:  "all at their limit",
			stats: workload.Stats{Completed: 200, NoAnswer: 12, NoAnswerAtLimit: 12, NoAnswerMaxTokens: [2]int{256, 256}},
			want:  []string{"12 of 200 requests (6.0 %) produced no answer: their reasoning used up max_tokens (256); raise max_tokens"},
		},
		{
			name:  "some at their limits",
			stats: workload.Stats{Completed: 40, NoAnswer: 3, NoAnswerAtLimit: 2, NoAnswerMaxTokens: [2]int{64, 128}},
			want:  []string{"3 of 40 requests (7.5 %) produced no answer; the reasoning of 2 of them used up max_tokens (64 to 128): raise max_tokens"},
		},
		{
			name:  "none at its limit",
			stats: workload.Stats{Completed: 8, NoAnswer: 1},
			want:  []string{"1 of 8 requests (12.5 %) produced no answer, though within their max_tokens: the model stopped after its reasoning"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, countWarnings(tt.stats)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
