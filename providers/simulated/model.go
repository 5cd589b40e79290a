package simulated

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/benchform/benchform/engines"
)

// Model is the timing model of a simulated server. ServedModel, MaxNumSeqs,
// DefaultMaxTokens and MaxModelLen take their defaults when zero, as no
// server can have none of them; durations are taken as given, so a zero TTFT
// or ITL answers without delay (useful to measure a client's own cost). Start
// from DefaultModel for the realistic defaults.
type Model struct {
	// ServedModel is the model name served and listed; default "simulated".
	ServedModel string
	// TTFT is the base time from taking a slot to the first token
	// (DefaultModel: 20ms).
	TTFT time.Duration
	// ITL is the base gap between two output tokens (DefaultModel: 5ms).
	ITL time.Duration
	// Jitter scales every delay by (1 + Jitter*u), u uniform in [-1, 1],
	// drawn per request from a seeded generator; between 0 and 1.
	Jitter float64
	// MaxNumSeqs is how many sequences are decoded at once; further
	// requests wait first in, first out, as vLLM's --max-num-seqs
	// (default 256).
	MaxNumSeqs int
	// ITLPerSeq lengthens ITL by this much per other running sequence, a
	// linear model of a batch slowing down as it grows.
	ITLPerSeq time.Duration
	// PrefillPerToken lengthens TTFT by this much per prompt token.
	PrefillPerToken time.Duration
	// DefaultMaxTokens is the output length of a request that gives no
	// max_tokens (default 128), cut to the context left after the prompt.
	DefaultMaxTokens int
	// MaxModelLen is the context length: a request whose prompt and output
	// tokens together exceed it is refused with 400, as vLLM does
	// (default 8192).
	MaxModelLen int
	// Seed seeds the per-request random draws. A request's draws depend
	// on Seed and its content only, so identical requests get identical
	// timings whatever the order they arrive in (as long as ITLPerSeq,
	// which depends on the batch, is zero or the batch is the same).
	Seed int64
	// APIKey, when set, is required as "Authorization: Bearer <key>" on
	// every /v1/ request.
	APIKey string
	// Metrics is the engine whose /metrics the server imitates, one of
	// MetricsFlavours; empty means vLLM's.
	Metrics string
	// Schedule is when tokens go out, one of Schedules; empty means
	// ScheduleIndependent.
	Schedule string
	// ReasoningTokens makes the model a reasoning model: the first
	// ReasoningTokens output tokens of every chat answer are its thinking,
	// streamed in the delta field the engine of Metrics streams reasoning
	// in, and counted apart in the final usage where that engine does; the
	// rest is the answer, in delta.content. A request whose max_tokens is
	// no more than ReasoningTokens gets no answer at all. Completions,
	// which no reasoning parser touches, stream every token as text.
	ReasoningTokens int
}

// Schedules: how the simulator times tokens.
const (
	// ScheduleIndependent gives each stream its own clock from the moment
	// it takes a slot: its first token TTFT later, then one every ITL,
	// each delay jittered per request. Streams that arrived at different
	// times flush at different times, as the replicas behind one endpoint,
	// or servers whose requests do not share engine steps, look to a
	// client.
	ScheduleIndependent = "independent"
	// ScheduleBatched runs one engine step every ITL (jittered per step)
	// for the whole server, as vLLM and SGLang do: a stream's first token
	// goes out at the first step after its TTFT, the next at each step
	// after, so every running stream flushes at the same instants.
	ScheduleBatched = "batched"
)

// Schedules lists the values Schedule may take.
var Schedules = []string{ScheduleIndependent, ScheduleBatched}

// Defaults of the fields whose zero value cannot be meant literally.
const (
	defaultServedModel      = "simulated"
	defaultMaxNumSeqs       = 256
	defaultDefaultMaxTokens = 128
	defaultMaxModelLen      = 8192
)

