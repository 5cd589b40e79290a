package workload

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ms converts fractional milliseconds to a Duration, rounding to the
// nearest nanosecond.
func ms(v float64) time.Duration { return time.Duration(v*1e6 + 0.5) }

func mss(vs ...float64) []time.Duration {
	out := make([]time.Duration, len(vs))
	for i, v := range vs {
		out[i] = ms(v)
	}
	return out
}

// nsApprox tolerates the last nanosecond of rounding in hand-computed values.
var nsApprox = cmp.Comparer(func(a, b time.Duration) bool {
	d := a - b
	return -1 <= d && d <= 1
})

func TestPercentile(t *testing.T) {
	// Expected values are numpy.percentile(xs, p) with the default linear
	// method: rank p/100·(n−1), interpolated between its neighbours.
	tests := []struct {
		name string
		xs   []time.Duration
		p    float64
		want time.Duration
	}{
		{"four values p0", mss(1, 2, 3, 4), 0, ms(1)},
		{"four values p25", mss(1, 2, 3, 4), 25, ms(1.75)},
		{"four values p50", mss(1, 2, 3, 4), 50, ms(2.5)},
		{"four values p90", mss(1, 2, 3, 4), 90, ms(3.7)},
		{"four values p99", mss(1, 2, 3, 4), 99, ms(3.97)},
		{"four values p100", mss(1, 2, 3, 4), 100, ms(4)},
		{"one value", mss(5), 99, ms(5)},
		{"two values p25", mss(10, 20), 25, ms(12.5)},
		{"two values p75", mss(10, 20), 75, ms(17.5)},
		{"uneven p10", mss(1, 3, 7, 15, 31), 10, ms(1.8)},
		{"uneven p50", mss(1, 3, 7, 15, 31), 50, ms(7)},
		{"uneven p90", mss(1, 3, 7, 15, 31), 90, ms(24.6)},
		{"fractional p", mss(1, 2, 3, 4), 99.9, ms(3.997)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.xs, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.xs, tt.p, got, tt.want)
			}
		})
	}
}

