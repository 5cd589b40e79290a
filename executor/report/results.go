package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/benchform/benchform/executor"
)

// Run is one scenario run as reported.
type Run struct {
	ID       int64
	Scenario string
	Status   string
	Started  time.Time
	Finished time.Time // zero while running
	// Note says how the dataset's token counts were estimated.
	Note  string
	Error string
	Steps []executor.StepSummary
}

// ResultsTable writes a run as a heading and one table row per step.
func ResultsTable(w io.Writer, run Run) error {
	pw := &printer{w: w}
	pw.printf("%s — run #%d, %s", run.Scenario, run.ID, run.Status)
	if !run.Finished.IsZero() {
		pw.printf(" in %s", run.Finished.Sub(run.Started).Round(100*time.Millisecond))
	}
	var servers []string
	seen := map[string]bool{}
	for _, s := range run.Steps {
		if !seen[s.Server] {
			seen[s.Server] = true
			servers = append(servers, s.Server)
		}
	}
	if len(servers) > 0 {
		pw.printf(", against %s", strings.Join(servers, ", "))
	}
	pw.printf("\n")
	if pw.err != nil {
		return pw.err
	}
	if len(run.Steps) == 0 {
		pw.printf("No step finished.\n")
		return pw.err
	}

	percentiles := run.Steps[0].Percentiles
	high := percentiles[len(percentiles)-1]
	hasSLO := run.Steps[0].RequestGoodput != nil
	// One server needs no column of its own; the heading names it.
	multi := len(servers) > 1
	header := []string{"server", "concurrency", "ok", "failed", "req/s", "out tok/s"}
	for _, p := range percentiles {
		header = append(header, "TTFT "+executor.PercentileStat(p))
	}
	header = append(header, "ITL p50", "ITL "+executor.PercentileStat(high), "TPOT p50", "E2EL p50", "E2EL "+executor.PercentileStat(high))
	if hasSLO {
		header = append(header, "goodput req/s", "good %")
	}

	var rows [][]string
	for _, s := range run.Steps {
		label := strconv.Itoa(s.Concurrency)
		if s.Status != "completed" {
			label += " (" + s.Status + ")"
		}
		row := []string{s.Server, label, strconv.Itoa(s.Completed), strconv.Itoa(s.Failed), num(s.RequestThroughput, 2), num(s.OutputThroughput, 1)}
		for _, p := range percentiles {
			row = append(row, num(s.Latency[executor.LatencyKey(executor.PercentileStat(p), "ttft")], 2))
		}
		row = append(row,
			num(s.Latency[executor.LatencyKey("median", "itl")], 2),
			num(s.Latency[executor.LatencyKey(executor.PercentileStat(high), "itl")], 2),
			num(s.Latency[executor.LatencyKey("median", "tpot")], 2),
			num(s.Latency[executor.LatencyKey("median", "e2el")], 1),
			num(s.Latency[executor.LatencyKey(executor.PercentileStat(high), "e2el")], 1),
		)
		if hasSLO {
			row = append(row, num(deref(s.RequestGoodput), 2), num(deref(s.GoodPercent), 1))
		}
		rows = append(rows, row)
	}

	if !multi {
		header = header[1:]
		for i := range rows {
			rows[i] = rows[i][1:]
		}
	}
	align := make([]tw.Align, len(header))
	for i := range align {
		align[i] = tw.AlignRight
	}
	if multi {
		align[0] = tw.AlignLeft
	}
	table := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	table.Header(toAny(header)...)
	if err := table.Bulk(rows); err != nil {
		return err
	}
	if err := table.Render(); err != nil {
		return err
	}
	pw.printf("%s\n", footnote(run))
	for _, s := range run.Steps {
		for _, e := range s.Errors {
			pw.printf("  %s %s: %d × %s\n", s.Server, s.Label, e.Count, e.Message)
		}
	}
	return pw.err
}

