package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// uiTestTime stamps every message of the golden streams.
var uiTestTime = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

// TestJSONUIGolden pins the machine-readable UI of plan, apply and destroy
// of the quickstart (fastHCL, as TestPlanGolden). The clock is fixed, so
// timestamps compare, every elapsed_seconds is 0 and no step_progress is
// due (one is sent a second after the last, by that clock). What the
// fixed clock cannot fix is masked before comparing, see normalizeStream.
func TestJSONUIGolden(t *testing.T) {
	// Not parallel: uiNow is shared, and parallel tests only resume once
	// this one has finished and put it back.
	uiNow = func() time.Time { return uiTestTime }
	t.Cleanup(func() { uiNow = time.Now })

	dir := configDir(t, fastHCL(t, quick))
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"plan", []string{"plan", "-json", dir}},
		{"apply", []string{"apply", "-json", "-auto-approve", dir}},
		{"destroy", []string{"destroy", "-json", "-auto-approve", dir}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := benchform(t, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if errOut != "" {
				t.Errorf("-json wrote to standard error:\n%s", errOut)
			}
			got := normalizeStream(t, parseStream(t, out))
			golden := filepath.Join("testdata", "jsonui", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s -json (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// parseStream checks that every line of a -json stream is a JSON object
// with the keys every message has, the first a version message, and
// returns them.
func parseStream(t *testing.T, out string) []map[string]any {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("the stream does not end with a newline:\n%s", out)
	}
	var msgs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || dec.More() {
			t.Fatalf("line %d is not one JSON object (%v): %s", i+1, err, line)
		}
		for _, key := range []string{"@level", "@message", "@module", "@timestamp", "type"} {
			if _, ok := m[key].(string); !ok {
				t.Errorf("line %d lacks the string %s: %s", i+1, key, line)
			}
		}
		if m["@module"] != "benchform.ui" {
			t.Errorf("line %d: @module %v, want benchform.ui", i+1, m["@module"])
		}
		stamp, _ := m["@timestamp"].(string)
		if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || !strings.Contains(stamp, ".") {
			t.Errorf("line %d: @timestamp %q is not RFC 3339 with fractional seconds", i+1, stamp)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 || msgs[0]["type"] != "version" || msgs[0]["ui"] != "1.0" {
		t.Fatalf("the stream does not start with a version message:\n%s", out)
	}
	return msgs
}

// deterministicResults are the keys of a step's results that a seeded
// simulator makes the same on every run; the values of the others come
// from the machine's timing.
var deterministicResults = map[string]bool{
	"step": true, "server": true, "label": true, "concurrency": true, "status": true,
	"completed": true, "failed": true, "total_input_tokens": true, "total_output_tokens": true,
}

// measuredFigure is a figure with decimals in a step_complete's @message:
// a rate, which depends on the machine's timing.
var measuredFigure = regexp.MustCompile(`\d+\.\d+`)

// normalizeStream writes the messages back, one a line, after masking
// what depends on the machine's timing: the rates in a step_complete's
// @message, and in its results
// every value but deterministicResults' becomes "<measured>" (the keys
// stay, so a figure that appears or goes is seen), and "warnings" goes,
// as does a warning diagnostic that the client fell behind: both appear
// on a loaded machine only. Objects are written with sorted keys.
func normalizeStream(t *testing.T, msgs []map[string]any) string {
	t.Helper()
	var b bytes.Buffer
	for _, m := range msgs {
		if d, ok := m["diagnostic"].(map[string]any); ok && d["severity"] == "warning" &&
			strings.HasPrefix(d["summary"].(string), "the client fell behind") {
			continue
		}
		if m["type"] == "step_complete" {
			m["@message"] = measuredFigure.ReplaceAllString(m["@message"].(string), "<measured>")
			results := m["step"].(map[string]any)["results"].(map[string]any)
			delete(results, "warnings")
			for k := range results {
				if !deterministicResults[k] {
					results[k] = "<measured>"
				}
			}
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// messagesOfType returns the stream's messages of one type.
func messagesOfType(msgs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// TestJSONUIRequiresApproval checks that apply and destroy under -json,
// which cannot ask, refuse without -auto-approve or a saved plan, with an
// error diagnostic in the stream, and leave no state behind.
func TestJSONUIRequiresApproval(t *testing.T) {
	t.Parallel()
	for _, command := range []string{"apply", "destroy"} {
		t.Run(command, func(t *testing.T) {
			dir := configDir(t, fastHCL(t, quick))
			code, out, errOut := benchform(t, command, "-json", dir)
			if code != exitError {
				t.Fatalf("%s -json without -auto-approve: exit %d, want %d\n%s\n%s", command, code, exitError, out, errOut)
			}
			msgs := parseStream(t, out)
			diags := messagesOfType(msgs, "diagnostic")
			if len(msgs) != 2 || len(diags) != 1 {
				t.Fatalf("want a version and one diagnostic, got:\n%s", out)
			}
			d := diags[0]["diagnostic"].(map[string]any)
			if d["severity"] != "error" || d["summary"] != "Plan file or auto-approve required" || diags[0]["@level"] != "error" {
				t.Errorf("diagnostic = %v", diags[0])
			}
			if _, err := os.Stat(filepath.Join(dir, "benchform.db")); err == nil {
				t.Errorf("a refused %s created state", command)
			}
		})
	}
}

// TestJSONUIApplyError applies against a server that fails every request:
// the scenario ends with apply_errored, the error follows as a diagnostic,
// no change_summary claims success, the server's escapes stay escaped, and
// apply exits 1.
func TestJSONUIApplyError(t *testing.T) {
	t.Parallel()
	dir := configDir(t, render(t, hostileConfig, struct{ URL, Bound string }{hostile(t, "escapes in its error"), "requests = 4"}))
	code, out, errOut := benchform(t, "apply", "-json", "-auto-approve", dir)
	if code != exitError {
		t.Fatalf("apply -json with failing requests: exit %d, want %d\n%s\n%s", code, exitError, out, errOut)
	}
	assertNoControlBytes(t, out, errOut)
	msgs := parseStream(t, out)
	errored := messagesOfType(msgs, "apply_errored")
	if len(errored) != 1 {
		t.Fatalf("want one apply_errored, got %d:\n%s", len(errored), out)
	}
	hook := errored[0]["hook"].(map[string]any)
	if res := hook["resource"].(map[string]any); res["addr"] != "scenario.chat" || res["resource_type"] != "scenario" || hook["action"] != "run" {
		t.Errorf("apply_errored hook = %v", hook)
	}
	var errs []map[string]any
	for _, m := range messagesOfType(msgs, "diagnostic") {
		if d := m["diagnostic"].(map[string]any); d["severity"] == "error" {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		t.Errorf("no error diagnostic follows apply_errored:\n%s", out)
	}
	for _, m := range messagesOfType(msgs, "change_summary") {
		if m["changes"].(map[string]any)["operation"] != "plan" {
			t.Errorf("a failed apply reported %v", m)
		}
	}
	if completes := messagesOfType(msgs, "step_complete"); len(completes) != 1 ||
		completes[0]["step"].(map[string]any)["results"].(map[string]any)["failed"] != json.Number("4") {
		t.Errorf("want one step_complete with 4 failed requests, got %v", completes)
	}
}
