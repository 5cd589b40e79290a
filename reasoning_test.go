package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// reasoningConfig is a simulated reasoning model: every chat answer thinks
// for {{.Reasoning}} tokens before it answers, a token every 10 ms after
// the first at 40 ms.
const reasoningConfig = `
server "sim" {
  engine = "simulated"
  simulate {
    engine           = "{{.Engine}}"
    ttft             = "40ms"
    itl              = "10ms"
    reasoning_tokens = {{.Reasoning}}
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = {{.MaxTokens}}
  load {
    concurrency = [2]
    requests    = 6
  }
  dataset {
    kind         = "synthetic"
    input_tokens = 8
  }
}
`

type reasoningSetup struct {
	Engine               string
	Reasoning, MaxTokens int
}

// applyReasoning applies reasoningConfig and returns what apply printed,
// the step's results as JSON (with its per-request arrays), and its table.
func applyReasoning(t *testing.T, s reasoningSetup) (applied string, step map[string]any, table string) {
	t.Helper()
	dir := configDir(t, render(t, reasoningConfig, s))
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	db := filepath.Join(dir, "benchform.db")
	_, js, _ := benchform(t, "results", "-state", db, "-format", "json", "-detailed")
	var runs []struct {
		Steps []map[string]any `json:"steps"`
	}
	if err := json.Unmarshal([]byte(js), &runs); err != nil || len(runs) != 1 || len(runs[0].Steps) != 1 {
		t.Fatalf("results: %v\n%s", err, js)
	}
	_, table, _ = benchform(t, "results", "-state", db)
	return out + errOut, runs[0].Steps[0], table
}

// figures reads keys of a step's results, "absent" where it has none.
func figures(step map[string]any, keys ...string) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		v, ok := step[k]
		if !ok {
			v = "absent"
		}
		out[i] = v
	}
	return out
}

// TestReasoningModel runs apply against a simulated reasoning model that
// thinks for 6 tokens and answers with 4 (max_tokens 10): its first token,
// reasoning, arrives at the simulator's TTFT, 40 ms; its first answer token
// is the seventh, 6 × 10 ms later, at 100 ms. Six requests think for 36
// tokens and answer with 24. The vLLM flavour counts the reasoning in its
// usage; llama.cpp's does not, so the client counts it by event.
func TestReasoningModel(t *testing.T) {
	for _, tt := range []struct {
		engine    string
		fromUsage float64
	}{
		{"vllm", 6},
		{"llama.cpp", 0},
	} {
		t.Run(tt.engine, func(t *testing.T) {
			t.Parallel()
			_, step, table := applyReasoning(t, reasoningSetup{Engine: tt.engine, Reasoning: 6, MaxTokens: 10})
			got := figures(step, "completed", "total_output_tokens", "total_reasoning_tokens", "total_answer_tokens",
				"reasoning_tokens_from_usage", "no_answer_requests", "no_answer_pct", "warnings")
			want := []any{6.0, 60.0, 36.0, 24.0, tt.fromUsage, 0.0, 0.0, "absent"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("completed, output, reasoning and answer tokens, reasoning counted by the server, requests without answer, their share, warnings (-want +got):\n%s", diff)
			}
			// Tokens never go out before they are due; on a machine that
			// keeps up they arrive within a few milliseconds.
			ttft, _ := step["median_ttft_ms"].(float64)
			ttfc, _ := step["median_ttfc_ms"].(float64)
			if ttft < 40 || ttfc < 100 || !testing.Short() && (ttft >= 55 || ttfc >= 115) {
				t.Errorf("median TTFT %.1f ms, TTFC %.1f ms; want 40 and 100 ms, arriving within 15 ms", ttft, ttfc)
			}
			requests, _ := step["requests"].(map[string]any)
			if diff := cmp.Diff([]any{6.0, 6.0, 6.0, 6.0, 6.0, 6.0}, requests["reasoning_lens"]); diff != "" {
				t.Errorf("per-request reasoning tokens (-want +got):\n%s", diff)
			}
			if !strings.Contains(table, "TTFC p50") || !strings.Contains(table, "TTFC: request sent") {
				t.Errorf("the table shows no TTFC:\n%s", table)
			}
		})
	}
}

// TestReasoningUsesUpMaxTokens runs a reasoning model whose thinking
// (6 tokens) is longer than the requests' max_tokens (4): no request
// answers, and the step says so, naming max_tokens.
func TestReasoningUsesUpMaxTokens(t *testing.T) {
	t.Parallel()
	applied, step, table := applyReasoning(t, reasoningSetup{Engine: "vllm", Reasoning: 6, MaxTokens: 4})
	const warning = "6 of 6 requests (100.0 %) produced no answer: their reasoning used up max_tokens (4); raise max_tokens"
	if !strings.Contains(applied, warning) || !strings.Contains(table, warning) {
		t.Errorf("apply or the table does not warn:\n%s\n%s", applied, table)
	}
	got := figures(step, "completed", "total_output_tokens", "total_reasoning_tokens", "total_answer_tokens",
		"no_answer_requests", "no_answer_pct", "median_ttfc_ms", "warnings")
	want := []any{6.0, 24.0, 24.0, 0.0, 6.0, 100.0, "absent", []any{warning}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("completed, output, reasoning and answer tokens, requests without answer, their share, TTFC, warnings (-want +got):\n%s", diff)
	}
	if strings.Contains(table, "TTFC") {
		t.Errorf("a TTFC column without an answer:\n%s", table)
	}
}

// TestSimulateReasoningTokens runs `benchform simulate -reasoning-tokens`
// and reads its stream: two tokens of thinking in vLLM's reasoning field,
// then the answer; a negative count is refused.
func TestSimulateReasoningTokens(t *testing.T) {
	t.Parallel()
	if code, _, errOut := benchform(t, "simulate", "-reasoning-tokens", "-1"); code != 1 || !strings.Contains(errOut, "reasoning_tokens must not be negative") {
		t.Errorf("simulate -reasoning-tokens -1: exit %d, %q", code, errOut)
	}
	sim := startSimulator(t, filepath.Join(t.TempDir(), "trace.tsv"), "-reasoning-tokens", "2", "-ttft", "1ms", "-itl", "1ms")
	resp, err := http.Post(sim.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.stop(); err != nil {
		t.Error(err)
	}
	var deltas []string
	for _, d := range regexp.MustCompile(`"delta":\{"(\w+)"`).FindAllSubmatch(body, -1) {
		deltas = append(deltas, string(d[1]))
	}
	if diff := cmp.Diff([]string{"role", "reasoning", "reasoning", "content"}, deltas); diff != "" {
		t.Errorf("the first member of each delta (-want +got):\n%s\n%s", diff, body)
	}
}
