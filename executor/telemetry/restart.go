package telemetry

import (
	"sort"
	"strings"
)

// restartEvidence names the counter and histogram families that went down
// between two scrapes, and process_start_time_seconds if it changed. Only
// families benchform reads count: engines type some figures as counters
// that are not (llama.cpp's average busy slots per decode).
func restartEvidence(before, after *Scrape) []string {
	if before == nil || after == nil {
		return nil
	}
	var ev []string
	for name, bf := range before.Families {
		if !isCumulative(bf) || !readFamilies[name] {
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
	if name, ok := resolveName(before, after, processStartNames); ok {
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

// sampleRestarts finds token counters that went down from one sample to
// the next: a restart in the middle of the window that the after scrape
// may no longer show.
func sampleRestarts(samples []ServerSample) []string {
	last := map[string][2]float64{}
	for _, s := range samples {
		for _, r := range s.Replicas {
			prev, seen := last[r.Replica]
			cur := [2]float64{deref(r.PromptTokens), deref(r.GenerationTokens)}
			if seen && (cur[0] < prev[0] || cur[1] < prev[1]) {
				return []string{"samples: token counters went down"}
			}
			last[r.Replica] = cur
		}
	}
	return nil
}
