package simulated

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeErr reads /metrics the way a telemetry sampler does: text format,
// parsed by expfmt.
func scrapeErr(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := testClient.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := scrapeErr(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// series returns the metric of family name whose labels include want, or
// nil.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns a counter's or gauge's value, NaN when there is no such
// series.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := series(fams, name, labels)
	switch {
	case m == nil:
		return math.NaN()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return math.NaN()
}

func histogramCount(fams map[string]*dto.MetricFamily, name string) float64 {
	if m := series(fams, name, nil); m != nil && m.Histogram != nil {
		return float64(m.Histogram.GetSampleCount())
	}
	return math.NaN()
}

func histogramSum(fams map[string]*dto.MetricFamily, name string) float64 {
	if m := series(fams, name, nil); m != nil && m.Histogram != nil {
		return m.Histogram.GetSampleSum()
	}
	return math.NaN()
}

func histogramBounds(fams map[string]*dto.MetricFamily, name string) []float64 {
	m := series(fams, name, nil)
	if m == nil || m.Histogram == nil {
		return nil
	}
	var out []float64
	for _, b := range m.Histogram.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue // implied by every Prometheus histogram
		}
		out = append(out, b.GetUpperBound())
	}
	return out
}

func TestMetrics(t *testing.T) {
	m := Model{ServedModel: "m1", TTFT: 2 * time.Millisecond, ITL: time.Millisecond, MaxModelLen: 2048}
	_, url := startServer(t, m)

	before := scrape(t, url)
	for _, name := range []string{"stop", "length", "abort"} {
		if got := value(before, "vllm:request_success_total", map[string]string{"finished_reason": name}); got != 0 {
			t.Errorf("request_success_total{%s} before any request = %v, want 0", name, got)
		}
	}

	requests := []struct {
		path string
		body map[string]any
	}{
		{"/v1/chat/completions", map[string]any{"messages": []map[string]string{{"role": "user", "content": "hello world foo"}}, "max_tokens": 4, "stream": true}},
		{"/v1/completions", map[string]any{"prompt": "a b c d e", "max_tokens": 3}},
		{"/v1/completions", map[string]any{"prompt": "a b c d e", "max_tokens": 2, "stream": true}}, // a prefix-cache hit
		{"/v1/chat/completions", map[string]any{"messages": []map[string]string{{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}}, "max_completion_tokens": 5}},
	}
	const prompt, generated, gaps, hits = 3 + 5 + 5 + 3, 4 + 3 + 2 + 5, 3 + 2 + 1 + 4, 5
	for _, r := range requests {
		resp := post(t, context.Background(), url+r.path, r.body)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", r.path, resp.StatusCode)
		}
	}

	fams := scrape(t, url)
	n := float64(len(requests))
	type got struct{ Name, Value string }
	var gotValues, wantValues []got
	check := func(name string, v, want float64) {
		gotValues = append(gotValues, got{name, fmt.Sprint(v)})
		wantValues = append(wantValues, got{name, fmt.Sprint(want)})
	}
	check("prompt_tokens_total", value(fams, "vllm:prompt_tokens_total", nil), prompt)
	check("generation_tokens_total", value(fams, "vllm:generation_tokens_total", nil), generated)
	check("success length", value(fams, "vllm:request_success_total", map[string]string{"finished_reason": "length"}), n)
	check("success stop", value(fams, "vllm:request_success_total", map[string]string{"finished_reason": "stop"}), 0)
	check("success abort", value(fams, "vllm:request_success_total", map[string]string{"finished_reason": "abort"}), 0)
	check("preemptions", value(fams, "vllm:num_preemptions_total", nil), 0)
	check("prefix queries", value(fams, "vllm:prefix_cache_queries_total", nil), prompt)
	check("prefix hits", value(fams, "vllm:prefix_cache_hits_total", nil), hits)
	check("running", value(fams, "vllm:num_requests_running", nil), 0)
	check("waiting", value(fams, "vllm:num_requests_waiting", nil), 0)
	check("kv usage", value(fams, "vllm:kv_cache_usage_perc", nil), 0)
	check("cache_config_info", value(fams, "vllm:cache_config_info", map[string]string{"block_size": "16", "num_gpu_blocks": "32768"}), 1)
	check("ttft count", histogramCount(fams, "vllm:time_to_first_token_seconds"), n)
	check("itl count", histogramCount(fams, "vllm:inter_token_latency_seconds"), gaps)
	for _, h := range []string{"e2e_request_latency_seconds", "request_queue_time_seconds", "request_inference_time_seconds", "request_prefill_time_seconds", "request_decode_time_seconds"} {
		check(h+" count", histogramCount(fams, "vllm:"+h), n)
	}
	check("request_prompt_tokens sum", histogramSum(fams, "vllm:request_prompt_tokens"), prompt)
	check("request_generation_tokens sum", histogramSum(fams, "vllm:request_generation_tokens"), generated)
	check("request_params_max_tokens count", histogramCount(fams, "vllm:request_params_max_tokens"), n)
	if diff := cmp.Diff(wantValues, gotValues); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}

	// Server-side times are measured: TTFT covers at least the modelled
	// delay and the last token comes no earlier than the schedule says.
	// (Decode time alone may be shorter than the modelled gaps: a late first
	// token is followed by tokens due on the original schedule.)
	if got, least := histogramSum(fams, "vllm:time_to_first_token_seconds"), n*m.TTFT.Seconds(); got < least {
		t.Errorf("TTFT sum = %v, want at least %v", got, least)
	}
	if got, least := histogramSum(fams, "vllm:e2e_request_latency_seconds"), n*m.TTFT.Seconds()+gaps*m.ITL.Seconds(); got < least {
		t.Errorf("e2e latency sum = %v, want at least %v", got, least)
	}

	wantBounds := map[string][]float64{
		"vllm:time_to_first_token_seconds":    ttftBuckets,
		"vllm:inter_token_latency_seconds":    itlBuckets,
		"vllm:e2e_request_latency_seconds":    requestLatencyBuckets,
		"vllm:request_queue_time_seconds":     requestLatencyBuckets,
		"vllm:request_prefill_time_seconds":   requestLatencyBuckets,
		"vllm:request_decode_time_seconds":    requestLatencyBuckets,
		"vllm:request_prompt_tokens":          {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000},
		"vllm:request_generation_tokens":      {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000},
		"vllm:request_inference_time_seconds": requestLatencyBuckets,
	}
	for name, want := range wantBounds {
		if diff := cmp.Diff(want, histogramBounds(fams, name)); diff != "" {
			t.Errorf("%s buckets mismatch (-want +got):\n%s", name, diff)
		}
	}
	if got, want := ttftBuckets[len(ttftBuckets)-1], 2560.0; got != want {
		t.Errorf("last TTFT bucket = %v, want vLLM's %v", got, want)
	}

	// Every engine family carries vLLM's labels.
	for name, f := range fams {
		if name == "vllm:cache_config_info" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["model_name"] != "m1" || labels["engine"] != "0" {
				t.Errorf("%s labels = %v, want model_name=m1 and engine=0", name, labels)
			}
		}
	}
	for name := range fams {
		if name[:5] != "vllm:" {
			t.Errorf("unexpected family %s: no Go or process collectors belong here", name)
		}
	}
}

func TestKVCacheUsage(t *testing.T) {
	m := Model{TTFT: time.Millisecond, ITL: 20 * time.Millisecond, MaxNumSeqs: 2, MaxModelLen: 100}
	s, url := startServer(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := post(t, ctx, url+"/v1/completions", map[string]any{"prompt": "one two three four five six seven eight nine ten", "max_tokens": 85, "stream": true})
	defer resp.Body.Close()
	if got := readEvents(t, resp.Body, 3); len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	// 10 prompt tokens and at least 3 generated, of 2×100.
	usage := value(scrape(t, url), "vllm:kv_cache_usage_perc", nil)
	if usage < 13.0/200 || usage > 1 {
		t.Errorf("kv_cache_usage_perc mid-stream = %v, want at least %v", usage, 13.0/200)
	}
	cancel()
	waitFor(t, "the slot to be freed", func() bool { return s.sched.running.Load() == 0 })
	if got := s.kvHeld.Load(); got != 0 {
		t.Errorf("KV tokens held after the stream = %d, want 0", got)
	}
}
