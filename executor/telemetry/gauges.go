package telemetry

import (
	"math"
	"sort"

	"github.com/benchform/benchform/engines"
)

// gaugeTotal reads a gauge as gaugeByReplica does and sums the replicas.
func gaugeTotal(s Scrape, q engines.Quantity) (float64, bool) {
	m := gaugeByReplica(s, q)
	if len(m) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range m {
		sum += v
	}
	return sum, true
}

// gaugeByReplica reads a gauge per replica. Several series of one replica
// (SGLang's tp_rank/pp_rank, prometheus_client's per-process gauges) report
// the same scheduler, so the largest is taken, not the sum.
func gaugeByReplica(s Scrape, q engines.Quantity) map[string]float64 {
	f, ok := find(&s, q)
	if !ok {
		return nil
	}
	out := map[string]float64{}
	for _, ser := range s.Families[f.Name].Series {
		if !finite(ser.Value) {
			continue
		}
		r := replicaOf(ser.Labels)
		if v, ok := out[r]; !ok || ser.Value > v {
			out[r] = ser.Value
		}
	}
	return out
}

// sampledGauges are one replica's (or the total's) gauge readings over a
// window, sample by sample.
type sampledGauges struct{ running, waiting, kv, gen []float64 }

// Gauges are computed from the samples taken during the window only. The
// before and after scrapes bracket the load, when the server is idle: a
// window shorter than the sampling interval has no gauge figures rather
// than a peak of zero.
func addGauges(samples []ServerSample, replica func(string) *ReplicaStats) {
	by := map[string]*sampledGauges{}
	for _, s := range samples {
		for _, r := range s.Replicas {
			if by[r.Replica] == nil {
				by[r.Replica] = &sampledGauges{}
			}
			g := by[r.Replica]
			appendIf(&g.running, r.Running)
			appendIf(&g.waiting, r.Waiting)
			appendIf(&g.kv, r.KVCacheUsage)
			appendIf(&g.gen, r.GenThroughput)
		}
	}
	for r, g := range by {
		if len(g.running)+len(g.waiting)+len(g.kv)+len(g.gen) == 0 {
			continue
		}
		g.fill(replica(r))
	}
}

// fillTotalGauges recombines the replicas sample by sample: running,
// waiting and throughput add up, KV usage is the replicas' mean.
func fillTotalGauges(t *ReplicaStats, samples []ServerSample) {
	var g sampledGauges
	for _, s := range samples {
		var r, w, k, th []float64
		for _, rs := range s.Replicas {
			appendIf(&r, rs.Running)
			appendIf(&w, rs.Waiting)
			appendIf(&k, rs.KVCacheUsage)
			appendIf(&th, rs.GenThroughput)
		}
		if len(r) > 0 {
			g.running = append(g.running, sumOf(r))
		}
		if len(w) > 0 {
			g.waiting = append(g.waiting, sumOf(w))
		}
		if len(k) > 0 {
			g.kv = append(g.kv, sumOf(k)/float64(len(k)))
		}
		if len(th) > 0 {
			g.gen = append(g.gen, sumOf(th))
		}
	}
	g.fill(t)
}

func (g *sampledGauges) fill(s *ReplicaStats) {
	s.Running = gaugeStats(g.running)
	s.Waiting = gaugeStats(g.waiting)
	s.KVCacheUsage = gaugeStats(g.kv)
	s.GenThroughput = gaugeStats(g.gen)
	if len(g.waiting) > 0 {
		s.QueuedFraction = num(fraction(g.waiting, func(v float64) bool { return v > 0 }))
	}
	if len(g.kv) > 0 {
		s.KVCacheSaturatedFraction = num(fraction(g.kv, func(v float64) bool { return v >= KVSaturation }))
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
