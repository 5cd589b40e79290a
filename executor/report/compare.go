package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/internal/safetext"
)

// Compare writes runs side by side: for two runs, what differs in their
// manifests, then the loads they have in common, matched by server and
// load, with the relative change of each figure and whether it is more
// than noise; for any runs, their servers ranked together at their
// capacity.
func Compare(w io.Writer, runs ...executor.StoredRun) error {
	if len(runs) == 2 {
		if err := ManifestDiff(w, runs[0], runs[1]); err != nil {
			return err
		}
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

// ManifestDiff writes the manifest fields two runs disagree on, those
// that make them different experiments marked.
func ManifestDiff(w io.Writer, a, b executor.StoredRun) error {
	pw := &printer{w: w}
	if a.Manifest == nil || b.Manifest == nil {
		pw.printf("Run #%d has no manifest (recorded by an older benchform): what it measured with is unknown.\n\n", missingManifest(a, b))
		return pw.err
	}
	diffs := executor.DiffManifests(*a.Manifest, *b.Manifest)
	if len(diffs) == 0 {
		pw.printf("The manifests of runs #%d and #%d agree.\n\n", a.ID, b.ID)
		return pw.err
	}
	pw.printf("The manifests of runs #%d and #%d differ (* changes the experiment):\n", a.ID, b.ID)
	table := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	table.Header("", "field", fmt.Sprintf("#%d", a.ID), fmt.Sprintf("#%d", b.ID))
	for _, d := range diffs {
		mark := ""
		if d.Defining {
			mark = "*"
		}
		if err := table.Append([]string{mark, d.Key, orNone(d.A), orNone(d.B)}); err != nil {
			return err
		}
	}
	if pw.err != nil {
		return pw.err
	}
	if err := table.Render(); err != nil {
		return err
	}
	pw.printf("\n")
	return pw.err
}

func missingManifest(a, b executor.StoredRun) int64 {
	if a.Manifest == nil {
		return a.ID
	}
	return b.ID
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return safetext.Line(s)
}

// compareSteps writes the loads two runs have in common. With repeats on
// both sides a change is significant when Welch's t-test rejects equal
// means at the runs' confidence level; single runs have no interval, and
// say so.
func compareSteps(w io.Writer, a, b executor.StoredRun) error {
	pw := &printer{w: w}
	pw.printf("Comparing run #%d (%s) with run #%d (%s)\n", a.ID, a.Scenario, b.ID, b.Scenario)
	level := max(a.Confidence, b.Confidence)
	if level == 0 {
		level = 0.95
	}
	type key struct{ server, label string }
	groupsB := executor.GroupSteps(b)
	byKey := map[key]executor.StepGroup{}
	for _, g := range groupsB {
		byKey[key{g.Server, g.Label}] = g
	}
	table := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	table.Header("server", "load", "metric", fmt.Sprintf("#%d", a.ID), fmt.Sprintf("#%d", b.ID), "change", "verdict")
	matched, single, repeated := 0, false, false
	for _, ga := range executor.GroupSteps(a) {
		gb, ok := byKey[key{ga.Server, ga.Label}]
		if !ok {
			continue
		}
		matched++
		for _, f := range executor.Figures(ga.Steps[0].Percentiles) {
			if !f.Compare {
				continue
			}
			ia, okA := ga.Figures[f.Key]
			ib, okB := gb.Figures[f.Key]
			if !okA || !okB {
				continue
			}
			name := f.Header
			if f.Unit == "ms" {
				name += " ms"
			}
			v := verdict(ia, ib, level)
			if ia.N < 2 || ib.N < 2 {
				single = true
			} else {
				repeated = true
			}
			row := []string{ga.Server, loadLabel(ga.Steps[0]), name, intervalCell(ia, 2), intervalCell(ib, 2), change(ia.Mean, ib.Mean), v}
			if err := table.Append(row); err != nil {
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
	if err := table.Render(); err != nil {
		return err
	}
	if repeated {
		pw.printf("Values are means ± half the width of their %s interval over the repeats; a change is significant when Welch's t-test rejects equal means at that level.\n", percent(level))
	}
	if single {
		pw.printf("A run whose steps ran once has no interval: its changes cannot be told from noise. Set load { repeat = 3 } or more on both.\n")
	}
	return pw.err
}

// verdict says whether a change between two intervals is more than noise.
func verdict(a, b executor.Interval, level float64) string {
	if a.N < 2 || b.N < 2 {
		return "no interval"
	}
	p := executor.WelchP(a, b)
	if p < 1-level {
		return fmt.Sprintf("significant (%s)", pValue(p))
	}
	return fmt.Sprintf("within noise (%s)", pValue(p))
}

func pValue(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	return "p=" + strconv.FormatFloat(p, 'f', 3, 64)
}

func percent(level float64) string {
	return strconv.FormatFloat(level*100, 'f', -1, 64) + " %"
}

// intervalCell shows an interval as its mean and half-width, or its one
// value.
func intervalCell(in executor.Interval, decimals int) string {
	if in.N > 1 {
		return num(in.Mean, decimals) + " ±" + num(in.HalfWidth(), decimals)
	}
	return num(in.Mean, decimals)
}

func change(a, b float64) string {
	if a == 0 {
		return "-"
	}
	return strconv.FormatFloat((b-a)/a*100, 'f', 1, 64) + "%"
}

// Manifest writes a run's manifest one field a line.
func Manifest(w io.Writer, run executor.StoredRun) error {
	pw := &printer{w: w}
	if run.Manifest == nil {
		pw.printf("Run #%d has no manifest (recorded by an older benchform).\n", run.ID)
		return pw.err
	}
	fields := run.Manifest.Fields()
	width := 0
	for _, f := range fields {
		width = max(width, len(f.Key))
	}
	pw.printf("Manifest of run #%d:\n", run.ID)
	for _, f := range fields {
		pw.printf("  %-*s  %s\n", width, f.Key, safetext.Line(f.Value))
	}
	return pw.err
}
