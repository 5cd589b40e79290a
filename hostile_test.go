package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benchform/benchform/executor/report"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
)

// hostile is an OpenAI-compatible server that misbehaves on purpose, one
// way per mode. Its health and model checks answer properly, so that the
// misbehaviour meets the workload.
func hostile(t *testing.T, mode string) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			w.Write([]byte(`{"data":[{"id":"m"}]}`))
			return
		case "/v1/chat/completions":
		default:
			http.NotFound(w, r)
			return
		}
		token := func() {
			w.Write([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\"}}]}\n\n"))
			w.(http.Flusher).Flush()
		}
		hold := func() {
			select {
			case <-done:
			case <-r.Context().Done():
			}
		}
		switch mode {
		case "stall after two tokens":
			w.Header().Set("Content-Type", "text/event-stream")
			token()
			token()
			hold()
		case "never answers":
			hold()
		case "usage 40 for 4 tokens", "usage 10^12 for 4 tokens":
			w.Header().Set("Content-Type", "text/event-stream")
			for range 4 {
				token()
			}
			usage := map[string]string{"usage 40 for 4 tokens": "40", "usage 10^12 for 4 tokens": "1000000000000"}[mode]
			w.Write([]byte(`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":` + usage + "}}\n\ndata: [DONE]\n\n"))
		case "100,000 tokens for max_tokens 16":
			w.Header().Set("Content-Type", "text/event-stream")
			chunk := []byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\"}}]}\n\n")
			for range 100_000 {
				w.Write(chunk)
			}
			w.Write([]byte("data: [DONE]\n\n"))
		case "HTML with 200":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<html><body>Bad gateway</body></html>"))
		case "random bytes with 200":
			blob := make([]byte, 4096)
			rand.NewChaCha8([32]byte{2}).Read(blob)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(blob)
		case "escapes in its error":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":{"message":"` + injection + `"}}`))
		case "slow":
			// Every request streams a token each 200 ms for 4 s: a step
			// of 1 s ends with them in flight, never idle.
			w.Header().Set("Content-Type", "text/event-stream")
			for range 20 {
				token()
				select {
				case <-done:
					return
				case <-r.Context().Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
			w.Write([]byte("data: [DONE]\n\n"))
		default:
			t.Errorf("unknown mode %q", mode)
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv.URL
}

// injection, in JSON, is a message that retitles the window, clears the
// screen and forges a line, then tries DEL, a C1 control and a
// bidirectional override.
const injection = `\u001b]0;TITLE\u0007\u001b[2J\r\nfake line\u007f\u009b2J\u202e`

const hostileConfig = `
server "x" {
  engine   = "openai"
  endpoint = "{{.URL}}"
  model    = "m"
}

scenario "chat" {
  server     = server.x
  max_tokens = 16
  timeouts {
    first_byte = "2s"
    idle       = "1s"
    drain      = "1s"
  }
  dataset {
    kind    = "prompts"
    prompts = ["hello"]
  }
  load {
    concurrency = [2]
    {{.Bound}}
  }
}
`

// TestHostileServers runs apply, then results, against each misbehaving
// server: apply ends within a few seconds with the exit code and the
// per-request reason the case calls for, and no byte below 0x20 but
// newline and tab reaches the terminal.
func TestHostileServers(t *testing.T) {
	tests := []struct {
		mode      string
		bound     string // requests or duration
		wantCode  int
		wantError string // a reason every failed request gives
		within    time.Duration
		check     func(t *testing.T, step map[string]any)
	}{
		{mode: "stall after two tokens", bound: "requests = 4", wantCode: exitError,
			wantError: "timeout: no event for 1s after 2 token events", within: 10 * time.Second},
		{mode: "never answers", bound: "requests = 4", wantCode: exitError,
			wantError: "timeout: no response within 2s", within: 10 * time.Second},
		{mode: "escapes in its error", bound: "requests = 4", wantCode: exitError,
			wantError: "HTTP 500: \x1b]0;TITLE\a\x1b[2J\r\nfake line\x7f\u009b2J\u202e", within: 10 * time.Second},
		{mode: "HTML with 200", bound: "requests = 4", wantCode: exitError, within: 10 * time.Second,
			wantError: `not an event stream: Content-Type "text/html; charset=utf-8", and the body begins "<html><body>Bad gateway</body></html>"`},
		{mode: "random bytes with 200", bound: "requests = 4", wantCode: exitError, within: 10 * time.Second,
			wantError: `not an event stream: Content-Type "application/octet-stream", and the body begins "`},
		{mode: "usage 40 for 4 tokens", bound: "requests = 4", wantCode: exitOK, within: 10 * time.Second,
			check: usageRejected("chunks (usage rejected: 40 > max_tokens 16)")},
		{mode: "usage 10^12 for 4 tokens", bound: "requests = 4", wantCode: exitOK, within: 10 * time.Second,
			check: usageRejected("chunks (usage rejected: 1000000000000 > max_tokens 16)")},
		{mode: "100,000 tokens for max_tokens 16", bound: "requests = 4", wantCode: exitOK, within: 20 * time.Second,
			check: func(t *testing.T, step map[string]any) {
				if step["requests_over_max_tokens"] != float64(4) || step["total_output_tokens"] != float64(400_000) ||
					!strings.Contains(fmt.Sprint(step["warnings"]), "4 of 4 requests streamed more tokens than their max_tokens (up to 100000 for a limit of 16)") {
					t.Errorf("over max_tokens %v, output tokens %v, warnings %v; want 4, 400000 and a warning", step["requests_over_max_tokens"], step["total_output_tokens"], step["warnings"])
				}
			}},
		{mode: "slow", bound: `duration = "1s"`, wantCode: exitError, within: 10 * time.Second,
			check: func(t *testing.T, step map[string]any) {
				// Two requests in flight when the second is up, cut off a
				// second later; none finished.
				if step["cut_off"] != float64(2) || step["completed"] != float64(0) || step["failed"] != float64(0) {
					t.Errorf("cut_off %v, completed %v, failed %v; want 2, 0, 0", step["cut_off"], step["completed"], step["failed"])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t, render(t, hostileConfig, struct{ URL, Bound string }{hostile(t, tt.mode), tt.bound}))
			began := time.Now()
			code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
			took := time.Since(began)
			if code != tt.wantCode || took > tt.within {
				t.Errorf("apply: exit %d after %s, want %d within %s\n%s\n%s", code, took.Round(time.Millisecond), tt.wantCode, tt.within, out, errOut)
			}
			statePath := filepath.Join(dir, "benchform.db")
			_, table, tableErr := benchform(t, "results", "-state", statePath)
			_, runs, runsErr := benchform(t, "runs", "-state", statePath)
			assertNoControlBytes(t, out, errOut, table, tableErr, runs, runsErr)
			for _, s := range []string{out, errOut, table, tableErr, runs, runsErr} {
				for _, line := range strings.Split(s, "\n") {
					if strings.HasPrefix(line, "fake line") {
						t.Errorf("a server forged a line:\n%s", s)
					}
				}
			}
			rcode, js, rerr := benchform(t, "results", "-state", statePath, "-format", "json", "-detailed")
			assertNoControlBytes(t, js)
			var stored []struct {
				Steps []map[string]any `json:"steps"`
			}
			if rcode != exitOK || json.Unmarshal([]byte(js), &stored) != nil || len(stored) != 1 || len(stored[0].Steps) != 1 {
				t.Fatalf("results: %d %s\n%s", rcode, rerr, js)
			}
			step := stored[0].Steps[0]
			if tt.wantError != "" {
				errs, _ := step["errors"].([]any)
				if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), tt.wantError) {
					t.Errorf("errors %v, want every failure to say %q", step["errors"], tt.wantError)
				}
			}
			if tt.check != nil {
				tt.check(t, step)
			}
		})
	}
}

