package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/telemetry"
	"github.com/benchform/benchform/executor/workload"
)

// Bounds that keep a report small whatever the run's size: a 100k-request
// step draws as many points as a 2k-request one.
const (
	// MaxTimelineRequests is the most requests a timeline draws; beyond
	// it, every k-th request, and the chart says so.
	MaxTimelineRequests = 2000
	// cdfPoints is the most points of one distribution's line.
	cdfPoints = 200
	// timeBins is how many bins the over-time charts count in.
	timeBins = 120
)

// HTML writes one self-contained page for runs loaded in detail: their
// settings and warnings, latency against throughput, the Pareto front
// of throughput per user against throughput per GPU, the distributions of
// TTFT and ITL per step, a timeline of the busiest step, and the results
// tables. It needs nothing from the network to be read: no script, no
// font, no style sheet but its own, every chart an inline SVG.
func HTML(w io.Writer, runs []executor.StoredRun, version string) error {
	page := htmlPage{Version: version, Generated: time.Now().UTC().Format(time.RFC3339)}
	var titles []string
	for _, r := range runs {
		titles = append(titles, fmt.Sprintf("%s #%d", r.Scenario, r.ID))
		page.Runs = append(page.Runs, describeRun(r))
	}
	page.Title = "benchform report: " + strings.Join(titles, ", ")
	var err error
	if page.Overview, err = overviewCharts(runs); err != nil {
		return err
	}
	for i, r := range runs {
		if page.Runs[i].Charts, err = runCharts(r, len(runs) > 1); err != nil {
			return err
		}
	}
	return pageTemplate.Execute(w, page)
}

type htmlPage struct {
	Title, Version, Generated string
	Runs                      []runSection
	Overview                  []chart
}

type runSection struct {
	Heading  string
	Facts    [][2]string
	Servers  []serverFacts
	Warnings []string
	Tables   string
	Charts   []chart
}

type serverFacts struct {
	Name  string
	Facts [][2]string
}

// describeRun is a run's header: what ran, on what, with which load, and
// every warning it raised.
func describeRun(r executor.StoredRun) runSection {
	s := runSection{Heading: fmt.Sprintf("%s — run #%d, %s", r.Scenario, r.ID, r.Status)}
	add := func(k, v string) {
		if v != "" {
			s.Facts = append(s.Facts, [2]string{k, v})
		}
	}
	add("started", r.Started.UTC().Format("2006-01-02 15:04:05 MST"))
	if !r.Finished.IsZero() {
		add("took", r.Finished.Sub(r.Started).Round(100*time.Millisecond).String())
	}
	add("dataset", r.Note)
	if m := r.Manifest; m != nil {
		for _, f := range m.Fields() {
			if strings.HasPrefix(f.Key, "load.") || strings.HasPrefix(f.Key, "dataset.") || strings.HasPrefix(f.Key, "benchform.") {
				add(f.Key, f.Value)
			}
		}
		for _, sv := range m.Servers {
			sf := serverFacts{Name: sv.Server}
			put := func(k, v string) {
				if v != "" {
					sf.Facts = append(sf.Facts, [2]string{k, v})
				}
			}
			put("engine", sv.Engine)
			put("version", sv.Version)
			put("model", sv.Model)
			put("image", sv.Image)
			put("args", sv.Args)
			if p := sv.Pod; p != nil && p.GPUType != "" {
				put("GPU", fmt.Sprintf("%s × %d", p.GPUType, max(p.GPUCount, 1)))
			}
			for _, g := range sv.GPUs {
				put("GPU seen", g.String())
			}
			if sv.PricePerHour != nil {
				put("price", fmt.Sprintf("$%.2f per hour", *sv.PricePerHour))
			}
			s.Servers = append(s.Servers, sf)
		}
	}
	for _, st := range r.Steps {
		for _, w := range st.Warnings {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s %s: %s", st.Server, st.Label, w))
		}
	}
	if r.Repeated() {
		for _, g := range executor.GroupSteps(r) {
			for _, u := range g.Unstable {
				s.Warnings = append(s.Warnings, fmt.Sprintf("%s %s: unstable measurement: %s", g.Server, g.Label, u))
			}
		}
	}
	var tables bytes.Buffer
	if err := ResultsTable(&tables, r); err == nil {
		s.Tables = tables.String()
	}
	return s
}

// latencyFigures are the figures drawn against output throughput, with
// the objective each is held to.
var latencyFigures = []struct {
	key, title string
	slo        func(executor.StoredRun) time.Duration
}{
	{"median_ttft_ms", "TTFT p50", func(r executor.StoredRun) time.Duration { return r.SLO.TTFT }},
	{"p99_ttft_ms", "TTFT p99", func(r executor.StoredRun) time.Duration { return r.SLO.TTFT }},
	{"median_tpot_ms", "TPOT p50", func(r executor.StoredRun) time.Duration { return r.SLO.TPOT }},
	{"p99_itl_ms", "ITL p99", func(r executor.StoredRun) time.Duration { return r.SLO.ITL }},
}

