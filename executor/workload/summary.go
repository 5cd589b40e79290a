package workload

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// SLO holds per-request service-level objectives for goodput, as vLLM's
// --goodput. A zero field is not set.
type SLO struct {
	TTFT time.Duration
	// TPOT counts as zero for a request with at most one output token.
	TPOT time.Duration
	// ITL is compared with a request's largest gap between token events;
	// vLLM has no ITL objective, and the largest gap is the one a user
	// notices as a stall.
	ITL  time.Duration
	E2EL time.Duration
}

func (s SLO) set() bool { return s.TTFT > 0 || s.TPOT > 0 || s.ITL > 0 || s.E2EL > 0 }

// Objectives of an SLO, as Missed names them.
const (
	ObjectiveTTFT = "ttft"
	ObjectiveTPOT = "tpot"
	ObjectiveITL  = "itl"
	ObjectiveE2EL = "e2el"
	// ObjectiveFailed is missed by a request that failed, which meets no
	// objective.
	ObjectiveFailed = "failed"
)

// Missed lists the objectives a measured request missed, applying each
// set one inclusively: none for a good request, ObjectiveFailed alone for
// a failed one. TPOT counts as zero for a request with at most one output
// token.
func (s SLO) Missed(r Record) []string {
	if !r.OK() {
		return []string{ObjectiveFailed}
	}
	var out []string
	tpot, _ := r.TPOT()
	if s.TTFT > 0 && r.TTFT > s.TTFT {
		out = append(out, ObjectiveTTFT)
	}
	if s.TPOT > 0 && tpot > s.TPOT {
		out = append(out, ObjectiveTPOT)
	}
	if s.ITL > 0 && slices.ContainsFunc(r.Gaps, func(g time.Duration) bool { return g > s.ITL }) {
		out = append(out, ObjectiveITL)
	}
	if s.E2EL > 0 && r.E2EL > s.E2EL {
		out = append(out, ObjectiveE2EL)
	}
	return out
}

// Summary accumulates the Records of one measured window and computes
// exact statistics from every stored sample when closed. It is safe for
// concurrent use.
type Summary struct {
	mu          sync.Mutex
	percentiles []float64
	slo         SLO

	completed, failed, good int
	cutOff                  int
	inputTokens, outputTok  int
	disagree                int
	usageRejected           int
	firstRejected           string // the reason of the first request whose usage was rejected
	overLimit               int
	worstOut, worstLimit    int // output and limit of the request furthest past its limit
	e2elSum                 time.Duration
	reasoningTok, answerTok int
	reasoningFromUsage      int
	noAnswer                int
	noAnswerAtLimit         int
	noAnswerLimits          [2]int // the least and the most max_tokens of those at their limit
	ttft, tpot, e2el        []time.Duration
	ttfc                    []time.Duration // of requests that produced an answer
	queue, lag              []time.Duration // every measured request's
	itl                     []time.Duration // pooled gaps, in Add order
	tokens                  []uint32        // pooled per-event token counts, where known
	reqs                    []span          // successful requests, for peaks
	sources                 map[TokenSource]int
	errors                  map[string]int
	missed                  map[string]int // by objective, with an SLO
}

// span is what the peak statistics need of a successful request; its gaps
// are itl[gapsFrom : gapsFrom+gapsLen] and, when known, its per-event token
// counts tokens[tokFrom : tokFrom+tokLen].
type span struct {
	start, ttft, e2el time.Duration
	gapsFrom, gapsLen int
	tokFrom, tokLen   int
}

// defaultPercentiles are reported when NewSummary is given none.
var defaultPercentiles = []float64{50, 90, 99}

// NewSummary returns an empty Summary reporting the given percentiles (nil
// or empty means 50, 90 and 99; values are clamped to [0, 100]) and judging
// goodput against slo. The zero Summary is also ready to use, with the
// default percentiles and no SLO.
func NewSummary(percentiles []float64, slo SLO) *Summary {
	if len(percentiles) == 0 {
		percentiles = defaultPercentiles
	}
	ps := make([]float64, len(percentiles))
	for i, p := range percentiles {
		ps[i] = min(max(p, 0), 100)
	}
	return &Summary{percentiles: ps, slo: slo}
}

