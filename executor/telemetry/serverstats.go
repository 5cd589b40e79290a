package telemetry

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/benchform/benchform/engines"
)

// ServerStats describes one step as the server saw it. Counts are deltas
// between the scrapes before and after the step; gauges are statistics over
// the samples taken during it. Fields are nil or empty where the server does
// not expose the metric.
type ServerStats struct {
	// Info is the server's configuration as its metrics state it.
	Info ServerInfo `json:"info"`
	// Start and End are the times of the before and after scrapes.
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
	DurationS float64   `json:"duration_s"`
	// Complete is false when the before or after scrape is missing, in
	// which case no deltas are reported.
	Complete bool `json:"complete"`
	// AfterFromSample is true when the after scrape failed and the last
	// successful sample stood in for it, losing up to one interval.
	AfterFromSample bool `json:"after_from_sample,omitempty"`
	// Restarted is true when a counter went down (or a process start
	// time changed) within the window: the server restarted and the
	// deltas undercount. The run should be marked invalid.
	Restarted bool `json:"restarted"`
	// RestartEvidence names the families that went down.
	RestartEvidence []string `json:"restart_evidence,omitempty"`
	Samples         int      `json:"samples"`
	FailedScrapes   int      `json:"failed_scrapes"`
	// ScrapeLatencyMSMean and ScrapeLatencyMSMax cover the samples; a
	// scrape that takes long means a busy API server.
	ScrapeLatencyMSMean float64 `json:"scrape_latency_ms_mean"`
	ScrapeLatencyMSMax  float64 `json:"scrape_latency_ms_max"`
	// HTTPRequests is the change of http_requests_total by status class
	// ("2xx", ...), leaving out the scrapes themselves: the requests the
	// server saw, to set against those the client sent.
	HTTPRequests map[string]float64 `json:"http_requests_by_status,omitempty"`
	// Total sums the replicas: counts and histograms add; for gauges, each
	// sample's running and waiting are added across replicas and its KV
	// usage averaged, before the statistics are taken.
	Total ReplicaStats `json:"total"`
	// Replicas holds one entry per data-parallel replica, sorted, when
	// there are several; with one, Total is that replica.
	Replicas []ReplicaStats `json:"replicas,omitempty"`
}

// ReplicaStats are the statistics of one data-parallel replica of a server
// (Replica set) or of all of them (ServerStats.Total, Replica empty).
// Latency distributions are in milliseconds, approximated from histogram
// buckets.
type ReplicaStats struct {
	Replica string `json:"replica,omitempty"`

	// RequestsFinished counts finished requests. vLLM counts aborted
	// requests here too (finished_reason="abort").
	RequestsFinished *float64           `json:"requests_finished,omitempty"`
	FinishedByReason map[string]float64 `json:"finished_by_reason,omitempty"`
	RequestsAborted  *float64           `json:"requests_aborted,omitempty"`
	PromptTokens     *float64           `json:"prompt_tokens,omitempty"`
	GenerationTokens *float64           `json:"generation_tokens,omitempty"`
	// PromptTokS and GenerationTokS are the server's own throughput:
	// the token deltas over the window's duration.
	PromptTokS     *float64 `json:"prompt_tok_s,omitempty"`
	GenerationTokS *float64 `json:"generation_tok_s,omitempty"`
	// Preemptions are vLLM's preemptions or SGLang's retractions.
	Preemptions *float64 `json:"preemptions,omitempty"`
	// PrefixCacheQueries and PrefixCacheHits are in tokens (for SGLang,
	// prompt tokens and cached tokens); the hit rate is their ratio.
	PrefixCacheQueries *float64 `json:"prefix_cache_queries,omitempty"`
	PrefixCacheHits    *float64 `json:"prefix_cache_hits,omitempty"`
	PrefixCacheHitRate *float64 `json:"prefix_cache_hit_rate,omitempty"`

	SpecDecodeDrafts      *float64 `json:"spec_decode_drafts,omitempty"`
	SpecDecodeDraftTokens *float64 `json:"spec_decode_draft_tokens,omitempty"`
	SpecDecodeAccepted    *float64 `json:"spec_decode_accepted_tokens,omitempty"`
	// SpecDecodeAcceptanceRate is Δaccepted/Δdraft tokens and
	// SpecDecodeMeanAcceptance 1 + Δaccepted/Δdrafts, as vllm bench serve
	// computes them.
	SpecDecodeAcceptanceRate *float64 `json:"spec_decode_acceptance_rate,omitempty"`
	SpecDecodeMeanAcceptance *float64 `json:"spec_decode_mean_acceptance_length,omitempty"`

	Running *GaugeStats `json:"running,omitempty"`
	Waiting *GaugeStats `json:"waiting,omitempty"`
	// QueuedFraction is the share of samples with a request waiting; high
	// values mean the offered load exceeded capacity and latencies mostly
	// measure queueing.
	QueuedFraction *float64 `json:"queued_fraction,omitempty"`
	// KVCacheUsage is a fraction from 0 to 1.
	KVCacheUsage *GaugeStats `json:"kv_cache_usage,omitempty"`
	// KVCacheSaturatedFraction is the share of samples with KV usage at
	// or above KVSaturation.
	KVCacheSaturatedFraction *float64 `json:"kv_cache_saturated_fraction,omitempty"`
	// GenThroughput is SGLang's own decode throughput in tokens/s over
	// its last log interval, as sampled.
	GenThroughput *GaugeStats `json:"gen_throughput_tok_s,omitempty"`

	TTFT      *Distribution `json:"ttft_ms,omitempty"`
	ITL       *Distribution `json:"itl_ms,omitempty"`
	TPOT      *Distribution `json:"tpot_ms,omitempty"`
	E2E       *Distribution `json:"e2e_ms,omitempty"`
	Queue     *Distribution `json:"queue_ms,omitempty"`
	Prefill   *Distribution `json:"prefill_ms,omitempty"`
	Decode    *Distribution `json:"decode_ms,omitempty"`
	Inference *Distribution `json:"inference_ms,omitempty"`
	// IterationTokens is the distribution of tokens per engine step, a
	// proxy for batch size.
	IterationTokens *Distribution `json:"iteration_tokens,omitempty"`
}

