package executor

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// maxProbes bounds the probes of one search: doubling from 1 to 512 takes
// ten, bisecting the last bracket a few more, and a repeat each at most.
const maxProbes = 32

// z95 is the normal quantile of a two-sided 95 % interval.
const z95 = 1.959963984540054

// ProbeInfo marks a step as a probe of a capacity search and says what it
// decided.
type ProbeInfo struct {
	// Load is the concurrency or rate probed.
	Load float64 `json:"load"`
	// Attempt is 1, or 2 for a probe repeated because its first attempt
	// could not decide.
	Attempt int `json:"attempt"`
	// Good and Total count the measured requests that met every objective,
	// and all of them, over every attempt at this load so far.
	Good  int `json:"good"`
	Total int `json:"total"`
	// AttainmentLow and AttainmentHigh bound the share of good requests
	// (Wilson, 95 %).
	AttainmentLow  float64 `json:"attainment_low"`
	AttainmentHigh float64 `json:"attainment_high"`
	// Verdict is "pass", "fail", "repeat" (the interval straddles the
	// target: the probe runs again, pooled) or "uncertain" (it still does
	// after the repeat; the share decides).
	Verdict string `json:"verdict"`
	// Stopped says why the probe ended before its last request, when it
	// did: it could no longer pass.
	Stopped string `json:"stopped,omitempty"`
}

// Probe verdicts.
const (
	verdictPass      = "pass"
	verdictFail      = "fail"
	verdictRepeat    = "repeat"
	verdictUncertain = "uncertain"
)

// SearchResult is what a capacity search found for one server.
type SearchResult struct {
	Server string `json:"server"`
	// Over is "concurrency" or "rate"; Target the attainment a probe needs.
	Over   string  `json:"over"`
	Target float64 `json:"attainment"`
	// Passing is the highest load that passed, nil when none did;
	// Failing the lowest above it that failed, nil when every probe up to
	// the search's max passed.
	Passing *float64 `json:"passing,omitempty"`
	Failing *float64 `json:"failing,omitempty"`
	// Binding is the objective most requests missed at the failing load:
	// "ttft", "tpot", "itl", "e2el", or "failed" when requests failed.
	Binding string `json:"binding,omitempty"`
	// Step is the index of the probe at the passing load whose figures
	// stand for the capacity, -1 when none passed.
	Step int `json:"step"`
	// Probes counts the probes run; Uncertain those left undecided.
	Probes    int `json:"probes"`
	Uncertain int `json:"uncertain,omitempty"`
	// Note says what limits the answer: the search's bounds, or noise
	// that the monotone fit overruled.
	Note string `json:"note,omitempty"`
}

// probeOutcome is what running one probe gave the search.
type probeOutcome struct {
	step        int // the step's index
	good, total int
	missed      map[string]int
	stopped     string
}

// searcher runs a capacity search; run performs one probe at a load and
// returns what it measured, and info is told each probe's decision
// before the probe's step is stored.
type searcher struct {
	spec lang.SearchSpec
	run  func(load float64, decide func(probeOutcome) ProbeInfo) (probeOutcome, error)

	// by load: every attempt's outcome, pooled
	seen   map[float64]*pooled
	probes int
}

type pooled struct {
	good, total int
	missed      map[string]int
	attempts    int
	stopped     bool  // an attempt stopped early: it could no longer pass
	steps       []int // steps that measured the load in full, in order
	verdict     string
}

func newSearcher(spec lang.SearchSpec, run func(float64, func(probeOutcome) ProbeInfo) (probeOutcome, error)) *searcher {
	return &searcher{spec: spec, run: run, seen: map[float64]*pooled{}}
}

// errProbeLimit ends a search that used every probe it may.
var errProbeLimit = errors.New("probe limit reached")

// attempt runs one more probe at load and decides on every attempt there
// so far, pooled: pass or fail when the attainment's interval is clear of
// the target, else repeat, or uncertain from the second attempt on, when
// the pooled share decides. A probe stopped early because it could no
// longer pass fails outright.
func (s *searcher) attempt(load float64) error {
	p := s.seen[load]
	if p == nil {
		p = &pooled{missed: map[string]int{}}
		s.seen[load] = p
	}
	if s.probes >= maxProbes {
		return errProbeLimit
	}
	s.probes++
	p.attempts++
	n := p.attempts
	out, err := s.run(load, func(o probeOutcome) ProbeInfo {
		p.good += o.good
		p.total += o.total
		for k, m := range o.missed {
			p.missed[k] += m
		}
		lo, hi := wilson(p.good, p.total)
		info := ProbeInfo{Load: load, Attempt: n, Good: p.good, Total: p.total, AttainmentLow: lo, AttainmentHigh: hi, Stopped: o.stopped}
		switch {
		case o.stopped != "" || hi < s.spec.Attainment:
			info.Verdict = verdictFail
		case lo >= s.spec.Attainment:
			info.Verdict = verdictPass
		case n >= 2:
			info.Verdict = verdictUncertain
		default:
			info.Verdict = verdictRepeat
		}
		p.verdict = info.Verdict
		return info
	})
	if err != nil {
		return err
	}
	if out.stopped == "" {
		p.steps = append(p.steps, out.step)
	} else {
		p.stopped = true
	}
	return nil
}

