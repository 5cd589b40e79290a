package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
)

// BenchmarkReportVersion is the version of llm-d's Benchmark Report
// layout that BenchmarkReports writes.
const BenchmarkReportVersion = "0.2"

// brReport is one llm-d Benchmark Report v0.2. The format describes a
// single load point ("stage") against one stack, so a report is one step
// of a run, and the reports of one run share their experiment ID. Every
// optional field is omitted when benchform has no source for it, as the
// format's own exporter leaves out nulls.
type brReport struct {
	Version  string      `json:"version"`
	Run      brRun       `json:"run"`
	Scenario *brScenario `json:"scenario,omitempty"`
	Results  brResults   `json:"results"`
}

type brRun struct {
	UID         string   `json:"uid"`
	EID         string   `json:"eid,omitempty"`
	Time        *brTime  `json:"time,omitempty"`
	Description string   `json:"description,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

type brTime struct {
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	Duration string `json:"duration,omitempty"`
}

type brScenario struct {
	Stack []brComponent `json:"stack,omitempty"`
	Load  *brLoad       `json:"load,omitempty"`
}

type brComponent struct {
	Metadata     brComponentMetadata `json:"metadata"`
	Standardized brInferenceEngine   `json:"standardized"`
	Native       brNative            `json:"native"`
}

type brComponentMetadata struct {
	SchemaVersion string `json:"schema_version"`
	Label         string `json:"label"`
	CfgID         string `json:"cfg_id"`
	Description   string `json:"description,omitempty"`
}

type brInferenceEngine struct {
	Kind        string        `json:"kind"`
	Tool        string        `json:"tool"`
	ToolVersion string        `json:"tool_version"`
	Role        string        `json:"role"`
	Replicas    int           `json:"replicas"`
	Model       brModel       `json:"model"`
	Accelerator brAccelerator `json:"accelerator"`
}

type brModel struct {
	Name string `json:"name"`
}

// brAccelerator leaves parallelism empty: benchform does not know how an
// engine split the model over its GPUs, and the format's defaults (1) are
// what a reader assumes of an empty object.
type brAccelerator struct {
	Model       string   `json:"model"`
	Count       int      `json:"count"`
	Parallelism struct{} `json:"parallelism"`
}

// brNative carries benchform's own description of a component or load,
// which the format takes in any shape.
type brNative struct {
	Config any `json:"config,omitempty"`
}

type brLoad struct {
	Metadata     brLoadMetadata     `json:"metadata"`
	Standardized brLoadStandardized `json:"standardized"`
	Native       brNative           `json:"native"`
}

type brLoadMetadata struct {
	SchemaVersion string `json:"schema_version"`
	CfgID         string `json:"cfg_id,omitempty"`
	Description   string `json:"description,omitempty"`
}

type brLoadStandardized struct {
	Tool         string            `json:"tool"`
	ToolVersion  string            `json:"tool_version"`
	Parallelism  int               `json:"parallelism"`
	Source       string            `json:"source"`
	Stage        int               `json:"stage"`
	InputSeqLen  brSequenceLength  `json:"input_seq_len"`
	OutputSeqLen *brSequenceLength `json:"output_seq_len,omitempty"`
	RateQPS      *float64          `json:"rate_qps,omitempty"`
	Concurrency  *int              `json:"concurrency,omitempty"`
}

type brSequenceLength struct {
	Distribution string   `json:"distribution"`
	Value        float64  `json:"value"`
	StdDev       *float64 `json:"std_dev,omitempty"`
	Min          *int     `json:"min,omitempty"`
	Max          *int     `json:"max,omitempty"`
}

type brResults struct {
	RequestPerformance brRequestPerformance `json:"request_performance"`
	Observability      *brObservability     `json:"observability,omitempty"`
}

type brRequestPerformance struct {
	Aggregate brAggregate `json:"aggregate"`
}

type brAggregate struct {
	Requests   brRequests    `json:"requests"`
	Latency    *brLatency    `json:"latency,omitempty"`
	Throughput *brThroughput `json:"throughput,omitempty"`
}

type brRequests struct {
	Total        int           `json:"total"`
	Failures     int           `json:"failures"`
	Incomplete   int           `json:"incomplete"`
	InputLength  *brStatistics `json:"input_length,omitempty"`
	OutputLength *brStatistics `json:"output_length,omitempty"`
}

type brLatency struct {
	TimeToFirstToken   *brStatistics `json:"time_to_first_token,omitempty"`
	TimePerOutputToken *brStatistics `json:"time_per_output_token,omitempty"`
	InterTokenLatency  *brStatistics `json:"inter_token_latency,omitempty"`
	RequestLatency     *brStatistics `json:"request_latency,omitempty"`
}

type brThroughput struct {
	InputTokenRate  *brStatistics `json:"input_token_rate,omitempty"`
	OutputTokenRate *brStatistics `json:"output_token_rate,omitempty"`
	TotalTokenRate  *brStatistics `json:"total_token_rate,omitempty"`
	RequestRate     *brStatistics `json:"request_rate,omitempty"`
}

type brObservability struct {
	Components []brComponentObservability `json:"components"`
}

type brComponentObservability struct {
	ComponentLabel string            `json:"component_label"`
	Aggregate      brResourceMetrics `json:"aggregate"`
}

type brResourceMetrics struct {
	KVCacheUsage     *brStatistics `json:"kv_cache_usage,omitempty"`
	CacheHitRate     *brStatistics `json:"cache_hit_rate,omitempty"`
	GPUMemoryUsage   *brStatistics `json:"gpu_memory_usage,omitempty"`
	GPUUtilization   *brStatistics `json:"gpu_utilization,omitempty"`
	PowerConsumption *brStatistics `json:"power_consumption,omitempty"`
	RunningRequests  *brStatistics `json:"running_requests,omitempty"`
	WaitingRequests  *brStatistics `json:"waiting_requests,omitempty"`
}

// brStatistics is the format's Statistics: units and mean always, the
// rest where measured.
type brStatistics struct {
	Units  string   `json:"units"`
	Mean   float64  `json:"mean"`
	Stddev *float64 `json:"stddev,omitempty"`
	P0p1   *float64 `json:"p0p1,omitempty"`
	P1     *float64 `json:"p1,omitempty"`
	P5     *float64 `json:"p5,omitempty"`
	P10    *float64 `json:"p10,omitempty"`
	P25    *float64 `json:"p25,omitempty"`
	P50    *float64 `json:"p50,omitempty"`
	P75    *float64 `json:"p75,omitempty"`
	P90    *float64 `json:"p90,omitempty"`
	P95    *float64 `json:"p95,omitempty"`
	P99    *float64 `json:"p99,omitempty"`
	P99p9  *float64 `json:"p99p9,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// percentileSlot is where a percentile goes in brStatistics; the format
// has slots for these percentiles only, so others are left out.
func (s *brStatistics) percentileSlot(p float64) **float64 {
	switch p {
	case 0.1:
		return &s.P0p1
	case 1:
		return &s.P1
	case 5:
		return &s.P5
	case 10:
		return &s.P10
	case 25:
		return &s.P25
	case 50:
		return &s.P50
	case 75:
		return &s.P75
	case 90:
		return &s.P90
	case 95:
		return &s.P95
	case 99:
		return &s.P99
	case 99.9:
		return &s.P99p9
	}
	return nil
}

// Units of the format (llm-d-benchmark base.py Units) that reports use.
const (
	unitSeconds         = "s"
	unitSecondsPerToken = "s/token"
	unitCount           = "count"
	unitTokensPerSecond = "tokens/s"
	unitQueriesPerSec   = "queries/s"
	unitPercent         = "percent"
	unitMiB             = "MiB"
	unitWatts           = "Watts"
)

// BenchmarkReports writes every step of runs as an llm-d Benchmark Report
// v0.2, one JSON document per line (JSON Lines): the format's tools read
// one report per file, and each line is such a file as it stands.
func BenchmarkReports(w io.Writer, runs []executor.StoredRun) error {
	for _, r := range runs {
		for _, s := range r.Steps {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(benchmarkReport(r, s)); err != nil {
				return fmt.Errorf("run %d step %d: %w", r.ID, s.Index, err)
			}
			if _, err := w.Write(safetext.EscapeJSON(buf.Bytes())); err != nil {
				return err
			}
		}
	}
	return nil
}

func benchmarkReport(r executor.StoredRun, s executor.StepSummary) brReport {
	figures := map[string]float64{}
	for _, f := range executor.Figures(s.Percentiles) {
		if v, ok := f.Value(s); ok {
			figures[f.Key] = v
		}
	}
	experiment := reportID(r, -1)
	description := fmt.Sprintf("benchform run #%d of %s: %s on %s", r.ID, r.Scenario, s.Label, s.Server)
	if s.Repeat > 0 {
		description += fmt.Sprintf(", repeat %d", s.Repeat)
	}
	if s.Status != "completed" {
		description += " (" + s.Status + ")"
	}
	rep := brReport{
		Version: BenchmarkReportVersion,
		Run: brRun{
			UID:         reportID(r, s.Index),
			EID:         experiment,
			Description: description,
			Keywords:    []string{"benchform", r.Scenario, s.Server},
		},
		Results: brResults{
			RequestPerformance: brRequestPerformance{Aggregate: aggregate(s, figures)},
			Observability:      observability(s),
		},
	}
	// The measured window's own start is not kept; Origin, when the
	// step began (warm-up included), is the nearest instant that is.
	t := &brTime{Duration: isoDuration(s.DurationSeconds)}
	if !s.Origin.IsZero() {
		t.Start = s.Origin.UTC().Format(time.RFC3339Nano)
	}
	rep.Run.Time = t
	if r.Manifest != nil {
		rep.Scenario = scenario(r, s)
	}
	return rep
}

// reportID names a report (a step) or, with step -1, the experiment (the
// run): a hash of what identifies a run across state files, so that
// exporting again gives the same IDs and two states' run #1 differ.
func reportID(r executor.StoredRun, step int) string {
	key := fmt.Sprintf("benchform\x00%s\x00%d\x00%s", r.Scenario, r.ID, r.Started.UTC().Format(time.RFC3339Nano))
	if step >= 0 {
		key += "\x00" + strconv.Itoa(step)
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// isoDuration writes seconds as an ISO-8601 duration, as the format's
// run.time.duration wants: 49.97 → "PT49.97S".
func isoDuration(seconds float64) string {
	return "PT" + strconv.FormatFloat(seconds, 'f', -1, 64) + "S"
}

// secondsFromMS converts benchform's milliseconds (and milliseconds per
// token) to the seconds llm-d's own converters write, so that reports
// from different tools plot on one axis without a reader converting.
func secondsFromMS(ms float64) float64 { return ms / 1000 }

// percentFromFraction converts a 0–1 share to the percent the report
// states as its unit.
func percentFromFraction(f float64) float64 { return 100 * f }

func aggregate(s executor.StepSummary, figures map[string]float64) brAggregate {
	a := brAggregate{Requests: brRequests{
		// Cut-off requests were sent and never finished: the format's
		// incomplete, and part of its total sent.
		Total:      s.Completed + s.Failed + s.CutOff,
		Failures:   s.Failed,
		Incomplete: s.CutOff,
	}}
	if s.Completed == 0 {
		return a
	}
	a.Requests.InputLength = &brStatistics{Units: unitCount, Mean: float64(s.TotalInputTokens) / float64(s.Completed)}
	a.Requests.OutputLength = &brStatistics{Units: unitCount, Mean: float64(s.TotalOutputTokens) / float64(s.Completed)}
	a.Latency = &brLatency{
		TimeToFirstToken:   latencyStatistics("ttft", unitSeconds, s.Percentiles, figures),
		TimePerOutputToken: latencyStatistics("tpot", unitSecondsPerToken, s.Percentiles, figures),
		InterTokenLatency:  latencyStatistics("itl", unitSecondsPerToken, s.Percentiles, figures),
		RequestLatency:     latencyStatistics("e2el", unitSeconds, s.Percentiles, figures),
	}
	a.Throughput = &brThroughput{
		InputTokenRate:  rate(figures, "total_token_throughput", unitTokensPerSecond),
		OutputTokenRate: rate(figures, "output_throughput", unitTokensPerSecond),
		TotalTokenRate:  rate(figures, "total_token_throughput", unitTokensPerSecond),
		RequestRate:     rate(figures, "request_throughput", unitQueriesPerSec),
	}
	if a.Throughput.InputTokenRate != nil && a.Throughput.OutputTokenRate != nil {
		// Both rates share the measured window, so the prompt tokens'
		// rate is what the total has beyond the output.
		a.Throughput.InputTokenRate.Mean -= a.Throughput.OutputTokenRate.Mean
	}
	return a
}

func rate(figures map[string]float64, key, units string) *brStatistics {
	v, ok := figures[key]
	if !ok {
		return nil
	}
	return &brStatistics{Units: units, Mean: v}
}

// latencyStatistics reads one latency metric's statistics, in
// milliseconds, and states them in seconds.
func latencyStatistics(metric, units string, percentiles []float64, figures map[string]float64) *brStatistics {
	mean, ok := figures[executor.LatencyKey("mean", metric)]
	if !ok {
		return nil
	}
	st := &brStatistics{Units: units, Mean: secondsFromMS(mean)}
	seconds := func(stat string) *float64 {
		v, ok := figures[executor.LatencyKey(stat, metric)]
		if !ok {
			return nil
		}
		v = secondsFromMS(v)
		return &v
	}
	st.Stddev = seconds("std")
	st.P50 = seconds("median")
	for _, p := range percentiles {
		if slot := st.percentileSlot(p); slot != nil {
			*slot = seconds(executor.PercentileStat(p))
		}
	}
	return st
}

// observability is what the server's metrics and its GPUs said of the
// step, where benchform read them.
func observability(s executor.StepSummary) *brObservability {
	var m brResourceMetrics
	if sm := s.ServerMetrics; sm != nil {
		t := sm.Total
		if g := t.KVCacheUsage; g != nil {
			m.KVCacheUsage = &brStatistics{Units: unitPercent, Mean: percentFromFraction(g.Mean),
				P50: ptrTo(percentFromFraction(g.P50)), Max: ptrTo(percentFromFraction(g.Max))}
		}
		if h := t.PrefixCacheHitRate; h != nil {
			m.CacheHitRate = &brStatistics{Units: unitPercent, Mean: percentFromFraction(*h)}
		}
		if g := t.Running; g != nil {
			m.RunningRequests = &brStatistics{Units: unitCount, Mean: g.Mean, P50: ptrTo(g.P50), Max: ptrTo(g.Max)}
		}
		if g := t.Waiting; g != nil {
			m.WaitingRequests = &brStatistics{Units: unitCount, Mean: g.Mean, P50: ptrTo(g.P50), Max: ptrTo(g.Max)}
		}
	}
	if g := s.GPU; g != nil {
		if u := g.UtilizationPctMean; u != nil {
			m.GPUUtilization = &brStatistics{Units: unitPercent, Mean: *u}
		}
		if p := g.PowerWMean; p != nil {
			m.PowerConsumption = &brStatistics{Units: unitWatts, Mean: *p, Max: g.PowerWMax}
		}
		// Only where every GPU reported its memory: a partial sum would
		// understate the server's.
		memory, complete := 0.0, len(g.GPUs) > 0
		for _, d := range g.GPUs {
			if d.MemoryUsedMiBMean == nil {
				complete = false
				break
			}
			memory += *d.MemoryUsedMiBMean
		}
		if complete {
			m.GPUMemoryUsage = &brStatistics{Units: unitMiB, Mean: memory}
		}
	}
	if m == (brResourceMetrics{}) {
		return nil
	}
	return &brObservability{Components: []brComponentObservability{{ComponentLabel: s.Server, Aggregate: m}}}
}

func ptrTo(v float64) *float64 { return &v }

// scenario describes the step's server and load from the run's manifest.
func scenario(r executor.StoredRun, s executor.StepSummary) *brScenario {
	m := r.Manifest
	sc := &brScenario{}
	for _, sv := range m.Servers {
		if sv.Server == s.Server {
			sc.Stack = []brComponent{component(r, s, sv)}
		}
	}
	config := struct {
		Dataset executor.DatasetManifest `json:"dataset"`
		Load    executor.LoadManifest    `json:"load"`
	}{m.Dataset, m.Load}
	st := brLoadStandardized{
		Tool:        "benchform",
		ToolVersion: m.Benchform.Version,
		// One client process sends every request.
		Parallelism: 1,
		Source:      "sampled",
		Stage:       s.Index,
	}
	if m.Dataset.Kind == "synthetic" {
		// Synthetic prompts are words drawn at random, not text sampled
		// from a corpus.
		st.Source = "random"
	}
	if l, ok := sequenceLength(m.Dataset.InputLength()); ok {
		st.InputSeqLen = l
	} else if s.Completed > 0 {
		// A dataset read from prompts sets no length: state the mean
		// length the step sent.
		st.InputSeqLen = brSequenceLength{Distribution: "other", Value: float64(s.TotalInputTokens) / float64(s.Completed)}
	} else {
		st.InputSeqLen = brSequenceLength{Distribution: "other"}
	}
	if l, ok := sequenceLength(m.Dataset.OutputLength()); ok {
		st.OutputSeqLen = &l
	} else if m.Load.IgnoreEOS && m.Load.MaxTokens > 0 {
		// With the end of sequence ignored, every answer runs to its
		// limit: the length is enforced.
		st.OutputSeqLen = &brSequenceLength{Distribution: "fixed", Value: float64(m.Load.MaxTokens)}
	}
	switch {
	case s.Concurrency > 0:
		st.Concurrency = &s.Concurrency
	case s.RequestRate.IsInf():
		// All at once is concurrency .inf, which JSON cannot write: a cap,
		// where there is one, is the concurrency the requests ran at.
		if s.MaxConcurrency > 0 {
			st.Concurrency = &s.MaxConcurrency
		}
	case s.RequestRate > 0:
		st.RateQPS = ptrTo(float64(s.RequestRate))
		if s.MaxConcurrency > 0 {
			st.Concurrency = &s.MaxConcurrency
		}
	}
	sc.Load = &brLoad{
		Metadata:     brLoadMetadata{SchemaVersion: "0.0.1", CfgID: configID(config), Description: s.Label},
		Standardized: st,
		Native:       brNative{Config: config},
	}
	return sc
}

// sequenceLength states a dataset's length setting in the format's terms.
func sequenceLength(l lang.LengthSpec) (brSequenceLength, bool) {
	switch {
	case l.IsZero():
		return brSequenceLength{}, false
	case l.Fixed != 0:
		return brSequenceLength{Distribution: "fixed", Value: float64(l.Fixed)}, true
	case l.Max != 0:
		// The format's value is the primary one; a uniform range's is its
		// middle.
		return brSequenceLength{Distribution: "uniform", Value: float64(l.Min+l.Max) / 2, Min: &l.Min, Max: &l.Max}, true
	default:
		return brSequenceLength{Distribution: "gaussian", Value: l.Mean, StdDev: &l.StdDev}, true
	}
}

// component describes the step's server as an inference engine.
func component(r executor.StoredRun, s executor.StepSummary, sv executor.ServerManifest) brComponent {
	e := brInferenceEngine{
		Kind:        "inference_engine",
		Tool:        sv.Engine,
		ToolVersion: firstNonEmpty(sv.Version, s.ServerVersion, sv.Image),
		// benchform measures one server, whatever it runs behind its
		// endpoint; data-parallel replicas inside it are the engine's.
		Role:     "replica",
		Replicas: 1,
		Model:    brModel{Name: sv.Model},
	}
	if p := sv.Pod; p != nil {
		e.Accelerator.Model, e.Accelerator.Count = p.GPUType, p.GPUCount
	}
	for _, f := range r.Outcome.Servers {
		if f.Server == sv.Server && e.Accelerator.Model == "" {
			e.Accelerator.Model, e.Accelerator.Count = f.GPU, f.GPUCount
		}
	}
	if e.Accelerator.Model == "" && len(sv.GPUs) > 0 {
		// Telemetry read the GPUs where no provider named them.
		e.Accelerator.Model, e.Accelerator.Count = sv.GPUs[0].Name, len(sv.GPUs)
	}
	return brComponent{
		Metadata: brComponentMetadata{SchemaVersion: "0.0.1", Label: sv.Server, CfgID: configID(sv),
			Description: firstNonEmpty(sv.Provider, sv.Engine) + " server " + sv.Server},
		Standardized: e,
		Native:       brNative{Config: sv},
	}
}

// configID is the format's cfg_id: a hash of a configuration, which
// tells two reports measured with the same one.
func configID(config any) string {
	b, err := json.Marshal(config)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
