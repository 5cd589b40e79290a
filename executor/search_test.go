package executor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// fakeProbes is a server whose requests meet the SLO with a probability
// that falls from 1 to 0 past capacity, sampled with a seeded generator:
// the search sees what noisy probes give.
type fakeProbes struct {
	capacity float64
	n        int // requests per probe
	rng      *rand.Rand
	loads    []float64
	lie      map[float64]bool // loads whose first probe says every request was good
}

func (f *fakeProbes) run(load float64, decide func(probeOutcome) ProbeInfo) (probeOutcome, error) {
	f.loads = append(f.loads, load)
	p := 1.0
	if load > f.capacity {
		p = math.Max(0, 1-(load-f.capacity)/f.capacity*4)
	}
	out := probeOutcome{step: len(f.loads) - 1, total: f.n, missed: map[string]int{}}
	for range f.n {
		if f.rng.Float64() < p {
			out.good++
		} else {
			out.missed[workload.ObjectiveTTFT]++
		}
	}
	if f.lie[load] {
		delete(f.lie, load)
		out.good, out.missed = f.n, map[string]int{}
	}
	decide(out)
	return out, nil
}

func TestSearchFindsTheKnee(t *testing.T) {
	for _, tt := range []struct {
		name      string
		spec      lang.SearchSpec
		capacity  float64
		maxProbes int
	}{
		{name: "concurrency", spec: lang.SearchSpec{Over: "concurrency", From: 1, Max: 512, Attainment: 0.9, Tolerance: 0.1},
			capacity: 37, maxProbes: 16},
		{name: "rate", spec: lang.SearchSpec{Over: "rate", From: 0.5, Max: 100, Attainment: 0.9, Tolerance: 0.05},
			capacity: 7.3, maxProbes: 16},
		{name: "tight concurrency", spec: lang.SearchSpec{Over: "concurrency", From: 1, Max: 512, Attainment: 0.9, Tolerance: 0.01},
			capacity: 37, maxProbes: 18},
		{name: "capacity at max", spec: lang.SearchSpec{Over: "concurrency", From: 1, Max: 16, Attainment: 0.9, Tolerance: 0.1},
			capacity: 100, maxProbes: 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 5; seed++ {
				f := &fakeProbes{capacity: tt.capacity, n: 100, rng: rand.New(rand.NewPCG(seed, 7))}
				r, err := newSearcher(tt.spec, f.run).search()
				if err != nil {
					t.Fatal(err)
				}
				// The answer brackets the capacity within the tolerance, or
				// within one for whole numbers; at the search's max there
				// is no failing load.
				// Past capacity the share of good requests falls by 4
				// per capacity, so it crosses the target a little above.
				knee := tt.capacity * (1 + (1-tt.spec.Attainment)/4)
				if tt.spec.Over == "concurrency" {
					knee = math.Floor(knee)
				}
				want := min(knee, tt.spec.Max)
				slack := max(tt.spec.Tolerance*want, 1)
				if tt.spec.Over == "rate" {
					slack = tt.spec.Tolerance * want * 1.1
				}
				// Near the knee a probe cannot tell the two sides apart
				// (it is uncertain), so the answer may land on either.
				if r.Passing == nil || math.Abs(*r.Passing-want) > slack {
					t.Errorf("seed %d: passing %s, want within %g of %g (probes %v)", seed, pointer(r.Passing), slack, want, f.loads)
				}
				switch {
				case tt.capacity >= tt.spec.Max:
					if r.Failing != nil || r.Note == "" {
						t.Errorf("seed %d: failing %s, note %q; want none and a note", seed, pointer(r.Failing), r.Note)
					}
				case r.Failing == nil || math.Abs(*r.Failing-want) > slack || r.Binding != workload.ObjectiveTTFT:
					t.Errorf("seed %d: failing %s bound by %q, want within %g of %g by ttft (probes %v)", seed, pointer(r.Failing), r.Binding, slack, want, f.loads)
				case *r.Failing-*r.Passing > slack:
					t.Errorf("seed %d: bracket [%g, %g] wider than %g", seed, *r.Passing, *r.Failing, slack)
				}
				if r.Probes > tt.maxProbes || r.Probes != len(f.loads) {
					t.Errorf("seed %d: %d probes (%d run), want at most %d", seed, r.Probes, len(f.loads), tt.maxProbes)
				}
			}
		})
	}
}

