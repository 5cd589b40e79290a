package telemetry

import (
	"math"
	"strings"
	"testing"
)

func TestHistQuantile(t *testing.T) {
	// Cumulative buckets: 10 observations ≤ 0.1, 20 in (0.1, 0.25],
	// 5 in (0.25, 0.5], 5 beyond 0.5.
	h := Hist{Count: 40, Buckets: []Bucket{{0.1, 10}, {0.25, 30}, {0.5, 35}, {inf(), 40}}}
	vllm, err := ParseMetrics(strings.NewReader(string(readFixture(t, "vllm-metrics.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	vllmTTFT := *vllm.Families["vllm:time_to_first_token_seconds"].Series[0].Hist
	tests := []struct {
		name string
		h    Hist
		q    float64
		want float64
	}{
		// rank = q·40; inside the crossing bucket, lower + width·(rank−below)/in-bucket.
		{"first bucket from zero", h, 0.1, 0.04},                        // rank 4: 0 + 0.1·4/10
		{"first bucket edge", h, 0.25, 0.1},                             // rank 10: 0 + 0.1·10/10
		{"median", h, 0.5, 0.175},                                       // rank 20: 0.1 + 0.15·10/20
		{"third bucket", h, 0.8, 0.35},                                  // rank 32: 0.25 + 0.25·2/5
		{"in +Inf bucket", h, 0.9, 0.5},                                 // rank 36 > 35: last finite bound
		{"q=1", h, 1, 0.5},                                              // rank 40 is only reached by +Inf
		{"q=0", h, 0, 0},                                                // rank 0: the first bucket's lower edge
		{"q<0", h, -0.1, math.Inf(-1)},                                  // as histogram_quantile
		{"q>1", h, 1.1, math.Inf(1)},                                    // as histogram_quantile
		{"vLLM fixture median", vllmTTFT, 0.5, 0.02 + 0.02*57.0/84},     // rank 70: (0.02, 0.04] holds 84, 13 below
		{"vLLM fixture p99", vllmTTFT, 0.99, 0.08 + 0.02*(138.6-138)/2}, // rank 138.6: (0.08, 0.1] holds 2
		{"negative first bound", Hist{Count: 10, Buckets: []Bucket{{-1, 5}, {1, 10}, {inf(), 10}}}, 0.25, -1},
		{"unsorted buckets", Hist{Count: 4, Buckets: []Bucket{{inf(), 4}, {2, 4}, {1, 2}}}, 0.5, 1},
		{"non-monotonic repaired", Hist{Count: 4, Buckets: []Bucket{{1, 2}, {2, 1}, {inf(), 4}}}, 0.5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.Quantile(tt.q)
			if math.Abs(got-tt.want) > 1e-12 && got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestHistQuantileUndefined(t *testing.T) {
	tests := []struct {
		name string
		h    Hist
	}{
		{"empty", Hist{}},
		{"no observations", Hist{Buckets: []Bucket{{1, 0}, {inf(), 0}}}},
		{"only +Inf", Hist{Count: 3, Buckets: []Bucket{{inf(), 3}}}},
		{"no +Inf", Hist{Count: 3, Buckets: []Bucket{{1, 1}, {2, 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Quantile(0.5); !math.IsNaN(got) {
				t.Errorf("Quantile(0.5) = %v, want NaN", got)
			}
		})
	}
}

func TestHistDelta(t *testing.T) {
	before := &Hist{Count: 8, Sum: 1.2, HasSum: true, Buckets: []Bucket{{0.1, 4}, {0.25, 6}, {inf(), 8}}}
	after := &Hist{Count: 38, Sum: 7.2, HasSum: true, Buckets: []Bucket{{0.1, 14}, {0.25, 26}, {inf(), 38}}}
	d, down := histDelta(before, after)
	if down {
		t.Error("histDelta reported a decrease for growing counts")
	}
	if d.Count != 30 || math.Abs(d.Sum-6) > 1e-9 || !d.HasSum {
		t.Errorf("delta count, sum = %v, %v; want 30, 6", d.Count, d.Sum)
	}
	if want := []Bucket{{0.1, 10}, {0.25, 20}, {inf(), 30}}; !equalBuckets(d.Buckets, want) {
		t.Errorf("delta buckets = %v, want %v", d.Buckets, want)
	}
	if _, down := histDelta(after, before); !down {
		t.Error("histDelta missed a decrease")
	}
}

func equalBuckets(a, b []Bucket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
