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
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/internal/safetext"
)

// ResultsTable writes a run as a heading and one table row per step.
func ResultsTable(w io.Writer, run executor.StoredRun) error {
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

	// One server needs no column of its own; the heading names it.
	multi := len(servers) > 1
	header, rows := figureTable(run, executor.ResultsTable)
	if err := stepTable(w, header, rows, multi); err != nil {
		return err
	}
	if header, rows := figureTable(run, executor.TelemetryTable); len(header) > 2 {
		if err := stepTable(w, header, rows, multi); err != nil {
			return err
		}
	}
	pw.printf("%s\n", footnote(run))
	for _, sr := range run.Outcome.Searches {
		pw.printf("%s\n", searchLine(sr))
	}

	for _, s := range run.Steps {
		for _, e := range s.Errors {
			pw.printf("  %s %s: %d × %s\n", s.Server, s.Label, e.Count, safetext.Line(e.Message))
		}
	}
	for _, s := range run.Steps {
		for _, w := range s.Warnings {
			pw.printf("Warning: %s %s: %s\n", s.Server, s.Label, safetext.Line(w))
		}
	}
	if run.Repeated() {
		for _, g := range executor.GroupSteps(run) {
			for _, u := range g.Unstable {
				pw.printf("Warning: %s %s: unstable measurement: %s\n", g.Server, g.Label, u)
			}
		}
	}
	if !Decides(run) || pw.err != nil {
		return pw.err
	}
	pw.printf("\n")
	if pw.err != nil {
		return pw.err
	}
	return DecisionTable(w, executor.Decide(run))
}

