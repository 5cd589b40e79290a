package engines

import (
	"slices"
	"strings"
)

// Metrics describes an engine's Prometheus endpoint.
type Metrics struct {
	// Path is where the text exposition is served.
	Path string
	// Flag turns the endpoint on when benchform starts the server; empty
	// when it is always on.
	Flag string
	// Prefix begins the names of the engine's own families, by which a
	// scrape tells which engine served it.
	Prefix string
	// Replica names the label that tells data-parallel replicas of one
	// server apart; empty when the engine has none.
	Replica string
	// ModelLabel names the label that carries the served model.
	ModelLabel string
	// FinishLabels name the label of RequestsFinished that carries why a
	// request finished, the first present on a series counting.
	FinishLabels []string
	// Families maps each quantity to the families that carry it,
	// preferred spelling first: the first one a server exposes is read,
	// never two added.
	Families map[Quantity][]Family
}

// Family is one Prometheus family as a quantity reads it. Counters are
// matched with and without _total.
type Family struct {
	Name string
	// Sum reads the family, a histogram, by its sum: the count of what
	// its observations measure (TGI's token histograms, SGLang's
	// retractions).
	Sum bool
}

// Quantity is what a family measures, in benchform's terms.
type Quantity string

// Counters: read as the change over a step.
const (
	PromptTokens     Quantity = "prompt_tokens"
	GenerationTokens Quantity = "generation_tokens"
	// Preemptions are requests evicted to make room (SGLang retracts).
	Preemptions Quantity = "preemptions"
	// PrefixCacheQueries and PrefixCacheHits are prompt tokens looked up
	// in and served from the prefix cache.
	PrefixCacheQueries Quantity = "prefix_cache_queries"
	PrefixCacheHits    Quantity = "prefix_cache_hits"
	// CachedPromptTokens are prompt tokens served from the cache by an
	// engine that looks every prompt token up, so that its prompt tokens
	// are the queries.
	CachedPromptTokens Quantity = "cached_prompt_tokens"
	RequestsFinished   Quantity = "requests_finished"
	RequestsAborted    Quantity = "requests_aborted"
	SpecDrafts         Quantity = "spec_decode_drafts"
	SpecDraftTokens    Quantity = "spec_decode_draft_tokens"
	SpecAcceptedTokens Quantity = "spec_decode_accepted_tokens"
)

// Histograms in seconds, read as the change over a step.
const (
	TTFT Quantity = "ttft"
	ITL  Quantity = "itl"
	// TPOT is each request's mean time per output token.
	TPOT          Quantity = "tpot"
	E2E           Quantity = "e2e"
	QueueTime     Quantity = "queue_time"
	PrefillTime   Quantity = "prefill_time"
	DecodeTime    Quantity = "decode_time"
	InferenceTime Quantity = "inference_time"
)

// IterationTokens is a histogram of tokens per engine step, a proxy for
// batch size.
const IterationTokens Quantity = "iteration_tokens"

// Gauges: sampled during a step, or read once.
const (
	Running Quantity = "running"
	Waiting Quantity = "waiting"
	// KVCacheUsage is a fraction from 0 to 1.
	KVCacheUsage Quantity = "kv_cache_usage"
	// GenThroughput is the engine's own tokens/s over its last interval.
	GenThroughput    Quantity = "gen_throughput"
	KVCapacityTokens Quantity = "kv_capacity_tokens"
	StartupSeconds   Quantity = "startup_seconds"
	LoadWeightsSecs  Quantity = "load_weights_seconds"
	// CacheConfig is an info gauge whose labels state the KV cache's
	// settings (block_size, num_gpu_blocks, enable_prefix_caching, ...).
	CacheConfig Quantity = "cache_config"
)

// FamiliesOf lists, over every engine, the families that carry q: the
// names a scrape is searched for. One server exposes one engine's, so the
// order between engines does not matter; within one engine it is the
// engine's preference.
func FamiliesOf(q Quantity) []Family {
	var out []Family
	for _, m := range distinctMetrics() {
		out = append(out, m.Families[q]...)
	}
	return out
}

// distinctMetrics lists each engine's metrics once: the simulator shares
// vLLM's.
func distinctMetrics() []*Metrics {
	var out []*Metrics
	for _, e := range All() {
		if e.Metrics != nil && !slices.Contains(out, e.Metrics) {
			out = append(out, e.Metrics)
		}
	}
	return out
}

// ByFamily returns the engine whose families a family name belongs to.
// The simulator's are vLLM's, and read as vLLM's.
func ByFamily(name string) (*Engine, bool) {
	for _, e := range All() {
		if e.Metrics != nil && !e.BuiltIn && e.Metrics.Prefix != "" && strings.HasPrefix(name, e.Metrics.Prefix) {
			return e, true
		}
	}
	return nil, false
}

// ReplicaLabels lists every engine's replica label, in engine order.
func ReplicaLabels() []string {
	var out []string
	for _, m := range distinctMetrics() {
		if m.Replica != "" && !slices.Contains(out, m.Replica) {
			out = append(out, m.Replica)
		}
	}
	return out
}

// FinishLabels lists every engine's finish-reason labels.
func FinishLabels() []string {
	var out []string
	for _, m := range distinctMetrics() {
		for _, l := range m.FinishLabels {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

// ModelLabels lists every engine's model label.
func ModelLabels() []string {
	var out []string
	for _, m := range distinctMetrics() {
		if m.ModelLabel != "" && !slices.Contains(out, m.ModelLabel) {
			out = append(out, m.ModelLabel)
		}
	}
	return out
}
