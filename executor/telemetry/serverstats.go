package telemetry

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
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
	// Total sums the engines: counts and histograms add; for gauges, each
	// sample's running and waiting are added across engines and its KV
	// usage averaged, before the statistics are taken.
	Total EngineStats `json:"total"`
	// Engines holds one entry per engine label, sorted, when there are
	// several (data-parallel vLLM); with one engine, Total is that
	// engine.
	Engines []EngineStats `json:"engines,omitempty"`
}

// EngineStats are the statistics of one engine (Engine set) or of all of
// them (ServerStats.Total, Engine empty). Latency distributions are in
// milliseconds, approximated from histogram buckets.
type EngineStats struct {
	Engine string `json:"engine,omitempty"`

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

// ServerInfo is the server's configuration as stated by its metrics, worth
// recording once per run.
type ServerInfo struct {
	// Kind is "vllm" or "sglang", from the family prefixes.
	Kind  string `json:"kind,omitempty"`
	Model string `json:"model,omitempty"`
	// Engines counts distinct engine labels.
	Engines      int      `json:"engines,omitempty"`
	BlockSize    *float64 `json:"block_size,omitempty"`
	NumGPUBlocks *float64 `json:"num_gpu_blocks,omitempty"`
	// KVCapacityTokens is num_gpu_blocks × block_size (vLLM) or
	// max_total_num_tokens (SGLang), summed over engines.
	KVCapacityTokens     *float64 `json:"kv_capacity_tokens,omitempty"`
	PrefixCaching        *bool    `json:"prefix_caching,omitempty"`
	CacheDType           string   `json:"cache_dtype,omitempty"`
	GPUMemoryUtilization *float64 `json:"gpu_memory_utilization,omitempty"`
	EngineStartupS       *float64 `json:"engine_startup_s,omitempty"`
	EngineLoadWeightsS   *float64 `json:"engine_load_weights_s,omitempty"`
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

// Info reads the server's configuration from a scrape.
func (s Scrape) Info() ServerInfo {
	var info ServerInfo
	var vllm, sglang int
	names := slices.Sorted(maps.Keys(s.Families))
	engines := map[string]bool{}
	for _, n := range names {
		isV, isS := strings.HasPrefix(n, "vllm:"), strings.HasPrefix(n, "sglang:")
		if isV {
			vllm++
		}
		if isS {
			sglang++
		}
		if !isV && !isS {
			continue
		}
		for _, ser := range s.Families[n].Series {
			if m := ser.Labels["model_name"]; m != "" && info.Model == "" {
				info.Model = m
			}
			engines[engineKey(ser.Labels)] = true
		}
	}
	switch {
	case vllm > 0 && vllm >= sglang:
		info.Kind = "vllm"
	case sglang > 0:
		info.Kind = "sglang"
	}
	if len(engines) > 0 {
		info.Engines = len(engines)
	}
	if f, ok := s.Family(cacheConfigNames...); ok {
		var blocks, capacity float64
		var haveBlocks, haveCapacity bool
		for _, ser := range f.Series {
			l := ser.Labels
			bs, errBS := strconv.ParseFloat(l["block_size"], 64)
			if errBS == nil && info.BlockSize == nil {
				info.BlockSize = num(bs)
			}
			if nb, err := strconv.ParseFloat(l["num_gpu_blocks"], 64); err == nil {
				blocks += nb
				haveBlocks = true
				if errBS == nil {
					capacity += nb * bs
					haveCapacity = true
				}
			}
			if v, err := strconv.ParseBool(l["enable_prefix_caching"]); err == nil && info.PrefixCaching == nil {
				info.PrefixCaching = new(v)
			}
			if v := l["cache_dtype"]; v != "" && info.CacheDType == "" {
				info.CacheDType = v
			}
			if v, err := strconv.ParseFloat(l["gpu_memory_utilization"], 64); err == nil && info.GPUMemoryUtilization == nil {
				info.GPUMemoryUtilization = num(v)
			}
		}
		if haveBlocks {
			info.NumGPUBlocks = num(blocks)
		}
		if haveCapacity {
			info.KVCapacityTokens = num(capacity)
		}
	}
	if info.KVCapacityTokens == nil {
		if v, ok := gaugeTotal(s, maxTotalTokenNames); ok {
			info.KVCapacityTokens = num(v)
		}
	}
	if v, ok := gaugeTotal(s, startupTimeNames); ok {
		info.EngineStartupS = num(v)
	}
	if v, ok := gaugeTotal(s, loadWeightsTimeNames); ok {
		info.EngineLoadWeightsS = num(v)
	}
	return info
}

// gaugeTotal reads a gauge as gaugeByEngine does and sums the engines.
func gaugeTotal(s Scrape, names []string) (float64, bool) {
	m := gaugeByEngine(s, names)
	if len(m) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range m {
		sum += v
	}
	return sum, true
}

// gaugeByEngine reads a gauge per engine. Several series of one engine
// (SGLang's tp_rank/pp_rank, prometheus_client's per-process gauges) report
// the same scheduler, so the largest is taken, not the sum.
func gaugeByEngine(s Scrape, names []string) map[string]float64 {
	f, ok := s.Family(names...)
	if !ok {
		return nil
	}
	out := map[string]float64{}
	for _, ser := range f.Series {
		if !finite(ser.Value) {
			continue
		}
		e := engineKey(ser.Labels)
		if v, ok := out[e]; !ok || ser.Value > v {
			out[e] = ser.Value
		}
	}
	return out
}

// counterByEngine sums a counter's series per engine and, when split names
// a label, per value of that label (the first of split present on a
// series). name is the family found, so that the other scrape reads the
// same spelling.
func counterByEngine(s *Scrape, name string, split []string) map[string]map[string]float64 {
	if s == nil {
		return nil
	}
	f, ok := s.Families[name]
	if !ok {
		return nil
	}
	out := map[string]map[string]float64{}
	for _, ser := range f.Series {
		if !finite(ser.Value) {
			continue
		}
		e := engineKey(ser.Labels)
		sub := ""
		for _, l := range split {
			if v, ok := ser.Labels[l]; ok {
				sub = v
				break
			}
		}
		if out[e] == nil {
			out[e] = map[string]float64{}
		}
		out[e][sub] += ser.Value
	}
	return out
}

// histByEngine adds a histogram's series per engine.
func histByEngine(s *Scrape, name string) map[string]Hist {
	if s == nil {
		return nil
	}
	f, ok := s.Families[name]
	if !ok {
		return nil
	}
	out := map[string]Hist{}
	for _, ser := range f.Series {
		if ser.Hist == nil || !finiteHist(*ser.Hist) {
			continue
		}
		h := cloneHist(*ser.Hist)
		if !finite(h.Sum) {
			h.Sum, h.HasSum = 0, false
		}
		e := engineKey(ser.Labels)
		out[e] = histAdd(out[e], h)
	}
	return out
}

// resolve finds the spelling of a family the window has, preferring the
// after scrape, where new series are most likely to exist.
func resolve(before, after *Scrape, names []string) (string, bool) {
	for _, s := range []*Scrape{after, before} {
		if s == nil {
			continue
		}
		if f, ok := s.Family(names...); ok {
			return f.Name, true
		}
	}
	return "", false
}

// counterDelta is after − before per engine and split value. A counter
// that went down counts from zero, the best lower bound after a restart
// (which restartEvidence reports).
func counterDelta(before, after *Scrape, names, split []string) (map[string]map[string]float64, bool) {
	name, ok := resolve(before, after, names)
	if !ok {
		return nil, false
	}
	b, a := counterByEngine(before, name, split), counterByEngine(after, name, split)
	out := map[string]map[string]float64{}
	for e, subs := range a {
		out[e] = map[string]float64{}
		for sub, v := range subs {
			d := v - b[e][sub]
			if d < 0 {
				d = v
			}
			out[e][sub] = d
		}
	}
	for e := range b {
		if out[e] == nil {
			out[e] = map[string]float64{}
		}
	}
	return out, true
}

func histDeltaByEngine(before, after *Scrape, names []string) (map[string]Hist, bool) {
	name, ok := resolve(before, after, names)
	if !ok {
		return nil, false
	}
	b, a := histByEngine(before, name), histByEngine(after, name)
	out := map[string]Hist{}
	for e, h := range a {
		var prev *Hist
		if p, ok := b[e]; ok {
			prev = &p
		}
		d, down := histDelta(prev, &h)
		if down {
			d = cloneHist(h)
		}
		out[e] = d
	}
	return out, true
}

// restartEvidence names the counter and histogram families that went down
// between two scrapes, and process_start_time_seconds if it changed.
func restartEvidence(before, after *Scrape) []string {
	if before == nil || after == nil {
		return nil
	}
	var ev []string
	for name, bf := range before.Families {
		if !isCumulative(bf) {
			continue
		}
		// Keyed by labels on both sides, the last of any duplicates
		// winning, so that a repeated line cannot read as a decrease.
		was, now := bySignature(bf.Series), bySignature(after.Families[name].Series)
		for sig, bs := range was {
			as, ok := now[sig]
			if seriesWentDown(bs, as, ok) {
				ev = append(ev, name)
				break
			}
		}
	}
	if name, ok := resolve(before, after, processStartNames); ok {
		b, a := before.Families[name], after.Families[name]
		if len(b.Series) > 0 && len(a.Series) > 0 && b.Series[0].Value != a.Series[0].Value {
			ev = append(ev, name)
		}
	}
	sort.Strings(ev)
	return ev
}

func bySignature(series []Series) map[string]Series {
	m := make(map[string]Series, len(series))
	for _, s := range series {
		m[signature(s.Labels)] = s
	}
	return m
}

func isCumulative(f Family) bool {
	switch f.Type {
	case Counter, Histogram, Summary:
		return true
	case Untyped:
		return strings.HasSuffix(f.Name, "_total")
	}
	return false
}

func seriesWentDown(before, after Series, present bool) bool {
	if before.Hist != nil {
		if !present || after.Hist == nil {
			return before.Hist.Count > 0
		}
		_, down := histDelta(before.Hist, after.Hist)
		return down
	}
	if !present {
		return before.Value > 0
	}
	return after.Value < before.Value
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

	engines := map[string]*EngineStats{}
	engine := func(e string) *EngineStats {
		if engines[e] == nil {
			engines[e] = &EngineStats{Engine: e}
		}
		return engines[e]
	}
	if st.Complete {
		st.RestartEvidence = append(restartEvidence(before, after), sampleRestarts(w.Samples)...)
		st.Restarted = len(st.RestartEvidence) > 0
		st.HTTPRequests = httpDelta(before, after)
		addCounters(before, after, engine)
		addHistograms(before, after, engine)
	}
	addGauges(w.Samples, before, after, engine)

	keys := slices.Sorted(maps.Keys(engines))
	for _, k := range keys {
		rates(engines[k])
		st.Engines = append(st.Engines, *engines[k])
	}
	st.Total = total(st.Engines, w.Samples, before, after)
	if st.DurationS > 0 {
		for i := range st.Engines {
			throughput(&st.Engines[i], st.DurationS)
		}
		throughput(&st.Total, st.DurationS)
	}
	if len(st.Engines) == 1 {
		st.Engines = nil
	}
	return st
}

// sampleRestarts finds token counters that went down from one sample to
// the next: a restart in the middle of the window that the after scrape
// may no longer show.
func sampleRestarts(samples []ServerSample) []string {
	last := map[string][2]float64{}
	for _, s := range samples {
		for _, e := range s.Engines {
			prev, seen := last[e.Engine]
			cur := [2]float64{deref(e.PromptTokens), deref(e.GenerationTokens)}
			if seen && (cur[0] < prev[0] || cur[1] < prev[1]) {
				return []string{"samples: token counters went down"}
			}
			last[e.Engine] = cur
		}
	}
	return nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func httpDelta(before, after *Scrape) map[string]float64 {
	name, ok := resolve(before, after, httpRequestNames)
	if !ok {
		return nil
	}
	sum := func(s *Scrape) map[string]float64 {
		out := map[string]float64{}
		for _, ser := range s.Families[name].Series {
			if ser.Labels["handler"] == "/metrics" || !finite(ser.Value) {
				continue
			}
			out[ser.Labels["status"]] += ser.Value
		}
		return out
	}
	b, a := sum(before), sum(after)
	out := map[string]float64{}
	for k, v := range a {
		if d := v - b[k]; d > 0 {
			out[k] = d
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// one sums a counter delta's split values per engine.
func one(m map[string]map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for e, subs := range m {
		for _, v := range subs {
			out[e] += v
		}
	}
	return out
}

func addCounters(before, after *Scrape, engine func(string) *EngineStats) {
	set := func(names []string, field func(*EngineStats) **float64) {
		d, ok := counterDelta(before, after, names, nil)
		if !ok {
			return
		}
		for e, v := range one(d) {
			*field(engine(e)) = num(v)
		}
	}
	set(promptTokenNames, func(s *EngineStats) **float64 { return &s.PromptTokens })
	set(generationTokenNames, func(s *EngineStats) **float64 { return &s.GenerationTokens })
	set(preemptionNames, func(s *EngineStats) **float64 { return &s.Preemptions })
	set(prefixQueryNames, func(s *EngineStats) **float64 { return &s.PrefixCacheQueries })
	set(prefixHitNames, func(s *EngineStats) **float64 { return &s.PrefixCacheHits })
	set(specDraftNames, func(s *EngineStats) **float64 { return &s.SpecDecodeDrafts })
	set(specDraftTokenNames, func(s *EngineStats) **float64 { return &s.SpecDecodeDraftTokens })
	set(specAcceptedNames, func(s *EngineStats) **float64 { return &s.SpecDecodeAccepted })
	set(sglangFinishedNames, func(s *EngineStats) **float64 { return &s.RequestsFinished })
	set(sglangAbortedNames, func(s *EngineStats) **float64 { return &s.RequestsAborted })

	if d, ok := counterDelta(before, after, successNames, finishLabels); ok {
		for e, subs := range d {
			s := engine(e)
			s.FinishedByReason = subs
			var n float64
			for _, v := range subs {
				n += v
			}
			s.RequestsFinished = num(n)
			s.RequestsAborted = num(subs["abort"])
		}
	}
	// SGLang has no queries counter: every prompt token is looked up in
	// the radix cache.
	if d, ok := counterDelta(before, after, cachedTokenNames, nil); ok {
		for e, v := range one(d) {
			s := engine(e)
			if s.PrefixCacheHits == nil && s.PromptTokens != nil {
				s.PrefixCacheHits = num(v)
				s.PrefixCacheQueries = num(*s.PromptTokens)
			}
		}
	}
	if d, ok := histDeltaByEngine(before, after, retractionNames); ok {
		for e, h := range d {
			s := engine(e)
			if s.Preemptions == nil && h.HasSum {
				s.Preemptions = num(h.Sum)
			}
		}
	}
}

func addHistograms(before, after *Scrape, engine func(string) *EngineStats) {
	set := func(names []string, scale float64, field func(*EngineStats) **Distribution) {
		d, ok := histDeltaByEngine(before, after, names)
		if !ok {
			return
		}
		for e, h := range d {
			*field(engine(e)) = distribution(h, scale)
		}
	}
	const ms = 1000
	set(ttftNames, ms, func(s *EngineStats) **Distribution { return &s.TTFT })
	set(itlNames, ms, func(s *EngineStats) **Distribution { return &s.ITL })
	set(tpotNames, ms, func(s *EngineStats) **Distribution { return &s.TPOT })
	set(e2eNames, ms, func(s *EngineStats) **Distribution { return &s.E2E })
	set(queueNames, ms, func(s *EngineStats) **Distribution { return &s.Queue })
	set(prefillNames, ms, func(s *EngineStats) **Distribution { return &s.Prefill })
	set(decodeNames, ms, func(s *EngineStats) **Distribution { return &s.Decode })
	set(inferenceNames, ms, func(s *EngineStats) **Distribution { return &s.Inference })
	set(iterationNames, 1, func(s *EngineStats) **Distribution { return &s.IterationTokens })
}

// gaugeSamples picks the samples gauges are computed from: those taken
// during the window. The before and after scrapes bracket the load and
// would pull every mean towards idle, so they count only when the window
// had no sample at all.
func gaugeSamples(samples []ServerSample, before, after *Scrape) []ServerSample {
	if len(samples) > 0 {
		return samples
	}
	var out []ServerSample
	for _, s := range []*Scrape{before, after} {
		if s != nil {
			out = append(out, SampleOf(*s))
		}
	}
	return out
}

func addGauges(samples []ServerSample, before, after *Scrape, engine func(string) *EngineStats) {
	type series struct{ running, waiting, kv, gen []float64 }
	by := map[string]*series{}
	for _, s := range gaugeSamples(samples, before, after) {
		for _, e := range s.Engines {
			if by[e.Engine] == nil {
				by[e.Engine] = &series{}
			}
			g := by[e.Engine]
			appendIf(&g.running, e.Running)
			appendIf(&g.waiting, e.Waiting)
			appendIf(&g.kv, e.KVCacheUsage)
			appendIf(&g.gen, e.GenThroughput)
		}
	}
	for e, g := range by {
		if len(g.running)+len(g.waiting)+len(g.kv)+len(g.gen) == 0 {
			continue
		}
		fillGauges(engine(e), g.running, g.waiting, g.kv, g.gen)
	}
}

func fillGauges(s *EngineStats, running, waiting, kv, gen []float64) {
	s.Running = gaugeStats(running)
	s.Waiting = gaugeStats(waiting)
	s.KVCacheUsage = gaugeStats(kv)
	s.GenThroughput = gaugeStats(gen)
	if len(waiting) > 0 {
		s.QueuedFraction = num(fraction(waiting, func(v float64) bool { return v > 0 }))
	}
	if len(kv) > 0 {
		s.KVCacheSaturatedFraction = num(fraction(kv, func(v float64) bool { return v >= KVSaturation }))
	}
}

func appendIf(xs *[]float64, p *float64) {
	if p != nil && !math.IsNaN(*p) {
		*xs = append(*xs, *p)
	}
}

func fraction(xs []float64, pred func(float64) bool) float64 {
	n := 0
	for _, x := range xs {
		if pred(x) {
			n++
		}
	}
	return float64(n) / float64(len(xs))
}

func gaugeStats(xs []float64) *GaugeStats {
	if len(xs) == 0 {
		return nil
	}
	for _, x := range xs {
		if !finite(x) {
			return nil
		}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	g := &GaugeStats{Samples: len(s), Max: s[len(s)-1]}
	var sum float64
	for _, x := range s {
		sum += x
	}
	g.Mean = sum / float64(len(s))
	if n := len(s); n%2 == 1 {
		g.P50 = s[n/2]
	} else {
		g.P50 = s[n/2-1] + (s[n/2]-s[n/2-1])/2
	}
	if !finite(g.Mean) {
		return nil
	}
	return g
}

// finiteHist reports whether a histogram's count and bucket counts are
// numbers; its sum is checked apart, as a histogram without one still has
// quantiles.
func finiteHist(h Hist) bool {
	if !finite(h.Count) {
		return false
	}
	for _, b := range h.Buckets {
		if !finite(b.Count) || math.IsNaN(b.UpperBound) {
			return false
		}
	}
	return true
}

func distribution(h Hist, scale float64) *Distribution {
	if !finiteHist(h) {
		return nil
	}
	d := &Distribution{Count: h.Count}
	if h.Count <= 0 {
		return d
	}
	if h.HasSum {
		d.Mean = num(h.Sum / h.Count * scale)
	}
	q := func(p float64) *float64 {
		v := h.Quantile(p)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return num(v * scale)
	}
	d.P50, d.P90, d.P99 = q(0.5), q(0.9), q(0.99)
	if n, bound := h.aboveLastBound(); n > 0 && finite(n) && finite(bound) {
		d.AboveLastBound = n
		d.LastBound = num(bound * scale)
	}
	return d
}

// total adds the engines up. Counts add; rates are recomputed from the
// summed counts; histograms add bucket by bucket; gauges are recombined
// per sample.
func total(engines []EngineStats, samples []ServerSample, before, after *Scrape) EngineStats {
	var t EngineStats
	add := func(dst **float64, v *float64) {
		if v == nil {
			return
		}
		if *dst == nil {
			*dst = new(0.0)
		}
		**dst += *v
	}
	for _, e := range engines {
		add(&t.RequestsFinished, e.RequestsFinished)
		add(&t.RequestsAborted, e.RequestsAborted)
		add(&t.PromptTokens, e.PromptTokens)
		add(&t.GenerationTokens, e.GenerationTokens)
		add(&t.Preemptions, e.Preemptions)
		add(&t.PrefixCacheQueries, e.PrefixCacheQueries)
		add(&t.PrefixCacheHits, e.PrefixCacheHits)
		add(&t.SpecDecodeDrafts, e.SpecDecodeDrafts)
		add(&t.SpecDecodeDraftTokens, e.SpecDecodeDraftTokens)
		add(&t.SpecDecodeAccepted, e.SpecDecodeAccepted)
		for k, v := range e.FinishedByReason {
			if t.FinishedByReason == nil {
				t.FinishedByReason = map[string]float64{}
			}
			t.FinishedByReason[k] += v
		}
	}
	rates(&t)

	if before != nil && after != nil {
		hists := []struct {
			names []string
			scale float64
			dst   **Distribution
		}{
			{ttftNames, 1000, &t.TTFT}, {itlNames, 1000, &t.ITL}, {tpotNames, 1000, &t.TPOT},
			{e2eNames, 1000, &t.E2E}, {queueNames, 1000, &t.Queue}, {prefillNames, 1000, &t.Prefill},
			{decodeNames, 1000, &t.Decode}, {inferenceNames, 1000, &t.Inference}, {iterationNames, 1, &t.IterationTokens},
		}
		for _, h := range hists {
			d, ok := histDeltaByEngine(before, after, h.names)
			if !ok {
				continue
			}
			var sum Hist
			for _, k := range slices.Sorted(maps.Keys(d)) {
				sum = histAdd(sum, d[k])
			}
			*h.dst = distribution(sum, h.scale)
		}
	}

	var running, waiting, kv, gen []float64
	for _, s := range gaugeSamples(samples, before, after) {
		var r, w, k, g []float64
		for _, e := range s.Engines {
			appendIf(&r, e.Running)
			appendIf(&w, e.Waiting)
			appendIf(&k, e.KVCacheUsage)
			appendIf(&g, e.GenThroughput)
		}
		if len(r) > 0 {
			running = append(running, sumOf(r))
		}
		if len(w) > 0 {
			waiting = append(waiting, sumOf(w))
		}
		if len(k) > 0 {
			kv = append(kv, sumOf(k)/float64(len(k)))
		}
		if len(g) > 0 {
			gen = append(gen, sumOf(g))
		}
	}
	fillGauges(&t, running, waiting, kv, gen)
	return t
}

func throughput(s *EngineStats, seconds float64) {
	if s.PromptTokens != nil {
		s.PromptTokS = num(*s.PromptTokens / seconds)
	}
	if s.GenerationTokens != nil {
		s.GenerationTokS = num(*s.GenerationTokens / seconds)
	}
}

// rates derives the ratios of an EngineStats from its counts.
func rates(s *EngineStats) {
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
