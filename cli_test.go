package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/benchform/benchform/providers/simulated"
	"github.com/benchform/benchform/state"
)

// TestInterrupt sends Ctrl-C to an apply while its scenario runs:
// the first stops the requests and records what finished, and the process
// exits with the lock released.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, endless))
	apply := process(t, "apply", "-auto-approve", dir)
	var out syncBuffer
	apply.Stdout, apply.Stderr = &out, &out
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	defer apply.Process.Kill()
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "concurrency=1:") })
	time.Sleep(200 * time.Millisecond)
	if err := apply.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- apply.Wait() }()
	select {
	case err := <-done:
		if exitCode(err) != exitError {
			t.Errorf("interrupted apply exited %v, want %d", err, exitError)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("apply did not stop after Ctrl-C:\n%s", out.String())
	}
	for _, want := range []string{"Interrupt received", "Interrupted: what finished is recorded"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	store, err := state.Open(filepath.Join(dir, "benchform.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if holder, err := store.LockHolder(); err != nil || holder != nil {
		t.Errorf("lock still held after a clean interrupt: %+v, %v", holder, err)
	}
	run, err := store.Run(1)
	if err != nil || run.Status != state.RunInterrupted || run.Error != "interrupted" {
		t.Errorf("run = %+v, %v; want interrupted", run, err)
	}
	steps, _ := store.Steps(1)
	if len(steps) != 1 || steps[0].Status != state.RunInterrupted || len(steps[0].Summary) == 0 {
		t.Fatalf("steps = %+v; want the cut-short step kept with its summary", steps)
	}
	// A request in flight (there is one unless the signal fell between
	// two) was stopped by the user, not failed by the server: the summary
	// and the progress line say so alike.
	var summary struct {
		Failed int `json:"failed"`
		CutOff int `json:"cut_off"`
	}
	if err := json.Unmarshal(steps[0].Summary, &summary); err != nil || summary.Failed != 0 || summary.CutOff > 1 {
		t.Errorf("step summary failed %d, cut off %d (%v); want 0 and at most 1", summary.Failed, summary.CutOff, err)
	}
	line := " ok, 0 failed in "
	if summary.CutOff == 1 {
		line = " ok, 0 failed, 1 cut off in "
	}
	if !strings.Contains(out.String(), line) {
		t.Errorf("the progress line does not say %q, as the summary does:\n%s", line, out.String())
	}
	if recs, _ := store.Records(1, -1); len(recs) == 0 {
		t.Errorf("no request records kept")
	}
	if row, ok, _ := store.Resource("server.sim"); !ok || row.Status != state.StatusReady {
		t.Errorf("server.sim = %+v; want it recorded as ready", row)
	}
}

// TestEndpointScenario benchmarks an existing OpenAI-compatible server (a
// simulator started by the test) through the openai provider, and checks
// that a model it does not serve fails the plan.
func TestEndpointScenario(t *testing.T) {
	m := simulated.DefaultModel()
	m.ServedModel, m.TTFT, m.ITL, m.APIKey = "served", time.Millisecond, time.Millisecond, "k-123"
	srv, err := simulated.NewServer(m)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	dir := "examples/endpoint"
	db := filepath.Join(t.TempDir(), "s.db")
	t.Setenv("BENCHFORM_VAR_api_key", "k-123")
	code, out, errOut := benchform(t, "plan", "-state", db, "-var", "endpoint="+url, "-var", "model=other", dir)
	if code != exitError || !strings.Contains(strings.Join(strings.Fields(errOut), " "), `does not serve model "other"; it serves "served"`) {
		t.Errorf("plan with a model the server lacks: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "k-123") {
		t.Errorf("the API key was printed")
	}

	quick := []string{"-var", "endpoint=" + url, "-var", "model=served"}
	code, out, errOut = benchform(t, append(append([]string{"plan", "-state", db}, quick...), dir)...)
	if code != exitOK || !strings.Contains(out, "api_key  = (sensitive value)") || strings.Contains(out, "k-123") {
		t.Errorf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestCorruptStateIsRefused(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	db := filepath.Join(dir, "benchform.db")
	junk := []byte("this is not a database, and must stay as it is\n")
	if err := os.WriteFile(db, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitError || !strings.Contains(errOut, "not a benchform state file") {
		t.Errorf("apply on a corrupt state: exit %d\n%s", code, errOut)
	}
	if got, _ := os.ReadFile(db); string(got) != string(junk) {
		t.Errorf("the file was changed")
	}
}

func TestStateCommands(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	db := filepath.Join(dir, "benchform.db")
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %s\n%s", out, errOut)
	}
	code, out, _ := benchform(t, "state", "list", "-state", db)
	if code != exitOK || out != "scenario.chat\nserver.sim\n" {
		t.Errorf("state list: %d %q", code, out)
	}
	code, out, _ = benchform(t, "state", "show", "server.sim", "-state", db)
	if code != exitOK || !strings.Contains(out, `"model": "tiny"`) {
		t.Errorf("state show: %d\n%s", code, out)
	}
	code, out, _ = benchform(t, "-state", db, "show")
	if code != exitOK || !strings.Contains(out, "# server.sim:") || !strings.Contains(out, "scenario.chat — run #1") {
		t.Errorf("show: %d\n%s", code, out)
	}
	code, out, _ = benchform(t, "state", "rm", "scenario.chat", "-state", db)
	if code != exitOK || !strings.Contains(out, "Removed scenario.chat") {
		t.Errorf("state rm: %d\n%s", code, out)
	}
	// Removed from state, the scenario is new again.
	code, out, _ = benchform(t, "plan", dir)
	if code != exitOK || !strings.Contains(out, "scenario.chat will be run: new scenario") {
		t.Errorf("plan after state rm: %d\n%s", code, out)
	}
	if code, _, errOut := benchform(t, "state", "show", "pod.nope", "-state", db); code != exitError || !strings.Contains(errOut, "holds no pod.nope") {
		t.Errorf("state show of a missing address: %d %s", code, errOut)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	db := filepath.Join(dir, "benchform.db")
	for i := 0; i < 2; i++ {
		if code, out, errOut := benchform(t, "apply", "-auto-approve", "-replace", "scenario.chat", dir); code != exitOK {
			t.Fatalf("apply %d: %s\n%s", i, out, errOut)
		}
	}
	code, out, errOut := benchform(t, "compare", "1", "2", "-state", db)
	if code != exitOK || !strings.Contains(out, "Comparing run #1 (scenario.chat) with run #2") || !strings.Contains(out, "out tok/s") {
		t.Errorf("compare: %d\n%s\n%s", code, out, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "Usage: benchform"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"plan", "-target", "nonsense", "."}, "-target: invalid address"},
		{[]string{"results", "-format", "xml"}, "-format must be table, csv, json or benchmark-report"},
		{[]string{"plan", "a", "b"}, "plan takes one directory"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			code, _, errOut := benchform(t, tt.args...)
			if code != exitError || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tt.want)
			}
		})
	}
}

// TestLocalServer starts a vLLM server on this machine (the test binary
// standing in for vllm), benchmarks it, finds it gone when it dies behind
// benchform's back, and stops it on destroy.
func TestLocalServer(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := configDir(t, fmt.Sprintf(`
pod "here" {
  provider = "local"
}

server "vllm" {
  engine        = "vllm"
  pod           = pod.here
  model         = "tiny-local"
  executable    = %q
  ready_timeout = "30s"
  env           = { BENCHFORM_TEST_FAKE_VLLM = "1", GORACE = "atexit_sleep_ms=0" }
}

scenario "chat" {
  server     = server.vllm
  max_tokens = 4
  dataset {
    kind         = "synthetic"
    input_tokens = 8
  }
  load {
    concurrency = [2]
    requests    = 4
  }
}
`, exe))
	db := filepath.Join(dir, "benchform.db")
	t.Cleanup(func() { benchform(t, "destroy", "-auto-approve", dir) })
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK || !strings.Contains(out, "scenario.chat — run #1, completed") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	store, err := state.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	row, _, _ := store.Resource("server.vllm")
	store.Close()
	pid, err := strconv.Atoi(row.ProviderID)
	if err != nil {
		t.Fatalf("server.vllm has provider id %q, want a pid", row.ProviderID)
	}
	if code, out, _ := benchform(t, "plan", dir); code != exitOK || !strings.HasPrefix(out, "No changes.") {
		t.Errorf("plan with the server running: %d\n%s", code, out)
	}

	// Killed behind benchform's back: the next plan re-creates it.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil })
	code, out, errOut = benchform(t, "plan", dir)
	if code != exitOK || !strings.Contains(out, "server.vllm will be created: the process exited") {
		t.Errorf("plan after the server died: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply again: %d\n%s\n%s", code, out, errOut)
	}
	store, _ = state.Open(db)
	row, _, _ = store.Resource("server.vllm")
	store.Close()
	newPID, _ := strconv.Atoi(row.ProviderID)
	if code, out, errOut := benchform(t, "destroy", "-auto-approve", dir); code != exitOK {
		t.Fatalf("destroy: %d\n%s\n%s", code, out, errOut)
	}
	waitFor(t, 10*time.Second, func() bool { return syscall.Kill(newPID, 0) != nil })
}

// TestDetailedResultsKeepSamples checks that a later results -detailed
// shows the telemetry samples a run kept.
func TestDetailedResultsKeepSamples(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, fastSetup{Requests: 12, ServerInterval: "10ms"}))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json", "-detailed")
	if code != exitOK {
		t.Fatalf("results: %d %s", code, errOut)
	}
	var runs []struct {
		Steps []struct {
			ServerMetrics map[string]any             `json:"server_metrics"`
			Samples       map[string]json.RawMessage `json:"samples"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("results: %v\n%s", err, out)
	}
	for i, s := range runs[0].Steps {
		if s.ServerMetrics == nil {
			t.Errorf("step %d has no server metrics", i)
		}
		if s.ServerMetrics != nil && s.ServerMetrics["samples"].(float64) > 0 && len(s.Samples["server"]) == 0 {
			t.Errorf("step %d sampled the server but results show no samples", i)
		}
	}
}

// simulatedEngineConfig runs a scenario against a simulator imitating one
// engine's /metrics.
const simulatedEngineConfig = `
server "sim" {
  engine = "simulated"
  simulate {
    engine = "{{.}}"
    ttft   = "2ms"
    itl    = "1ms"
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = 16
  telemetry {
    server_interval = "5ms"
  }
  dataset {
    kind         = "synthetic"
    input_tokens = 24
  }
  load {
    concurrency = [4]
    requests    = 24
  }
}
`

// TestSimulatedEngineMetrics runs apply and results against the
// simulator imitating each engine's /metrics: the engine's families are
// recognised, and the server's token counts, read the engine's way (a
// counter's delta, a histogram's sum), agree with the client's.
func TestSimulatedEngineMetrics(t *testing.T) {
	for _, flavour := range []string{"vllm", "llama.cpp", "tgi"} {
		t.Run(flavour, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t, render(t, simulatedEngineConfig, flavour))
			if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
				t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
			}
			code, out, errOut := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json")
			if code != exitOK {
				t.Fatalf("results: %d\n%s", code, errOut)
			}
			var runs []struct {
				Steps []struct {
					Version       string  `json:"server_version"`
					Completed     int     `json:"completed"`
					OutputTokens  int     `json:"total_output_tokens"`
					InputTokens   int     `json:"total_input_tokens"`
					ServerGen     float64 `json:"server_generation_tokens"`
					ServerRunning float64 `json:"server_running_max"`
					TokenRatio    float64 `json:"server_token_ratio"`
					ServerMetrics struct {
						Info      struct{ Engine string } `json:"info"`
						Restarted bool                    `json:"restarted"`
						Total     struct {
							PromptTokens float64 `json:"prompt_tokens"`
						} `json:"total"`
					} `json:"server_metrics"`
				} `json:"steps"`
			}
			if err := json.Unmarshal([]byte(out), &runs); err != nil {
				t.Fatalf("results JSON: %v\n%s", err, out)
			}
			if len(runs) != 1 || len(runs[0].Steps) != 1 {
				t.Fatalf("results: %s", out)
			}
			s := runs[0].Steps[0]
			m := s.ServerMetrics
			if s.Completed != 24 || m.Info.Engine != flavour || m.Restarted || s.Version != "simulated" {
				t.Errorf("completed %d, server metrics read as %q, restarted %v, version %q", s.Completed, m.Info.Engine, m.Restarted, s.Version)
			}
			if s.ServerGen != float64(s.OutputTokens) || s.TokenRatio != 1 || m.Total.PromptTokens != float64(s.InputTokens) {
				t.Errorf("server generated %v and read %v prompt tokens (ratio %v); client %d and %d", s.ServerGen, m.Total.PromptTokens, s.TokenRatio, s.OutputTokens, s.InputTokens)
			}
			if s.ServerRunning < 1 || s.ServerRunning > 4 {
				t.Errorf("server running max = %v, want 1 to 4", s.ServerRunning)
			}
		})
	}
}

// ollamaLike serves as ollama 0.17 does what the engine table records of
// it: its root answers, models are listed with their tag once pulled
// (pulled lists those pulled from the start), a chat request's limit is
// read from max_tokens alone (max_completion_tokens is ignored, and the
// default is 256), and the stream opens with a role-only chunk and closes
// with an empty one before its usage.
func ollamaLike(pulled ...string) http.Handler {
	var mu sync.Mutex
	have := map[string]bool{}
	for _, m := range pulled {
		have[m] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Write([]byte("Ollama is running"))
		case "/api/pull":
			var body struct{ Model string }
			json.NewDecoder(r.Body).Decode(&body)
			fmt.Fprintf(w, "{\"status\":\"pulling manifest\"}\n{\"status\":\"success\"}\n")
			mu.Lock()
			have[body.Model+":latest"] = true
			mu.Unlock()
		case "/v1/models":
			mu.Lock()
			var ids []string
			for m := range have {
				ids = append(ids, fmt.Sprintf(`{"id":%q,"object":"model","owned_by":"library"}`, m))
			}
			mu.Unlock()
			fmt.Fprintf(w, `{"object":"list","data":[%s]}`, strings.Join(ids, ","))
		case "/v1/chat/completions":
			var body struct {
				Model     string `json:"model"`
				MaxTokens *int   `json:"max_tokens"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			n := 256
			if body.MaxTokens != nil {
				n = *body.MaxTokens
			}
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n")
			for range n {
				fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\"},\"finish_reason\":null}]}\n\n")
			}
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n")
			fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", n, n+5)
		default:
			http.NotFound(w, r)
		}
	})
}