// usageRejected checks a step of 4 requests that each streamed 4 tokens
// while the server reported more: no count is believed, the tokens are
// the events, and the step is suspect.
func usageRejected(source string) func(t *testing.T, step map[string]any) {
	return func(t *testing.T, step map[string]any) {
		t.Helper()
		if step["usage_rejected"] != float64(4) || step["suspect"] != true || step["total_output_tokens"] != float64(16) {
			t.Errorf("usage_rejected %v, suspect %v, total_output_tokens %v; want 4, true, 16", step["usage_rejected"], step["suspect"], step["total_output_tokens"])
		}
		if tps, _ := step["output_throughput"].(float64); tps > 1e6 {
			t.Errorf("output_throughput %v tok/s from 16 tokens", tps)
		}
		sources := fmt.Sprint(step["requests"].(map[string]any)["token_sources"])
		if want := fmt.Sprint([]string{source, source, source, source}); sources != want {
			t.Errorf("token_sources %s, want %s", sources, want)
		}
		if !strings.Contains(fmt.Sprint(step["warnings"]), "the server's usage count was not believed for 4 of 4 requests") {
			t.Errorf("warnings %v", step["warnings"])
		}
	}
}

// assertNoControlBytes fails on anything a terminal would act on in what
// it would show: a byte below 0x20 but newline and tab, DEL, a C1
// control, a bidirectional override, a byte that is not UTF-8.
func assertNoControlBytes(t *testing.T, outputs ...string) {
	t.Helper()
	for i, s := range outputs {
		if j := safetext.Find(s); j >= 0 {
			t.Errorf("output %d has %q at %d: %q", i, s[j], j, s[max(0, j-20):min(len(s), j+20)])
		}
	}
}