func TestDistribution(t *testing.T) {
	tests := []struct {
		name string
		xs   []time.Duration
		want Distribution
	}{
		{
			name: "unsorted samples",
			xs:   mss(9, 4, 2, 5, 4, 7, 4, 5),
			want: Distribution{
				Mean: ms(5), Median: ms(4.5), Std: ms(2), Count: 8,
				Percentiles: []Percentile{{50, ms(4.5)}, {90, ms(7.6)}, {99, ms(8.86)}},
			},
		},
		{
			name: "empty",
			want: Distribution{Percentiles: []Percentile{{50, 0}, {90, 0}, {99, 0}}},
		},
		{
			name: "one sample",
			xs:   mss(3),
			want: Distribution{
				Mean: ms(3), Median: ms(3), Count: 1,
				Percentiles: []Percentile{{50, ms(3)}, {90, ms(3)}, {99, ms(3)}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := distribution(tt.xs, defaultPercentiles)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("distribution() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	s := NewSummary(nil, SLO{})
	for _, r := range []Record{
		{ID: "w", Warmup: true, TTFT: ms(9999), E2EL: ms(9999), OutputTokens: 99, PromptTokens: 99, TokenSource: TokenSourceUsage},
		{ID: "a", Start: 0, TTFT: ms(100), E2EL: ms(400), Gaps: mss(100, 100, 100), PromptTokens: 10, OutputTokens: 4, TokenSource: TokenSourceUsage},
		{ID: "b", Start: ms(50), TTFT: ms(200), E2EL: ms(200), PromptTokens: 20, OutputTokens: 1, TokenSource: TokenSourceChunks},
		// Two tokens per chunk: TPOT from usage, ITL per chunk.
		{ID: "c", Start: ms(100), TTFT: ms(150), E2EL: ms(350), Gaps: mss(50, 150), PromptTokens: 30, OutputTokens: 5, TokenSource: TokenSourceUsage},
		{ID: "d", Start: ms(10), TTFT: ms(10), E2EL: ms(20), Gaps: mss(10), PromptTokens: 40, OutputTokens: 3, Err: "HTTP 500: x"},
		{ID: "e", Err: "cancelled"},
		{ID: "f", Err: "HTTP 500: x"},
	} {
		s.Add(r)
	}
	got := s.Close(2 * time.Second)
	want := Stats{
		Completed: 3, Failed: 3,
		Duration:             2 * time.Second,
		TotalInputTokens:     60,
		TotalOutputTokens:    10,
		RequestThroughput:    1.5,
		OutputThroughput:     5,
		TotalTokenThroughput: 35,
		TTFT: Distribution{
			Mean: ms(150), Median: ms(150), Std: ms(40.8248290463863), Count: 3,
			Percentiles: []Percentile{{50, ms(150)}, {90, ms(190)}, {99, ms(199)}},
		},
		// Only a and c have more than one output token.
		TPOT: Distribution{
			Mean: ms(75), Median: ms(75), Std: ms(25), Count: 2,
			Percentiles: []Percentile{{50, ms(75)}, {90, ms(95)}, {99, ms(99.5)}},
		},
		ITL: Distribution{
			Mean: ms(100), Median: ms(100), Std: ms(31.622776601683793), Count: 5,
			Percentiles: []Percentile{{50, ms(100)}, {90, ms(130)}, {99, ms(148)}},
		},
		E2EL: Distribution{
			Mean: ms(316.6666666666667), Median: ms(350), Std: ms(84.98365855987974), Count: 3,
			Percentiles: []Percentile{{50, ms(350)}, {90, ms(390)}, {99, ms(399)}},
		},
		// Records without an answer time (as read from older state) have none.
		TTFC:                 Distribution{Percentiles: []Percentile{{50, 0}, {90, 0}, {99, 0}}},
		MaxConcurrency:       3,
		PeakOutputThroughput: 8,
		TokenSources:         map[TokenSource]int{TokenSourceUsage: 2, TokenSourceChunks: 1},
		// 10 output tokens over 0.4 + 0.2 + 0.35 s of requests.
		OutputThroughputPerUser: 10 / 0.95,
		// Every measured request, failed ones too; these waited for nothing.
		QueueTime: Distribution{Count: 6, Percentiles: []Percentile{{50, 0}, {90, 0}, {99, 0}}},
		Lag:       Distribution{Count: 6, Percentiles: []Percentile{{50, 0}, {90, 0}, {99, 0}}},
		Errors:    []ErrorCount{{"HTTP 500: x", 2}, {"cancelled", 1}},
	}
	if diff := cmp.Diff(want, got, nsApprox); diff != "" {
		t.Errorf("Close() mismatch (-want +got):\n%s", diff)
	}
	// Closing again gives the same answer: Close sorts nothing it needs.
	if diff := cmp.Diff(got, s.Close(2*time.Second)); diff != "" {
		t.Errorf("second Close() differs (-first +second):\n%s", diff)
	}
}

func TestSummaryEmpty(t *testing.T) {
	got := NewSummary([]float64{99.9, -1, 150}, SLO{TTFT: time.Second}).Close(0)
	zero := Distribution{Percentiles: []Percentile{{99.9, 0}, {0, 0}, {100, 0}}}
	want := Stats{HasSLO: true, TTFT: zero, TPOT: zero, ITL: zero, E2EL: zero, TTFC: zero, QueueTime: zero, Lag: zero, TokenSources: map[TokenSource]int{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Close() mismatch (-want +got):\n%s", diff)
	}
}

func TestGoodput(t *testing.T) {
	recs := []Record{
		{TTFT: ms(100), E2EL: ms(500), Gaps: mss(100, 100, 100, 100), OutputTokens: 5},  // TPOT 100, max gap 100
		{TTFT: ms(300), E2EL: ms(300), OutputTokens: 1},                                 // TPOT counts as 0
		{TTFT: ms(200), E2EL: ms(1000), Gaps: mss(100, 500, 100, 100), OutputTokens: 5}, // TPOT 200, max gap 500
		{TTFT: ms(1), E2EL: ms(1), OutputTokens: 1, Err: "HTTP 500: x"},                 // never good
	}
	tests := []struct {
		name        string
		slo         SLO
		wantHas     bool
		wantGoodput float64
		wantPercent float64
	}{
		{name: "no objective", slo: SLO{}},
		{name: "TTFT is inclusive", slo: SLO{TTFT: ms(200)}, wantHas: true, wantGoodput: 1, wantPercent: 50},
		{name: "TPOT counts 0 for one token", slo: SLO{TPOT: ms(100)}, wantHas: true, wantGoodput: 1, wantPercent: 50},
		{name: "ITL uses the largest gap", slo: SLO{ITL: ms(100)}, wantHas: true, wantGoodput: 1, wantPercent: 50},
		{name: "ITL everyone", slo: SLO{ITL: ms(500)}, wantHas: true, wantGoodput: 1.5, wantPercent: 75},
		{name: "E2EL", slo: SLO{E2EL: ms(500)}, wantHas: true, wantGoodput: 1, wantPercent: 50},
		{name: "every objective must hold", slo: SLO{TTFT: ms(250), TPOT: ms(150)}, wantHas: true, wantGoodput: 0.5, wantPercent: 25},
		{name: "nobody", slo: SLO{TTFT: ms(50)}, wantHas: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(nil, tt.slo)
			for _, r := range recs {
				s.Add(r)
			}
			st := s.Close(2 * time.Second)
			got := []any{st.HasSLO, st.RequestGoodput, st.GoodPercent}
			want := []any{tt.wantHas, tt.wantGoodput, tt.wantPercent}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("HasSLO, RequestGoodput, GoodPercent mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMaxConcurrency(t *testing.T) {
	type iv struct{ start, end float64 }
	tests := []struct {
		name string
		ivs  []iv
		want int
	}{
		{"none", nil, 0},
		{"one", []iv{{0, 10}}, 1},
		{"touching intervals do not overlap", []iv{{0, 10}, {10, 20}, {20, 30}}, 1},
		{"nested", []iv{{0, 100}, {10, 20}, {15, 30}}, 3},
		{"peak in the middle", []iv{{0, 10}, {5, 15}, {20, 30}, {25, 35}, {27, 28}}, 3},
		{"same start", []iv{{0, 5}, {0, 5}, {0, 1}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(nil, SLO{})
			for _, v := range tt.ivs {
				s.Add(Record{Start: ms(v.start), TTFT: ms(v.end - v.start), E2EL: ms(v.end - v.start), OutputTokens: 1})
			}
			// A failed request is not counted, however long it ran.
			s.Add(Record{Start: 0, E2EL: ms(1000), Err: "x"})
			if got := s.Close(time.Second).MaxConcurrency; got != tt.want {
				t.Errorf("MaxConcurrency = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPeakOutputThroughput(t *testing.T) {
	s := NewSummary(nil, SLO{})
	// Bins are 1 s wide from the earliest start (500 ms).
	// a: tokens at 0.6 0.9 1.2 | 1.5 1.8 → bins 0,0,0,1,1
	s.Add(Record{Start: ms(500), TTFT: ms(100), E2EL: ms(1300), Gaps: mss(300, 300, 300, 300), OutputTokens: 5})
	// b: tokens at 1.2 1.3 1.4 → bin 0
	s.Add(Record{Start: ms(1000), TTFT: ms(200), E2EL: ms(400), Gaps: mss(100, 100), OutputTokens: 3})
	// c: tokens at 2.1 … 2.4 every 50 ms → seven in bin 1
	s.Add(Record{Start: ms(2000), TTFT: ms(100), E2EL: ms(400), Gaps: mss(50, 50, 50, 50, 50, 50), OutputTokens: 7})
	// Failed requests place no tokens.
	s.Add(Record{Start: ms(1600), TTFT: ms(1), E2EL: ms(10), Gaps: mss(1, 1, 1, 1, 1, 1, 1, 1, 1), Err: "x"})
	if got, want := s.Close(3*time.Second).PeakOutputThroughput, 9.0; got != want {
		t.Errorf("PeakOutputThroughput = %v, want %v", got, want)
	}
}

func TestSummaryZeroValue(t *testing.T) {
	var s Summary
	s.Add(Record{TTFT: ms(1), E2EL: ms(1), OutputTokens: 1, TokenSource: TokenSourceChunks})
	s.Add(Record{Err: "x"})
	got := s.Close(time.Second)
	if got.Completed != 1 || got.Failed != 1 || got.HasSLO || len(got.TTFT.Percentiles) != 3 {
		t.Errorf("Close() = %+v, want one of each, no SLO and the default percentiles", got)
	}
}

func TestSummaryConcurrentAdd(t *testing.T) {
	s := NewSummary(nil, SLO{TTFT: time.Second})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				s.Add(Record{TTFT: ms(1), E2EL: ms(2), Gaps: mss(1), OutputTokens: 2, TokenSource: TokenSourceUsage})
			}
		})
	}
	wg.Go(func() { _ = s.Close(time.Second) })
	wg.Wait()
	got := s.Close(time.Second)
	if got.Completed != 400 || got.ITL.Count != 400 || got.RequestGoodput != 400 {
		t.Errorf("Close() = %d completed, %d gaps, goodput %v; want 400 each", got.Completed, got.ITL.Count, got.RequestGoodput)
	}
}

// TestMultiTokenChunks checks that per-event token counts, where the
// server reported them, fill the peak-throughput bins exactly, and that
// disagreeing token sources are counted.
func TestMultiTokenChunks(t *testing.T) {
	s := NewSummary(nil, SLO{})
	s.Add(Record{ID: "a", TTFT: ms(100), E2EL: ms(300), Gaps: mss(100, 100, 0), ChunkTokens: []uint32{0, 1, 3, 1},
		TokenEvents: 4, UsageTokens: 5, OutputTokens: 5, TokenSource: TokenSourceUsage})
	// One token per event as far as the client can tell, but the server
	// says 9: the sources disagree.
	s.Add(Record{ID: "b", TTFT: ms(100), E2EL: ms(200), Gaps: mss(100), TokenEvents: 2, UsageTokens: 9, OutputTokens: 9, TokenSource: TokenSourceUsage})
	// A role-only first event and one token per event after it agree.
	s.Add(Record{ID: "c", TTFT: ms(100), E2EL: ms(200), Gaps: mss(100), TokenEvents: 3, UsageTokens: 2, OutputTokens: 2, TokenSource: TokenSourceUsage})
	st := s.Close(time.Second)
	// All in the first second: a's events carry 5 tokens; b and c count one
	// per event placed by TTFT and gaps, 2 each.
	if st.PeakOutputThroughput != 9 {
		t.Errorf("peak = %v, want 9", st.PeakOutputThroughput)
	}
	if st.TokenSourcesDisagree != 1 {
		t.Errorf("disagreeing requests = %d, want 1", st.TokenSourcesDisagree)
	}
}

func TestSummaryOverLimit(t *testing.T) {
	s := NewSummary(nil, SLO{})
	for _, r := range []Record{
		{MaxTokens: 8, OutputTokens: 8, TTFT: 1, E2EL: 2},
		{MaxTokens: 8, OutputTokens: 40, TTFT: 1, E2EL: 2},
		{MaxTokens: 8, OutputTokens: 256, TTFT: 1, E2EL: 2},
		{MaxTokens: 16, OutputTokens: 20, Err: "stream ended before [DONE]"},
		{MaxTokens: 0, OutputTokens: 500, TTFT: 1, E2EL: 2}, // no limit recorded
		{MaxTokens: 8, OutputTokens: 300, Warmup: true},
	} {
		s.Add(r)
	}
	st := s.Close(time.Second)
	if st.OverLimit != 3 || st.WorstOver.OutputTokens != 256 || st.WorstOver.MaxTokens != 8 {
		t.Errorf("OverLimit %d, worst %+v; want 3, 256 for a limit of 8", st.OverLimit, st.WorstOver)
	}
}

// TestSummaryReasoning checks the split of a step's output, its TTFC over
// the requests that answered, and the requests that did not, by whether
// they reached their limit.
func TestSummaryReasoning(t *testing.T) {
	s := NewSummary(nil, SLO{})
	for _, r := range []Record{
		{TTFT: ms(10), TTFC: ms(90), E2EL: ms(120), OutputTokens: 12, MaxTokens: 64, ReasoningTokens: 8, AnswerTokens: 4, ReasoningSource: TokenSourceUsage},
		{TTFT: ms(20), TTFC: ms(110), E2EL: ms(140), OutputTokens: 12, MaxTokens: 64, ReasoningTokens: 9, AnswerTokens: 3, ReasoningSource: TokenSourceChunks},
		// Thinking to the limit of 8, and of 16.
		{TTFT: ms(10), E2EL: ms(80), OutputTokens: 8, MaxTokens: 8, ReasoningTokens: 8, ReasoningSource: TokenSourceUsage},
		{TTFT: ms(10), E2EL: ms(160), OutputTokens: 16, MaxTokens: 16, ReasoningTokens: 16, ReasoningSource: TokenSourceUsage},
		// Stopped after thinking, within its limit.
		{TTFT: ms(10), E2EL: ms(50), OutputTokens: 5, MaxTokens: 64, ReasoningTokens: 5, ReasoningSource: TokenSourceChunks},
		// Failed and warm-up requests count for nothing.
		{TTFT: ms(10), E2EL: ms(50), OutputTokens: 5, MaxTokens: 64, ReasoningTokens: 5, Err: "stream ended before [DONE]"},
		{TTFT: ms(10), TTFC: ms(20), E2EL: ms(50), OutputTokens: 5, ReasoningTokens: 1, AnswerTokens: 4, Warmup: true},
		// A record from before reasoning was recorded: no answer time, but
		// no reasoning either.
		{TTFT: ms(10), E2EL: ms(50), OutputTokens: 5, MaxTokens: 5},
	} {
		s.Add(r)
	}
	st := s.Close(time.Second)
	got := []int{st.ReasoningTokens, st.AnswerTokens, st.ReasoningFromUsage, st.NoAnswer, st.NoAnswerAtLimit, st.NoAnswerMaxTokens[0], st.NoAnswerMaxTokens[1], st.TTFC.Count}
	want := []int{8 + 9 + 8 + 16 + 5, 4 + 3, 3, 3, 2, 8, 16, 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasoning, answer, from usage, no answer, at limit, least and most limit, TTFC samples (-want +got):\n%s", diff)
	}
	if st.TTFC.Mean != ms(100) || st.TTFC.Median != ms(100) {
		t.Errorf("TTFC mean %v, median %v; want 100ms", st.TTFC.Mean, st.TTFC.Median)
	}
}
