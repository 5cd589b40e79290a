package telemetry

import (
	"math"
	"sort"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the histogram with the
// semantics of Prometheus's histogram_quantile for classic histograms:
// find the bucket where the cumulative count crosses q·count and
// interpolate linearly inside it, taking 0 as the lower edge of the first
// bucket when its upper bound is positive. A rank that falls in the +Inf
// bucket yields the last finite upper bound, which is then only a lower
// bound of the true value. NaN when the histogram is empty or has fewer than
// two buckets.
func (h Hist) Quantile(q float64) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	b := coalesce(h.Buckets)
	if len(b) < 2 || !math.IsInf(b[len(b)-1].UpperBound, 1) {
		return math.NaN()
	}
	ensureMonotonic(b)
	total := b[len(b)-1].Count
	if total == 0 || math.IsNaN(total) {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].Count >= rank })
	if i == len(b)-1 {
		return b[len(b)-2].UpperBound
	}
	if i == 0 && b[0].UpperBound <= 0 {
		return b[0].UpperBound
	}
	start, end, count := 0.0, b[i].UpperBound, b[i].Count
	if i > 0 {
		start = b[i-1].UpperBound
		count -= b[i-1].Count
		rank -= b[i-1].Count
	}
	if count == 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// aboveLastBound is the number of observations in the +Inf bucket, beyond
// the last finite bound.
func (h Hist) aboveLastBound() (n, bound float64) {
	b := coalesce(h.Buckets)
	if len(b) < 2 {
		return 0, math.NaN()
	}
	return b[len(b)-1].Count - b[len(b)-2].Count, b[len(b)-2].UpperBound
}

// coalesce sorts buckets and merges duplicate bounds, as Prometheus does
// before computing a quantile.
func coalesce(in []Bucket) []Bucket {
	b := append([]Bucket(nil), in...)
	sort.SliceStable(b, func(i, j int) bool { return b[i].UpperBound < b[j].UpperBound })
	out := b[:0]
	for _, x := range b {
		if n := len(out); n > 0 && out[n-1].UpperBound == x.UpperBound {
			out[n-1].Count += x.Count
			continue
		}
		out = append(out, x)
	}
	return out
}

// ensureMonotonic repairs cumulative counts that decrease, which happens
// when buckets of one histogram are read at slightly different times (the
// precision loss Prometheus tolerates the same way).
func ensureMonotonic(b []Bucket) {
	m := math.Inf(-1)
	for i := range b {
		if b[i].Count > m {
			m = b[i].Count
		} else {
			b[i].Count = m
		}
	}
}

// histDelta returns after − before bucket by bucket, and whether any part
// went down (a restart). Bounds missing from before count as zero there.
func histDelta(before, after *Hist) (d Hist, decreased bool) {
	if after == nil {
		return Hist{}, false
	}
	if before == nil {
		return cloneHist(*after), false
	}
	prev := make(map[float64]float64, len(before.Buckets))
	for _, b := range before.Buckets {
		prev[b.UpperBound] = b.Count
	}
	d = Hist{
		Count:  after.Count - before.Count,
		Sum:    after.Sum - before.Sum,
		HasSum: after.HasSum && before.HasSum,
	}
	if d.Count < 0 {
		decreased = true
	}
	for _, b := range after.Buckets {
		c := b.Count - prev[b.UpperBound]
		if c < 0 {
			decreased = true
		}
		d.Buckets = append(d.Buckets, Bucket{UpperBound: b.UpperBound, Count: c})
	}
	if !after.HasSum {
		d.HasSum = false
	}
	return d, decreased
}

// histAdd adds b into a, bucket by bucket. Bounds present in only one of
// them are dropped, as a quantile over mismatched bounds would be wrong.
func histAdd(a, b Hist) Hist {
	if len(a.Buckets) == 0 && a.Count == 0 && !a.HasSum {
		return cloneHist(b)
	}
	other := make(map[float64]float64, len(b.Buckets))
	for _, x := range b.Buckets {
		other[x.UpperBound] = x.Count
	}
	out := Hist{Count: a.Count + b.Count, Sum: a.Sum + b.Sum, HasSum: a.HasSum && b.HasSum}
	for _, x := range a.Buckets {
		if c, ok := other[x.UpperBound]; ok {
			out.Buckets = append(out.Buckets, Bucket{UpperBound: x.UpperBound, Count: x.Count + c})
		}
	}
	return out
}

func cloneHist(h Hist) Hist {
	h.Buckets = append([]Bucket(nil), h.Buckets...)
	return h
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