// figureTable lays a run's steps out as rows of the figures that table
// shows: one column per figure some step has, after the server and the
// load; an open loop's figures only for an open loop. A run whose steps
// were repeated has a row per step and its repeats, each figure its mean
// and the half-width of its interval.
func figureTable(run executor.StoredRun, table executor.Table) (header []string, rows [][]string) {
	var lines []figureLine
	if run.Repeated() {
		for _, g := range executor.GroupSteps(run) {
			lines = append(lines, figureLine{g.Server, fmt.Sprintf("%s ×%d", loadLabel(g.Steps[0]), len(g.Steps)), func(f executor.Figure) (string, bool) {
				in, ok := g.Figures[f.Key]
				return intervalCell(in, f.Decimals), ok
			}})
		}
	} else {
		for _, s := range run.Steps {
			lines = append(lines, figureLine{s.Server, loadLabel(s), func(f executor.Figure) (string, bool) {
				v, ok := f.Value(s)
				return num(v, f.Decimals), ok
			}})
		}
	}
	openLoop := run.Steps[0].RequestRate != 0
	var cols []executor.Figure
	for _, f := range executor.Figures(run.Steps[0].Percentiles) {
		if f.Table != table || (f.OpenLoopOnly && !openLoop) {
			continue
		}
		for _, l := range lines {
			if _, ok := l.cell(f); ok {
				cols = append(cols, f)
				break
			}
		}
	}
	header = []string{"server", loadHeader(run)}
	for _, c := range cols {
		header = append(header, c.Header)
	}
	for _, l := range lines {
		row := []string{l.server, l.load}
		for _, c := range cols {
			v, ok := l.cell(c)
			if !ok {
				v = "-"
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// figureLine is one row of a figure table: a step, or a step with its
// repeats, and how it shows each figure.
type figureLine struct {
	server, load string
	cell         func(executor.Figure) (string, bool)
}

// stepTable renders one row per step whose first column names the server
// and second the load; with a single server the first column goes, since
// the heading names it. Figures align right.
func stepTable(w io.Writer, header []string, rows [][]string, multi bool) error {
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
	return table.Render()
}

// loadHeader names a run's load column.
func loadHeader(run executor.StoredRun) string {
	if len(run.Steps) > 0 && run.Steps[0].RequestRate != 0 {
		return "rate"
	}
	return "concurrency"
}

// loadLabel is a step's load as a table shows it.
func loadLabel(s executor.StepSummary) string {
	label := strconv.Itoa(s.Concurrency)
	if s.RequestRate != 0 {
		label = s.RequestRate.String() + "/s"
		if s.RequestRate.IsInf() {
			label = "all at once"
		}
		if s.MaxConcurrency > 0 {
			label += fmt.Sprintf(" ≤%d", s.MaxConcurrency)
		}
	}
	if s.Status != "completed" {
		label += " (" + s.Status + ")"
	}
	if s.Suspect {
		label += " (suspect)"
	}
	if p := s.Probe; p != nil {
		verdict := p.Verdict
		if p.Stopped != "" {
			verdict += ", stopped"
		}
		label += " (" + verdict + ")"
	}
	return label
}

// searchLine says what a capacity search found for one server.
func searchLine(r executor.SearchResult) string {
	line := fmt.Sprintf("Search of %s over %s (%g %% of requests within every objective): ", r.Server, r.Over, 100*r.Target)
	switch {
	case r.Passing != nil && r.Failing != nil:
		line += fmt.Sprintf("%g passes, %g fails", *r.Passing, *r.Failing)
	case r.Passing != nil:
		line += fmt.Sprintf("%g passes", *r.Passing)
	case r.Failing != nil:
		line += fmt.Sprintf("%g fails", *r.Failing)
	}
	if r.Binding != "" {
		line += ", bound by " + r.Binding
	}
	line += fmt.Sprintf("; %d probes", r.Probes)
	if r.Uncertain > 0 {
		line += fmt.Sprintf(", %d uncertain", r.Uncertain)
	}
	if r.Note != "" {
		line += "; " + r.Note
	}
	return line + "."
}

// footnote states the definitions behind the columns, as vLLM's benchmark
// defines them, and where token counts came from.
func footnote(run executor.StoredRun) string {
	usage, total := 0, 0
	for _, s := range run.Steps {
		usage += s.TokenSources["usage"]
		for _, n := range s.TokenSources {
			total += n
		}
	}
	disagree, rejected, reasoning, reasoningFromUsage, ttfc := 0, 0, false, 0, false
	for _, s := range run.Steps {
		disagree += s.TokenSourcesDisagree
		rejected += s.UsageRejected
		reasoning = reasoning || s.ReasoningTokens > 0
		reasoningFromUsage += s.ReasoningFromUsage
		_, answered := s.Latency[executor.LatencyKey("median", "ttfc")]
		ttfc = ttfc || answered
	}
	lines := []string{
		"Latencies in ms, over successful requests. TTFT: request sent → first token event. ITL: gap between",
		"successive token events (per chunk). TPOT: (E2EL − TTFT) / (output tokens − 1). E2EL: sent → last token",
		"event. Definitions as vLLM's bench serve. tok/s/user: Σ output tokens ÷ Σ E2EL.",
		fmt.Sprintf("Output tokens from the server's usage report for %d of %d requests, else counted token events.", usage, total),
	}
	if ttfc {
		lines = append(lines, "TTFC: request sent → first token event carrying the answer; TTFT counts reasoning as tokens.")
	}
	if reasoning {
		lines = append(lines, fmt.Sprintf("Reasoning tokens from the server's count for %d of %d requests, else token events counted by kind.", reasoningFromUsage, total))
	}
	switch run.Steps[0].Timing {
	case "kernel":
		lines = append(lines, "An event's time is when the kernel received its last byte (timing = \"kernel\").")
	case "read":
		lines = append(lines, "An event's time is when the client's read of it returned (timing = \"read\").")
	}
	if run.Steps[0].RequestRate != 0 {
		lines = append(lines, "sent/s: the rate requests were actually sent at; lag p99: how late the client sent them (ms).")
	}
	if disagree > 0 {
		lines = append(lines, fmt.Sprintf("The server's token count and the client's disagree for %d of %d requests (%.1f %%): multi-token chunks, or a server that miscounts.", disagree, total, 100*float64(disagree)/float64(max(total, 1))))
	}
	if rejected > 0 {
		lines = append(lines, fmt.Sprintf("The server's usage count was not believed for %d of %d requests (more than max_tokens, or far from the token events): their tokens are the events counted.", rejected, total))
	}
	if run.Repeated() {
		level := run.Confidence
		if level == 0 {
			level = 0.95
		}
		lines = append(lines, fmt.Sprintf("Each step ran several times in a row (×N): its figures are the mean ± half the width of their %g %% interval over the repeats (Student's t).", 100*level))
	}
	if run.Note != "" {
		lines = append(lines, "Dataset: "+safetext.Line(run.Note)+".")
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
	f := []field{{"step", s.Index}, {"server", s.Server}}
	if s.ServerVersion != "" {
		f = append(f, field{"server_version", s.ServerVersion})
	}
	f = append(f, field{"label", s.Label})
	if s.Repeat > 0 {
		f = append(f, field{"repeat", s.Repeat})
	}
	if s.RequestRate != 0 {
		f = append(f, field{"request_rate", s.RequestRate}, field{"max_concurrency", s.MaxConcurrency})
	} else {
		f = append(f, field{"concurrency", s.Concurrency})
	}
	f = append(f, field{"status", s.Status})
	if !s.Origin.IsZero() {
		f = append(f, field{"origin", s.Origin.UTC().Format(time.RFC3339Nano)})
	}
	if s.Suspect {
		f = append(f, field{"suspect", true})
	}
	if s.Probe != nil {
		f = append(f, field{"probe", s.Probe})
	}
	for _, fig := range executor.Figures(s.Percentiles) {
		if v, ok := fig.Value(s); ok {
			f = append(f, field{fig.Key, v})
		}
	}
	if s.ServerMetrics != nil {
		f = append(f, field{"server_metrics", s.ServerMetrics})
	}
	if s.GPU != nil {
		f = append(f, field{"gpu", s.GPU})
	}
	if len(s.SLOMissed) > 0 {
		f = append(f, field{"slo_missed", s.SLOMissed})
	}
	if len(s.Errors) > 0 {
		f = append(f, field{"errors", s.Errors})
	}
	if len(s.Warnings) > 0 {
		f = append(f, field{"warnings", s.Warnings})
	}
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

// ResultsJSON writes runs as a JSON array, whatever their number: per run
// its identity, the definitions
// of its figures, and one object per step with vLLM's result keys; with
// Requests set, each step also carries vLLM's per-request arrays (times in
// seconds, as its --save-detailed writes them).
func ResultsJSON(w io.Writer, runs []executor.StoredRun) error {
	out := make([]orderedObject, 0, len(runs))
	for _, r := range runs {
		steps := make([]orderedObject, len(r.Steps))
		for i, s := range r.Steps {
			steps[i] = stepFields(s)
			if i < len(r.Requests) {
				steps[i] = append(steps[i], field{"requests", detailArrays(r.Requests[i])})
			}
			if i < len(r.StepSamples) && len(r.StepSamples[i]) > 0 {
				steps[i] = append(steps[i], field{"samples", r.StepSamples[i]})
			}
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
		obj = append(obj, field{"dataset", r.Note}, field{"definitions", definitions(r)})
		if len(r.RunSamples) > 0 {
			obj = append(obj, field{"samples", r.RunSamples})
		}
		obj = append(obj, field{"steps", steps})
		if len(r.Outcome.Searches) > 0 {
			obj = append(obj, field{"searches", r.Outcome.Searches})
		}
		if Decides(r) {
			obj = append(obj, field{"decision", executor.Decide(r)})
		}
		if r.Repeated() {
			obj = append(obj, field{"repeats", repeatsJSON(r)})
		}
		if r.Manifest != nil {
			obj = append(obj, field{"manifest", r.Manifest})
		}
		out = append(out, obj)
	}
	return WriteJSON(w, out)
}

// repeatsJSON is a repeated run's steps with their repeats: per server
// and load, every figure's mean, standard deviation, interval and count.
func repeatsJSON(r executor.StoredRun) []orderedObject {
	var out []orderedObject
	for _, g := range executor.GroupSteps(r) {
		o := orderedObject{{"server", g.Server}, {"label", g.Label}, {"repeats", len(g.Steps)}, {"figures", g.Figures}}
		if len(g.Unstable) > 0 {
			o = append(o, field{"unstable", g.Unstable})
		}
		out = append(out, o)
	}
	return out
}

// definitions are the definitions of the figures a run has.
func definitions(r executor.StoredRun) map[string]string {
	out := map[string]string{}
	for _, s := range r.Steps {
		for _, f := range executor.Figures(s.Percentiles) {
			if _, ok := f.Value(s); ok && executor.Definitions[f.Name] != "" {
				out[f.Name] = executor.Definitions[f.Name]
			}
		}
	}
	return out
}

// detailArrays lays out measured requests as vLLM's --save-detailed does:
// one array per field, times in seconds.
func detailArrays(recs []workload.Record) orderedObject {
	var (
		ids, errs, sources       []string
		inputs, outputs, limits  []int
		ttfts, latencies, starts []float64
		queues, lags             []float64
		itls                     [][]float64
		chunkTokens              [][]uint32
		anyChunkTokens           bool
		ttfcs                    []float64
		reasonings, answers      []int
		anyReasoning             bool
	)
	for _, r := range recs {
		if r.Warmup {
			continue
		}
		ids = append(ids, r.ID)
		errs = append(errs, r.Err)
		sources = append(sources, tokenSource(r))
		inputs = append(inputs, r.PromptTokens)
		outputs = append(outputs, r.OutputTokens)
		limits = append(limits, r.MaxTokens)
		ttfts = append(ttfts, r.TTFT.Seconds())
		latencies = append(latencies, r.E2EL.Seconds())
		starts = append(starts, r.Start.Seconds())
		queues = append(queues, r.QueueTime.Seconds())
		lags = append(lags, r.Lag.Seconds())
		gaps := make([]float64, len(r.Gaps))
		for i, g := range r.Gaps {
			gaps[i] = g.Seconds()
		}
		itls = append(itls, gaps)
		chunkTokens = append(chunkTokens, r.ChunkTokens)
		anyChunkTokens = anyChunkTokens || r.ChunkTokens != nil
		ttfcs = append(ttfcs, r.TTFC.Seconds())
		reasonings = append(reasonings, r.ReasoningTokens)
		answers = append(answers, r.AnswerTokens)
		anyReasoning = anyReasoning || r.ReasoningTokens > 0
	}
	o := orderedObject{
		{"request_ids", ids},
		{"input_lens", inputs},
		{"output_lens", outputs},
		{"max_tokens", limits},
		{"ttfts", ttfts},
		{"itls", itls},
		{"latencies", latencies},
		{"start_times", starts},
		{"queue_times", queues},
		{"client_lags", lags},
		{"token_sources", sources},
		{"errors", errs},
	}
	if anyChunkTokens {
		o = append(o, field{"chunk_tokens", chunkTokens})
	}
	if anyReasoning {
		o = append(o, field{"ttfcs", ttfcs}, field{"reasoning_lens", reasonings}, field{"answer_lens", answers})
	}
	return o
}

// ResultsCSV writes one row per step of every run, with vLLM's result keys
// as the header (the union of every step's, in order of appearance).
func ResultsCSV(w io.Writer, runs []executor.StoredRun) error {
	var header []string
	seen := map[string]bool{}
	var rows []map[string]string
	for _, r := range runs {
		var all [][]field
		if r.Repeated() {
			all = groupFields(r)
		}
		for _, s := range r.Steps {
			if !r.Repeated() {
				all = append(all, stepFields(s))
			}
		}
		for _, sf := range all {
			fields := append([]field{{"run", r.ID}, {"scenario", r.Scenario}}, sf...)
			row := map[string]string{}
			for _, f := range fields {
				v, ok := csvValue(f.value)
				if !ok {
					continue // lists belong to JSON
				}
				if !seen[f.key] {
					seen[f.key] = true
					header = append(header, f.key)
				}
				row[f.key] = v
			}
			rows = append(rows, row)
		}
	}
	cw := csv.NewWriter(w)
	if len(header) > 0 {
		if err := cw.Write(header); err != nil {
			return err
		}
	}
	for _, row := range rows {
		line := make([]string, len(header))
		for i, k := range header {
			line[i] = row[k]
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// groupFields are the CSV fields of a repeated run: per server and load,
// each figure's mean under its own key and its standard deviation and
// interval beside it.
func groupFields(r executor.StoredRun) [][]field {
	var out [][]field
	for _, g := range executor.GroupSteps(r) {
		f := []field{{"server", g.Server}, {"label", g.Label}, {"repeats", len(g.Steps)}}
		for _, fig := range executor.Figures(g.Steps[0].Percentiles) {
			if in, ok := g.Figures[fig.Key]; ok {
				f = append(f, field{fig.Key, in.Mean}, field{fig.Key + "_std", in.Std}, field{fig.Key + "_ci_low", in.Low}, field{fig.Key + "_ci_high", in.High})
			}
		}
		out = append(out, f)
	}
	return out
}

// RequestsCSV writes one row per measured request of every run's steps
// (-detailed), times in milliseconds; a request's gaps are one column,
// space-separated. Where some request streamed reasoning, each row ends
// with its TTFC (empty without an answer) and its reasoning and answer
// tokens.
func RequestsCSV(w io.Writer, runs []executor.StoredRun) error {
	cw := csv.NewWriter(w)
	header := []string{"run", "scenario", "server", "label", "seq", "request_id", "start_ms", "client_queue_time_ms", "client_lag_ms",
		"ttft_ms", "e2el_ms", "tpot_ms", "prompt_tokens", "output_tokens", "max_tokens", "token_source", "token_events", "usage_tokens", "http_status", "error", "itl_ms", "chunk_tokens"}
	reasoning := false
	for _, r := range runs {
		for _, recs := range r.Requests {
			for _, rec := range recs {
				reasoning = reasoning || rec.ReasoningTokens > 0 && !rec.Warmup
			}
		}
	}
	if reasoning {
		header = append(header, "ttfc_ms", "reasoning_tokens", "answer_tokens")
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	msText := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', -1, 64) }
	for _, r := range runs {
		for i, s := range r.Steps {
			if i >= len(r.Requests) {
				continue
			}
			for _, rec := range r.Requests[i] {
				if rec.Warmup {
					continue
				}
				tpot := ""
				if t, ok := rec.TPOT(); ok && rec.OK() {
					tpot = msText(t)
				}
				gaps := make([]string, len(rec.Gaps))
				for j, g := range rec.Gaps {
					gaps[j] = msText(g)
				}
				tokens := make([]string, len(rec.ChunkTokens))
				for j, n := range rec.ChunkTokens {
					tokens[j] = strconv.FormatUint(uint64(n), 10)
				}
				row := []string{
					strconv.FormatInt(r.ID, 10), r.Scenario, s.Server, s.Label, strconv.Itoa(rec.Seq), safetext.Line(rec.ID),
					msText(rec.Start), msText(rec.QueueTime), msText(rec.Lag), msText(rec.TTFT), msText(rec.E2EL), tpot,
					strconv.Itoa(rec.PromptTokens), strconv.Itoa(rec.OutputTokens), strconv.Itoa(rec.MaxTokens), tokenSource(rec),
					strconv.Itoa(rec.TokenEvents), strconv.Itoa(rec.UsageTokens), strconv.Itoa(rec.HTTPStatus), safetext.Line(rec.Err),
					strings.Join(gaps, " "), strings.Join(tokens, " "),
				}
				if reasoning {
					ttfc := ""
					if rec.TTFC > 0 {
						ttfc = msText(rec.TTFC)
					}
					row = append(row, ttfc, strconv.Itoa(rec.ReasoningTokens), strconv.Itoa(rec.AnswerTokens))
				}
				if err := cw.Write(row); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// tokenSource says where a request's output token count came from and,
// when the server's own count was not believed, why.
func tokenSource(r workload.Record) string {
	if why := r.UsageRejected(); why != "" {
		return string(r.TokenSource) + " (" + why + ")"
	}
	return string(r.TokenSource)
}

func csvValue(v any) (string, bool) {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case string:
		return safetext.Line(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int, int64, executor.Rate:
		return fmt.Sprint(x), true
	}
	return "", false
}

// WriteJSON writes v as indented JSON whose strings escape every control
// character, including those encoding/json leaves raw (DEL, C1 controls,
// bidirectional overrides): the output stays exact and valid JSON, and
// safe on a terminal.
func WriteJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(safetext.EscapeJSON(buf.Bytes()))
	return err
}
