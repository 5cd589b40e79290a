package executor

import (
	"strings"

	"github.com/benchform/benchform/executor/telemetry"
)

// Figure is one number reported of a step, declared once: the results
// table, the telemetry table, JSON, CSV, compare and the definitions that
// travel with results are all derived from the list Figures returns.
type Figure struct {
	// Key names the figure in JSON and CSV, with its unit when it has one
	// ("p99_ttft_ms"); vLLM's own key where vLLM has the figure.
	Key string
	// Name is the quantity the figure is a statistic of ("ttft"), which
	// Definitions explains; several figures share one name.
	Name string
	// Header heads the figure's column in a table; Unit is its unit as a
	// reader reads it ("ms", "tok/s", "%").
	Header, Unit string
	// Table is the table that shows the figure; NoTable leaves it to
	// JSON and CSV.
	Table Table
	// Decimals is how many a table prints.
	Decimals int
	// Compare says whether compare puts the figure of two runs side by
	// side.
	Compare bool
	// OpenLoopOnly keeps the figure out of the table of a closed loop.
	OpenLoopOnly bool
	// Value reads the figure from a step; ok is false where the step has
	// none (no SLO, no telemetry, a closed loop's open-loop figures).
	Value func(StepSummary) (value float64, ok bool)
}

// Table is where a figure is shown.
type Table int

// Tables.
const (
	NoTable Table = iota
	// ResultsTable is the one row per step every run prints.
	ResultsTable
	// TelemetryTable is the second table, of the server's metrics, its
	// GPUs and its price, shown when some step has such figures.
	TelemetryTable
)

// LatencyMetrics are the latency metrics a summary reports: vLLM's, in its
// order, then the client's own wait before sending, in vLLM's name for it,
// and the part of that wait the client caused.
var LatencyMetrics = []string{"ttft", "tpot", "itl", "e2el", "client_queue_time", "client_lag"}

// latencyHeaders name the metrics in table headers.
var latencyHeaders = map[string]string{
	"ttft": "TTFT", "ttfc": "TTFC", "tpot": "TPOT", "itl": "ITL", "e2el": "E2EL", "client_queue_time": "queue", "client_lag": "lag",
}