// TestHostileConfigFiles validates and formats files that are no
// configuration: each is one short, clean diagnostic, or a hundred and a
// count, never a byte per diagnostic.
func TestHostileConfigFiles(t *testing.T) {
	blob := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(blob)
	tests := []struct {
		name    string
		content string
		want    string // in standard error
		errors  int    // "Error:" lines
	}{
		{"random bytes", string(blob), "is not a text file: at 1:2 its byte is 0xe6", 1},
		{"NUL in text", "server \"a\" {\n  engine = \"vllm\x00\"\n}\n", "is not a text file: at 2:17 its byte is 0x00", 1},
		{"too large", strings.Repeat("# comment\n", lang.MaxSourceBytes/10+1), "is larger than 1 MiB", 1},
		{"nested too deeply", "a = " + strings.Repeat("[", 100_000), "nest more than 256 deep", 1},
		{"interpolations too deep", "a = " + strings.Repeat(`"${`, 50_000), "nest more than 256 deep", 1},
		{"unary operators too deep", "a = " + strings.Repeat("!", 100_000) + "true", "nest more than 256 deep", 1},
		{"a bad line many times", strings.Repeat("@@ = 1\n", 1000), "…and 1901 more errors, not shown.", report.MaxDiagnostics},
		{"escapes in the source", "a = \"\x1b]0;TITLE\x07\x1b[2J\"\n\x1b[2J\n", "Invalid character", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := configDir(t, tt.content)
			for _, cmd := range []string{"validate", "fmt"} {
				code, out, errOut := benchform(t, cmd, dir)
				// Diagnostics wrap at 78 columns.
				if code != exitError || !strings.Contains(strings.Join(strings.Fields(errOut), " "), tt.want) || strings.Count(errOut, "Error:") != tt.errors {
					t.Errorf("%s: exit %d, %d errors, want %d and %q:\n%s", cmd, code, strings.Count(errOut, "Error:"), tt.errors, tt.want, trimmed(errOut))
				}
				if len(errOut) > 64<<10 {
					t.Errorf("%s printed %d bytes", cmd, len(errOut))
				}
				assertNoControlBytes(t, out, errOut)
			}
		})
	}
}

func trimmed(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// BenchmarkValidateBadLines validates a file of n bad lines, as a user
// who points benchform at the wrong file would: diagnostics grow linearly
// with n (compare ns/op across sizes).
func BenchmarkValidateBadLines(b *testing.B) {
	for _, n := range []int{1000, 4000, 16000} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.Repeat("@@ = 1\n", n)), 0o644); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if code := run([]string{"validate", dir}, strings.NewReader(""), io.Discard, io.Discard); code != exitError {
					b.Fatalf("validate exit %d", code)
				}
			}
		})
	}
}
