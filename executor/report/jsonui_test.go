package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func types(msgs []map[string]any) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m["type"].(string)
	}
	return out
}

// TestJSONUIStepProgressIsThrottled checks that a step reports progress at
// most once per StepProgressInterval, however many requests finish, and
// that the report counts every request, warm-up aside.
func TestJSONUIStepProgressIsThrottled(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	ui := NewJSONUI(&out, clock.now)
	scenario := lang.Addr{Kind: lang.KindScenario, Name: "chat"}
	step := executor.StepInfo{Server: lang.Addr{Kind: lang.KindServer, Name: "sim"}, Label: "concurrency=2", Concurrency: 2, Requests: 100}

	ui.StepStart(scenario, step)
	ui.RequestDone(scenario, step, &workload.Record{Warmup: true, OutputTokens: 8})
	for range 30 { // 3 s of requests, one each 100 ms
		clock.t = clock.t.Add(100 * time.Millisecond)
		ui.RequestDone(scenario, step, &workload.Record{OutputTokens: 8})
	}
	clock.t = clock.t.Add(100 * time.Millisecond)
	ui.RequestDone(scenario, step, &workload.Record{Err: "HTTP 500"})
	ui.StepDone(scenario, step, executor.StepSummary{Completed: 30, Failed: 1})

	msgs := decodeLines(t, out.String())
	want := []string{"step_start", "step_progress", "step_progress", "step_progress", "step_complete"}
	if diff := cmp.Diff(want, types(msgs)); diff != "" {
		t.Fatalf("types (-want +got):\n%s", diff)
	}
	last := msgs[3]["step"].(map[string]any)
	if last["done"] != float64(30) || last["failed"] != float64(0) || last["elapsed_seconds"] != float64(3) {
		t.Errorf("last step_progress = %v, want 30 done, 0 failed, 3 s", last)
	}
	if rate := last["output_throughput"].(float64); rate <= 0 {
		t.Errorf("output_throughput = %v, want the recent token rate", rate)
	}
}

// TestJSONUIApplyHooks checks the apply messages: a failed action is
// apply_errored with Terraform's resource object, a warning is a
// diagnostic naming its resource, provider progress is apply_progress
// under the action that started.
func TestJSONUIApplyHooks(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	ui := NewJSONUI(&out, clock.now)
	pod := lang.Addr{Kind: lang.KindPod, Name: "gpu", Key: `"h100"`}
	ui.Plan(&executor.Plan{Changes: []*executor.Change{{Addr: pod, Action: executor.Create, Provider: "runpod"}}})
	ui.PreApply(pod, executor.Create)
	clock.t = clock.t.Add(12 * time.Second)
	ui.Progress(pod, "pod is RUNNING; /health: 503")
	clock.t = clock.t.Add(3 * time.Second)
	ui.Warn(pod, "no GPU telemetry")
	ui.PostApply(pod, executor.Create, errors.New("boom"))

	msgs := decodeLines(t, out.String())
	want := []string{"planned_change", "change_summary", "log", "apply_start", "apply_progress", "diagnostic", "apply_errored"}
	if diff := cmp.Diff(want, types(msgs)); diff != "" {
		t.Fatalf("types (-want +got):\n%s", diff)
	}
	if got := msgs[2]["@message"]; got != "Pods this plan creates cost $0.00 per hour, plus pods whose price is known only after apply." {
		t.Errorf("the plan's cost reads %q", got)
	}
	msgs = append(msgs[:2], msgs[3:]...)
	wantResource := map[string]any{
		"addr": `pod.gpu["h100"]`, "module": "", "resource": `pod.gpu["h100"]`, "implied_provider": "runpod",
		"resource_type": "pod", "resource_name": "gpu", "resource_key": "h100",
	}
	errored := msgs[5]["hook"].(map[string]any)
	if diff := cmp.Diff(wantResource, errored["resource"]); diff != "" {
		t.Errorf("resource (-want +got):\n%s", diff)
	}
	if errored["action"] != "create" || errored["elapsed_seconds"] != float64(15) {
		t.Errorf("apply_errored hook = %v", errored)
	}
	if p := msgs[3]["hook"].(map[string]any); p["action"] != "create" || p["elapsed_seconds"] != float64(12) || p["message"] != "pod is RUNNING; /health: 503" {
		t.Errorf("apply_progress hook = %v", p)
	}
	d := msgs[4]["diagnostic"].(map[string]any)
	if msgs[4]["@level"] != "warn" || d["severity"] != "warning" || d["address"] != `pod.gpu["h100"]` || d["summary"] != "no GPU telemetry" {
		t.Errorf("warning = %v", msgs[4])
	}
}

// TestJSONUIOutputsHideSecrets checks that a sensitive output carries
// neither its value nor its type.
func TestJSONUIOutputsHideSecrets(t *testing.T) {
	var out bytes.Buffer
	NewJSONUI(&out, nil).Outputs(map[string]cty.Value{
		"model": cty.StringVal("tiny"),
		"key":   cty.StringVal("s3cret").Mark("sensitive"),
	})
	if strings.Contains(out.String(), "s3cret") {
		t.Fatalf("a secret was written: %s", out.String())
	}
	got := decodeLines(t, out.String())[0]["outputs"]
	want := map[string]any{
		"key":   map[string]any{"sensitive": true},
		"model": map[string]any{"sensitive": false, "type": "string", "value": "tiny"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

// TestJSONUIDiagnosticSnippet checks a diagnostic's range and snippet
// against Terraform's layout: the subject's lines, the enclosing block as
// context, and the highlight's offsets within the lines.
func TestJSONUIDiagnosticSnippet(t *testing.T) {
	src := "server \"sim\" {\n  engine = \"tgi-x\"\n}\n"
	f, diags := hclsyntax.ParseConfig([]byte(src), "main.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	start := strings.Index(src, `"tgi-x"`)
	subject := hcl.Range{
		Filename: "main.hcl",
		Start:    hcl.Pos{Line: 2, Column: 12, Byte: start},
		End:      hcl.Pos{Line: 2, Column: 19, Byte: start + 7},
	}
	var out bytes.Buffer
	NewJSONUI(&out, nil).Diagnostics(map[string]*hcl.File{"main.hcl": f}, hcl.Diagnostics{{
		Severity: hcl.DiagError, Summary: "Unsupported engine", Detail: "Use vllm.", Subject: &subject,
	}})
	msg := decodeLines(t, out.String())[0]
	if msg["@level"] != "error" || msg["@message"] != "Error: Unsupported engine" {
		t.Errorf("message = %v", msg)
	}
	d := msg["diagnostic"].(map[string]any)
	want := map[string]any{
		"context":                `server "sim"`,
		"code":                   `  engine = "tgi-x"`,
		"start_line":             float64(2),
		"highlight_start_offset": float64(11),
		"highlight_end_offset":   float64(18),
		"values":                 []any{},
	}
	if diff := cmp.Diff(want, d["snippet"]); diff != "" {
		t.Errorf("snippet (-want +got):\n%s", diff)
	}
	wantRange := map[string]any{
		"filename": "main.hcl",
		"start":    map[string]any{"line": float64(2), "column": float64(12), "byte": float64(start)},
		"end":      map[string]any{"line": float64(2), "column": float64(19), "byte": float64(start + 7)},
	}
	if diff := cmp.Diff(wantRange, d["range"]); diff != "" {
		t.Errorf("range (-want +got):\n%s", diff)
	}
}