// Add counts one Record. Warm-up records are ignored. A failed record is
// counted and its error tallied, but it contributes to no distribution or
// token total, as in vLLM.
func (s *Summary) Add(r Record) {
	if r.Warmup {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if IsCutOff(r.Err) {
		// Still running when the step ended: neither a result nor the
		// server's failure.
		s.cutOff++
		return
	}
	if s.sources == nil {
		s.sources = map[TokenSource]int{}
		s.errors = map[string]int{}
		s.missed = map[string]int{}
	}
	s.queue = append(s.queue, r.QueueTime)
	s.lag = append(s.lag, r.Lag)
	if r.ExceedsLimit() {
		s.overLimit++
		if s.overLimit == 1 || r.OutputTokens-r.MaxTokens > s.worstOut-s.worstLimit {
			s.worstOut, s.worstLimit = r.OutputTokens, r.MaxTokens
		}
	}
	if !r.OK() {
		s.failed++
		s.errors[r.Err]++
		if s.slo.set() {
			s.missed[ObjectiveFailed]++
		}
		return
	}
	s.completed++
	s.inputTokens += r.PromptTokens
	s.outputTok += r.OutputTokens
	s.e2elSum += r.E2EL
	s.sources[r.TokenSource]++
	if r.TokenSourcesDisagree() {
		s.disagree++
	}
	if why := r.UsageRejected(); why != "" {
		s.usageRejected++
		if s.firstRejected == "" {
			s.firstRejected = why
		}
	}
	s.ttft = append(s.ttft, r.TTFT)
	s.e2el = append(s.e2el, r.E2EL)
	s.addReasoning(r)
	tpot, ok := r.TPOT()
	if ok {
		s.tpot = append(s.tpot, tpot)
	}
	sp := span{start: r.Start, ttft: r.TTFT, e2el: r.E2EL, gapsFrom: len(s.itl), gapsLen: len(r.Gaps)}
	if len(r.ChunkTokens) == len(r.Gaps)+1 {
		sp.tokFrom, sp.tokLen = len(s.tokens), len(r.ChunkTokens)
		s.tokens = append(s.tokens, r.ChunkTokens...)
	}
	s.reqs = append(s.reqs, sp)
	s.itl = append(s.itl, r.Gaps...)
	if s.slo.set() {
		missed := s.slo.Missed(r)
		if len(missed) == 0 {
			s.good++
		}
		for _, m := range missed {
			s.missed[m]++
		}
	}
}

// addReasoning counts how a successful request split its output between
// reasoning and answer.
func (s *Summary) addReasoning(r Record) {
	s.reasoningTok += r.ReasoningTokens
	s.answerTok += r.AnswerTokens
	if r.ReasoningSource == TokenSourceUsage {
		s.reasoningFromUsage++
	}
	if r.TTFC > 0 {
		s.ttfc = append(s.ttfc, r.TTFC)
	}
	if !r.NoAnswer() {
		return
	}
	s.noAnswer++
	if r.MaxTokens > 0 && r.OutputTokens >= r.MaxTokens {
		if s.noAnswerAtLimit == 0 {
			s.noAnswerLimits = [2]int{r.MaxTokens, r.MaxTokens}
		}
		s.noAnswerAtLimit++
		s.noAnswerLimits = [2]int{min(s.noAnswerLimits[0], r.MaxTokens), max(s.noAnswerLimits[1], r.MaxTokens)}
	}
}

// Percentile is one requested percentile of a Distribution.
type Percentile struct {
	P     float64
	Value time.Duration
}

// Distribution summarizes one metric's samples. Std is the population
// standard deviation and percentiles interpolate linearly between closest
// ranks, both as numpy computes them. With no samples every value is zero
// and Count is 0.
type Distribution struct {
	Mean, Median, Std time.Duration
	Percentiles       []Percentile
	Count             int
}

// ErrorCount is one distinct failure message and how many requests failed
// with it.
type ErrorCount struct {
	Message string
	Count   int
}

// Stats are the results of one measured window, with vLLM's definitions.
// Only successful requests enter distributions, token totals and
// throughputs; failed ones are counted in Failed and Errors.
type Stats struct {
	Completed, Failed int
	// Duration is the window's duration, every throughput's denominator.
	Duration          time.Duration
	TotalInputTokens  int
	TotalOutputTokens int
	// RequestThroughput, OutputThroughput and TotalTokenThroughput are per
	// second of Duration; the last adds prompt tokens once per request,
	// prefix-cache hits or not.
	RequestThroughput    float64
	OutputThroughput     float64
	TotalTokenThroughput float64
	// HasSLO reports whether any objective was set; RequestGoodput and
	// GoodPercent are zero without one.
	HasSLO bool
	// RequestGoodput is good requests per second of Duration.
	RequestGoodput float64
	// GoodPercent is the share of all measured requests, failed ones
	// included, that were good, in percent; Good is their number.
	GoodPercent float64
	Good        int
	// Missed counts, by objective (SLO.Missed), the measured requests
	// that missed it; a request may miss several.
	Missed map[string]int
	// TPOT has one sample per request with more than one output token;
	// ITL pools the gaps of all successful requests, one per chunk; TTFC
	// has one sample per request that produced an answer.
	TTFT, TPOT, ITL, E2EL, TTFC Distribution
	// ReasoningTokens and AnswerTokens split the output tokens between
	// thinking and answer (Record.ReasoningTokens); ReasoningFromUsage
	// counts the requests whose split the server counted.
	ReasoningTokens, AnswerTokens int
	ReasoningFromUsage            int
	// NoAnswer counts successful requests that streamed reasoning and no
	// answer (Record.NoAnswer); NoAnswerAtLimit, those of them that
	// reached their max_tokens, the least and the most of which are
	// NoAnswerMaxTokens.
	NoAnswer, NoAnswerAtLimit int
	NoAnswerMaxTokens         [2]int
	// MaxConcurrency is the exact peak overlap of the successful requests'
	// [Start, Start+E2EL) intervals.
	MaxConcurrency int
	// PeakOutputThroughput is vLLM's max_output_tokens_per_s: token events
	// (one token each) placed at Start+TTFT and then by successive gaps,
	// counted in 1-s bins from the earliest start; the fullest bin.
	PeakOutputThroughput float64
	// TokenSources counts successful requests by where their output token
	// count came from.
	TokenSources map[TokenSource]int
	// TokenSourcesDisagree counts successful requests whose server usage
	// and counted token events disagree (see Record.TokenSourcesDisagree).
	TokenSourcesDisagree int
	// OutputThroughputPerUser is the output rate one stream sees on
	// average: Σ output tokens ÷ Σ E2EL of successful requests, so TTFT
	// counts against it as a user waits through it.
	OutputThroughputPerUser float64
	// QueueTime and Lag cover every measured request, failed ones
	// included: the client-side wait before sending (for a slot under a
	// cap, or behind schedule) and the part of it the client caused.
	QueueTime, Lag Distribution
	// CutOff counts measured requests still running when their step's
	// duration and drain had passed; they are in no other figure.
	CutOff int
	// UsageRejected counts successful requests whose usage count was not
	// believed (Record.UsageRejected); FirstRejected is the first one's
	// reason.
	UsageRejected int
	FirstRejected string
	// OverLimit counts measured requests that streamed more tokens than
	// their limit, a server ignoring it; WorstOver holds the output and
	// limit of the one furthest past it.
	OverLimit int
	WorstOver struct{ OutputTokens, MaxTokens int }
	// Errors lists distinct failure messages, most frequent first.
	Errors []ErrorCount
}

// Close computes Stats over everything added so far; d is the measured
// window's duration (Window.Duration). A Summary may be closed more than
// once and added to in between.
func (s *Summary) Close(d time.Duration) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Completed:            s.completed,
		Failed:               s.failed,
		Duration:             d,
		TotalInputTokens:     s.inputTokens,
		TotalOutputTokens:    s.outputTok,
		HasSLO:               s.slo.set(),
		MaxConcurrency:       maxOverlap(s.reqs),
		PeakOutputThroughput: peakTokensPerSecond(s.reqs, s.itl, s.tokens),
		TokenSources:         map[TokenSource]int{},
		TokenSourcesDisagree: s.disagree,
		OverLimit:            s.overLimit,
		UsageRejected:        s.usageRejected,
		FirstRejected:        s.firstRejected,
		CutOff:               s.cutOff,
		ReasoningTokens:      s.reasoningTok,
		AnswerTokens:         s.answerTok,
		ReasoningFromUsage:   s.reasoningFromUsage,
		NoAnswer:             s.noAnswer,
		NoAnswerAtLimit:      s.noAnswerAtLimit,
		NoAnswerMaxTokens:    s.noAnswerLimits,
	}
	st.WorstOver.OutputTokens, st.WorstOver.MaxTokens = s.worstOut, s.worstLimit
	if s.e2elSum > 0 {
		st.OutputThroughputPerUser = float64(s.outputTok) / s.e2elSum.Seconds()
	}
	maps.Copy(st.TokenSources, s.sources)
	if secs := d.Seconds(); secs > 0 {
		st.RequestThroughput = float64(s.completed) / secs
		st.OutputThroughput = float64(s.outputTok) / secs
		st.TotalTokenThroughput = float64(s.inputTokens+s.outputTok) / secs
		if st.HasSLO {
			st.RequestGoodput = float64(s.good) / secs
		}
	}
	if n := s.completed + s.failed; st.HasSLO && n > 0 {
		st.GoodPercent = 100 * float64(s.good) / float64(n)
		st.Good = s.good
		st.Missed = maps.Clone(s.missed)
	}
	ps := s.percentiles
	if ps == nil {
		ps = defaultPercentiles
	}
	st.TTFT = distribution(s.ttft, ps)
	st.TTFC = distribution(s.ttfc, ps)
	st.TPOT = distribution(s.tpot, ps)
	st.E2EL = distribution(s.e2el, ps)
	// The pooled gaps keep their order for peakTokensPerSecond, so they are
	// sorted in a copy.
	st.ITL = distribution(slices.Clone(s.itl), ps)
	st.QueueTime = distribution(s.queue, ps)
	st.Lag = distribution(s.lag, ps)
	for msg, n := range s.errors {
		st.Errors = append(st.Errors, ErrorCount{Message: msg, Count: n})
	}
	slices.SortFunc(st.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Message, b.Message))
	})
	if len(st.Errors) > maxDistinctErrors {
		other := ErrorCount{}
		for _, e := range st.Errors[maxDistinctErrors:] {
			other.Count += e.Count
		}
		other.Message = fmt.Sprintf("%d other distinct reasons", len(st.Errors)-maxDistinctErrors)
		st.Errors = append(st.Errors[:maxDistinctErrors], other)
	}
	return st
}