// DefaultModel returns the model a simulated server uses when its
// configuration says nothing: 20ms to the first token, then a token every
// 5ms, no jitter, 256 sequences at once.
func DefaultModel() Model {
	return Model{
		ServedModel:      defaultServedModel,
		TTFT:             20 * time.Millisecond,
		ITL:              5 * time.Millisecond,
		MaxNumSeqs:       defaultMaxNumSeqs,
		DefaultMaxTokens: defaultDefaultMaxTokens,
		MaxModelLen:      defaultMaxModelLen,
		Schedule:         ScheduleIndependent,
	}
}

// Validate reports the first field that is out of range, naming it as the
// configuration does (`jitter must be between 0 and 1, got 1.5`).
func (m Model) Validate() error {
	if field, problem := m.check(); field != "" {
		return fmt.Errorf("%s %s", field, problem)
	}
	return nil
}

// check returns the configuration name of the first bad field and what is
// wrong with it, so that Validate and ModelFromConfig can word the same
// problem for their readers.
func (m Model) check() (field, problem string) {
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"ttft", m.TTFT},
		{"itl", m.ITL},
		{"itl_per_seq", m.ITLPerSeq},
		{"prefill_per_token", m.PrefillPerToken},
	}
	for _, d := range durations {
		if d.d < 0 {
			return d.name, fmt.Sprintf("must not be negative, got %s", d.d)
		}
	}
	if math.IsNaN(m.Jitter) || m.Jitter < 0 || m.Jitter > 1 {
		return "jitter", fmt.Sprintf("must be between 0 and 1, got %v", m.Jitter)
	}
	counts := []struct {
		name string
		n    int
	}{
		{"max_num_seqs", m.MaxNumSeqs},
		{"default_max_tokens", m.DefaultMaxTokens},
		{"max_model_len", m.MaxModelLen},
	}
	for _, c := range counts {
		if c.n < 0 {
			return c.name, fmt.Sprintf("must be positive, got %d", c.n)
		}
	}
	if m.Metrics != "" && !slices.Contains(MetricsFlavours, m.Metrics) {
		return "engine", fmt.Sprintf("must be %s, got %q", strings.Join(MetricsFlavours, ", "), m.Metrics)
	}
	if m.Schedule != "" && !slices.Contains(Schedules, m.Schedule) {
		return "schedule", fmt.Sprintf("must be %s, got %q", strings.Join(Schedules, " or "), m.Schedule)
	}
	if m.ReasoningTokens < 0 {
		return "reasoning_tokens", fmt.Sprintf("must not be negative, got %d", m.ReasoningTokens)
	}
	if m.ReasoningTokens > 0 && m.reasoning().Field == "" {
		return "reasoning_tokens", fmt.Sprintf("needs an engine that streams reasoning (%s); %s streams none", strings.Join(reasoningFlavours(), ", "), m.flavour())
	}
	return "", ""
}

// flavour is the engine the server imitates.
func (m Model) flavour() string { return cmp.Or(m.Metrics, MetricsVLLM) }

// reasoning is how the imitated engine streams and counts reasoning.
func (m Model) reasoning() engines.Reasoning {
	if e, ok := engines.Lookup(m.flavour()); ok {
		return e.Reasoning
	}
	return engines.Reasoning{}
}

// reasoningFlavours lists the flavours whose engine streams reasoning.
func reasoningFlavours() []string {
	var out []string
	for _, f := range MetricsFlavours {
		if (Model{Metrics: f}).reasoning().Field != "" {
			out = append(out, f)
		}
	}
	return out
}

// withDefaults fills the fields whose zero value means their default.
func (m Model) withDefaults() Model {
	if m.ServedModel == "" {
		m.ServedModel = defaultServedModel
	}
	if m.MaxNumSeqs == 0 {
		m.MaxNumSeqs = defaultMaxNumSeqs
	}
	if m.DefaultMaxTokens == 0 {
		m.DefaultMaxTokens = defaultDefaultMaxTokens
	}
	if m.MaxModelLen == 0 {
		m.MaxModelLen = defaultMaxModelLen
	}
	if m.Schedule == "" {
		m.Schedule = ScheduleIndependent
	}
	return m
}

