package telemetry

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// approx tolerates float rounding in hand-computed values.
var approx = cmpopts.EquateApprox(0, 1e-9)

// t0 is an arbitrary instant for hand-built windows.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const vllmBefore = `# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 100.0
vllm:prompt_tokens_total{engine="1",model_name="m"} 50.0
# HELP vllm:prompt_tokens_created Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_created gauge
vllm:prompt_tokens_created{engine="0",model_name="m"} 1.7539e+09
vllm:prompt_tokens_created{engine="1",model_name="m"} 1.7539e+09
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 1000.0
vllm:generation_tokens_total{engine="1",model_name="m"} 500.0
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 5.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 3.0
vllm:request_success_total{engine="0",finished_reason="abort",model_name="m"} 0.0
vllm:request_success_total{engine="1",finished_reason="stop",model_name="m"} 2.0
vllm:request_success_total{engine="1",finished_reason="length",model_name="m"} 0.0
vllm:request_success_total{engine="1",finished_reason="abort",model_name="m"} 0.0
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="m"} 1.0
vllm:num_preemptions_total{engine="1",model_name="m"} 0.0
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 400.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 100.0
vllm:prefix_cache_hits_total{engine="1",model_name="m"} 0.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 1.2
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 4.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.25",model_name="m"} 6.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 8.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 8.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 8.0
vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 0.2
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.25",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 2.0
vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 2.0
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",num_gpu_blocks="1000"} 1.0
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="1",gpu_memory_utilization="0.9",num_gpu_blocks="1000"} 1.0
# TYPE http_requests_total counter
http_requests_total{handler="/v1/completions",method="POST",status="2xx"} 10.0
http_requests_total{handler="/metrics",method="GET",status="2xx"} 3.0
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7539e+09
`

const vllmAfter = `# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 200.0
vllm:prompt_tokens_total{engine="1",model_name="m"} 250.0
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 3000.0
vllm:generation_tokens_total{engine="1",model_name="m"} 1500.0
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 15.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 8.0
vllm:request_success_total{engine="0",finished_reason="abort",model_name="m"} 1.0
vllm:request_success_total{engine="1",finished_reason="stop",model_name="m"} 7.0
vllm:request_success_total{engine="1",finished_reason="length",model_name="m"} 5.0
vllm:request_success_total{engine="1",finished_reason="abort",model_name="m"} 0.0
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="m"} 3.0
vllm:num_preemptions_total{engine="1",model_name="m"} 0.0
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 2000.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 600.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 600.0
vllm:prefix_cache_hits_total{engine="1",model_name="m"} 50.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 7.2
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 14.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.25",model_name="m"} 26.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 36.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 38.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 38.0
vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 1.2
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="m"} 11.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.25",model_name="m"} 12.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5",model_name="m"} 12.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 12.0
vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 12.0
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",num_gpu_blocks="1000"} 1.0
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="1",gpu_memory_utilization="0.9",num_gpu_blocks="1000"} 1.0
# TYPE http_requests_total counter
http_requests_total{handler="/v1/completions",method="POST",status="2xx"} 40.0
http_requests_total{handler="/v1/completions",method="POST",status="4xx"} 2.0
http_requests_total{handler="/metrics",method="GET",status="2xx"} 10.0
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7539e+09
`

func replicaSample(e string, running, waiting, kv float64) ReplicaSample {
	return ReplicaSample{Replica: e, Running: new(running), Waiting: new(waiting), KVCacheUsage: new(kv)}
}

func TestServerStatsTwoReplicas(t *testing.T) {
	before, after := parseString(t, vllmBefore), parseString(t, vllmAfter)
	before.Time, after.Time = t0, t0.Add(30*time.Second)
	w := ServerWindow{
		Before: &before,
		After:  &after,
		Samples: []ServerSample{
			{Time: t0.Add(time.Second), ScrapeLatencyMS: 2, Replicas: []ReplicaSample{replicaSample("0", 4, 0, 0.5), replicaSample("1", 2, 1, 0.1)}},
			{Time: t0.Add(2 * time.Second), ScrapeLatencyMS: 4, Replicas: []ReplicaSample{replicaSample("0", 8, 2, 0.96), replicaSample("1", 2, 0, 0.3)}},
			{Time: t0.Add(3 * time.Second), ScrapeLatencyMS: 6, Replicas: []ReplicaSample{replicaSample("0", 6, 0, 0.7), replicaSample("1", 0, 0, 0.2)}},
		},
		FailedScrapes: 1,
	}
	// Engine 0's TTFT delta: 10 ≤ 0.1 s, 10 in (0.1, 0.25], 8 in
	// (0.25, 0.5], 2 beyond; sum 6 s. Engine 1's: 10 ≤ 0.1 s, sum 1 s.
	e0TTFT := &Distribution{
		Count: 30, Mean: new(200.0),
		P50:            new(175.0),  // rank 15: 100 + 150·5/10
		P90:            new(468.75), // rank 27: 250 + 250·7/8
		P99:            new(500.0),  // rank 29.7: in +Inf, last bound
		AboveLastBound: 2, LastBound: new(500.0),
	}
	e1TTFT := &Distribution{Count: 10, Mean: new(100.0), P50: new(50.0), P90: new(90.0), P99: new(99.0)}
	totalTTFT := &Distribution{
		Count: 40, Mean: new(175.0),
		P50:            new(100.0), // rank 20: exactly the first bucket
		P90:            new(437.5), // rank 36: 250 + 250·6/8
		P99:            new(500.0),
		AboveLastBound: 2, LastBound: new(500.0),
	}
	want := ServerStats{
		Info: ServerInfo{
			Engine: "vllm", Model: "m", Replicas: 2,
			BlockSize: new(16.0), NumGPUBlocks: new(2000.0), KVCapacityTokens: new(32000.0),
			PrefixCaching: new(true), CacheDType: "auto", GPUMemoryUtilization: new(0.9),
		},
		Start: t0, End: t0.Add(30 * time.Second), DurationS: 30,
		Complete:            true,
		Samples:             3,
		FailedScrapes:       1,
		ScrapeLatencyMSMean: 4,
		ScrapeLatencyMSMax:  6,
		HTTPRequests:        map[string]float64{"2xx": 30, "4xx": 2},
		Total: ReplicaStats{
			RequestsFinished: new(26.0),
			FinishedByReason: map[string]float64{"stop": 15, "length": 10, "abort": 1},
			RequestsAborted:  new(1.0),
			PromptTokens:     new(300.0),
			GenerationTokens: new(3000.0),
			PromptTokS:       new(10.0),
			GenerationTokS:   new(100.0),
			Preemptions:      new(2.0),

			PrefixCacheQueries: new(1200.0),
			PrefixCacheHits:    new(550.0),
			PrefixCacheHitRate: new(550.0 / 1200),

			// Per sample: running 6, 10, 6; waiting 1, 2, 0; KV
			// usage averaged over engines 0.3, 0.63, 0.45.
			Running:                  &GaugeStats{Samples: 3, Mean: 22.0 / 3, P50: 6, Max: 10},
			Waiting:                  &GaugeStats{Samples: 3, Mean: 1, P50: 1, Max: 2},
			QueuedFraction:           new(2.0 / 3),
			KVCacheUsage:             &GaugeStats{Samples: 3, Mean: 0.46, P50: 0.45, Max: 0.63},
			KVCacheSaturatedFraction: new(0.0),
			TTFT:                     totalTTFT,
		},
		Replicas: []ReplicaStats{
			{
				Replica:          "0",
				RequestsFinished: new(16.0),
				FinishedByReason: map[string]float64{"stop": 10, "length": 5, "abort": 1},
				RequestsAborted:  new(1.0),
				PromptTokens:     new(100.0),
				GenerationTokens: new(2000.0),
				PromptTokS:       new(100.0 / 30),
				GenerationTokS:   new(2000.0 / 30),
				Preemptions:      new(2.0),

				PrefixCacheQueries: new(1000.0),
				PrefixCacheHits:    new(500.0),
				PrefixCacheHitRate: new(0.5),

				Running:                  &GaugeStats{Samples: 3, Mean: 6, P50: 6, Max: 8},
				Waiting:                  &GaugeStats{Samples: 3, Mean: 2.0 / 3, P50: 0, Max: 2},
				QueuedFraction:           new(1.0 / 3),
				KVCacheUsage:             &GaugeStats{Samples: 3, Mean: 0.72, P50: 0.7, Max: 0.96},
				KVCacheSaturatedFraction: new(1.0 / 3),
				TTFT:                     e0TTFT,
			},
			{
				Replica:          "1",
				RequestsFinished: new(10.0),
				FinishedByReason: map[string]float64{"stop": 5, "length": 5, "abort": 0},
				RequestsAborted:  new(0.0),
				PromptTokens:     new(200.0),
				GenerationTokens: new(1000.0),
				PromptTokS:       new(200.0 / 30),
				GenerationTokS:   new(1000.0 / 30),
				Preemptions:      new(0.0),

				PrefixCacheQueries: new(200.0),
				PrefixCacheHits:    new(50.0),
				PrefixCacheHitRate: new(0.25),

				Running:                  &GaugeStats{Samples: 3, Mean: 4.0 / 3, P50: 2, Max: 2},
				Waiting:                  &GaugeStats{Samples: 3, Mean: 1.0 / 3, P50: 0, Max: 1},
				QueuedFraction:           new(1.0 / 3),
				KVCacheUsage:             &GaugeStats{Samples: 3, Mean: 0.2, P50: 0.2, Max: 0.3},
				KVCacheSaturatedFraction: new(0.0),
				TTFT:                     e1TTFT,
			},
		},
	}
	if diff := cmp.Diff(want, w.Stats(), approx); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestServerStatsRestart(t *testing.T) {
	tests := []struct {
		name          string
		before, after string // before "" is vllmBefore
		samples       []ServerSample
		wantEvidence  []string
	}{
		{
			name:         "no restart",
			after:        vllmAfter,
			wantEvidence: nil,
		},
		{
			name: "counter went down",
			after: edit(vllmAfter,
				`vllm:generation_tokens_total{engine="1",model_name="m"} 1500.0`,
				`vllm:generation_tokens_total{engine="1",model_name="m"} 400.0`),
			wantEvidence: []string{"vllm:generation_tokens_total"},
		},
		{
			name: "histogram went down",
			after: edit(vllmAfter,
				`vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 12.0`,
				`vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 1.0`),
			wantEvidence: []string{"vllm:time_to_first_token_seconds"},
		},
		{
			name: "series vanished",
			after: edit(vllmAfter,
				`vllm:num_preemptions_total{engine="0",model_name="m"} 3.0`, ``),
			wantEvidence: []string{"vllm:num_preemptions_total"},
		},
		{
			name:         "a family benchform does not read went down",
			before:       vllmBefore + "# TYPE vllm:some_average counter\nvllm:some_average 1.5\n",
			after:        vllmAfter + "# TYPE vllm:some_average counter\nvllm:some_average 0.5\n",
			wantEvidence: nil,
		},
		{
			name:         "process restarted",
			after:        edit(vllmAfter, `process_start_time_seconds 1.7539e+09`, `process_start_time_seconds 1.7540e+09`),
			wantEvidence: []string{"process_start_time_seconds"},
		},
		{
			name:  "samples went down",
			after: vllmAfter,
			samples: []ServerSample{
				{Replicas: []ReplicaSample{{Replica: "0", GenerationTokens: new(2000.0)}}},
				{Replicas: []ReplicaSample{{Replica: "0", GenerationTokens: new(10.0)}}},
			},
			wantEvidence: []string{"samples: token counters went down"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before == "" {
				tt.before = vllmBefore
			}
			before, after := parseString(t, tt.before), parseString(t, tt.after)
			st := ServerWindow{Before: &before, After: &after, Samples: tt.samples}.Stats()
			if diff := cmp.Diff(tt.wantEvidence, st.RestartEvidence); diff != "" {
				t.Errorf("RestartEvidence (-want +got):\n%s", diff)
			}
			if st.Restarted != (len(tt.wantEvidence) > 0) {
				t.Errorf("Restarted = %v with evidence %v", st.Restarted, st.RestartEvidence)
			}
		})
	}
}

func TestServerStatsRestartCountsFromZero(t *testing.T) {
	before := parseString(t, vllmBefore)
	after := parseString(t, edit(vllmAfter,
		`vllm:generation_tokens_total{engine="1",model_name="m"} 1500.0`,
		`vllm:generation_tokens_total{engine="1",model_name="m"} 400.0`))
	st := ServerWindow{Before: &before, After: &after}.Stats()
	// Engine 1 restarted: its 400 tokens since then are the best lower
	// bound; engine 0 still adds its 2000.
	if got := *st.Total.GenerationTokens; got != 2400 {
		t.Errorf("total generation tokens = %v, want 2400", got)
	}
}

func TestServerStatsSGLang(t *testing.T) {
	before := parseString(t, `# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="m"} 1000
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="m"} 5000
# TYPE sglang:cached_tokens_total counter
sglang:cached_tokens_total{model_name="m"} 100
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="m"} 10
# TYPE sglang:num_aborted_requests_total counter
sglang:num_aborted_requests_total{model_name="m"} 1
# TYPE sglang:num_retractions histogram
sglang:num_retractions_bucket{le="1",model_name="m"} 10
sglang:num_retractions_bucket{le="+Inf",model_name="m"} 10
sglang:num_retractions_sum{model_name="m"} 2
sglang:num_retractions_count{model_name="m"} 10
# TYPE sglang:time_per_output_token_seconds histogram
sglang:time_per_output_token_seconds_bucket{le="0.01",model_name="m"} 0
sglang:time_per_output_token_seconds_bucket{le="0.02",model_name="m"} 0
sglang:time_per_output_token_seconds_bucket{le="+Inf",model_name="m"} 0
sglang:time_per_output_token_seconds_sum{model_name="m"} 0
sglang:time_per_output_token_seconds_count{model_name="m"} 0
# TYPE sglang:max_total_num_tokens gauge
sglang:max_total_num_tokens{model_name="m"} 500000
`)
	after := parseString(t, `# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="m"} 3000
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="m"} 9000
# TYPE sglang:cached_tokens_total counter
sglang:cached_tokens_total{model_name="m"} 600
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="m"} 30
# TYPE sglang:num_aborted_requests_total counter
sglang:num_aborted_requests_total{model_name="m"} 2
# TYPE sglang:num_retractions histogram
sglang:num_retractions_bucket{le="1",model_name="m"} 28
sglang:num_retractions_bucket{le="+Inf",model_name="m"} 30
sglang:num_retractions_sum{model_name="m"} 7
sglang:num_retractions_count{model_name="m"} 30
# TYPE sglang:time_per_output_token_seconds histogram
sglang:time_per_output_token_seconds_bucket{le="0.01",model_name="m"} 100
sglang:time_per_output_token_seconds_bucket{le="0.02",model_name="m"} 400
sglang:time_per_output_token_seconds_bucket{le="+Inf",model_name="m"} 400
sglang:time_per_output_token_seconds_sum{model_name="m"} 6
sglang:time_per_output_token_seconds_count{model_name="m"} 400
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m",tp_rank="0"} 7
sglang:num_running_reqs{model_name="m",tp_rank="1"} 7
# TYPE sglang:max_total_num_tokens gauge
sglang:max_total_num_tokens{model_name="m"} 500000
`)
	samples := []ServerSample{
		SampleOf(parseString(t, "sglang:num_running_reqs{tp_rank=\"0\"} 12\nsglang:num_running_reqs{tp_rank=\"1\"} 12\nsglang:num_queue_reqs 3\nsglang:token_usage 0.5\nsglang:gen_throughput 850.5\n")),
		SampleOf(parseString(t, "sglang:num_running_reqs 16\nsglang:num_queue_reqs 0\nsglang:token_usage 0.25\nsglang:gen_throughput 900.5\n")),
	}
	st := ServerWindow{Before: &before, After: &after, Samples: samples}.Stats()
	want := ReplicaStats{
		RequestsFinished:   new(20.0),
		RequestsAborted:    new(1.0),
		PromptTokens:       new(2000.0),
		GenerationTokens:   new(4000.0),
		Preemptions:        new(5.0), // Δsum of retractions per request
		PrefixCacheQueries: new(2000.0),
		PrefixCacheHits:    new(500.0),
		PrefixCacheHitRate: new(0.25),
		// tp_rank series repeat one scheduler: 12, not 24.
		Running:                  &GaugeStats{Samples: 2, Mean: 14, P50: 14, Max: 16},
		Waiting:                  &GaugeStats{Samples: 2, Mean: 1.5, P50: 1.5, Max: 3},
		QueuedFraction:           new(0.5),
		KVCacheUsage:             &GaugeStats{Samples: 2, Mean: 0.375, P50: 0.375, Max: 0.5},
		KVCacheSaturatedFraction: new(0.0),
		GenThroughput:            &GaugeStats{Samples: 2, Mean: 875.5, P50: 875.5, Max: 900.5},
		// The old spelling of ITL: 100 ≤ 10 ms, 300 in (10, 20] ms.
		ITL: &Distribution{
			Count: 400, Mean: new(15.0),
			P50: new(10 + 10*100.0/300), // rank 200
			P90: new(10 + 10*260.0/300), // rank 360
			P99: new(10 + 10*296.0/300), // rank 396
		},
	}
	if diff := cmp.Diff(want, st.Total, approx); diff != "" {
		t.Errorf("Total (-want +got):\n%s", diff)
	}
	if st.Replicas != nil {
		t.Errorf("Replicas = %v, want none for a server without replica labels", st.Replicas)
	}
	if st.Info.Engine != "sglang" || st.Info.KVCapacityTokens == nil || *st.Info.KVCapacityTokens != 500000 {
		t.Errorf("Info = %+v, want sglang with 500000 KV tokens", st.Info)
	}
}

func TestServerStatsLLMDSim(t *testing.T) {
	// llm-d-inference-sim: finish_reason instead of finished_reason, no
	// engine label.
	before := parseString(t, "vllm:request_success_total{finish_reason=\"stop\",model_name=\"m\"} 1\n")
	after := parseString(t, "vllm:request_success_total{finish_reason=\"stop\",model_name=\"m\"} 4\nvllm:request_success_total{finish_reason=\"length\",model_name=\"m\"} 2\n")
	st := ServerWindow{Before: &before, After: &after}.Stats()
	if diff := cmp.Diff(map[string]float64{"stop": 3, "length": 2}, st.Total.FinishedByReason); diff != "" {
		t.Errorf("FinishedByReason (-want +got):\n%s", diff)
	}
	if st.Total.RequestsFinished == nil || *st.Total.RequestsFinished != 5 {
		t.Errorf("RequestsFinished = %v, want 5", st.Total.RequestsFinished)
	}
}

func TestServerStatsIncomplete(t *testing.T) {
	before := parseString(t, vllmBefore)
	gauges := parseString(t, "vllm:num_requests_running{engine=\"0\"} 3\nvllm:kv_cache_usage_perc{engine=\"0\"} 0.25\n")
	tests := []struct {
		name string
		w    ServerWindow
	}{
		{"no after", ServerWindow{Before: &before, Samples: []ServerSample{SampleOf(gauges)}}},
		{"no before", ServerWindow{After: &before, Samples: []ServerSample{SampleOf(gauges)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.w.Stats()
			if st.Complete || st.Total.GenerationTokens != nil || st.Total.TTFT != nil {
				t.Errorf("incomplete window reported deltas: %+v", st.Total)
			}
			if st.Total.Running == nil || st.Total.Running.Max != 3 {
				t.Errorf("Running = %+v, want max 3 from the sample", st.Total.Running)
			}
		})
	}
	// Without samples there are no gauges: the bracketing scrapes, taken
	// idle, would report a peak of zero under load.
	st := ServerWindow{Before: &gauges, After: &gauges}.Stats()
	if st.Total.KVCacheUsage != nil || st.Total.Running != nil {
		t.Errorf("KVCacheUsage = %+v, Running = %+v from before and after alone, want none", st.Total.KVCacheUsage, st.Total.Running)
	}
}

func TestTokenMismatch(t *testing.T) {
	tests := []struct {
		server, client int
		ratio          float64
		flagged        bool
	}{
		{1000, 1000, 1, false},
		{1020, 1000, 1.02, false},
		{1021, 1000, 1.021, true},
		{979, 1000, 0.979, true},
		{980, 1000, 0.98, false},
		{0, 0, 1, false},
		{5, 0, math.Inf(1), true},
		{0, 5, 0, true},
	}
	for _, tt := range tests {
		ratio, flagged := TokenMismatch(tt.server, tt.client)
		if math.Abs(ratio-tt.ratio) > 1e-12 && ratio != tt.ratio || flagged != tt.flagged {
			t.Errorf("TokenMismatch(%d, %d) = %v, %v; want %v, %v", tt.server, tt.client, ratio, flagged, tt.ratio, tt.flagged)
		}
	}
}

// edit replaces old by new in a fixture once, and panics when old is not
// there: an edit that silently changed nothing would make its case test
// the unedited fixture.
func edit(fixture, old, new string) string {
	if !strings.Contains(fixture, old) {
		panic("fixture has no " + old)
	}
	return strings.Replace(fixture, old, new, 1)
}