// Definitions says how each reported quantity is defined; results carry
// it so that numbers are never read with the wrong meaning.
var Definitions = map[string]string{
	"ttft":                          "time to first token: request sent (after any client-side wait) → first SSE event whose choices carry output, as vLLM bench serve; a chat stream's role-only opening event and an empty closing one carry none",
	"ttfc":                          "time to first content token: request sent → first token event carrying the answer (content or tool calls) rather than reasoning alone, over the successful requests that produced an answer; reported for steps whose requests reasoned, where TTFT counts the first reasoning token",
	"reasoning_tokens":              "output tokens of successful requests spent reasoning: the server's count (usage.completion_tokens_details.reasoning_tokens, or SGLang's usage.reasoning_tokens) where it gives one, else the token events carrying reasoning, with the running usage count of each where every event had one; and the requests whose count came from the server",
	"answer_tokens":                 "output tokens of successful requests that were answer: the output less the server's reasoning count, else the token events carrying the answer (content or tool calls); an event carrying both kinds counts toward both",
	"no_answer":                     "successful requests that streamed reasoning and no answer token, and their share of the successful requests in percent; most often their reasoning used up max_tokens",
	"tpot":                          "time per output token: (E2EL − TTFT) / (output tokens − 1), requests with more than one token, as vLLM bench serve",
	"itl":                           "inter-token latency: gap between successive token events (events whose choices carry output), one per chunk, pooled over requests, as vLLM bench serve",
	"e2el":                          "end-to-end latency: request sent → last token event (not [DONE]), as vLLM bench serve",
	"client_queue_time":             "schedule → send: waiting for a slot under a concurrency cap plus the client's own lag; excluded from TTFT and E2EL",
	"client_lag":                    "the part of the client queue time the client caused: due and free to go → sent",
	"duration":                      "the measured window: first release → last completion, in seconds",
	"requests":                      "measured requests that succeeded (HTTP 2xx, at least one token event, [DONE]) or failed",
	"tokens":                        "prompt and output tokens of successful requests: the server's usage report, else the dataset's prompt length and the counted token events",
	"request_throughput":            "successful requests ÷ measured window (first release → last completion)",
	"output_throughput":             "output tokens of successful requests ÷ measured window; tokens from the server's usage report, else counted token events",
	"total_token_throughput":        "(prompt + output tokens of successful requests) ÷ measured window",
	"output_throughput_per_user":    "Σ output tokens ÷ Σ E2EL over successful requests: the rate one stream sees",
	"max_output_tokens_per_s":       "fullest 1-s bin of token events placed by TTFT and gaps (per-event token counts where the server reported them)",
	"max_concurrent_requests":       "peak overlap of successful requests' [sent, sent + E2EL) intervals",
	"request_goodput":               "successful requests meeting every SLO (inclusive) ÷ measured window",
	"good_percent":                  "share of measured requests, failed ones included, that met every SLO",
	"achieved_request_rate":         "measured requests sent ÷ time from window start to the last send",
	"token_sources":                 "successful requests whose output tokens came from the server's usage report, or from counted token events; and those whose two counts disagree",
	"requests_over_max_tokens":      "requests that streamed more tokens than their limit: the server ignored the field the limit was sent in",
	"usage_rejected":                "successful requests whose usage count was not believed: more than max_tokens while the stream stayed within it, or far from the token events streamed; their output tokens are the token events counted",
	"cut_off":                       "measured requests still running when the step's duration and its drain (timeouts.drain) had passed, or when the run was interrupted; they are in no other figure",
	"server_generation_tokens":      "generation tokens the server's own counter gained over the step",
	"server_running_max":            "most requests the server reported running at once, over the step's samples",
	"server_waiting_max":            "most requests the server reported waiting at once",
	"server_kv_cache_usage_max_pct": "fullest the server reported its KV cache, in percent",
	"server_prefix_cache_hit_rate":  "prompt tokens served from the server's prefix cache ÷ prompt tokens looked up, in percent",
	"server_preemptions":            "requests the server preempted (vLLM) or retracted (SGLang) over the step",
	"server_ttft_ms_mean":           "the server's own mean time to first token, from its histogram",
	"server_token_ratio":            "generation tokens the server counted ÷ output tokens the client counted; flagged beyond 2 % apart",
	"gpu_util_pct_mean":             "mean GPU utilisation over the step's samples, over the server's GPUs",
	"gpu_memory_used_gib_max":       "most GPU memory in use on one GPU",
	"gpu_power_w":                   "GPU power draw over the step's samples, all GPUs together",
	"gpu_energy_j":                  "GPU energy over the measured window: instant power integrated, or NVML's energy counter where readable",
	"gpu_counter_energy_j":          "the change of NVML's energy counter over the window, beside the integrated power",
	"j_per_output_token":            "GPU energy ÷ output tokens of successful requests",
	"output_tokens_per_j":           "output tokens of successful requests ÷ GPU energy",
	"wh_per_1000_requests":          "GPU energy in watt-hours per 1,000 successful requests",
	"cost_usd":                      "the machine's price per hour × the measured window",
	"usd_per_million_output_tokens": "the step's cost ÷ output tokens of successful requests × 10⁶",
	"price_per_hour_usd":            "what the server's machine costs per hour",
}

