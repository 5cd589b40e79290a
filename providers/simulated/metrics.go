package simulated

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

// Metrics flavours: the engine whose /metrics a simulated server
// imitates, families named, typed and labelled as that engine's are.
const (
	MetricsVLLM     = "vllm"
	MetricsLlamaCpp = "llama.cpp"
	MetricsTGI      = "tgi"
)

// MetricsFlavours lists the flavours a Model may ask for.
var MetricsFlavours = []string{MetricsVLLM, MetricsLlamaCpp, MetricsTGI}

// recorder is what a request tells the server's /metrics as it goes; each
// flavour records it in its engine's families. Gauges are functions of the
// scheduler's atomics, read at scrape time, so the token loop pays nothing
// for them.
type recorder interface {
	registry() *prometheus.Registry
	// aborted: the request ended early (client gone, server closed).
	aborted()
	// prefix: its prompt was looked up in the prefix cache.
	prefix(promptTokens float64, hit bool)
	// firstToken and nextToken: a token went out, ttft after arrival or
	// itl after the previous one.
	firstToken(ttft time.Duration, promptTokens float64)
	nextToken(itl time.Duration)
	// finished: the request completed with every token.
	finished(t timings, promptTokens, outputTokens float64, maxTokensGiven bool)
}

func newMetrics(m Model, sched *scheduler, kvHeld func() int64) recorder {
	switch m.Metrics {
	case MetricsLlamaCpp:
		return newLlamaCppMetrics(sched)
	case MetricsTGI:
		return newTGIMetrics(m, sched)
	}
	return newVLLMMetrics(m, sched, kvHeld)
}

// vllmMetrics are vLLM V1's families.
type vllmMetrics struct {
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

func newVLLMMetrics(m Model, sched *scheduler, kvHeld func() int64) *vllmMetrics {
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
	x := &vllmMetrics{
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

func (x *vllmMetrics) registry() *prometheus.Registry { return x.reg }
func (x *vllmMetrics) aborted()                       { x.success[finishAbort].Inc() }

func (x *vllmMetrics) prefix(p float64, hit bool) {
	x.prefixQueries.Add(p)
	if hit {
		x.prefixHits.Add(p)
	}
}

func (x *vllmMetrics) firstToken(ttft time.Duration, p float64) {
	x.ttft.Observe(ttft.Seconds())
	x.promptTokens.Add(p)
	x.generationTokens.Inc()
}

func (x *vllmMetrics) nextToken(itl time.Duration) {
	x.itl.Observe(itl.Seconds())
	x.generationTokens.Inc()
}

func (x *vllmMetrics) finished(t timings, p, n float64, maxTokensGiven bool) {
	x.success[finishLength].Inc()
	x.e2e.Observe(t.last.Sub(t.arrival).Seconds())
	x.queueTime.Observe(t.slotStart.Sub(t.arrival).Seconds())
	x.inferenceTime.Observe(t.last.Sub(t.slotStart).Seconds())
	x.prefillTime.Observe(t.first.Sub(t.slotStart).Seconds())
	x.decodeTime.Observe(t.last.Sub(t.first).Seconds())
	x.promptHist.Observe(p)
	x.generationHist.Observe(n)
	if maxTokensGiven {
		x.maxTokensParams.Observe(n)
	}
}

// llamaCppMetrics are llama-server's --metrics families: unlabelled
// counters of tokens and the seconds spent on them, and gauges of busy
// and deferred slots.
type llamaCppMetrics struct {
	reg                               *prometheus.Registry
	sched                             *scheduler
	promptTokens, promptSeconds       prometheus.Counter
	predictedTokens, predictedSeconds prometheus.Counter
	decodes                           prometheus.Counter
	busySlotsPerDecode                prometheus.Gauge
}

func newLlamaCppMetrics(sched *scheduler) *llamaCppMetrics {
	reg := prometheus.NewRegistry()
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "llamacpp:" + name, Help: help})
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llamacpp:" + name, Help: help}, f))
	}
	x := &llamaCppMetrics{
		reg:              reg,
		sched:            sched,
		promptTokens:     counter("prompt_tokens_total", "Number of prompt tokens processed."),
		promptSeconds:    counter("prompt_seconds_total", "Prompt process time"),
		predictedTokens:  counter("tokens_predicted_total", "Number of generation tokens processed."),
		predictedSeconds: counter("tokens_predicted_seconds_total", "Predict process time"),
		decodes:          counter("n_decode_total", "Total number of llama_decode() calls"),
	}
	gauge("requests_processing", "Number of requests processing.", func() float64 { return float64(sched.running.Load()) })
	gauge("requests_deferred", "Number of requests deferred.", func() float64 { return float64(sched.waiting.Load()) })
	// An average the server types as a counter although it goes down, as
	// llama-server does: a reader must not take it for a restart.
	x.busySlotsPerDecode = prometheus.NewGauge(prometheus.GaugeOpts{Name: "llamacpp:n_busy_slots_per_decode", Help: "Average number of busy slots per llama_decode() call"})
	reg.MustRegister(counterTyped{x.busySlotsPerDecode})
	return x
}