// overviewCharts are the charts every run adds a line to: latency against
// throughput per figure, and the Pareto front.
func overviewCharts(runs []executor.StoredRun) ([]chart, error) {
	label := func(r executor.StoredRun, server string) string {
		if len(runs) == 1 {
			return server
		}
		return fmt.Sprintf("%s #%d (%s)", server, r.ID, r.Started.UTC().Format("2006-01-02 15:04"))
	}
	var out []chart
	for _, lf := range latencyFigures {
		var ss []series
		var ts []threshold
		for _, r := range runs {
			for _, server := range serversOf(r) {
				s := series{name: label(r, server)}
				for _, st := range r.Steps {
					y, ok := figure(st, lf.key)
					if st.Server != server || !ok {
						continue
					}
					p := plotter.XY{X: st.OutputThroughput, Y: y}
					s.points = append(s.points, p)
					if st.Probe != nil && st.Probe.Verdict == "fail" {
						s.marks = append(s.marks, p)
					}
				}
				slices.SortStableFunc(s.points, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
				ss = append(ss, s)
			}
			if d := lf.slo(r); d > 0 && !slices.ContainsFunc(ts, func(t threshold) bool { return t.y == ms(d) }) {
				ts = append(ts, threshold{name: "objective " + d.String(), y: ms(d)})
			}
		}
		c, err := lineChart(lf.title+" against output throughput", "output tok/s", lf.title+" (ms)", ss, ts)
		if err != nil {
			return nil, err
		}
		if c.SVG != "" {
			c.Caption = "One point per step, one line per server; a red cross marks a capacity-search probe that failed."
			out = append(out, c)
		}
	}
	var ss []series
	for _, r := range runs {
		gpus := map[string]int{}
		for _, f := range r.Outcome.Servers {
			gpus[f.Server] = f.GPUCount
		}
		for _, server := range serversOf(r) {
			s := series{name: label(r, server), dots: true}
			for _, st := range r.Steps {
				if st.Server != server || st.OutputThroughputPerUser == 0 {
					continue
				}
				s.points = append(s.points, plotter.XY{X: st.OutputThroughput / float64(max(gpus[server], 1)), Y: st.OutputThroughputPerUser})
			}
			ss = append(ss, s)
		}
	}
	c, err := lineChart("Throughput per user against throughput per GPU", "output tok/s per GPU (in all where the GPU count is unknown)", "output tok/s per user", ss, nil)
	if err != nil {
		return nil, err
	}
	if c.SVG != "" {
		c.Caption = "Pareto: up and to the right is better; each point is a step."
		out = append(out, c)
	}
	return out, nil
}

// runCharts are one run's own: its distributions per step and the
// timeline of its busiest step.
func runCharts(r executor.StoredRun, several bool) ([]chart, error) {
	if len(r.Requests) == 0 {
		return nil, nil
	}
	suffix := ""
	if several {
		suffix = fmt.Sprintf(" (run #%d)", r.ID)
	}
	var ttft, itl []series
	busiest := -1
	for i, st := range r.Steps {
		if i >= len(r.Requests) {
			break
		}
		var firsts, gaps []float64
		for _, rec := range r.Requests[i] {
			if !measured(rec) {
				continue
			}
			firsts = append(firsts, ms(rec.TTFT))
			for _, g := range rec.Gaps {
				gaps = append(gaps, ms(g))
			}
		}
		name := st.Server + " " + st.Label
		if st.Repeat > 0 {
			name += fmt.Sprintf(" #%d", st.Repeat)
		}
		ttft = append(ttft, series{name: name, points: cdf(firsts, cdfPoints)})
		itl = append(itl, series{name: name, points: cdf(gaps, cdfPoints)})
		// The busiest step, the last of equals: the highest load.
		if busiest < 0 || len(r.Requests[i]) >= len(r.Requests[busiest]) {
			busiest = i
		}
	}
	var out []chart
	for _, d := range []struct {
		title string
		ss    []series
	}{{"TTFT distribution" + suffix, ttft}, {"ITL distribution" + suffix, itl}} {
		c, err := lineChart(d.title, "ms", "share of requests (ITL: of gaps) at or below", d.ss, nil)
		if err != nil {
			return nil, err
		}
		if c.SVG != "" {
			c.Caption = "Cumulative distribution per step: the tail is where the line approaches 1."
			out = append(out, c)
		}
	}
	if busiest >= 0 {
		cs, err := timeline(r, busiest, suffix)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// timeline draws one step over time: its requests, its throughput and
// running requests, and what its GPU and server telemetry saw.
func timeline(r executor.StoredRun, i int, suffix string) ([]chart, error) {
	st := r.Steps[i]
	var recs []workload.Record
	for _, rec := range r.Requests[i] {
		if !rec.Warmup {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	slices.SortFunc(recs, func(a, b workload.Record) int { return cmp.Compare(a.Start, b.Start) })
	every := (len(recs) + MaxTimelineRequests - 1) / MaxTimelineRequests
	var bars plotter.XYs
	var spans plotter.XErrors
	var firsts plotter.XYs
	for k := 0; k < len(recs); k += every {
		rec := recs[k]
		start, end := rec.Start.Seconds(), (rec.Start + rec.E2EL).Seconds()
		if rec.E2EL == 0 {
			end = start
		}
		mid := (start + end) / 2
		row := float64(len(bars))
		bars = append(bars, plotter.XY{X: mid, Y: row})
		spans = append(spans, struct{ Low, High float64 }{mid - start, end - mid})
		if rec.TTFT > 0 {
			firsts = append(firsts, plotter.XY{X: (rec.Start + rec.TTFT).Seconds(), Y: row})
		}
	}
	title := fmt.Sprintf("Timeline of %s %s%s", st.Server, st.Label, suffix)
	c, err := requestBars(title, bars, spans, firsts)
	if err != nil {
		return nil, err
	}
	c.Timeline = true
	c.Caption = fmt.Sprintf("Each request from its send to its last token, its first token marked; %d requests.", len(recs))
	if every > 1 {
		c.Caption = fmt.Sprintf("Each request from its send to its last token, its first token marked: every %d-th of %d requests is drawn.", every, len(recs))
	}
	out := []chart{c}

	load, err := loadOverTime(recs, st.Server+" "+st.Label)
	if err != nil {
		return nil, err
	}
	if load.SVG != "" {
		out = append(out, load)
	}
	if i < len(r.StepSamples) {
		more, err := telemetryOverTime(r.StepSamples[i], st.Origin)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// loadOverTime counts, in even bins over the step, the output tokens per
// second (each request's tokens spread evenly from its first token to its
// last) and the requests in flight.
func loadOverTime(recs []workload.Record, name string) (chart, error) {
	var end float64
	for _, rec := range recs {
		end = max(end, (rec.Start + rec.E2EL).Seconds())
	}
	if end <= 0 {
		return chart{}, nil
	}
	width := end / timeBins
	tokens := make([]float64, timeBins)
	running := make([]float64, timeBins)
	for _, rec := range recs {
		s, f, l := rec.Start.Seconds(), (rec.Start + rec.TTFT).Seconds(), (rec.Start + rec.E2EL).Seconds()
		for b := range timeBins {
			lo, hi := float64(b)*width, float64(b+1)*width
			running[b] += overlap(lo, hi, s, l) / width
			if rec.OutputTokens > 0 && l > f {
				tokens[b] += float64(rec.OutputTokens) * overlap(lo, hi, f, l) / (l - f) / width
			}
		}
	}
	var tok, run plotter.XYs
	for b := range timeBins {
		x := (float64(b) + 0.5) * width
		tok = append(tok, plotter.XY{X: x, Y: tokens[b]})
		run = append(run, plotter.XY{X: x, Y: running[b]})
	}
	c1, err := lineChart("Output tokens per second over "+name, "seconds since the step began", "output tok/s", []series{{name: "output tok/s", points: tok}}, nil)
	if err != nil {
		return chart{}, err
	}
	c2, err := lineChart("Requests in flight over "+name, "seconds since the step began", "requests", []series{{name: "in flight", points: run}}, nil)
	if err != nil {
		return chart{}, err
	}
	c1.SVG += c2.SVG
	c1.Series += c2.Series
	c1.Title = "Throughput and requests in flight over " + name
	c1.Caption = "Tokens spread evenly over each request's streaming time; averaged in bins of " + time.Duration(width*float64(time.Second)).Round(time.Millisecond).String() + "."
	return c1, nil
}

func overlap(lo, hi, a, b float64) float64 {
	return max(0, min(hi, b)-max(lo, a))
}

// telemetryOverTime draws the GPU and server samples kept with a step.
func telemetryOverTime(samples map[string]json.RawMessage, origin time.Time) ([]chart, error) {
	var out []chart
	if raw, ok := samples["gpu"]; ok {
		var gs []telemetry.GPUSample
		if err := json.Unmarshal(raw, &gs); err == nil && len(gs) > 0 {
			var util, power []series
			for _, s := range gs {
				for k, g := range s.GPUs {
					for len(util) <= k {
						util = append(util, series{name: fmt.Sprintf("GPU %d", len(util))})
						power = append(power, series{name: fmt.Sprintf("GPU %d", len(power))})
					}
					x := s.Time.Sub(origin).Seconds()
					if g.UtilizationGPUPct != nil {
						util[k].points = append(util[k].points, plotter.XY{X: x, Y: *g.UtilizationGPUPct})
					}
					if w := firstFloat(g.PowerInstantW, g.PowerW); w != nil {
						power[k].points = append(power[k].points, plotter.XY{X: x, Y: *w})
					}
				}
			}
			for _, d := range []struct {
				title, unit string
				ss          []series
			}{{"GPU utilisation", "%", util}, {"GPU power", "W", power}} {
				c, err := lineChart(d.title+" over the step", "seconds since the step began", d.unit, d.ss, nil)
				if err != nil {
					return nil, err
				}
				if c.SVG != "" {
					out = append(out, c)
				}
			}
		}
	}
	if raw, ok := samples["server"]; ok {
		var ss []telemetry.ServerSample
		if err := json.Unmarshal(raw, &ss); err == nil && len(ss) > 0 {
			kv, waiting := series{name: "KV cache used (%)"}, series{name: "requests waiting"}
			for _, s := range ss {
				x := s.Time.Sub(origin).Seconds()
				var used, wait float64
				var haveUsed, haveWait bool
				for _, rep := range s.Replicas {
					if rep.KVCacheUsage != nil {
						used, haveUsed = math.Max(used, 100**rep.KVCacheUsage), true
					}
					if rep.Waiting != nil {
						wait, haveWait = wait+*rep.Waiting, true
					}
				}
				if haveUsed {
					kv.points = append(kv.points, plotter.XY{X: x, Y: used})
				}
				if haveWait {
					waiting.points = append(waiting.points, plotter.XY{X: x, Y: wait})
				}
			}
			c, err := lineChart("Server KV cache and queue over the step", "seconds since the step began", "% or requests", []series{kv, waiting}, nil)
			if err != nil {
				return nil, err
			}
			if c.SVG != "" {
				c.Caption = "From the server's own /metrics; KV cache used is the fullest replica's."
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func firstFloat(vs ...*float64) *float64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// measured is a request that counts: not warm-up, and answered.
func measured(rec workload.Record) bool {
	return !rec.Warmup && rec.OK() && rec.TTFT > 0
}

func serversOf(r executor.StoredRun) []string {
	var out []string
	for _, s := range r.Steps {
		if !slices.Contains(out, s.Server) {
			out = append(out, s.Server)
		}
	}
	return out
}

// figure is a step's figure by its JSON key.
func figure(s executor.StepSummary, key string) (float64, bool) {
	for _, f := range executor.Figures(s.Percentiles) {
		if f.Key == key {
			return f.Value(s)
		}
	}
	return 0, false
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"svg": func(s string) template.HTML { return template.HTML(s) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; } h3 { font-size: 1rem; }
table.facts { border-collapse: collapse; font-size: .9rem; } table.facts td { padding: .1rem .8rem .1rem 0; vertical-align: top; } table.facts td:first-child { color: #555; white-space: nowrap; }
.warnings { background: #fff4e5; border-left: 4px solid #e69500; padding: .5rem 1rem; } .warnings li { margin: .2rem 0; }
figure.chart { margin: 1.5rem 0; page-break-inside: avoid; } figure.chart svg { width: 100%; height: auto; display: block; } figcaption { font-size: .85rem; color: #555; }
pre { font-size: .72rem; overflow-x: auto; background: #f7f7f7; padding: .5rem; }
footer { font-size: .8rem; color: #777; margin-top: 2rem; }
@media print { body { max-width: none; } pre { white-space: pre-wrap; } }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Runs}}{{if .Warnings}}<div class="warnings"><strong>Warnings</strong><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul></div>{{end}}{{end}}
{{range .Runs}}
<h2>{{.Heading}}</h2>
<table class="facts">{{range .Facts}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
{{range .Servers}}<h3>{{.Name}}</h3><table class="facts">{{range .Facts}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>{{end}}
{{end}}
{{if .Overview}}<h2>Latency and throughput</h2>{{end}}
{{range .Overview}}<figure class="chart" data-series="{{.Series}}"><figcaption>{{.Caption}}</figcaption>{{svg .SVG}}</figure>
{{end}}
{{range .Runs}}{{if .Charts}}<h2>Inside {{.Heading}}</h2>{{end}}
{{range .Charts}}<figure class="chart" data-series="{{.Series}}"{{if .Timeline}} data-timeline{{end}}><figcaption>{{.Caption}}</figcaption>{{svg .SVG}}</figure>
{{end}}
<h2>Results of {{.Heading}}</h2>
<pre>{{.Tables}}</pre>
{{end}}
<footer>Written by benchform {{.Version}} at {{.Generated}}. Self-contained: no script, font or style sheet is loaded from anywhere.</footer>
</body>
</html>
`))
