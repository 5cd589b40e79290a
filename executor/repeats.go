package executor

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is what a figure's values over a step's repeats say: their
// mean, sample standard deviation, coefficient of variation, and the
// two-sided interval of the mean at a confidence level (Student's t with
// N-1 degrees of freedom). With one value the interval is that value.
type Interval struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	CV   float64 `json:"cv"`
	Low  float64 `json:"ci_low"`
	High float64 `json:"ci_high"`
	N    int     `json:"n"`
}

// NewInterval summarises values at a confidence level between 0 and 1.
func NewInterval(values []float64, level float64) Interval {
	in := Interval{N: len(values)}
	switch len(values) {
	case 0:
		return in
	case 1:
		in.Mean, in.Low, in.High = values[0], values[0], values[0]
		return in
	}
	in.Mean, in.Std = stat.MeanStdDev(values, nil)
	if in.Mean != 0 {
		in.CV = in.Std / math.Abs(in.Mean)
	}
	half := tQuantile(level, len(values)-1) * in.Std / math.Sqrt(float64(len(values)))
	in.Low, in.High = in.Mean-half, in.Mean+half
	return in
}

// HalfWidth is half the interval's width: the ± of "52.1 ±1.3".
func (in Interval) HalfWidth() float64 { return (in.High - in.Low) / 2 }

// tQuantile is the two-sided Student's t quantile of a confidence level.
func tQuantile(level float64, df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(1 - (1-level)/2)
}

// WelchP is the two-sided p-value of Welch's t-test that two intervals'
// values have the same mean; 1 when either has fewer than two values.
func WelchP(a, b Interval) float64 {
	if a.N < 2 || b.N < 2 {
		return 1
	}
	va, vb := a.Std*a.Std/float64(a.N), b.Std*b.Std/float64(b.N)
	if va+vb == 0 {
		if a.Mean == b.Mean {
			return 1
		}
		return 0
	}
	t := (a.Mean - b.Mean) / math.Sqrt(va+vb)
	df := (va + vb) * (va + vb) / (va*va/float64(a.N-1) + vb*vb/float64(b.N-1))
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.CDF(-math.Abs(t))
}

// StepGroup is a step and its repeats: the steps of one server at one
// load, in the order they ran.
type StepGroup struct {
	Server string
	Label  string
	Steps  []StepSummary
	// Figures hold, by figure key, the interval of each figure every
	// repeat has.
	Figures map[string]Interval
	// Unstable says which figures varied more between repeats than a
	// measurement should.
	Unstable []string
}

// Instability bounds the coefficient of variation of a figure over a
// step's repeats: past it, the measurement is unstable.
const (
	MaxCVThroughput = 0.10
	MaxCVTail       = 0.20
)

// GroupSteps gathers a run's steps by server and load, with the interval
// of every figure over the repeats at the run's confidence level. A run
// without repeats has one step per group.
func GroupSteps(run StoredRun) []StepGroup {
	level := run.Confidence
	if level == 0 {
		level = 0.95
	}
	var groups []StepGroup
	at := map[[2]string]int{}
	for _, s := range run.Steps {
		k := [2]string{s.Server, s.Label}
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, StepGroup{Server: s.Server, Label: s.Label})
		}
		groups[i].Steps = append(groups[i].Steps, s)
	}
	for i := range groups {
		g := &groups[i]
		g.Figures = map[string]Interval{}
		for _, f := range Figures(g.Steps[0].Percentiles) {
			var vals []float64
			for _, s := range g.Steps {
				if v, ok := f.Value(s); ok {
					vals = append(vals, v)
				}
			}
			if len(vals) != len(g.Steps) {
				continue
			}
			in := NewInterval(vals, level)
			g.Figures[f.Key] = in
			if limit, ok := cvLimit(f.Key); ok && in.N > 1 && in.CV > limit {
				g.Unstable = append(g.Unstable, fmt.Sprintf("%s varied by %.0f %% between repeats (coefficient of variation; more than %.0f %% is unstable)", f.Key, 100*in.CV, 100*limit))
			}
		}
	}
	return groups
}

// cvLimit is the coefficient of variation past which a figure's repeats
// disagree: 10 % for throughputs, 20 % for the 99th percentiles of the
// latencies users are served. The client's own queue and lag are its
// diagnostics, not the server's measurement, and have none.
func cvLimit(key string) (float64, bool) {
	switch {
	case strings.HasSuffix(key, "_throughput"):
		return MaxCVThroughput, true
	case strings.HasPrefix(key, "p99_") && !strings.HasPrefix(key, "p99_client_"):
		return MaxCVTail, true
	}
	return 0, false
}

// Repeated reports whether a run's steps ran more than once each.
func (r StoredRun) Repeated() bool {
	for _, s := range r.Steps {
		if s.Repeat > 0 {
			return true
		}
	}
	return false
}