func (x *llamaCppMetrics) registry() *prometheus.Registry { return x.reg }
func (x *llamaCppMetrics) aborted()                       {}
func (x *llamaCppMetrics) prefix(float64, bool)           {}

func (x *llamaCppMetrics) firstToken(ttft time.Duration, p float64) {
	x.promptTokens.Add(p)
	x.promptSeconds.Add(ttft.Seconds())
	x.predictedTokens.Inc()
	x.decodes.Inc()
}

func (x *llamaCppMetrics) nextToken(itl time.Duration) {
	x.predictedTokens.Inc()
	x.predictedSeconds.Add(itl.Seconds())
	x.decodes.Inc()
	x.busySlotsPerDecode.Set(float64(x.sched.running.Load()))
}

func (x *llamaCppMetrics) finished(timings, float64, float64, bool) {}

// counterTyped exposes a gauge's value under the counter type.
type counterTyped struct{ prometheus.Gauge }

func (c counterTyped) Write(m *dto.Metric) error {
	if err := c.Gauge.Write(m); err != nil {
		return err
	}
	m.Counter = &dto.Counter{Value: m.Gauge.Value}
	m.Gauge = nil
	return nil
}

func (c counterTyped) Describe(ch chan<- *prometheus.Desc) { c.Gauge.Describe(ch) }
func (c counterTyped) Collect(ch chan<- prometheus.Metric) { ch <- c }

// tgiMetrics are text-generation-inference's families, as its exporter
// writes them: counters without _total, token counts as per-request
// histograms, durations in seconds.
type tgiMetrics struct {
	reg                                          *prometheus.Registry
	count, success                               prometheus.Counter
	failure                                      prometheus.Counter
	inputLength, generatedTokens                 prometheus.Histogram
	duration, queue, inference, meanTimePerToken prometheus.Histogram
}

// tgiDurationBuckets are TGI's: 35 bounds growing by half from 150 µs.
var tgiDurationBuckets = prometheus.ExponentialBuckets(0.00015, 1.5, 35)

func newTGIMetrics(m Model, sched *scheduler) *tgiMetrics {
	reg := prometheus.NewRegistry()
	counter := func(name string, labels prometheus.Labels) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name, ConstLabels: labels})
		reg.MustRegister(c)
		return c
	}
	histogram := func(name string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: name, Buckets: buckets})
		reg.MustRegister(h)
		return h
	}
	gauge := func(name string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: name}, f))
	}
	tokenBuckets := buckets125(m.MaxModelLen)
	x := &tgiMetrics{
		reg:              reg,
		count:            counter("tgi_request_count", nil),
		success:          counter("tgi_request_success", nil),
		failure:          counter("tgi_request_failure", prometheus.Labels{"err": "incomplete"}),
		inputLength:      histogram("tgi_request_input_length", tokenBuckets),
		generatedTokens:  histogram("tgi_request_generated_tokens", tokenBuckets),
		duration:         histogram("tgi_request_duration", tgiDurationBuckets),
		queue:            histogram("tgi_request_queue_duration", tgiDurationBuckets),
		inference:        histogram("tgi_request_inference_duration", tgiDurationBuckets),
		meanTimePerToken: histogram("tgi_request_mean_time_per_token_duration", tgiDurationBuckets),
	}
	gauge("tgi_queue_size", func() float64 { return float64(sched.waiting.Load()) })
	gauge("tgi_batch_current_size", func() float64 { return float64(sched.running.Load()) })
	return x
}

func (x *tgiMetrics) registry() *prometheus.Registry { return x.reg }
func (x *tgiMetrics) aborted()                       { x.failure.Inc() }
func (x *tgiMetrics) prefix(float64, bool)           {}
func (x *tgiMetrics) firstToken(time.Duration, float64) {
	x.count.Inc()
}
func (x *tgiMetrics) nextToken(time.Duration) {}

func (x *tgiMetrics) finished(t timings, p, n float64, _ bool) {
	x.success.Inc()
	x.inputLength.Observe(p)
	x.generatedTokens.Observe(n)
	x.duration.Observe(t.last.Sub(t.arrival).Seconds())
	x.queue.Observe(t.slotStart.Sub(t.arrival).Seconds())
	x.inference.Observe(t.last.Sub(t.slotStart).Seconds())
	if n > 1 {
		x.meanTimePerToken.Observe(t.last.Sub(t.first).Seconds() / (n - 1))
	}
}
