package simulated

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Bucket boundaries of vLLM's V1 engine (vllm/v1/metrics/loggers.py), so that
// histogram deltas read the same as a real server's.
var (
	ttftBuckets = []float64{
		0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
		0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
	}
	itlBuckets = []float64{
		0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
		1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
	}
	requestLatencyBuckets = []float64{
		0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
		40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
	}
)

// buckets125 returns 1, 2, 5, 10, 20, 50, ... up to maxValue, vLLM's
// build_1_2_5_buckets for token-count histograms.
func buckets125(maxValue int) []float64 {
	var out []float64
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			v := m * p
			if v > maxValue {
				return out
			}
			out = append(out, float64(v))
		}
	}
}

// Finish reasons, the values of vllm:request_success_total{finished_reason}.
const (
	finishStop   = "stop"
	finishLength = "length"
	finishAbort  = "abort"
)

// metrics are the server's Prometheus families. Gauges are functions of the
// scheduler's atomics, read at scrape time, so the token loop pays nothing
// for them.
type metrics struct {
	reg *prometheus.Registry

	promptTokens     prometheus.Counter
	generationTokens prometheus.Counter
	preemptions      prometheus.Counter
	prefixQueries    prometheus.Counter
	prefixHits       prometheus.Counter
	success          map[string]prometheus.Counter

	ttft            prometheus.Histogram
	itl             prometheus.Histogram
	e2e             prometheus.Histogram
	queueTime       prometheus.Histogram
	inferenceTime   prometheus.Histogram
	prefillTime     prometheus.Histogram
	decodeTime      prometheus.Histogram
	promptHist      prometheus.Histogram
	generationHist  prometheus.Histogram
	maxTokensParams prometheus.Histogram
}

func newMetrics(m Model, sched *scheduler, kvHeld func() int64) *metrics {
	labels := prometheus.Labels{"model_name": m.ServedModel, "engine": "0"}
	reg := prometheus.NewRegistry()
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: labels, Buckets: buckets})
		reg.MustRegister(h)
		return h
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
	}

	capacity := m.kvCapacityTokens()
	gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
		func() float64 { return float64(sched.running.Load()) })
	gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
		func() float64 { return float64(sched.waiting.Load()) })
	gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
		func() float64 { return min(1, float64(kvHeld())/float64(capacity)) })

	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vllm:cache_config_info",
		Help: "Information of the LLMEngine CacheConfig",
		ConstLabels: prometheus.Labels{
			"engine":                "0",
			"block_size":            strconv.Itoa(kvBlockSize),
			"cache_dtype":           "auto",
			"enable_prefix_caching": "True",
			"num_gpu_blocks":        strconv.FormatInt((capacity+kvBlockSize-1)/kvBlockSize, 10),
		},
	})
	info.Set(1)
	reg.MustRegister(info)

	tokenBuckets := buckets125(m.MaxModelLen)
	x := &metrics{
		reg:              reg,
		promptTokens:     counter("vllm:prompt_tokens_total", "Number of prefill tokens processed."),
		generationTokens: counter("vllm:generation_tokens_total", "Number of generation tokens processed."),
		preemptions:      counter("vllm:num_preemptions_total", "Cumulative number of preemption from the engine."),
		prefixQueries:    counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens."),
		prefixHits:       counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens."),
		success:          make(map[string]prometheus.Counter),

		ttft:            histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttftBuckets),
		itl:             histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itlBuckets),
		e2e:             histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", requestLatencyBuckets),
		queueTime:       histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", requestLatencyBuckets),
		inferenceTime:   histogram("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.", requestLatencyBuckets),
		prefillTime:     histogram("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", requestLatencyBuckets),
		decodeTime:      histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", requestLatencyBuckets),
		promptHist:      histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", tokenBuckets),
		generationHist:  histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", tokenBuckets),
		maxTokensParams: histogram("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", tokenBuckets),
	}
	success := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "vllm:request_success_total",
		Help:        "Count of successfully processed requests.",
		ConstLabels: labels,
	}, []string{"finished_reason"})
	reg.MustRegister(success)
	// All reasons exist from the start, as in vLLM, so that a scrape before
	// the first request already has the series a delta needs.
	for _, r := range []string{finishStop, finishLength, finishAbort} {
		x.success[r] = success.WithLabelValues(r)
	}
	return x
}