// probe decides whether load passes: a probe, repeated once when it
// cannot decide.
func (s *searcher) probe(load float64) (bool, error) {
	for {
		if err := s.attempt(load); err != nil {
			return false, err
		}
		if s.seen[load].verdict != verdictRepeat {
			return s.passed(load), nil
		}
	}
}

// search probes from From, doubling until a load fails or Max passes,
// then bisects the bracket until it is within Tolerance. The loads either
// side of the boundary are then probed once more unless they were
// already, so that one probe that happened to lie cannot set the answer;
// where that moves the boundary, bisection resumes in the new bracket.
// The answer is read from a monotone fit of every probe.
func (s *searcher) search() (SearchResult, error) {
	err := s.explore()
	for err == nil {
		lo, hi := s.boundary()
		ran := false
		for _, l := range []float64{lo, hi} {
			if math.IsNaN(l) || s.seen[l].attempts >= 2 || s.seen[l].stopped {
				continue // decided twice, or failed for certain
			}
			ran = true
			if err = s.attempt(l); err != nil {
				break
			}
		}
		if err != nil || !ran {
			break
		}
		lo2, hi2 := s.boundary()
		if sameLoad(lo, lo2) && sameLoad(hi, hi2) {
			break
		}
		if !math.IsNaN(lo2) && !math.IsNaN(hi2) {
			err = s.bisect(lo2, hi2)
		}
	}
	if err != nil && !errors.Is(err, errProbeLimit) {
		return SearchResult{}, err
	}
	r := s.result()
	if errors.Is(err, errProbeLimit) {
		r.Note = joinNotes(r.Note, fmt.Sprintf("stopped after %d probes, the most a search runs", maxProbes))
	}
	return r, nil
}

func sameLoad(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// explore doubles from From until a load fails or Max passes, then
// bisects.
func (s *searcher) explore() error {
	lo, hi := math.NaN(), math.NaN()
	for x := s.spec.From; ; x = s.next(x) {
		pass, err := s.probe(x)
		if err != nil {
			return err
		}
		if !pass {
			hi = x
			break
		}
		lo = x
		if x >= s.spec.Max {
			break
		}
	}
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return nil
	}
	return s.bisect(lo, hi)
}

// bisect narrows a bracket whose lo passed and hi failed until it is
// tight.
func (s *searcher) bisect(lo, hi float64) error {
	for !s.tight(lo, hi) {
		mid := s.mid(lo, hi)
		if mid <= lo || mid >= hi {
			return nil
		}
		pass, err := s.probe(mid)
		if err != nil {
			return err
		}
		if pass {
			lo = mid
		} else {
			hi = mid
		}
	}
	return nil
}

// next is the load after x in the doubling phase, at most Max.
func (s *searcher) next(x float64) float64 {
	return min(2*x, s.spec.Max)
}

// mid is the load between lo and hi to probe next: a whole number for
// concurrency.
func (s *searcher) mid(lo, hi float64) float64 {
	m := (lo + hi) / 2
	if s.spec.Over == "concurrency" {
		return math.Floor(m)
	}
	return m
}

// tight reports whether the bracket is as narrow as the search asks, or
// as narrow as whole numbers allow.
func (s *searcher) tight(lo, hi float64) bool {
	if s.spec.Over == "concurrency" && hi-lo <= 1 {
		return true
	}
	return hi-lo <= s.spec.Tolerance*lo
}

// fit returns the loads probed, in increasing order, and a
// non-increasing attainment fitted to them (pool adjacent violators,
// weighted by requests), so that one noisy probe cannot move the answer.
func (s *searcher) fit() (loads, fitted []float64) {
	for l := range s.seen {
		loads = append(loads, l)
	}
	sort.Float64s(loads)
	return loads, isotonic(loads, s.seen)
}

// boundary is the highest load the fit passes and the lowest above it,
// each NaN when there is none.
func (s *searcher) boundary() (passing, failing float64) {
	loads, fitted := s.fit()
	passing, failing = math.NaN(), math.NaN()
	i := -1
	for j := range loads {
		if fitted[j] >= s.spec.Attainment {
			i = j
		}
	}
	if i >= 0 {
		passing = loads[i]
	}
	if i+1 < len(loads) {
		failing = loads[i+1]
	}
	return passing, failing
}

// result reads the search's answer from the fit.
func (s *searcher) result() SearchResult {
	r := SearchResult{Over: s.spec.Over, Target: s.spec.Attainment, Step: -1, Probes: s.probes}
	loads, fitted := s.fit()
	overruled := false
	for i, l := range loads {
		if s.seen[l].verdict == verdictUncertain {
			r.Uncertain++
		}
		if s.passed(l) != (fitted[i] >= s.spec.Attainment) {
			overruled = true
		}
	}
	passing, failing := s.boundary()
	if !math.IsNaN(passing) {
		r.Passing = &passing
		if steps := s.seen[passing].steps; len(steps) > 0 {
			r.Step = steps[len(steps)-1]
		}
	}
	if !math.IsNaN(failing) {
		r.Failing = &failing
		r.Binding = binding(s.seen[failing].missed)
	}
	switch {
	case len(loads) == 0:
	case r.Passing == nil:
		r.Note = fmt.Sprintf("no load from %s passed", formatLoad(s.spec.From))
	case r.Failing == nil:
		r.Note = fmt.Sprintf("every load up to max = %s passed", formatLoad(s.spec.Max))
	}
	if overruled {
		r.Note = joinNotes(r.Note, "a probe's verdict went against the loads around it; the monotone fit decided")
	}
	return r
}