// The figures of a ReplicaStats that are read from one quantity each, and
// add up over replicas: the one list that fills both a replica's and the
// total's.
var (
	counterFigures = []struct {
		q     engines.Quantity
		field func(*ReplicaStats) **float64
	}{
		{engines.PromptTokens, func(s *ReplicaStats) **float64 { return &s.PromptTokens }},
		{engines.GenerationTokens, func(s *ReplicaStats) **float64 { return &s.GenerationTokens }},
		{engines.Preemptions, func(s *ReplicaStats) **float64 { return &s.Preemptions }},
		{engines.PrefixCacheQueries, func(s *ReplicaStats) **float64 { return &s.PrefixCacheQueries }},
		{engines.PrefixCacheHits, func(s *ReplicaStats) **float64 { return &s.PrefixCacheHits }},
		{engines.SpecDrafts, func(s *ReplicaStats) **float64 { return &s.SpecDecodeDrafts }},
		{engines.SpecDraftTokens, func(s *ReplicaStats) **float64 { return &s.SpecDecodeDraftTokens }},
		{engines.SpecAcceptedTokens, func(s *ReplicaStats) **float64 { return &s.SpecDecodeAccepted }},
		{engines.RequestsFinished, func(s *ReplicaStats) **float64 { return &s.RequestsFinished }},
		{engines.RequestsAborted, func(s *ReplicaStats) **float64 { return &s.RequestsAborted }},
	}
	histogramFigures = []struct {
		q     engines.Quantity
		scale float64 // to the unit of the field's JSON key
		field func(*ReplicaStats) **Distribution
	}{
		{engines.TTFT, 1000, func(s *ReplicaStats) **Distribution { return &s.TTFT }},
		{engines.ITL, 1000, func(s *ReplicaStats) **Distribution { return &s.ITL }},
		{engines.TPOT, 1000, func(s *ReplicaStats) **Distribution { return &s.TPOT }},
		{engines.E2E, 1000, func(s *ReplicaStats) **Distribution { return &s.E2E }},
		{engines.QueueTime, 1000, func(s *ReplicaStats) **Distribution { return &s.Queue }},
		{engines.PrefillTime, 1000, func(s *ReplicaStats) **Distribution { return &s.Prefill }},
		{engines.DecodeTime, 1000, func(s *ReplicaStats) **Distribution { return &s.Decode }},
		{engines.InferenceTime, 1000, func(s *ReplicaStats) **Distribution { return &s.Inference }},
		{engines.IterationTokens, 1, func(s *ReplicaStats) **Distribution { return &s.IterationTokens }},
	}
)

// KVSaturation is the KV-cache usage from which a sample counts as
// saturated: new sequences are about to wait or be preempted.
const KVSaturation = 0.95

// Distribution summarises a histogram delta, in the unit its JSON key names
// (ms for latencies, tokens for iteration_tokens).
type Distribution struct {
	Count float64 `json:"count"`
	// Mean is Δsum/Δcount; absent when the histogram has no _sum.
	Mean *float64 `json:"mean,omitempty"`
	// P50, P90 and P99 interpolate inside buckets, so they are only as
	// fine as the bucket bounds.
	P50 *float64 `json:"p50,omitempty"`
	P90 *float64 `json:"p90,omitempty"`
	P99 *float64 `json:"p99,omitempty"`
	// AboveLastBound counts observations beyond LastBound, the last
	// finite bucket bound; a quantile equal to LastBound while
	// AboveLastBound > 0 means "at least LastBound".
	AboveLastBound float64  `json:"above_last_bound,omitempty"`
	LastBound      *float64 `json:"last_bound,omitempty"`
}

// GaugeStats summarises a sampled gauge.
type GaugeStats struct {
	Samples int     `json:"samples"`
	Mean    float64 `json:"mean"`
	P50     float64 `json:"p50"`
	Max     float64 `json:"max"`
}

