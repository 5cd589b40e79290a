package simulated

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestModelValidate(t *testing.T) {
	tests := []struct {
		name  string
		model Model
		want  string // error text; empty means valid
	}{
		{name: "default", model: DefaultModel()},
		{name: "zero value", model: Model{}},
		{name: "jitter above one", model: Model{Jitter: 1.5}, want: "jitter must be between 0 and 1, got 1.5"},
		{name: "jitter negative", model: Model{Jitter: -0.1}, want: "jitter must be between 0 and 1, got -0.1"},
		{name: "jitter NaN", model: Model{Jitter: math.NaN()}, want: "jitter must be between 0 and 1, got NaN"},
		{name: "negative ttft", model: Model{TTFT: -time.Millisecond}, want: "ttft must not be negative, got -1ms"},
		{name: "negative itl", model: Model{ITL: -time.Millisecond}, want: "itl must not be negative, got -1ms"},
		{name: "negative itl_per_seq", model: Model{ITLPerSeq: -1}, want: "itl_per_seq must not be negative, got -1ns"},
		{name: "negative prefill", model: Model{PrefillPerToken: -1}, want: "prefill_per_token must not be negative, got -1ns"},
		{name: "negative max_num_seqs", model: Model{MaxNumSeqs: -2}, want: "max_num_seqs must be positive, got -2"},
		{name: "negative default_max_tokens", model: Model{DefaultMaxTokens: -1}, want: "default_max_tokens must be positive, got -1"},
		{name: "negative max_model_len", model: Model{MaxModelLen: -1}, want: "max_model_len must be positive, got -1"},
		{name: "reasoning", model: Model{ReasoningTokens: 64}},
		{name: "negative reasoning_tokens", model: Model{ReasoningTokens: -1}, want: "reasoning_tokens must not be negative, got -1"},
		{name: "reasoning on TGI", model: Model{ReasoningTokens: 1, Metrics: MetricsTGI}, want: "reasoning_tokens needs an engine that streams reasoning (vllm, llama.cpp); tgi streams none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.model.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestModelDefaults(t *testing.T) {
	got := Model{}.withDefaults()
	want := Model{ServedModel: "simulated", MaxNumSeqs: 256, DefaultMaxTokens: 128, MaxModelLen: 8192, Schedule: ScheduleIndependent}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Model{}.withDefaults() mismatch (-want +got):\n%s", diff)
	}
	d := DefaultModel()
	if d.TTFT != 20*time.Millisecond || d.ITL != 5*time.Millisecond || d.Jitter != 0 {
		t.Errorf("DefaultModel() timings = %v, %v, %v; want 20ms, 5ms, 0", d.TTFT, d.ITL, d.Jitter)
	}
	if diff := cmp.Diff(d, d.withDefaults()); diff != "" {
		t.Errorf("DefaultModel() is not complete (-want +got):\n%s", diff)
	}
}

func TestCountTokens(t *testing.T) {
	tests := []struct {
		name  string
		texts []string
		want  int
	}{
		{name: "empty is one", texts: []string{""}, want: 1},
		{name: "spaces only", texts: []string{"  \t\n "}, want: 1},
		{name: "words", texts: []string{"the quick brown fox"}, want: 4},
		{name: "mixed whitespace", texts: []string{"  a\tb\n\nc  "}, want: 3},
		{name: "unicode space", texts: []string{"héllo\u00a0wörld"}, want: 2},
		{name: "several texts", texts: []string{"be brief", "hi"}, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := countTokens(tt.texts...); got != tt.want {
				t.Errorf("countTokens(%q) = %d, want %d", tt.texts, got, tt.want)
			}
		})
	}
}

func TestDrawsDeterministic(t *testing.T) {
	schedule := func(seed int64, hash uint64) []time.Duration {
		d := newDraws(seed, hash, 0.5)
		out := make([]time.Duration, 16)
		for i := range out {
			out[i] = d.delay(10 * time.Millisecond)
		}
		return out
	}
	a, b := schedule(1, 42), schedule(1, 42)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed and content drew differently (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, schedule(2, 42)) {
		t.Errorf("another seed drew the same delays %v", a)
	}
	if cmp.Equal(a, schedule(1, 43)) {
		t.Errorf("other content drew the same delays %v", a)
	}
	for i, d := range a {
		if d < 5*time.Millisecond || d > 15*time.Millisecond {
			t.Errorf("delay %d = %v, want within 10ms ± 50%%", i, d)
		}
	}
	if got := newDraws(1, 42, 0).delay(7 * time.Millisecond); got != 7*time.Millisecond {
		t.Errorf("delay without jitter = %v, want 7ms", got)
	}
}

func TestWords(t *testing.T) {
	for i := range 100 {
		w := string(wordText(wordAt(7, i)))
		if !strings.HasPrefix(w, " ") || strings.Count(w, " ") != 1 || countTokens(w) != 1 {
			t.Fatalf("word %d = %q, want one word with a leading space", i, w)
		}
	}
	if string(wordAt(7, 0))+string(wordAt(7, 1)) == string(wordAt(8, 0))+string(wordAt(8, 1)) {
		t.Errorf("words do not depend on the content hash")
	}
}

func TestBuckets125(t *testing.T) {
	got := buckets125(8192)
	want := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buckets125(8192) mismatch (-want +got):\n%s", diff)
	}
}
