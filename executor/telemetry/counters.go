package telemetry

import "github.com/benchform/benchform/engines"

// counterByReplica sums a counter's series per replica and, when split
// names labels, per value of the first of them present on a series (""
// when none is). A family read by its sum (engines.Family.Sum) gives each
// replica's histogram sum.
func counterByReplica(s *Scrape, f engines.Family, split []string) map[string]map[string]float64 {
	if s == nil {
		return nil
	}
	if f.Sum {
		out := map[string]map[string]float64{}
		for r, h := range histByReplica(s, f.Name) {
			if h.HasSum {
				out[r] = map[string]float64{"": h.Sum}
			}
		}
		return out
	}
	fam, ok := s.Families[f.Name]
	if !ok {
		return nil
	}
	out := map[string]map[string]float64{}
	for _, ser := range fam.Series {
		if !finite(ser.Value) {
			continue
		}
		r := replicaOf(ser.Labels)
		sub := ""
		for _, l := range split {
			if v, ok := ser.Labels[l]; ok {
				sub = v
				break
			}
		}
		if out[r] == nil {
			out[r] = map[string]float64{}
		}
		out[r][sub] += ser.Value
	}
	return out
}

// histByReplica adds a histogram's series per replica.
func histByReplica(s *Scrape, name string) map[string]Hist {
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
		r := replicaOf(ser.Labels)
		out[r] = histAdd(out[r], h)
	}
	return out
}

// counterDelta is after − before of a counter quantity per replica and
// split value. A counter that went down counts from zero, the best lower
// bound after a restart (which restartEvidence reports).
func counterDelta(before, after *Scrape, q engines.Quantity, split []string) (map[string]map[string]float64, bool) {
	f, ok := resolve(before, after, q)
	if !ok {
		return nil, false
	}
	b, a := counterByReplica(before, f, split), counterByReplica(after, f, split)
	out := map[string]map[string]float64{}
	for r, subs := range a {
		out[r] = map[string]float64{}
		for sub, v := range subs {
			d := v - b[r][sub]
			if d < 0 {
				d = v
			}
			out[r][sub] = d
		}
	}
	for r := range b {
		if out[r] == nil {
			out[r] = map[string]float64{}
		}
	}
	return out, true
}

// histDeltaByReplica is after − before of a histogram quantity per
// replica; a histogram that went down counts from zero.
func histDeltaByReplica(before, after *Scrape, q engines.Quantity) (map[string]Hist, bool) {
	f, ok := resolve(before, after, q)
	if !ok {
		return nil, false
	}
	b, a := histByReplica(before, f.Name), histByReplica(after, f.Name)
	out := map[string]Hist{}
	for r, h := range a {
		var prev *Hist
		if p, ok := b[r]; ok {
			prev = &p
		}
		d, down := histDelta(prev, &h)
		if down {
			d = cloneHist(h)
		}
		out[r] = d
	}
	return out, true
}

// sumSplits adds a counter delta's split values per replica.
func sumSplits(m map[string]map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for r, subs := range m {
		for _, v := range subs {
			out[r] += v
		}
	}
	return out
}

// addCounters fills every replica's counts from the window's deltas.
// Finished requests keep their reasons where the engine labels them, and
// a reason of "abort" counts the aborted ones unless the engine counts
// them apart.
func addCounters(before, after *Scrape, replica func(string) *ReplicaStats) {
	for _, f := range counterFigures {
		d, ok := counterDelta(before, after, f.q, finishLabels)
		if !ok {
			continue
		}
		for r, subs := range d {
			s := replica(r)
			var n float64
			for _, v := range subs {
				n += v
			}
			*f.field(s) = num(n)
			if _, unlabelled := subs[""]; f.q == engines.RequestsFinished && !unlabelled && len(subs) > 0 {
				s.FinishedByReason = subs
				s.RequestsAborted = num(subs["abort"])
			}
		}
	}
	// An engine that has no queries counter looks every prompt token up
	// in its cache.
	if d, ok := counterDelta(before, after, engines.CachedPromptTokens, nil); ok {
		for r, v := range sumSplits(d) {
			s := replica(r)
			if s.PrefixCacheHits == nil && s.PromptTokens != nil {
				s.PrefixCacheHits = num(v)
				s.PrefixCacheQueries = num(*s.PromptTokens)
			}
		}
	}
}

// addHistograms fills every replica's distributions from the window's
// histogram deltas.
func addHistograms(before, after *Scrape, replica func(string) *ReplicaStats) {
	for _, f := range histogramFigures {
		d, ok := histDeltaByReplica(before, after, f.q)
		if !ok {
			continue
		}
		for r, h := range d {
			*f.field(replica(r)) = distribution(h, f.scale)
		}
	}
}

// httpDelta is the change of the server's HTTP request counter by status,
// leaving out the scrapes themselves.
func httpDelta(before, after *Scrape) map[string]float64 {
	name, ok := resolveName(before, after, httpRequestNames)
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

// resolveName finds the spelling of a family that belongs to no engine.
func resolveName(before, after *Scrape, names []string) (string, bool) {
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
