package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
)

// Decides reports whether a run answers a comparison: it has several
// servers, or searched for a capacity.
func Decides(run executor.StoredRun) bool {
	if len(run.Outcome.Searches) > 0 {
		return true
	}
	seen := map[string]bool{}
	for _, s := range run.Steps {
		seen[s.Server] = true
	}
	return len(seen) > 1
}

// decisionColumn is one column of the decision table: its header and the
// cell of a decision, which names its run when runs is set.
type decisionColumn struct {
	header string
	cell   func(d executor.Decision, runs bool) string
}

var decisionColumns = []decisionColumn{
	{"rank", func(d executor.Decision, _ bool) string {
		if d.Best {
			return strconv.Itoa(d.Rank) + " best"
		}
		return strconv.Itoa(d.Rank)
	}},
	{"server", func(d executor.Decision, runs bool) string {
		if runs {
			return fmt.Sprintf("%s #%d", d.Server, d.Run)
		}
		return d.Server
	}},
	{"GPU", func(d executor.Decision, _ bool) string {
		switch {
		case d.GPU == "":
			return "-"
		case d.GPUCount > 1:
			return fmt.Sprintf("%d × %s", d.GPUCount, safetext.Line(d.GPU))
		}
		return safetext.Line(d.GPU)
	}},
	{"engine", func(d executor.Decision, _ bool) string { return orDash(d.Engine) }},
	{"capacity", func(d executor.Decision, _ bool) string { return loadText(d.Capacity, d.Over) }},
	{"first failing", func(d executor.Decision, _ bool) string { return loadText(d.Failing, d.Over) }},
	{"bound by", func(d executor.Decision, _ bool) string { return orDash(d.Binding) }},
	{"req/s", func(d executor.Decision, _ bool) string { return optional(d.RequestThroughput, 2) }},
	{"out tok/s", func(d executor.Decision, _ bool) string { return optional(d.OutputThroughput, 1) }},
	{"tok/s/GPU", func(d executor.Decision, _ bool) string { return optional(d.OutputThroughputPerGPU, 1) }},
	{"tok/s/user", func(d executor.Decision, _ bool) string { return optional(d.OutputThroughputPerUser, 1) }},
	{"J/out tok", func(d executor.Decision, _ bool) string { return optional(d.JPerOutputToken, 3) }},
	{"$/M out tok", func(d executor.Decision, _ bool) string { return optional(d.USDPerMillionOutput, 2) }},
}

func loadText(l *float64, over string) string {
	switch {
	case l == nil:
		return "-"
	case over == "rate":
		return strconv.FormatFloat(*l, 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(*l, 'f', -1, 64)
}

func optional(f *float64, decimals int) string {
	if f == nil {
		return "-"
	}
	return num(*f, decimals)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// DecisionTable writes the decision of one or more runs: a row per
// server at its capacity, best first, and what capacity means.
func DecisionTable(w io.Writer, ds []executor.Decision) error {
	runs := map[int64]bool{}
	for _, d := range ds {
		runs[d.Run] = true
	}
	var header []any
	for _, c := range decisionColumns {
		header = append(header, c.header)
	}
	table := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: decisionAlign()}))
	table.Header(header...)
	for _, d := range ds {
		row := make([]string, len(decisionColumns))
		for i, c := range decisionColumns {
			row[i] = c.cell(d, len(runs) > 1)
		}
		if err := table.Append(row); err != nil {
			return err
		}
	}
	if err := table.Render(); err != nil {
		return err
	}
	pw := &printer{w: w}
	pw.printf("%s\n", decisionFootnote(ds))
	return pw.err
}

func decisionAlign() []tw.Align {
	align := make([]tw.Align, len(decisionColumns))
	for i := range align {
		align[i] = tw.AlignRight
	}
	for _, i := range []int{1, 2, 3, 6} {
		align[i] = tw.AlignLeft
	}
	return align
}

// decisionFootnote says where each capacity comes from and how the rows
// are ranked.
func decisionFootnote(ds []executor.Decision) string {
	bases := map[string]bool{}
	for _, d := range ds {
		bases[d.Basis] = true
	}
	lines := []string{"Capacity: " + strings.Join(basisWords(bases), "; ") + ". Figures at capacity; ranked by $ per million output tokens, then output tok/s per GPU."}
	return strings.Join(lines, "\n")
}

func basisWords(bases map[string]bool) []string {
	var out []string
	if bases[executor.BasisSearch] {
		out = append(out, "the highest load a search found within every objective")
	}
	if bases[executor.BasisSLO] {
		out = append(out, fmt.Sprintf("the highest load run whose requests met every objective %g %% of the time", 100*lang.DefaultAttainment))
	}
	if bases[executor.BasisThroughput] {
		out = append(out, "with no objectives, the load with the most output tokens per second")
	}
	return out
}

// DecisionCSV writes decisions as CSV, with the keys of their JSON.
func DecisionCSV(w io.Writer, ds []executor.Decision) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"run", "rank", "best", "server", "engine", "gpu", "gpu_count", "basis", "over", "capacity", "first_failing", "bound_by", "step",
		"request_throughput", "output_throughput", "output_throughput_per_gpu", "output_throughput_per_user", "j_per_output_token", "usd_per_million_output_tokens"}); err != nil {
		return err
	}
	raw := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'f', -1, 64)
	}
	for _, d := range ds {
		if err := cw.Write([]string{strconv.FormatInt(d.Run, 10), strconv.Itoa(d.Rank), strconv.FormatBool(d.Best), d.Server,
			safetext.Line(d.Engine), safetext.Line(d.GPU), strconv.Itoa(d.GPUCount), d.Basis, d.Over, raw(d.Capacity), raw(d.Failing), d.Binding, strconv.Itoa(d.Step),
			raw(d.RequestThroughput), raw(d.OutputThroughput), raw(d.OutputThroughputPerGPU), raw(d.OutputThroughputPerUser), raw(d.JPerOutputToken), raw(d.USDPerMillionOutput)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
