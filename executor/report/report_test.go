package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "../../testdata/report/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func step(server string, conc int, scale float64) executor.StepSummary {
	good, pct := 9.5*scale, 95.0
	lat := map[string]float64{}
	for i, m := range executor.LatencyMetrics {
		base := float64(i+1) * 10 * scale
		lat[executor.LatencyKey("mean", m)] = base
		lat[executor.LatencyKey("median", m)] = base * 0.9
		lat[executor.LatencyKey("std", m)] = base / 10
		for _, p := range []float64{50, 90, 99} {
			lat[executor.LatencyKey(executor.PercentileStat(p), m)] = base * (1 + p/100)
		}
	}
	return executor.StepSummary{
		Server: server, Label: "concurrency=4", Concurrency: conc, Status: "completed",
		Completed: 100, Failed: 2, DurationSeconds: 10.5 * scale,
		TotalInputTokens: 51200, TotalOutputTokens: 25600,
		RequestThroughput: 9.52 * scale, OutputThroughput: 2438.1 * scale, TotalTokenThroughput: 7314.3 * scale,
		RequestGoodput: &good, GoodPercent: &pct,
		MaxOutputTokensPerSec: 2600, MaxConcurrentRequests: conc,
		Percentiles: []float64{50, 90, 99}, Latency: lat,
		TokenSources: map[string]int{"usage": 100},
		Errors:       []executor.ErrorCount{{Message: "HTTP 503: overloaded", Count: 2}},
	}
}

func sampleRun() executor.StoredRun {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return executor.StoredRun{
		ID: 7, Scenario: "scenario.chat", Status: "completed",
		Started: start, Finished: start.Add(42 * time.Second),
		Note:  "synthetic prompts of 512 words, estimated at one token per word",
		Steps: []executor.StepSummary{step("server.vllm", 4, 1), step("server.sglang", 4, 1.1)},
	}
}

func TestResultsTable(t *testing.T) {
	var buf bytes.Buffer
	if err := ResultsTable(&buf, sampleRun()); err != nil {
		t.Fatal(err)
	}
	golden(t, "results-table.golden", buf.Bytes())
}

func TestResultsJSONAndCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := ResultsJSON(&buf, []executor.StoredRun{sampleRun()}); err != nil {
		t.Fatal(err)
	}
	golden(t, "results.golden.json", buf.Bytes())
	buf.Reset()
	if err := ResultsCSV(&buf, []executor.StoredRun{sampleRun()}); err != nil {
		t.Fatal(err)
	}
	golden(t, "results.golden.csv", buf.Bytes())
}

// TestPlanRendering pins how each action and value kind prints.
func TestPlanRendering(t *testing.T) {
	obj := func(m map[string]cty.Value) cty.Value { return cty.ObjectVal(m) }
	before := obj(map[string]cty.Value{
		"engine":   cty.StringVal("simulated"),
		"model":    cty.StringVal("old"),
		"endpoint": cty.StringVal("http://127.0.0.1:1234"),
		"args":     cty.NullVal(cty.List(cty.String)),
		"api_key":  cty.NullVal(cty.String),
	})
	after := obj(map[string]cty.Value{
		"engine":   cty.StringVal("simulated"),
		"model":    cty.StringVal("new"),
		"endpoint": cty.UnknownVal(cty.String),
		"args":     cty.ListVal([]cty.Value{cty.StringVal("--x"), cty.StringVal("1")}),
		"api_key":  cty.NullVal(cty.String),
	})
	plan := &executor.Plan{Changes: []*executor.Change{
		{Addr: lang.Addr{Kind: lang.KindServer, Name: "updated"}, Action: executor.Update, Before: before, After: after, Sensitive: []string{"api_key"}},
		{Addr: lang.Addr{Kind: lang.KindServer, Name: "replaced"}, Action: executor.Replace, Before: before, After: after, ReplacePaths: []string{"model"}, Reasons: []string{"changing model forces replacement"}},
		{Addr: lang.Addr{Kind: lang.KindServer, Name: "created"}, Action: executor.Create, After: after, Sensitive: []string{"api_key"}},
		{Addr: lang.Addr{Kind: lang.KindPod, Name: "gone"}, Action: executor.Delete, Before: obj(map[string]cty.Value{"gpu_type": cty.StringVal("NVIDIA H100 80GB HBM3")})},
		{Addr: lang.Addr{Kind: lang.KindScenario, Name: "chat"}, Action: executor.Run, Before: obj(map[string]cty.Value{"max_tokens": cty.NumberIntVal(64)}), After: obj(map[string]cty.Value{"max_tokens": cty.NumberIntVal(128)}), Reasons: []string{"its settings changed"}},
		{Addr: lang.Addr{Kind: lang.KindServer, Name: "same"}, Action: executor.NoOp, Before: before, After: before},
	}, Notes: []string{"pod.x: found pod abc, created by an apply that was interrupted; it is adopted instead of created again."}}
	var buf bytes.Buffer
	if err := Plan(&buf, plan); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.golden", buf.Bytes())
}

