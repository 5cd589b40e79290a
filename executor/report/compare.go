package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/benchform/benchform/executor"
)

// Compare writes runs side by side: for two runs, the steps they have in
// common, matched by server and load, with the relative change of each
// figure; for any runs, their servers ranked together at their capacity.
func Compare(w io.Writer, runs ...executor.StoredRun) error {
	if len(runs) == 2 {
		if err := compareSteps(w, runs[0], runs[1]); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	pw := &printer{w: w}
	var ids []string
	for _, r := range runs {
		ids = append(ids, fmt.Sprintf("#%d (%s)", r.ID, r.Scenario))
	}
	pw.printf("Servers of runs %s at their capacity:\n", strings.Join(ids, ", "))
	if pw.err != nil {
		return pw.err
	}
	return DecisionTable(w, executor.Decide(runs...))
}

// compareSteps writes the steps two runs have in common.
func compareSteps(w io.Writer, a, b executor.StoredRun) error {
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
		for _, f := range executor.Figures(sa.Percentiles) {
			if !f.Compare {
				continue
			}
			va, okA := f.Value(sa)
			vb, okB := f.Value(sb)
			if !okA || !okB {
				continue
			}
			name := f.Header
			if f.Unit == "ms" {
				name += " ms"
			}
			if err := table.Append([]string{sa.Server, sa.Label, name, num(va, 2), num(vb, 2), change(va, vb)}); err != nil {
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