// Figures lists every figure of a step reported at the given percentiles,
// in the order tables show them and JSON and CSV keys follow. The results
// table shows, after the load, the send rate and client lag of an open
// loop, then requests and throughputs, TTFT at every percentile, ITL and
// E2EL at the median and the highest percentile, TPOT at the median, and
// goodput.
func Figures(percentiles []float64) []Figure {
	high := PercentileStat(99)
	if len(percentiles) > 0 {
		high = PercentileStat(percentiles[len(percentiles)-1])
	}
	stats := []string{"mean", "median", "std"}
	for _, p := range percentiles {
		stats = append(stats, PercentileStat(p))
	}
	always := func(f func(StepSummary) float64) func(StepSummary) (float64, bool) {
		return func(s StepSummary) (float64, bool) { return f(s), true }
	}
	latency := func(metric, stat string) Figure {
		key := LatencyKey(stat, metric)
		label := stat
		if stat == "median" {
			label = "p50"
		}
		f := Figure{Key: key, Name: metric, Header: latencyHeaders[metric] + " " + label, Unit: "ms", Decimals: 2,
			Value:   always(func(s StepSummary) float64 { return s.Latency[key] }),
			Compare: stat == "median" && metric != "client_queue_time" && metric != "client_lag"}
		if metric == "e2el" {
			f.Decimals = 1
		}
		if metric == "ttfc" {
			// Only a step with reasoning and an answer has it.
			f.Value = func(s StepSummary) (float64, bool) {
				v, ok := s.Latency[key]
				return v, ok
			}
		}
		switch {
		case metric == "ttft" && strings.HasPrefix(stat, "p"),
			(metric == "itl" || metric == "e2el" || metric == "ttfc") && (stat == "median" || stat == high),
			metric == "tpot" && stat == "median":
			f.Table = ResultsTable
		}
		return f
	}
	lag := latency("client_lag", high)
	lag.Table, lag.OpenLoopOnly = ResultsTable, true

	out := []Figure{
		{Key: "achieved_request_rate", Name: "achieved_request_rate", Header: "sent/s", Unit: "req/s", Table: ResultsTable, Decimals: 2,
			Value: func(s StepSummary) (float64, bool) { return s.AchievedRate, s.RequestRate != 0 }},
		lag,
		{Key: "duration", Name: "duration", Unit: "s", Value: always(func(s StepSummary) float64 { return s.DurationSeconds })},
		{Key: "completed", Name: "requests", Header: "ok", Table: ResultsTable, Value: always(func(s StepSummary) float64 { return float64(s.Completed) })},
		{Key: "failed", Name: "requests", Header: "failed", Table: ResultsTable, Value: always(func(s StepSummary) float64 { return float64(s.Failed) })},
		{Key: "cut_off", Name: "cut_off", Header: "cut off", Table: ResultsTable,
			Value: func(s StepSummary) (float64, bool) { return float64(s.CutOff), s.CutOff > 0 }},
		{Key: "total_input_tokens", Name: "tokens", Unit: "tokens", Value: always(func(s StepSummary) float64 { return float64(s.TotalInputTokens) })},
		{Key: "total_output_tokens", Name: "tokens", Unit: "tokens", Value: always(func(s StepSummary) float64 { return float64(s.TotalOutputTokens) })},
		{Key: "total_reasoning_tokens", Name: "reasoning_tokens", Unit: "tokens", Value: reasoning(func(s StepSummary) float64 { return float64(s.ReasoningTokens) })},
		{Key: "total_answer_tokens", Name: "answer_tokens", Unit: "tokens", Value: reasoning(func(s StepSummary) float64 { return float64(s.AnswerTokens) })},
		{Key: "request_throughput", Name: "request_throughput", Header: "req/s", Unit: "req/s", Table: ResultsTable, Decimals: 2, Compare: true,
			Value: always(func(s StepSummary) float64 { return s.RequestThroughput })},
		{Key: "output_throughput", Name: "output_throughput", Header: "out tok/s", Unit: "tok/s", Table: ResultsTable, Decimals: 1, Compare: true,
			Value: always(func(s StepSummary) float64 { return s.OutputThroughput })},
		{Key: "total_token_throughput", Name: "total_token_throughput", Unit: "tok/s", Value: always(func(s StepSummary) float64 { return s.TotalTokenThroughput })},
		{Key: "output_throughput_per_user", Name: "output_throughput_per_user", Header: "tok/s/user", Unit: "tok/s", Table: ResultsTable, Decimals: 1,
			Value: always(func(s StepSummary) float64 { return s.OutputThroughputPerUser })},
		{Key: "max_output_tokens_per_s", Name: "max_output_tokens_per_s", Unit: "tok/s", Value: always(func(s StepSummary) float64 { return s.MaxOutputTokensPerSec })},
		{Key: "max_concurrent_requests", Name: "max_concurrent_requests", Value: always(func(s StepSummary) float64 { return float64(s.MaxConcurrentRequests) })},
	}
	// Every statistic of every latency metric goes to JSON and CSV; the
	// table shows the ones a reader of vLLM's output looks for.
	for _, m := range []string{"ttft", "ttfc", "itl", "tpot", "e2el", "client_queue_time", "client_lag"} {
		for _, st := range stats {
			if f := latency(m, st); f.Key != lag.Key {
				out = append(out, f)
			}
		}
	}
	return append(append(out,
		Figure{Key: "request_goodput", Name: "request_goodput", Header: "goodput req/s", Unit: "req/s", Table: ResultsTable, Decimals: 2,
			Value: ptr(func(s StepSummary) *float64 { return s.RequestGoodput })},
		Figure{Key: "good_percent", Name: "good_percent", Header: "good %", Unit: "%", Table: ResultsTable, Decimals: 1,
			Value: ptr(func(s StepSummary) *float64 { return s.GoodPercent })},
		Figure{Key: "output_tokens_from_usage", Name: "token_sources", Value: always(func(s StepSummary) float64 { return float64(s.TokenSources["usage"]) })},
		Figure{Key: "output_tokens_from_chunks", Name: "token_sources", Value: always(func(s StepSummary) float64 { return float64(s.TokenSources["chunks"]) })},
		Figure{Key: "token_sources_disagree", Name: "token_sources", Value: always(func(s StepSummary) float64 { return float64(s.TokenSourcesDisagree) })},
		Figure{Key: "usage_rejected", Name: "usage_rejected",
			Value: func(s StepSummary) (float64, bool) { return float64(s.UsageRejected), s.UsageRejected > 0 }},
		Figure{Key: "requests_over_max_tokens", Name: "requests_over_max_tokens",
			Value: func(s StepSummary) (float64, bool) { return float64(s.OverMaxTokens), s.OverMaxTokens > 0 }},
		Figure{Key: "reasoning_tokens_from_usage", Name: "reasoning_tokens",
			Value: reasoning(func(s StepSummary) float64 { return float64(s.ReasoningFromUsage) })},
		Figure{Key: "no_answer_requests", Name: "no_answer",
			Value: reasoning(func(s StepSummary) float64 { return float64(s.NoAnswer) })},
		Figure{Key: "no_answer_pct", Name: "no_answer", Unit: "%",
			Value: reasoning(func(s StepSummary) float64 { return 100 * float64(s.NoAnswer) / float64(max(s.Completed, 1)) })},
	), telemetryFigures...)
}

