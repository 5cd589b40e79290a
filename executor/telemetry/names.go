package telemetry

import (
	"strings"

	"github.com/benchform/benchform/engines"
)

// Families that belong to no engine: the HTTP server's and
// prometheus_client's own. Scrape.Family tries each name with and without
// _total.
var (
	httpRequestNames  = []string{"http_requests_total"}
	processStartNames = []string{"process_start_time_seconds"}
)

// quantityFamilies holds, for each quantity, the families of every engine
// that carry it (engines.FamiliesOf), read once.
var quantityFamilies = func() map[engines.Quantity][]engines.Family {
	out := map[engines.Quantity][]engines.Family{}
	for _, e := range engines.All() {
		if e.Metrics == nil {
			continue
		}
		for q := range e.Metrics.Families {
			if _, done := out[q]; !done {
				out[q] = engines.FamiliesOf(q)
			}
		}
	}
	return out
}()

// readFamilies names every family some quantity is read from, with and
// without _total.
var readFamilies = func() map[string]bool {
	out := map[string]bool{}
	for _, fams := range quantityFamilies {
		for _, f := range fams {
			base := strings.TrimSuffix(f.Name, "_total")
			out[base], out[base+"_total"] = true, true
		}
	}
	return out
}()

// Labels the engines give their series, read once.
var (
	replicaLabels = engines.ReplicaLabels()
	finishLabels  = engines.FinishLabels()
	modelLabels   = engines.ModelLabels()
)

// namesOf lists the family names that carry q.
func namesOf(q engines.Quantity) []string {
	fams := quantityFamilies[q]
	out := make([]string, len(fams))
	for i, f := range fams {
		out[i] = f.Name
	}
	return out
}

// find returns the family of q a scrape has, under the spelling it has.
func find(s *Scrape, q engines.Quantity) (engines.Family, bool) {
	if s == nil {
		return engines.Family{}, false
	}
	for _, f := range quantityFamilies[q] {
		if got, ok := s.Family(f.Name); ok {
			return engines.Family{Name: got.Name, Sum: f.Sum}, true
		}
	}
	return engines.Family{}, false
}

// resolve finds the family of q a window has, preferring the after scrape,
// where new series are most likely to exist, so that both scrapes are read
// under one spelling.
func resolve(before, after *Scrape, q engines.Quantity) (engines.Family, bool) {
	for _, s := range []*Scrape{after, before} {
		if f, ok := find(s, q); ok {
			return f, true
		}
	}
	return engines.Family{}, false
}

// replicaOf is the data-parallel replica a series belongs to: the value of
// its engine's replica label, "" for a server that labels none.
func replicaOf(labels map[string]string) string {
	for _, l := range replicaLabels {
		if v, ok := labels[l]; ok {
			return v
		}
	}
	return ""
}
