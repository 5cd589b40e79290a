package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/benchform/benchform/executor"
)

// compared are the figures compare puts side by side.
var compared = []struct {
	name  string
	value func(executor.StepSummary) float64
}{
	{"out tok/s", func(s executor.StepSummary) float64 { return s.OutputThroughput }},
	{"req/s", func(s executor.StepSummary) float64 { return s.RequestThroughput }},
	{"TTFT p50 ms", latency("median", "ttft")},
	{"ITL p50 ms", latency("median", "itl")},
	{"TPOT p50 ms", latency("median", "tpot")},
	{"E2EL p50 ms", latency("median", "e2el")},
}

func latency(stat, metric string) func(executor.StepSummary) float64 {
	return func(s executor.StepSummary) float64 { return s.Latency[executor.LatencyKey(stat, metric)] }
}

// Compare writes two runs side by side, matching steps by server and load,
// with the relative change of each figure.
func Compare(w io.Writer, a, b executor.StoredRun) error {
	pw := &printer{w: w}
	pw.printf("Comparing run #%d (%s) with run #%d (%s)\n", a.ID, a.Scenario, b.ID, b.Scenario)
	type key struct{ server, label string }
	byKey := map[key]executor.StepSummary{}
	for _, s := range b.Steps {
		byKey[key{s.Server, s.Label}] = s
	}
	table := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	table.Header("server", "load", "metric", fmt.Sprintf("#%d", a.ID), fmt.Sprintf("#%d", b.ID), "change")
	matched := 0
	for _, sa := range a.Steps {
		sb, ok := byKey[key{sa.Server, sa.Label}]
		if !ok {
			continue
		}
		matched++
		for _, m := range compared {
			va, vb := m.value(sa), m.value(sb)
			if err := table.Append([]string{sa.Server, sa.Label, m.name, num(va, 2), num(vb, 2), change(va, vb)}); err != nil {
				return err
			}
		}
	}
	if matched == 0 {
		pw.printf("The runs have no step in common (same server and load).\n")
		return pw.err
	}
	if pw.err != nil {
		return pw.err
	}
	return table.Render()
}

func change(a, b float64) string {
	if a == 0 {
		return "-"
	}
	return strconv.FormatFloat((b-a)/a*100, 'f', 1, 64) + "%"
}