const endpointLimitConfig = `
server "x" {
  engine   = "{{.Engine}}"
  endpoint = "{{.URL}}"
  model    = "{{.Model}}"
}

scenario "chat" {
  server     = server.x
  max_tokens = 8
  dataset {
    kind    = "prompts"
    prompts = ["hello"]
  }
  load {
    concurrency = [2]
    requests    = 6
  }
}
`

// TestTokenLimitAndNaming runs the CLI against a server that honours only
// max_tokens and lists its model with a tag: declared as ollama, the limit
// is sent where it is read and the untagged name is accepted; declared as
// a generic endpoint, the limit goes unread, which the results say rather
// than report 256-token answers as asked for.
func TestTokenLimitAndNaming(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamaLike("tiny:latest"))
	t.Cleanup(srv.Close)
	url := srv.URL
	type setup struct{ Engine, URL, Model string }
	results := func(t *testing.T, s setup) (string, map[string]any) {
		dir := configDir(t, render(t, endpointLimitConfig, s))
		code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
		if code != exitOK {
			t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
		}
		code, js, errOut := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json")
		var runs []struct{ Steps []map[string]any }
		if code != exitOK || json.Unmarshal([]byte(js), &runs) != nil || len(runs) != 1 || len(runs[0].Steps) != 1 {
			t.Fatalf("results: %d %s\n%s", code, errOut, js)
		}
		return out, runs[0].Steps[0]
	}

	out, step := results(t, setup{"ollama", url, "tiny"})
	if step["total_output_tokens"] != float64(6*8) || step["requests_over_max_tokens"] != nil || step["token_sources_disagree"] != float64(0) || strings.Contains(out, "streamed more tokens") {
		t.Errorf("as ollama: %v tokens, %v over the limit, %v disagreeing\n%s", step["total_output_tokens"], step["requests_over_max_tokens"], step["token_sources_disagree"], out)
	}

	out, step = results(t, setup{"openai", url, "tiny:latest"})
	if step["total_output_tokens"] != float64(6*256) || step["requests_over_max_tokens"] != float64(6) ||
		!strings.Contains(out, "6 of 6 requests streamed more tokens than their max_tokens (up to 256 for a limit of 8)") {
		t.Errorf("as a generic endpoint: %v tokens, %v over the limit\n%s", step["total_output_tokens"], step["requests_over_max_tokens"], out)
	}
}