// kvCapacityTokens is the size of the simulated KV cache: room for every
// slot to hold a full-length sequence, so the simulator never has to
// preempt and kv_cache_usage_perc stays within 0..1.
func (m Model) kvCapacityTokens() int64 {
	return int64(m.MaxNumSeqs) * int64(m.MaxModelLen)
}

// kvBlockSize is the block size reported in vllm:cache_config_info, vLLM's
// default on GPUs.
const kvBlockSize = 16

// countTokens is the simulator's tokenizer: one token per
// whitespace-separated word, at least one per prompt. It does not allocate,
// as it runs on every request.
func countTokens(texts ...string) int {
	n := 0
	for _, s := range texts {
		inWord := false
		for len(s) > 0 {
			r, size := utf8.DecodeRuneInString(s)
			s = s[size:]
			if unicode.IsSpace(r) {
				inWord = false
				continue
			}
			if !inWord {
				n++
				inWord = true
			}
		}
	}
	return max(n, 1)
}

// fnv64a hashes request content for the per-request seed and the prefix
// cache; the order of writes is part of the determinism contract.
type fnv64a uint64

func newFNV() fnv64a { return 14695981039346656037 }

func (h *fnv64a) writeString(s string) {
	for i := 0; i < len(s); i++ {
		*h ^= fnv64a(s[i])
		*h *= 1099511628211
	}
}

func (h *fnv64a) writeUint64(v uint64) {
	for i := 0; i < 8; i++ {
		*h ^= fnv64a(byte(v >> (8 * i)))
		*h *= 1099511628211
	}
}

// draws is one request's source of randomness. It is seeded from the
// server's seed and the request's content only, so identical requests draw
// the same delays whatever order they arrive in.
type draws struct {
	rng    *rand.Rand
	jitter float64
}

func newDraws(seed int64, contentHash uint64, jitter float64) draws {
	return draws{rng: rand.New(rand.NewPCG(uint64(seed), contentHash)), jitter: jitter}
}

// delay returns base scaled by (1 + jitter*u). Every call with jitter
// draws, whatever base is, so that the n-th delay of a request always uses
// the n-th draw; without jitter it draws nothing, which keeps the common
// case free of generator work.
func (d draws) delay(base time.Duration) time.Duration {
	if d.jitter == 0 {
		return base
	}
	u := 2*d.rng.Float64() - 1
	return time.Duration(float64(base) * (1 + d.jitter*u))
}

// words are the output tokens, already JSON-quoted with their leading space
// so that a chunk is built by appending bytes.
var words = func() [][]byte {
	plain := []string{
		"the", "model", "token", "stream", "server", "latency", "batch", "cache",
		"prompt", "answer", "simulated", "output", "request", "queue", "decode", "prefill",
		"quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and",
		"then", "runs", "far", "away", "into", "a", "green", "field",
		"where", "every", "word", "is", "one", "token", "long", "so",
		"counts", "agree", "with", "usage", "in", "each", "chunk", "sent",
		"by", "this", "small", "deterministic", "engine", "for", "tests", "of",
		"benchmark", "clients", "that", "measure", "time", "to", "first", "byte",
	}
	out := make([][]byte, len(plain))
	for i, w := range plain {
		out[i] = []byte(`" ` + w + `"`)
	}
	return out
}()

// wordAt picks output token i of a request. It depends on the request's
// content hash and i only, so the text is reproducible and independent of
// timing draws.
func wordAt(contentHash uint64, i int) []byte {
	x := contentHash + uint64(i+1)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return words[x%uint64(len(words))]
}

// wordText returns a word without its JSON quotes.
func wordText(w []byte) []byte { return w[1 : len(w)-1] }
