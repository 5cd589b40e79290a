package executor

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/benchform/benchform/executor/telemetry"
	"github.com/benchform/benchform/executor/workload"
)

// StepSummary is one step's results, as stored in state and reported. Field
// meanings and the names of Latency keys follow vLLM's `bench serve` result
// JSON, so numbers can be put side by side with it.
type StepSummary struct {
	// Index is the step's place in its run, counting every server's.
	Index int `json:"step"`
	// Repeat counts, from 1, the repeats of a step that runs several
	// times in a row (load.repeat); 0 for a step that runs once.
	Repeat int    `json:"repeat,omitempty"`
	Server string `json:"server"`
	// ServerVersion is what the server said of its version, where its
	// engine states it.
	ServerVersion string `json:"server_version,omitempty"`
	Label         string `json:"label"`
	// Concurrency is a closed loop's number of workers, zero for an open
	// loop; RequestRate is an open loop's target rate, zero for a closed
	// loop, and AchievedRate the rate its requests were actually sent at.
	Concurrency    int     `json:"concurrency,omitempty"`
	RequestRate    Rate    `json:"request_rate,omitempty"`
	MaxConcurrency int     `json:"max_concurrency,omitempty"`
	AchievedRate   float64 `json:"achieved_request_rate"`
	// Timing is when the step's events counted as arrived: "kernel" (the
	// kernel's receive time of their last byte) or "read" (when the
	// client's read returned).
	Timing string `json:"timing,omitempty"`
	// Origin is the wall-clock instant every request's start counts from
	// (workload.Window.Origin): a request was sent at Origin plus its
	// start, which lines its records up with a server's own logs.
	Origin time.Time `json:"origin"`
	// Status is "completed", or "interrupted" when the step was cut short;
	// an interrupted step's figures cover the requests that finished.
	Status string `json:"status"`

	Completed            int     `json:"completed"`
	Failed               int     `json:"failed"`
	DurationSeconds      float64 `json:"duration"`
	TotalInputTokens     int     `json:"total_input_tokens"`
	TotalOutputTokens    int     `json:"total_output_tokens"`
	RequestThroughput    float64 `json:"request_throughput"`
	OutputThroughput     float64 `json:"output_throughput"`
	TotalTokenThroughput float64 `json:"total_token_throughput"`
	// RequestGoodput (requests per second meeting every SLO) and
	// GoodPercent are set only when the scenario has an slo block.
	RequestGoodput        *float64 `json:"request_goodput,omitempty"`
	GoodPercent           *float64 `json:"good_percent,omitempty"`
	MaxOutputTokensPerSec float64  `json:"max_output_tokens_per_s"`
	MaxConcurrentRequests int      `json:"max_concurrent_requests"`
	// OutputThroughputPerUser is Σ output tokens ÷ Σ E2EL: the rate one
	// stream sees, waiting for its first token included.
	OutputThroughputPerUser float64 `json:"output_throughput_per_user"`

	// Percentiles are the percentiles reported for each latency metric.
	Percentiles []float64 `json:"percentiles"`
	// Latency holds, in milliseconds, mean_, median_, std_ and pNN_ of each
	// of LatencyMetrics: "p99_ttft_ms"; and of "ttfc" for a step with
	// reasoning and an answer.
	Latency map[string]float64 `json:"latency_ms"`

	// ReasoningTokens and AnswerTokens split TotalOutputTokens between a
	// reasoning model's thinking and its answer; NoAnswer counts the
	// successful requests that produced no answer, ReasoningFromUsage
	// those whose split the server counted. All are zero for a step
	// without reasoning, which reports none of them.
	ReasoningTokens    int `json:"total_reasoning_tokens,omitempty"`
	AnswerTokens       int `json:"total_answer_tokens,omitempty"`
	NoAnswer           int `json:"no_answer,omitempty"`
	ReasoningFromUsage int `json:"reasoning_tokens_from_usage,omitempty"`

	// TokenSources counts requests by where their output token count came
	// from: "usage" (the server's report) or "chunks" (counted events).
	TokenSources map[string]int `json:"token_sources"`
	// TokenSourcesDisagree counts requests whose server usage and counted
	// tokens disagree.
	TokenSourcesDisagree int `json:"token_sources_disagree"`
	// UsageRejected counts requests whose usage count was not believed;
	// past SuspectShare of the successful ones, the step is Suspect.
	UsageRejected int  `json:"usage_rejected,omitempty"`
	Suspect       bool `json:"suspect,omitempty"`
	// OverMaxTokens counts requests that streamed more tokens than their
	// limit: the server ignored it.
	OverMaxTokens int `json:"requests_over_max_tokens,omitempty"`
	// CutOff counts requests still running when the step's duration and
	// drain had passed: in no other figure.
	CutOff int `json:"cut_off,omitempty"`
	// SLOMissed counts, by objective ("ttft", "tpot", "itl", "e2el", and
	// "failed" for requests that failed), the requests that missed it.
	SLOMissed map[string]int `json:"slo_missed,omitempty"`
	// Probe is set on the steps of a capacity search.
	Probe *ProbeInfo `json:"probe,omitempty"`
	// Errors are the distinct failure messages with their counts.
	Errors []ErrorCount `json:"errors,omitempty"`
	// Warnings say what makes the figures less trustworthy: a client that
	// fell behind its schedule, a prefix cache that may be warm.
	Warnings []string `json:"warnings,omitempty"`

	// ServerMetrics is what the server's own Prometheus metrics said of
	// the window, when they were scraped; ServerTokenRatio is the
	// server's generated tokens over the client's output tokens.
	ServerMetrics    *telemetry.ServerStats `json:"server_metrics,omitempty"`
	ServerTokenRatio *float64               `json:"server_token_ratio,omitempty"`
	// GPU is the window's GPU telemetry and Energy its efficiency, when
	// the server's GPUs could be read.
	GPU    *telemetry.GPUStats   `json:"gpu,omitempty"`
	Energy *telemetry.Efficiency `json:"energy,omitempty"`
	// PricePerHour is what the server's machine costs in USD; CostUSD what
	// the step cost at that price, and USDPerMillionOutputTokens that cost
	// spread over the output tokens.
	PricePerHour              float64  `json:"price_per_hour_usd,omitempty"`
	CostUSD                   *float64 `json:"cost_usd,omitempty"`
	USDPerMillionOutputTokens *float64 `json:"usd_per_million_output_tokens,omitempty"`
}