// footnote states the definitions behind the columns, as vLLM's benchmark
// defines them, and where token counts came from.
func footnote(run Run) string {
	usage, total := 0, 0
	for _, s := range run.Steps {
		usage += s.TokenSources["usage"]
		for _, n := range s.TokenSources {
			total += n
		}
	}
	lines := []string{
		"Latencies in ms, over successful requests. TTFT: request sent → first token event. ITL: gap between",
		"successive token events (per chunk). TPOT: (E2EL − TTFT) / (output tokens − 1). E2EL: sent → last token",
		"event. Definitions as vLLM's bench serve.",
		fmt.Sprintf("Output tokens from the server's usage report for %d of %d requests, else counted token events.", usage, total),
	}
	if run.Note != "" {
		lines = append(lines, "Dataset: "+run.Note+".")
	}
	return strings.Join(lines, "\n")
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

func num(f float64, decimals int) string {
	return strconv.FormatFloat(f, 'f', decimals, 64)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// stepFields lists a step's figures with vLLM's result keys, in a stable
// order, for JSON and CSV.
func stepFields(s executor.StepSummary) []field {
	f := []field{
		{"server", s.Server},
		{"label", s.Label},
		{"concurrency", s.Concurrency},
		{"status", s.Status},
		{"duration", s.DurationSeconds},
		{"completed", s.Completed},
		{"failed", s.Failed},
		{"total_input_tokens", s.TotalInputTokens},
		{"total_output_tokens", s.TotalOutputTokens},
		{"request_throughput", s.RequestThroughput},
		{"output_throughput", s.OutputThroughput},
		{"total_token_throughput", s.TotalTokenThroughput},
	}
	if s.RequestGoodput != nil {
		f = append(f, field{"request_goodput", *s.RequestGoodput}, field{"good_percent", deref(s.GoodPercent)})
	}
	f = append(f,
		field{"max_output_tokens_per_s", s.MaxOutputTokensPerSec},
		field{"max_concurrent_requests", s.MaxConcurrentRequests},
	)
	stats := []string{"mean", "median", "std"}
	for _, p := range s.Percentiles {
		stats = append(stats, executor.PercentileStat(p))
	}
	for _, m := range executor.LatencyMetrics {
		for _, st := range stats {
			key := executor.LatencyKey(st, m)
			f = append(f, field{key, s.Latency[key]})
		}
	}
	f = append(f, field{"output_tokens_from_usage", s.TokenSources["usage"]}, field{"output_tokens_from_chunks", s.TokenSources["chunks"]})
	return f
}

type field struct {
	key   string
	value any
}

// orderedObject marshals fields as a JSON object in their order.
type orderedObject []field

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ResultsJSON writes runs as JSON: per run its identity and one object per
// step with vLLM's result keys.
func ResultsJSON(w io.Writer, runs []Run) error {
	out := make([]orderedObject, 0, len(runs))
	for _, r := range runs {
		steps := make([]orderedObject, len(r.Steps))
		for i, s := range r.Steps {
			steps[i] = stepFields(s)
		}
		obj := orderedObject{
			{"run", r.ID},
			{"scenario", r.Scenario},
			{"status", r.Status},
			{"started_at", r.Started.Format(time.RFC3339Nano)},
		}
		if !r.Finished.IsZero() {
			obj = append(obj, field{"finished_at", r.Finished.Format(time.RFC3339Nano)})
		}
		if r.Error != "" {
			obj = append(obj, field{"error", r.Error})
		}
		obj = append(obj, field{"dataset", r.Note}, field{"steps", steps})
		out = append(out, obj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if len(out) == 1 {
		return enc.Encode(out[0])
	}
	return enc.Encode(out)
}

// ResultsCSV writes one row per step of every run, with vLLM's result keys
// as the header.
func ResultsCSV(w io.Writer, runs []Run) error {
	cw := csv.NewWriter(w)
	wroteHeader := false
	for _, r := range runs {
		for _, s := range r.Steps {
			fields := append([]field{{"run", r.ID}, {"scenario", r.Scenario}}, stepFields(s)...)
			if !wroteHeader {
				header := make([]string, len(fields))
				for i, f := range fields {
					header[i] = f.key
				}
				if err := cw.Write(header); err != nil {
					return err
				}
				wroteHeader = true
			}
			row := make([]string, len(fields))
			for i, f := range fields {
				row[i] = csvValue(f.value)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