// passed is the verdict the probes at a load reached on their own.
func (s *searcher) passed(load float64) bool {
	p := s.seen[load]
	switch p.verdict {
	case verdictPass:
		return true
	case verdictUncertain:
		return share(p.good, p.total) >= s.spec.Attainment
	}
	return false
}

// isotonic returns, for loads in increasing order, the weighted
// non-increasing fit of their attainments.
func isotonic(loads []float64, seen map[float64]*pooled) []float64 {
	type block struct {
		sum, weight float64
		n           int
	}
	var blocks []block
	for _, l := range loads {
		p := seen[l]
		w := float64(max(p.total, 1))
		v := share(p.good, p.total)
		if p.stopped {
			// Stopped once it could no longer pass: what it measured
			// before is not a fair share.
			v = min(v, math.Nextafter(0, 1))
		}
		blocks = append(blocks, block{sum: v * w, weight: w, n: 1})
		for len(blocks) > 1 {
			a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
			if a.sum/a.weight >= b.sum/b.weight {
				break
			}
			blocks = append(blocks[:len(blocks)-2], block{sum: a.sum + b.sum, weight: a.weight + b.weight, n: a.n + b.n})
		}
	}
	var out []float64
	for _, b := range blocks {
		for range b.n {
			out = append(out, b.sum/b.weight)
		}
	}
	return out
}

// binding is the objective most requests missed; ties go to the first in
// the order objectives are listed.
func binding(missed map[string]int) string {
	best, n := "", 0
	for _, o := range []string{workload.ObjectiveTTFT, workload.ObjectiveTPOT, workload.ObjectiveITL, workload.ObjectiveE2EL, workload.ObjectiveFailed} {
		if missed[o] > n {
			best, n = o, missed[o]
		}
	}
	return best
}

// wilson is the Wilson score interval of good out of n at 95 %.
func wilson(good, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	p, nf := float64(good)/float64(n), float64(n)
	z2 := z95 * z95
	denom := 1 + z2/nf
	center := (p + z2/(2*nf)) / denom
	half := z95 * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / denom
	return max(0, center-half), min(1, center+half)
}

func share(good, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(good) / float64(n)
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func formatLoad(l float64) string { return strconv.FormatFloat(l, 'f', -1, 64) }

// probeWatch ends a probe as soon as it can no longer pass: when more of
// its planned requests have missed the SLO than the attainment allows,
// whatever the rest do; or when it is failing and the server saturating,
// its queue growing through the probe, seen as TTFT rising past the
// objective (which a probe bounded by time, with no plan to count
// against, relies on).
type probeWatch struct {
	slo        workload.SLO
	attainment float64
	planned    int // measured requests, 0 for a probe bounded by time
	allowed    int // how many may miss
	bad, done  int
	ttfts      []time.Duration // of requests that finished, in finishing order
}

func newProbeWatch(slo workload.SLO, planned int, attainment float64) *probeWatch {
	// A little slack keeps 0.1 × 20 from rounding down to 1.
	allowed := int(math.Floor((1-attainment)*float64(planned) + 1e-9))
	return &probeWatch{slo: slo, attainment: attainment, planned: planned, allowed: allowed}
}

// saturationMin is how many finished requests the TTFT trend is read
// from: a quarter of them on each side.
const saturationMin = 32

// add counts a finished measured request and says why the probe should
// stop, or "".
func (w *probeWatch) add(r workload.Record) string {
	if r.Warmup || workload.IsCutOff(r.Err) {
		return ""
	}
	w.done++
	if len(w.slo.Missed(r)) > 0 {
		w.bad++
	}
	if w.planned > 0 && w.bad > w.allowed {
		return fmt.Sprintf("%d of its %d requests had missed the SLO, more than the attainment allows", w.bad, w.planned)
	}
	if r.OK() {
		w.ttfts = append(w.ttfts, r.TTFT)
	}
	failing := float64(w.bad) > (1-w.attainment)*float64(w.done)
	// The trend is read every few requests: it moves slowly, and reading
	// it sorts.
	if w.slo.TTFT > 0 && failing && len(w.ttfts) >= saturationMin && w.done%8 == 0 {
		q := len(w.ttfts) / 4
		first, last := median(w.ttfts[:q]), median(w.ttfts[len(w.ttfts)-q:])
		if last > w.slo.TTFT && last > 2*first {
			return fmt.Sprintf("the server was saturating: the median TTFT rose from %s to %s through the probe, past the objective", first.Round(time.Millisecond), last.Round(time.Millisecond))
		}
	}
	return ""
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