// stallAfter answers its first n chat requests at once, with a stream of
// four tokens, and then holds every later request open without a byte
// until release is closed.
func stallAfter(n int64, release <-chan struct{}) http.Handler {
	var served atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			w.Write([]byte(`{"data":[{"id":"m"}]}`))
		case "/v1/chat/completions":
			if served.Add(1) > n {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			for range 4 {
				w.Write([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\"}}]}\n\n"))
			}
			w.Write([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"))
		default:
			http.NotFound(w, r)
		}
	})
}

// TestKilledStepKeepsItsRecords kills an apply whose server stopped
// answering after five requests: the five records reach state on the
// flush timer though no record follows them, and results rebuilds the
// cut-off step from them.
func TestKilledStepKeepsItsRecords(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(stallAfter(5, release))
	t.Cleanup(func() { close(release); srv.Close() })
	dir := configDir(t, render(t, endpointLimitConfig, struct{ Engine, URL, Model string }{"openai", srv.URL, "m"}))
	// 6 requests per step: the sixth stalls.
	apply := process(t, "apply", "-auto-approve", dir)
	var out syncBuffer
	apply.Stdout, apply.Stderr = &out, &out
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	defer apply.Process.Kill()
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "concurrency=2:") })
	db := filepath.Join(dir, "benchform.db")
	waitFor(t, 20*time.Second, func() bool {
		store, err := state.Open(db)
		if err != nil {
			return false
		}
		defer store.Close()
		recs, err := store.Records(1, -1)
		return err == nil && len(recs) == 5
	})
	apply.Process.Signal(syscall.SIGKILL)
	apply.Wait()

	code, js, errOut := benchform(t, "results", "-state", db, "-format", "json")
	var runs []struct {
		Steps []struct {
			Label     string   `json:"label"`
			Status    string   `json:"status"`
			Completed int      `json:"completed"`
			Warnings  []string `json:"warnings"`
		} `json:"steps"`
	}
	if code != exitOK || json.Unmarshal([]byte(js), &runs) != nil || len(runs) != 1 || len(runs[0].Steps) != 1 {
		t.Fatalf("results: %d %s\n%s", code, errOut, js)
	}
	s := runs[0].Steps[0]
	if s.Label != "concurrency=2" || s.Status != "interrupted" || s.Completed != 5 || len(s.Warnings) == 0 || !strings.Contains(s.Warnings[0], "rebuilt from the 5 request records") {
		t.Errorf("the cut-off step: %+v", s)
	}
}

