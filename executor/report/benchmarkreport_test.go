package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/telemetry"
)

// TestBenchmarkReportUnits checks each conversion against values worked
// out by hand: benchform keeps milliseconds, fractions and totals; the
// report states seconds, percent and per-request means.
func TestBenchmarkReportUnits(t *testing.T) {
	kv, hit, gpuUtil, power, powerMax, memA, memB := 0.875, 0.25, 61.5, 700.0, 812.0, 40960.0, 20480.0
	step := executor.StepSummary{
		Index: 2, Server: "server.vllm", Label: "concurrency=8", Concurrency: 8, Status: "completed",
		Completed: 8, Failed: 1, CutOff: 2,
		TotalInputTokens: 1200, TotalOutputTokens: 1000,
		DurationSeconds:      49.97,
		RequestThroughput:    0.16,
		OutputThroughput:     200,
		TotalTokenThroughput: 300,
		Percentiles:          []float64{50, 99, 99.9, 99.99},
		Latency: map[string]float64{
			"mean_ttft_ms": 250, "median_ttft_ms": 200, "std_ttft_ms": 40, "p50_ttft_ms": 200, "p99_ttft_ms": 1500, "p99.9_ttft_ms": 1750, "p99.99_ttft_ms": 1800,
			"mean_tpot_ms": 12.5, "median_tpot_ms": 12, "std_tpot_ms": 1, "p50_tpot_ms": 12, "p99_tpot_ms": 20, "p99.9_tpot_ms": 21, "p99.99_tpot_ms": 22,
			"mean_itl_ms": 12, "median_itl_ms": 11, "std_itl_ms": 2, "p50_itl_ms": 11, "p99_itl_ms": 30, "p99.9_itl_ms": 31, "p99.99_itl_ms": 32,
			"mean_e2el_ms": 2000, "median_e2el_ms": 1900, "std_e2el_ms": 100, "p50_e2el_ms": 1900, "p99_e2el_ms": 2400, "p99.9_e2el_ms": 2450, "p99.99_e2el_ms": 2500,
		},
		ServerMetrics: &telemetry.ServerStats{Total: telemetry.ReplicaStats{
			KVCacheUsage:       &telemetry.GaugeStats{Mean: 0.5, P50: 0.45, Max: kv},
			PrefixCacheHitRate: &hit,
			Running:            &telemetry.GaugeStats{Mean: 6.5, P50: 7, Max: 8},
		}},
		GPU: &telemetry.GPUStats{UtilizationPctMean: &gpuUtil, PowerWMean: &power, PowerWMax: &powerMax,
			GPUs: []telemetry.GPUDeviceStats{{MemoryUsedMiBMean: &memA}, {MemoryUsedMiBMean: &memB}}},
	}
	got := benchmarkReport(executor.StoredRun{ID: 4, Scenario: "scenario.chat"}, step)

	f := func(v float64) *float64 { return &v }
	want := brAggregate{
		Requests: brRequests{
			Total: 11, Failures: 1, Incomplete: 2,
			InputLength:  &brStatistics{Units: "count", Mean: 150},
			OutputLength: &brStatistics{Units: "count", Mean: 125},
		},
		Latency: &brLatency{
			// p99.99 has no slot in the format and is left out.
			TimeToFirstToken:   &brStatistics{Units: "s", Mean: 0.25, Stddev: f(0.04), P50: f(0.2), P99: f(1.5), P99p9: f(1.75)},
			TimePerOutputToken: &brStatistics{Units: "s/token", Mean: 0.0125, Stddev: f(0.001), P50: f(0.012), P99: f(0.02), P99p9: f(0.021)},
			InterTokenLatency:  &brStatistics{Units: "s/token", Mean: 0.012, Stddev: f(0.002), P50: f(0.011), P99: f(0.03), P99p9: f(0.031)},
			RequestLatency:     &brStatistics{Units: "s", Mean: 2, Stddev: f(0.1), P50: f(1.9), P99: f(2.4), P99p9: f(2.45)},
		},
		Throughput: &brThroughput{
			InputTokenRate:  &brStatistics{Units: "tokens/s", Mean: 100},
			OutputTokenRate: &brStatistics{Units: "tokens/s", Mean: 200},
			TotalTokenRate:  &brStatistics{Units: "tokens/s", Mean: 300},
			RequestRate:     &brStatistics{Units: "queries/s", Mean: 0.16},
		},
	}
	if diff := cmp.Diff(want, got.Results.RequestPerformance.Aggregate); diff != "" {
		t.Errorf("aggregate (-want +got):\n%s", diff)
	}

	wantObs := &brObservability{Components: []brComponentObservability{{ComponentLabel: "server.vllm", Aggregate: brResourceMetrics{
		KVCacheUsage:     &brStatistics{Units: "percent", Mean: 50, P50: f(45), Max: f(87.5)},
		CacheHitRate:     &brStatistics{Units: "percent", Mean: 25},
		RunningRequests:  &brStatistics{Units: "count", Mean: 6.5, P50: f(7), Max: f(8)},
		GPUUtilization:   &brStatistics{Units: "percent", Mean: 61.5},
		PowerConsumption: &brStatistics{Units: "Watts", Mean: 700, Max: f(812)},
		GPUMemoryUsage:   &brStatistics{Units: "MiB", Mean: 61440},
	}}}}
	if diff := cmp.Diff(wantObs, got.Results.Observability); diff != "" {
		t.Errorf("observability (-want +got):\n%s", diff)
	}
	if got.Run.Time == nil || got.Run.Time.Duration != "PT49.97S" {
		t.Errorf("run.time = %+v, want duration PT49.97S", got.Run.Time)
	}
}

func TestISODuration(t *testing.T) {
	for seconds, want := range map[float64]string{0.5: "PT0.5S", 49.97: "PT49.97S", 125: "PT125S"} {
		if got := isoDuration(seconds); got != want {
			t.Errorf("isoDuration(%g) = %q, want %q", seconds, got, want)
		}
	}
}

// TestBenchmarkReportWithoutRequests leaves out what no request measured,
// rather than writing zeros as measurements.
func TestBenchmarkReportWithoutRequests(t *testing.T) {
	step := executor.StepSummary{Server: "server.vllm", Label: "concurrency=1", Concurrency: 1, Failed: 3, Status: "completed",
		Percentiles: []float64{99}, Latency: map[string]float64{}}
	got := benchmarkReport(executor.StoredRun{ID: 1, Scenario: "scenario.chat"}, step).Results.RequestPerformance.Aggregate
	want := brAggregate{Requests: brRequests{Total: 3, Failures: 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("aggregate (-want +got):\n%s", diff)
	}
}