// reasoning reads a figure that only a step with reasoning has.
func reasoning(f func(StepSummary) float64) func(StepSummary) (float64, bool) {
	return func(s StepSummary) (float64, bool) { return f(s), s.ReasoningTokens > 0 }
}

func ptr(f func(StepSummary) *float64) func(StepSummary) (float64, bool) {
	return func(s StepSummary) (float64, bool) { return value(f(s)) }
}

// telemetryFigures are what the server's metrics, its GPUs and its price
// said of a step.
var telemetryFigures = []Figure{
	{Key: "server_generation_tokens", Name: "server_generation_tokens", Header: "srv gen tok", Unit: "tokens", Table: TelemetryTable,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) { return value(t.GenerationTokens) })},
	{Key: "server_running_max", Name: "server_running_max", Header: "running max", Table: TelemetryTable,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) { return gaugeMax(t.Running, 1) })},
	{Key: "server_waiting_max", Name: "server_waiting_max", Header: "waiting max", Table: TelemetryTable,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) { return gaugeMax(t.Waiting, 1) })},
	{Key: "server_kv_cache_usage_max_pct", Name: "server_kv_cache_usage_max_pct", Header: "KV max %", Unit: "%", Table: TelemetryTable, Decimals: 1,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) { return gaugeMax(t.KVCacheUsage, 100) })},
	{Key: "server_prefix_cache_hit_rate_pct", Name: "server_prefix_cache_hit_rate", Header: "prefix hit %", Unit: "%", Table: TelemetryTable, Decimals: 1,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) {
			v, ok := value(t.PrefixCacheHitRate)
			return 100 * v, ok
		})},
	{Key: "server_preemptions", Name: "server_preemptions", Header: "preempt", Table: TelemetryTable,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) { return value(t.Preemptions) })},
	{Key: "server_ttft_ms_mean", Name: "server_ttft_ms_mean", Header: "srv TTFT mean", Unit: "ms", Table: TelemetryTable, Decimals: 2,
		Value: fromServer(func(t telemetry.ReplicaStats) (float64, bool) {
			if t.TTFT == nil {
				return 0, false
			}
			return value(t.TTFT.Mean)
		})},
	{Key: "gpu_util_pct_mean", Name: "gpu_util_pct_mean", Header: "GPU %", Unit: "%", Table: TelemetryTable, Decimals: 1,
		Value: fromGPU(func(g telemetry.GPUStats) (float64, bool) { return value(g.UtilizationPctMean) })},
	{Key: "gpu_memory_used_gib_max", Name: "gpu_memory_used_gib_max", Header: "GPU mem GiB", Unit: "GiB", Table: TelemetryTable, Decimals: 1,
		Value: fromGPU(func(g telemetry.GPUStats) (float64, bool) {
			v, ok := value(g.MemoryUsedMiBMax)
			return v / 1024, ok
		})},
	{Key: "gpu_power_w_mean", Name: "gpu_power_w", Header: "power W", Unit: "W", Table: TelemetryTable,
		Value: fromGPU(func(g telemetry.GPUStats) (float64, bool) { return value(g.PowerWMean) })},
	{Key: "gpu_energy_j", Name: "gpu_energy_j", Header: "energy J", Unit: "J", Table: TelemetryTable,
		Value: fromEnergy(func(e telemetry.Efficiency) (float64, bool) { return e.EnergyJ, true })},
	{Key: "j_per_output_token", Name: "j_per_output_token", Header: "J/tok", Unit: "J", Table: TelemetryTable, Decimals: 3,
		Value: fromEnergy(func(e telemetry.Efficiency) (float64, bool) { return value(e.JPerOutputToken) })},
	{Key: "wh_per_1000_requests", Name: "wh_per_1000_requests", Header: "Wh/1k req", Unit: "Wh", Table: TelemetryTable, Decimals: 2,
		Value: fromEnergy(func(e telemetry.Efficiency) (float64, bool) { return value(e.WhPer1000Requests) })},
	{Key: "cost_usd", Name: "cost_usd", Header: "cost $", Unit: "USD", Table: TelemetryTable, Decimals: 4,
		Value: ptr(func(s StepSummary) *float64 { return s.CostUSD })},
	{Key: "usd_per_million_output_tokens", Name: "usd_per_million_output_tokens", Header: "$/1M out tok", Unit: "USD", Table: TelemetryTable, Decimals: 2,
		Value: ptr(func(s StepSummary) *float64 { return s.USDPerMillionOutputTokens })},
	{Key: "server_token_ratio", Name: "server_token_ratio", Value: ptr(func(s StepSummary) *float64 { return s.ServerTokenRatio })},
	{Key: "gpu_power_w_max", Name: "gpu_power_w", Unit: "W",
		Value: fromGPU(func(g telemetry.GPUStats) (float64, bool) { return value(g.PowerWMax) })},
	{Key: "gpu_counter_energy_j", Name: "gpu_counter_energy_j", Unit: "J",
		Value: fromGPU(func(g telemetry.GPUStats) (float64, bool) { return value(g.CounterEnergyJ) })},
	{Key: "output_tokens_per_j", Name: "output_tokens_per_j",
		Value: fromEnergy(func(e telemetry.Efficiency) (float64, bool) { return value(e.OutputTokensPerJ) })},
	{Key: "price_per_hour_usd", Name: "price_per_hour_usd", Unit: "USD",
		Value: func(s StepSummary) (float64, bool) { return s.PricePerHour, s.PricePerHour > 0 }},
}

// value reads an optional figure.
func value(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// gaugeMax is a sampled gauge's largest value, scaled.
func gaugeMax(g *telemetry.GaugeStats, scale float64) (float64, bool) {
	if g == nil {
		return 0, false
	}
	return scale * g.Max, true
}

// fromServer, fromGPU and fromEnergy read a figure from what a step's
// telemetry found, where it found anything.
func fromServer(f func(telemetry.ReplicaStats) (float64, bool)) func(StepSummary) (float64, bool) {
	return func(s StepSummary) (float64, bool) {
		if s.ServerMetrics == nil {
			return 0, false
		}
		return f(s.ServerMetrics.Total)
	}
}

func fromGPU(f func(telemetry.GPUStats) (float64, bool)) func(StepSummary) (float64, bool) {
	return func(s StepSummary) (float64, bool) {
		if s.GPU == nil {
			return 0, false
		}
		return f(*s.GPU)
	}
}

func fromEnergy(f func(telemetry.Efficiency) (float64, bool)) func(StepSummary) (float64, bool) {
	return func(s StepSummary) (float64, bool) {
		if s.Energy == nil {
			return 0, false
		}
		return f(*s.Energy)
	}
}
