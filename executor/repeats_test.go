package executor

import (
	"math"
	"reflect"
	"testing"
)

// TestIntervals checks the arithmetic against values computed by hand,
// with Student's t quantiles from the printed tables.
func TestIntervals(t *testing.T) {
	for _, tt := range []struct {
		name      string
		values    []float64
		level     float64
		mean, std float64
		low, high float64
	}{
		{name: "one value", values: []float64{7}, level: 0.95, mean: 7, low: 7, high: 7},
		// t(0.975, 4) = 2.776445; std of 1..5 is sqrt(2.5) = 1.581139.
		{name: "five", values: []float64{1, 2, 3, 4, 5}, level: 0.95, mean: 3, std: 1.5811388, low: 3 - 2.7764451*1.5811388/math.Sqrt(5), high: 3 + 2.7764451*1.5811388/math.Sqrt(5)},
		// t(0.95, 2) = 2.919986 at 90 %.
		{name: "three at 90 %", values: []float64{10, 12, 14}, level: 0.90, mean: 12, std: 2, low: 12 - 2.9199856*2/math.Sqrt(3), high: 12 + 2.9199856*2/math.Sqrt(3)},
		{name: "no spread", values: []float64{4, 4, 4}, level: 0.95, mean: 4, low: 4, high: 4},
	} {
		in := NewInterval(tt.values, tt.level)
		if math.Abs(in.Mean-tt.mean) > 1e-6 || math.Abs(in.Std-tt.std) > 1e-6 || math.Abs(in.Low-tt.low) > 1e-5 || math.Abs(in.High-tt.high) > 1e-5 || in.N != len(tt.values) {
			t.Errorf("%s: %+v, want mean %g std %g [%g, %g]", tt.name, in, tt.mean, tt.std, tt.low, tt.high)
		}
	}
}

// TestWelch checks Welch's t-test on two samples worked by hand: means
// 10.02 and 11.08, variances 0.037 and 0.067, t = -7.3498 with 7.3855
// degrees of freedom, and p = 1.19704e-4 by numerical integration of the
// t density (Simpson's rule, two million intervals).
func TestWelch(t *testing.T) {
	a := NewInterval([]float64{10.1, 9.8, 10.3, 10.0, 9.9}, 0.95)
	b := NewInterval([]float64{11.2, 11.0, 10.7, 11.4, 11.1}, 0.95)
	if p := WelchP(a, b); math.Abs(p-1.19704e-4) > 1e-9 {
		t.Errorf("p = %g, want 1.19704e-4", p)
	}
	if p := WelchP(a, a); p != 1 {
		t.Errorf("p of a sample against itself = %g, want 1", p)
	}
	if p := WelchP(NewInterval([]float64{1}, 0.95), b); p != 1 {
		t.Errorf("p with one value = %g, want 1", p)
	}
}

// TestGroupSteps checks that a run's repeats are gathered per server and
// load in the order they ran, and that only figures users are served
// warn when their repeats disagree.
func TestGroupSteps(t *testing.T) {
	step := func(server, label string, repeat int, reqPerS, p99TTFT, p99Lag float64) StepSummary {
		return StepSummary{Server: server, Label: label, Repeat: repeat, Concurrency: 4,
			RequestThroughput: reqPerS, Percentiles: []float64{99},
			Latency: map[string]float64{"p99_ttft_ms": p99TTFT, "p99_client_lag_ms": p99Lag}}
	}
	run := StoredRun{Confidence: 0.95, Steps: []StepSummary{
		step("server.a", "concurrency=4", 1, 10, 100, 1),
		step("server.a", "concurrency=4", 2, 10, 101, 9),
		step("server.a", "concurrency=4", 3, 10, 99, 0.1),
		step("server.b", "concurrency=4", 1, 8, 100, 0),
		step("server.b", "concurrency=4", 2, 12, 100, 0),
		step("server.b", "concurrency=4", 3, 10, 160, 0),
	}}
	groups := GroupSteps(run)
	if len(groups) != 2 || groups[0].Server != "server.a" || len(groups[0].Steps) != 3 || groups[1].Steps[2].Repeat != 3 {
		t.Fatalf("groups: %+v", groups)
	}
	if in := groups[0].Figures["p99_ttft_ms"]; in.N != 3 || in.Mean != 100 || in.Std != 1 {
		t.Errorf("server.a p99_ttft_ms: %+v, want mean 100, std 1 over 3", in)
	}
	if len(groups[0].Unstable) != 0 {
		t.Errorf("server.a: the client's own lag warned: %q", groups[0].Unstable)
	}
	// server.b: throughput 8, 12, 10 has CV 0.2; p99 TTFT 100, 100, 160
	// has CV 0.2887.
	want := []string{
		"request_throughput varied by 20 % between repeats (coefficient of variation; more than 10 % is unstable)",
		"p99_ttft_ms varied by 29 % between repeats (coefficient of variation; more than 20 % is unstable)",
	}
	if got := groups[1].Unstable; !reflect.DeepEqual(got, want) {
		t.Errorf("server.b unstable:\n got %q\nwant %q", got, want)
	}
}
