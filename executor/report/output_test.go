package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/internal/safetext"
)

// FuzzOutputPath sends a reason a server might give through every output
// of results: the table, both CSVs and JSON. None may carry a byte a
// terminal acts on, the reason may not add a line to the table, and JSON
// keeps it exactly.
func FuzzOutputPath(f *testing.F) {
	for _, seed := range []string{
		"HTTP 503: overloaded",
		"\x1b]0;TITLE\x07\x1b[2J\r\nfake line",
		"del\x7f c1\u009b rtl\u202e sep\u2028",
		"bad \xff\xfe utf-8 \x00 nul",
		strings.Repeat("long ", 1000),
	} {
		f.Add(seed)
	}
	plain := render(f, "x")
	f.Fuzz(func(t *testing.T, reason string) {
		got := render(t, reason)
		for name, out := range got {
			if name == "json" {
				continue
			}
			if i := safetext.Find(out); i >= 0 {
				t.Fatalf("%s output has %q at %d", name, out[i:min(len(out), i+8)], i)
			}
		}
		if lines, want := strings.Count(got["table"], "\n"), strings.Count(plain["table"], "\n"); lines != want {
			t.Errorf("the reason changed the table from %d lines to %d:\n%s", want, lines, got["table"])
		}
		if i := safetext.Find(got["json"]); i >= 0 {
			t.Fatalf("JSON output has %q at %d", got["json"][i:min(len(got["json"]), i+8)], i)
		}
		var runs []struct {
			Steps []struct {
				Warnings []string `json:"warnings"`
				Requests struct {
					Errors []string `json:"errors"`
				} `json:"requests"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(got["json"]), &runs); err != nil {
			t.Fatalf("JSON output does not decode: %v", err)
		}
		if utf8.ValidString(reason) {
			if w := runs[0].Steps[0].Warnings; len(w) != 1 || w[0] != reason {
				t.Errorf("JSON warnings %q, want [%q]", w, reason)
			}
			if e := runs[0].Steps[0].Requests.Errors; len(e) != 1 || e[0] != reason {
				t.Errorf("JSON request errors %q, want [%q]", e, reason)
			}
		}
	})
}

// render writes a run whose step error, warning, dataset note and request
// reason are all reason, in every format results offers.
func render(tb testing.TB, reason string) map[string]string {
	tb.Helper()
	run := sampleRun()
	run.Steps = run.Steps[:1]
	run.Note = "prompts " + reason
	run.Error = reason
	run.Steps[0].Errors = []executor.ErrorCount{{Message: reason, Count: 1}}
	run.Steps[0].Warnings = []string{reason}
	run.Requests = [][]workload.Record{{{ID: reason, Seq: 1, HTTPStatus: 500, Err: reason}}}
	out := map[string]string{}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"table":        func(b *bytes.Buffer) error { return ResultsTable(b, run) },
		"csv":          func(b *bytes.Buffer) error { return ResultsCSV(b, []executor.StoredRun{run}) },
		"requests csv": func(b *bytes.Buffer) error { return RequestsCSV(b, []executor.StoredRun{run}) },
		"json":         func(b *bytes.Buffer) error { return ResultsJSON(b, []executor.StoredRun{run}) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out[name] = b.String()
	}
	return out
}
