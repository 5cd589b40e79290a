package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
			assertNoControlBytes(t, out, errOut)
			rcode, js, rerr := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json")
			var runs []struct {
				Steps []map[string]any `json:"steps"`
			}
			if rcode != exitOK || json.Unmarshal([]byte(js), &runs) != nil || len(runs) != 1 || len(runs[0].Steps) != 1 {
				t.Fatalf("results: %d %s\n%s", rcode, rerr, js)
			}
			step := runs[0].Steps[0]
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

// assertNoControlBytes fails on any byte below 0x20 but newline and tab
// in what a terminal would show.
func assertNoControlBytes(t *testing.T, outputs ...string) {
	t.Helper()
	for i, s := range outputs {
		for j := 0; j < len(s); j++ {
			if c := s[j]; c < 0x20 && c != '\n' && c != '\t' {
				t.Errorf("output %d has control byte %#x at %d: %q", i, c, j, s[max(0, j-20):min(len(s), j+20)])
				break
			}
		}
	}
}