// maxDistinctErrors is how many distinct failure reasons a step keeps; a
// server that fails each request its own way has the rest counted as one.
const maxDistinctErrors = 20

// distribution sorts xs in place and summarizes it.
func distribution(xs []time.Duration, percentiles []float64) Distribution {
	d := Distribution{Count: len(xs), Percentiles: make([]Percentile, len(percentiles))}
	for i, p := range percentiles {
		d.Percentiles[i].P = p
	}
	if len(xs) == 0 {
		return d
	}
	slices.Sort(xs)
	var sum float64
	for _, x := range xs {
		sum += float64(x)
	}
	mean := sum / float64(len(xs))
	var sq float64
	for _, x := range xs {
		dx := float64(x) - mean
		sq += dx * dx
	}
	d.Mean = time.Duration(math.Round(mean))
	d.Std = time.Duration(math.Round(math.Sqrt(sq / float64(len(xs)))))
	d.Median = percentile(xs, 50)
	for i, p := range percentiles {
		d.Percentiles[i].Value = percentile(xs, p)
	}
	return d
}

// percentile is numpy.percentile's default ("linear") method on sorted,
// non-empty xs: the value at rank p/100·(n−1), interpolated between the two
// closest ranks.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, len(sorted)-1)
	frac := rank - float64(lo)
	a, b := float64(sorted[lo]), float64(sorted[hi])
	// numpy's _lerp, which interpolates from the nearer end.
	v := a + (b-a)*frac
	if frac >= 0.5 {
		v = b - (b-a)*(1-frac)
	}
	return time.Duration(math.Round(v))
}