// TestOpenLoopTable pins the columns an open loop adds: the target rate,
// the rate actually achieved and the client's lag, and a warning.
func TestOpenLoopTable(t *testing.T) {
	run := sampleRun()
	run.Steps = run.Steps[:1]
	s := &run.Steps[0]
	s.Concurrency, s.RequestRate, s.AchievedRate, s.Label = 0, executor.Rate(10), 9.98, "rate=10"
	s.Latency[executor.LatencyKey("p99", "client_lag")] = 0.21
	s.Warnings = []string{"server.vllm already served this dataset, with the same seed, in run #6: its prefix cache may be warm"}
	inf := run.Steps[0]
	inf.RequestRate, inf.Label, inf.MaxConcurrency = executor.Rate(math.Inf(1)), "rate=inf", 64
	inf.Warnings = nil
	run.Steps = append(run.Steps, inf)
	var buf bytes.Buffer
	if err := ResultsTable(&buf, run); err != nil {
		t.Fatal(err)
	}
	golden(t, "results-open-loop.golden", buf.Bytes())
}

// TestDetailedResults checks the per-request arrays of -detailed output.
func TestDetailedResults(t *testing.T) {
	run := sampleRun()
	run.Steps = run.Steps[:1]
	run.Requests = [][]workload.Record{{
		{ID: "w", Warmup: true},
		{ID: "a", Seq: 1, Start: 10 * time.Millisecond, QueueTime: time.Millisecond, TTFT: 50 * time.Millisecond, E2EL: 80 * time.Millisecond,
			Gaps: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, ChunkTokens: []uint32{0, 1, 2},
			PromptTokens: 12, OutputTokens: 3, TokenSource: workload.TokenSourceUsage, TokenEvents: 3, UsageTokens: 3, HTTPStatus: 200},
		{ID: "b", Seq: 2, HTTPStatus: 503, Err: "HTTP 503: overloaded"},
	}}
	var buf bytes.Buffer
	if err := ResultsJSON(&buf, []executor.StoredRun{run}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Steps []struct {
			Requests struct {
				IDs         []string    `json:"request_ids"`
				TTFTs       []float64   `json:"ttfts"`
				ITLs        [][]float64 `json:"itls"`
				ChunkTokens [][]uint32  `json:"chunk_tokens"`
				Errors      []string    `json:"errors"`
			} `json:"requests"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	req := got[0].Steps[0].Requests
	if diff := cmp.Diff([]string{"a", "b"}, req.IDs); diff != "" {
		t.Errorf("request ids, warm-up left out (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{0.05, 0}, req.TTFTs); diff != "" {
		t.Errorf("ttfts in seconds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]float64{{0.01, 0.02}, {}}, req.ITLs); diff != "" {
		t.Errorf("itls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "HTTP 503: overloaded"}, req.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	buf.Reset()
	if err := RequestsCSV(&buf, []executor.StoredRun{run}); err != nil {
		t.Fatal(err)
	}
	golden(t, "requests.golden.csv", buf.Bytes())
}

// TestReasoningResults pins what a run of a reasoning model adds to its
// results: TTFC beside TTFT in the table, the split of its tokens and the
// requests that produced no answer in JSON and CSV, the footnote's account
// of where reasoning counts came from, and per-request columns.
func TestReasoningResults(t *testing.T) {
	run := sampleRun()
	for i, scale := range []float64{1, 1.1} {
		s := &run.Steps[i]
		for _, stat := range []string{"mean", "median", "std", "p50", "p90", "p99"} {
			s.Latency[executor.LatencyKey(stat, "ttfc")] = 2.5 * s.Latency[executor.LatencyKey(stat, "ttft")]
		}
		s.ReasoningTokens, s.AnswerTokens = int(19200*scale), int(6400*scale)
		s.NoAnswer, s.ReasoningFromUsage = 6, 100
		s.Warnings = []string{"6 of 100 requests (6.0 %) produced no answer: their reasoning used up max_tokens (256); raise max_tokens"}
	}
	var buf bytes.Buffer
	if err := ResultsTable(&buf, run); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("\n")
	if err := ResultsCSV(&buf, []executor.StoredRun{run}); err != nil {
		t.Fatal(err)
	}
	golden(t, "results-reasoning.golden", buf.Bytes())

	buf.Reset()
	if err := ResultsJSON(&buf, []executor.StoredRun{run}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Definitions map[string]string `json:"definitions"`
		Steps       []map[string]any  `json:"steps"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	step := got[0].Steps[0]
	for key, want := range map[string]any{
		"median_ttfc_ms": 22.5, "p99_ttfc_ms": 49.75,
		"total_reasoning_tokens": 19200.0, "total_answer_tokens": 6400.0,
		"no_answer_requests": 6.0, "no_answer_pct": 6.0, "reasoning_tokens_from_usage": 100.0,
	} {
		if v, ok := step[key].(float64); !ok || math.Abs(v-want.(float64)) > 1e-9 {
			t.Errorf("%s = %v, want %v", key, step[key], want)
		}
	}
	for _, name := range []string{"ttfc", "reasoning_tokens", "answer_tokens", "no_answer"} {
		if got[0].Definitions[name] == "" {
			t.Errorf("no definition of %s", name)
		}
	}
}