// Rate is a request rate in requests per second; +Inf, all requests at
// once, reads and writes as "inf" in JSON, which has no infinity.
type Rate float64

// IsInf reports whether the rate sends everything at once.
func (r Rate) IsInf() bool { return math.IsInf(float64(r), 1) }

func (r Rate) String() string {
	if r.IsInf() {
		return "inf"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64)
}

// MarshalJSON writes a number, or "inf".
func (r Rate) MarshalJSON() ([]byte, error) {
	if r.IsInf() {
		return []byte(`"inf"`), nil
	}
	return []byte(r.String()), nil
}

// UnmarshalJSON reads a number, or "inf".
func (r *Rate) UnmarshalJSON(b []byte) error {
	if string(b) == `"inf"` {
		*r = Rate(math.Inf(1))
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("request rate %s: want a number or \"inf\"", b)
	}
	*r = Rate(f)
	return nil
}

// ErrorCount is one distinct failure message and how often it happened.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// LatencyKey names a latency statistic as vLLM does: "mean", "median",
// "std" or a percentile such as 99 or 99.9.
func LatencyKey(stat string, metric string) string {
	return stat + "_" + metric + "_ms"
}

// PercentileStat names a percentile statistic: 99 → "p99", 99.9 → "p99.9".
func PercentileStat(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// SuspectShare is the share of a step's successful requests whose usage
// count may be rejected before the step is marked suspect: past it, the
// server's own counts are not to be trusted, and neither are figures that
// other servers' counts would give.
const SuspectShare = 0.05

// Summarize turns a step's statistics into its summary.
func Summarize(step StepInfo, stats workload.Stats, window workload.Window, percentiles []float64, hasSLO bool, status string) StepSummary {
	s := StepSummary{
		Index:                   step.Index,
		Repeat:                  step.Repeat,
		Server:                  step.Server.String(),
		Label:                   step.Label,
		Concurrency:             step.Concurrency,
		RequestRate:             Rate(step.Rate),
		MaxConcurrency:          step.MaxConcurrency,
		AchievedRate:            window.AchievedRate(),
		Origin:                  window.Origin,
		Status:                  status,
		Completed:               stats.Completed,
		Failed:                  stats.Failed,
		DurationSeconds:         stats.Duration.Seconds(),
		TotalInputTokens:        stats.TotalInputTokens,
		TotalOutputTokens:       stats.TotalOutputTokens,
		RequestThroughput:       stats.RequestThroughput,
		OutputThroughput:        stats.OutputThroughput,
		TotalTokenThroughput:    stats.TotalTokenThroughput,
		MaxOutputTokensPerSec:   stats.PeakOutputThroughput,
		MaxConcurrentRequests:   stats.MaxConcurrency,
		OutputThroughputPerUser: stats.OutputThroughputPerUser,
		TokenSourcesDisagree:    stats.TokenSourcesDisagree,
		OverMaxTokens:           stats.OverLimit,
		UsageRejected:           stats.UsageRejected,
		Suspect:                 float64(stats.UsageRejected) > SuspectShare*float64(stats.Completed),
		CutOff:                  stats.CutOff,
		Percentiles:             percentiles,
		Latency:                 map[string]float64{},
		TokenSources:            map[string]int{},
	}
	if hasSLO {
		g, p := stats.RequestGoodput, stats.GoodPercent
		s.RequestGoodput, s.GoodPercent = &g, &p
		s.SLOMissed = stats.Missed
	}
	metrics := map[string]workload.Distribution{
		"ttft": stats.TTFT, "tpot": stats.TPOT, "itl": stats.ITL, "e2el": stats.E2EL,
		"client_queue_time": stats.QueueTime, "client_lag": stats.Lag,
	}
	// Without reasoning the first answer token is the first token: a TTFC
	// would repeat TTFT in every result.
	if stats.ReasoningTokens > 0 {
		s.ReasoningTokens, s.AnswerTokens = stats.ReasoningTokens, stats.AnswerTokens
		s.NoAnswer, s.ReasoningFromUsage = stats.NoAnswer, stats.ReasoningFromUsage
		if stats.TTFC.Count > 0 {
			metrics["ttfc"] = stats.TTFC
		}
	}
	for metric, d := range metrics {
		s.Latency[LatencyKey("mean", metric)] = ms(d.Mean)
		s.Latency[LatencyKey("median", metric)] = ms(d.Median)
		s.Latency[LatencyKey("std", metric)] = ms(d.Std)
		for _, p := range d.Percentiles {
			s.Latency[LatencyKey(PercentileStat(p.P), metric)] = ms(p.Value)
		}
	}
	for src, n := range stats.TokenSources {
		s.TokenSources[string(src)] = n
	}
	for _, e := range stats.Errors {
		s.Errors = append(s.Errors, ErrorCount{Message: e.Message, Count: e.Count})
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