// maxOverlap is the largest number of [start, start+e2el) intervals that
// share an instant. An interval ending where another starts does not
// overlap it.
func maxOverlap(reqs []span) int {
	type edge struct {
		at    time.Duration
		delta int
	}
	edges := make([]edge, 0, 2*len(reqs))
	for _, r := range reqs {
		if r.e2el <= 0 {
			continue
		}
		edges = append(edges, edge{r.start, +1}, edge{r.start + r.e2el, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.delta, b.delta))
	})
	cur, peak := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// peakTokensPerSecond follows vLLM's max_output_tokens_per_s, except that
// an event whose token count the server reported counts that many tokens:
// vLLM counts one per event, which undercounts multi-token chunks.
func peakTokensPerSecond(reqs []span, itl []time.Duration, tokens []uint32) float64 {
	if len(reqs) == 0 {
		return 0
	}
	origin := reqs[0].start
	for _, r := range reqs[1:] {
		origin = min(origin, r.start)
	}
	var bins []int
	peak := 0
	add := func(t time.Duration, n int) {
		b := int((t - origin) / time.Second)
		if b < 0 {
			return
		}
		if b >= len(bins) {
			bins = append(bins, make([]int, b+1-len(bins))...)
		}
		bins[b] += n
		peak = max(peak, bins[b])
	}
	for _, r := range reqs {
		count := func(event int) int {
			if r.tokLen == 0 {
				return 1
			}
			return int(tokens[r.tokFrom+event])
		}
		t := r.start + r.ttft
		add(t, count(0))
		for i, g := range itl[r.gapsFrom : r.gapsFrom+r.gapsLen] {
			t += g
			add(t, count(i+1))
		}
	}
	return float64(peak)
}