// TokenMismatch compares the server's generated-token delta with the output
// tokens the client counted. ratio is server/client; flagged is true when
// they differ by more than 2 %, which means the client miscounts, the
// window missed requests, or someone else used the server.
func TokenMismatch(serverGenerated, clientOutput int) (ratio float64, flagged bool) {
	switch {
	case clientOutput == 0 && serverGenerated == 0:
		return 1, false
	case clientOutput == 0:
		return math.Inf(1), true
	}
	diff := serverGenerated - clientOutput
	if diff < 0 {
		diff = -diff
	}
	// In integers, so that exactly 2 % is not flagged by a rounding error.
	return float64(serverGenerated) / float64(clientOutput), 50*diff > clientOutput
}

// Stats reduces the window to the step's statistics.
func (w ServerWindow) Stats() ServerStats {
	before, after := w.Before, w.After
	st := ServerStats{
		Samples:         len(w.Samples),
		FailedScrapes:   w.FailedScrapes,
		AfterFromSample: w.AfterFromSample,
	}
	switch {
	case after != nil:
		st.Info = after.Info()
	case before != nil:
		st.Info = before.Info()
	}
	if before != nil {
		st.Start = before.Time
	}
	if after != nil {
		st.End = after.Time
	}
	if before != nil && after != nil {
		st.Complete = true
		st.DurationS = after.Time.Sub(before.Time).Seconds()
	}
	for i, s := range w.Samples {
		st.ScrapeLatencyMSMean += (s.ScrapeLatencyMS - st.ScrapeLatencyMSMean) / float64(i+1)
		st.ScrapeLatencyMSMax = max(st.ScrapeLatencyMSMax, s.ScrapeLatencyMS)
	}

	replicas := map[string]*ReplicaStats{}
	replica := func(r string) *ReplicaStats {
		if replicas[r] == nil {
			replicas[r] = &ReplicaStats{Replica: r}
		}
		return replicas[r]
	}
	if st.Complete {
		st.RestartEvidence = append(restartEvidence(before, after), sampleRestarts(w.Samples)...)
		st.Restarted = len(st.RestartEvidence) > 0
		st.HTTPRequests = httpDelta(before, after)
		addCounters(before, after, replica)
		addHistograms(before, after, replica)
	}
	addGauges(w.Samples, replica)

	for _, k := range slices.Sorted(maps.Keys(replicas)) {
		rates(replicas[k])
		st.Replicas = append(st.Replicas, *replicas[k])
	}
	st.Total = total(st.Replicas, w.Samples, before, after)
	if st.DurationS > 0 {
		for i := range st.Replicas {
			throughput(&st.Replicas[i], st.DurationS)
		}
		throughput(&st.Total, st.DurationS)
	}
	if len(st.Replicas) == 1 {
		st.Replicas = nil
	}
	return st
}

// total adds the replicas up. Counts add; rates are recomputed from the
// summed counts; histograms add bucket by bucket; gauges are recombined
// per sample.
func total(replicas []ReplicaStats, samples []ServerSample, before, after *Scrape) ReplicaStats {
	var t ReplicaStats
	for _, r := range replicas {
		for _, f := range counterFigures {
			if v := *f.field(&r); v != nil {
				dst := f.field(&t)
				if *dst == nil {
					*dst = new(0.0)
				}
				**dst += *v
			}
		}
		for k, v := range r.FinishedByReason {
			if t.FinishedByReason == nil {
				t.FinishedByReason = map[string]float64{}
			}
			t.FinishedByReason[k] += v
		}
	}
	rates(&t)

	if before != nil && after != nil {
		for _, f := range histogramFigures {
			d, ok := histDeltaByReplica(before, after, f.q)
			if !ok {
				continue
			}
			var sum Hist
			for _, k := range slices.Sorted(maps.Keys(d)) {
				sum = histAdd(sum, d[k])
			}
			*f.field(&t) = distribution(sum, f.scale)
		}
	}
	fillTotalGauges(&t, samples)
	return t
}

func throughput(s *ReplicaStats, seconds float64) {
	if s.PromptTokens != nil {
		s.PromptTokS = num(*s.PromptTokens / seconds)
	}
	if s.GenerationTokens != nil {
		s.GenerationTokS = num(*s.GenerationTokens / seconds)
	}
}

// rates derives the ratios of a ReplicaStats from its counts.
func rates(s *ReplicaStats) {
	if s.PrefixCacheQueries != nil && s.PrefixCacheHits != nil && *s.PrefixCacheQueries > 0 {
		s.PrefixCacheHitRate = num(*s.PrefixCacheHits / *s.PrefixCacheQueries)
	}
	if s.SpecDecodeDraftTokens != nil && s.SpecDecodeAccepted != nil && *s.SpecDecodeDraftTokens > 0 {
		s.SpecDecodeAcceptanceRate = num(*s.SpecDecodeAccepted / *s.SpecDecodeDraftTokens)
	}
	if s.SpecDecodeDrafts != nil && s.SpecDecodeAccepted != nil && *s.SpecDecodeDrafts > 0 {
		s.SpecDecodeMeanAcceptance = num(1 + *s.SpecDecodeAccepted / *s.SpecDecodeDrafts)
	}
}

func sumOf(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