// TestSearchNoiseCannotMoveTheAnswer makes one probe above capacity say
// every request was good: the second look at the boundary catches it, and
// the search ends where it would have without the lie.
func TestSearchNoiseCannotMoveTheAnswer(t *testing.T) {
	spec := lang.SearchSpec{Over: "concurrency", From: 8, Max: 64, Attainment: 0.9, Tolerance: 0.1}
	honest := &fakeProbes{capacity: 20, n: 100, rng: rand.New(rand.NewPCG(3, 3))}
	want, err := newSearcher(spec, honest.run).search()
	if err != nil {
		t.Fatal(err)
	}
	// 8 and 16 pass and 32 fails; bisection probes 24, whose lie says
	// pass, then 28, 26 and 25 fail: on the probes alone the answer would
	// be 24, above a capacity of 20.
	f := &fakeProbes{capacity: 20, n: 100, rng: rand.New(rand.NewPCG(3, 3)), lie: map[float64]bool{24: true}}
	r, err := newSearcher(spec, f.run).search()
	if err != nil {
		t.Fatal(err)
	}
	if r.Passing == nil || *r.Passing != *want.Passing || *r.Failing != *want.Failing {
		t.Errorf("after a lying probe at 24: [%s, %s] (probes %v), want [%s, %s] as without it (probes %v)",
			pointer(r.Passing), pointer(r.Failing), f.loads, pointer(want.Passing), pointer(want.Failing), honest.loads)
	}
}

func TestSearchBelowFrom(t *testing.T) {
	spec := lang.SearchSpec{Over: "concurrency", From: 8, Max: 64, Attainment: 0.9, Tolerance: 0.1}
	f := &fakeProbes{capacity: 2, n: 50, rng: rand.New(rand.NewPCG(1, 1))}
	r, err := newSearcher(spec, f.run).search()
	if err != nil {
		t.Fatal(err)
	}
	if r.Passing != nil || r.Failing == nil || *r.Failing != 8 || r.Probes != 2 || r.Note != "no load from 8 passed" {
		t.Errorf("result %+v after probes %v", r, f.loads)
	}
}

// TestProbeWatchStopsWhenThePassIsLost: with 20 requests planned and an
// attainment of 0.9, the third miss decides the probe.
func TestProbeWatchStopsWhenThePassIsLost(t *testing.T) {
	w := newProbeWatch(workload.SLO{TTFT: 10 * time.Millisecond}, 20, 0.9)
	good := workload.Record{TTFT: 5 * time.Millisecond, E2EL: 20 * time.Millisecond, OutputTokens: 4}
	bad := workload.Record{TTFT: 50 * time.Millisecond, E2EL: 60 * time.Millisecond, OutputTokens: 4}
	for i, r := range []workload.Record{good, bad, good, bad, {Warmup: true, Err: "x"}, {Err: "cut off: the step ended"}} {
		if why := w.add(r); why != "" {
			t.Fatalf("stopped after record %d: %s", i, why)
		}
	}
	if why := w.add(workload.Record{Err: "HTTP 500: x"}); why == "" {
		t.Error("a third miss of 20 requests at 0.9 did not stop the probe")
	}
}

func TestWilson(t *testing.T) {
	for _, tt := range []struct {
		good, n int
		lo, hi  float64
	}{
		{0, 0, 0, 1},
		{64, 64, 0.9434, 1},
		{95, 100, 0.8882, 0.9785},
	} {
		lo, hi := wilson(tt.good, tt.n)
		if math.Abs(lo-tt.lo) > 1e-4 || math.Abs(hi-tt.hi) > 1e-4 {
			t.Errorf("wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.good, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

func pointer(f *float64) string {
	if f == nil {
		return "none"
	}
	return formatLoad(*f)
}