// TestReadCommandsNeedState runs every command that reads state where
// there is none: each says so, exits 1 and creates nothing.
func TestReadCommandsNeedState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "benchform.db")
	for _, args := range [][]string{{"results"}, {"runs"}, {"show"}, {"state", "list"}, {"state", "rm", "server.sim"}, {"compare", "1", "2"}, {"force-unlock", "-force", "x"}} {
		code, _, errOut := benchform(t, append([]string{"-state", db}, args...)...)
		if code != exitError || !strings.Contains(errOut, "no state at "+db) {
			t.Errorf("%s: exit %d, %q; want 1 and no state at %s", strings.Join(args, " "), code, errOut, db)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("reading created %v", entries)
	}
}

// TestRunsOfAnUnknownScenario: asking for the runs of a scenario the
// state has none of is an error naming those it has.
func TestRunsOfAnUnknownScenario(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	db := filepath.Join(dir, "benchform.db")
	code, _, errOut := benchform(t, "runs", "-state", db, "nosuch")
	if want := "scenario.nosuch has no runs in " + db + "; it has runs of scenario.chat"; code != exitError || !strings.Contains(errOut, want) {
		t.Errorf("runs nosuch: exit %d, %q; want 1 and %q", code, errOut, want)
	}
}

func TestParallelismBelowOne(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	for _, cmd := range []string{"apply", "destroy"} {
		code, _, errOut := benchform(t, cmd, "-auto-approve", "-parallelism", "-1", dir)
		if code != exitError || !strings.Contains(errOut, "-parallelism must be at least 1, not -1") {
			t.Errorf("%s -parallelism -1: exit %d, %q", cmd, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "benchform.db")); err == nil {
		t.Error("a refused command created state")
	}
}
