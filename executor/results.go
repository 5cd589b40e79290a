package executor

import (
	"strconv"
	"time"

	"github.com/benchform/benchform/executor/workload"
)

// StepSummary is one step's results, as stored in state and reported. Field
// meanings and the names of Latency keys follow vLLM's `bench serve` result
// JSON, so numbers can be put side by side with it.
type StepSummary struct {
	Server      string `json:"server"`
	Label       string `json:"label"`
	Concurrency int    `json:"concurrency"`
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

	// Percentiles are the percentiles reported for each latency metric.
	Percentiles []float64 `json:"percentiles"`
	// Latency holds, in milliseconds, mean_, median_, std_ and pNN_ of
	// ttft, tpot, itl and e2el: "p99_ttft_ms".
	Latency map[string]float64 `json:"latency_ms"`

	// TokenSources counts requests by where their output token count came
	// from: "usage" (the server's report) or "chunks" (counted events).
	TokenSources map[string]int `json:"token_sources"`
	// Errors are the distinct failure messages with their counts.
	Errors []ErrorCount `json:"errors,omitempty"`
}

// ErrorCount is one distinct failure message and how often it happened.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// LatencyMetrics are the latency metrics a summary reports, in vLLM's
// order.
var LatencyMetrics = []string{"ttft", "tpot", "itl", "e2el"}

// LatencyKey names a latency statistic as vLLM does: "mean", "median",
// "std" or a percentile such as 99 or 99.9.
func LatencyKey(stat string, metric string) string {
	return stat + "_" + metric + "_ms"
}

// PercentileStat names a percentile statistic: 99 → "p99", 99.9 → "p99.9".
func PercentileStat(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// Summarize turns a step's statistics into its summary.
func Summarize(step StepInfo, stats workload.Stats, percentiles []float64, hasSLO bool, status string) StepSummary {
	s := StepSummary{
		Server:                step.Server.String(),
		Label:                 step.Label,
		Concurrency:           step.Concurrency,
		Status:                status,
		Completed:             stats.Completed,
		Failed:                stats.Failed,
		DurationSeconds:       stats.Duration.Seconds(),
		TotalInputTokens:      stats.TotalInputTokens,
		TotalOutputTokens:     stats.TotalOutputTokens,
		RequestThroughput:     stats.RequestThroughput,
		OutputThroughput:      stats.OutputThroughput,
		TotalTokenThroughput:  stats.TotalTokenThroughput,
		MaxOutputTokensPerSec: stats.PeakOutputThroughput,
		MaxConcurrentRequests: stats.MaxConcurrency,
		Percentiles:           percentiles,
		Latency:               map[string]float64{},
		TokenSources:          map[string]int{},
	}
	if hasSLO {
		g, p := stats.RequestGoodput, stats.GoodPercent
		s.RequestGoodput, s.GoodPercent = &g, &p
	}
	for metric, d := range map[string]workload.Distribution{"ttft": stats.TTFT, "tpot": stats.TPOT, "itl": stats.ITL, "e2el": stats.E2EL} {
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
