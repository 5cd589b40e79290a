package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/state"
)

func TestDecideAction(t *testing.T) {
	tests := []struct {
		name string
		f    facts
		want Action
	}{
		{"new", facts{changed: true}, Create},
		{"new even when forced", facts{forceReplace: true, changed: true}, Create},
		{"stored but gone", facts{stored: true, changed: true}, Create},
		{"unchanged", facts{stored: true, exists: true}, NoOp},
		{"changed in place", facts{stored: true, exists: true, changed: true}, Update},
		{"changed attribute forces replacement", facts{stored: true, exists: true, changed: true, replaceAttrChanged: true}, Replace},
		{"forced", facts{stored: true, exists: true, forceReplace: true}, Replace},
		{"replace-only attribute unchanged", facts{stored: true, exists: true, replaceAttrChanged: true}, NoOp},
		{"expired", facts{stored: true, exists: true, expired: true}, Delete},
		{"expired and changed", facts{stored: true, exists: true, changed: true, replaceAttrChanged: true, expired: true}, Delete},
		{"expired and gone", facts{stored: true, expired: true}, Delete},
		{"new on an expired pod", facts{changed: true, expired: true}, NoOp},
		{"scenario to run", facts{scenario: true, stored: true, changed: true}, Run},
		{"scenario unchanged", facts{scenario: true, stored: true}, NoOp},
		{"scenario against an expired server", facts{scenario: true, stored: true, changed: true, expired: true}, NoOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideAction(tt.f); got != tt.want {
				t.Errorf("decideAction(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

// TestPlanTransitions applies a configuration, changes something, and
// checks the plan that follows.
func TestPlanTransitions(t *testing.T) {
	addrs := func(ss ...string) []lang.Addr {
		var out []lang.Addr
		for _, s := range ss {
			a, err := lang.ParseAddr(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	tests := []struct {
		name   string
		change func(h *harness)
		opts   func(*Options)
		want   map[string]string
		reason string // a reason the plan must give, when set
	}{
		{
			name: "nothing changed",
			want: map[string]string{"server.a": "no-op", "scenario.chat": "no-op"},
		},
		{
			name:   "server setting changed: update in place, scenario runs again",
			change: func(h *harness) { h.write(config("m2", 1)) },
			want:   map[string]string{"server.a": "~", "scenario.chat": ">"},
			reason: "server.a changes",
		},
		{
			name:   "scenario setting changed: only the scenario runs",
			change: func(h *harness) { h.write(config("m1", 2)) },
			want:   map[string]string{"server.a": "no-op", "scenario.chat": ">"},
			reason: "its settings changed",
		},
		{
			name:   "attribute that forces replacement",
			change: func(h *harness) { h.fake.replace = []string{"model"}; h.write(config("m2", 1)) },
			want:   map[string]string{"server.a": "-/+", "scenario.chat": ">"},
			reason: "changing model forces replacement",
		},
		{
			name:   "-replace of a server",
			opts:   func(o *Options) { o.Replace = addrs("server.a") },
			want:   map[string]string{"server.a": "-/+", "scenario.chat": ">"},
			reason: "forced by -replace",
		},
		{
			name:   "-replace of a scenario runs it",
			opts:   func(o *Options) { o.Replace = addrs("scenario.chat") },
			want:   map[string]string{"server.a": "no-op", "scenario.chat": ">"},
			reason: "forced by -replace",
		},
		{
			name:   "object deleted outside benchform",
			change: func(h *harness) { h.fake.gone["server.a"] = true },
			want:   map[string]string{"server.a": "+", "scenario.chat": ">"},
			reason: "deleted outside benchform",
		},
		{
			name:   "scenario removed from the configuration",
			change: func(h *harness) { h.write(fmt.Sprintf(serverConfig, "m1")) },
			want:   map[string]string{"server.a": "no-op", "scenario.chat": "-"},
		},
		{
			name:   "everything removed",
			change: func(h *harness) { h.write("variable \"unused\" {\n  default = 1\n}\n") },
			want:   map[string]string{"server.a": "-", "scenario.chat": "-"},
		},
		{
			name: "last run interrupted",
			change: func(h *harness) {
				run, _, err := h.store.LatestRun("scenario.chat")
				if err != nil {
					t.Fatal(err)
				}
				id, err := h.store.BeginRun(state.Run{Scenario: "scenario.chat", SpecHash: run.SpecHash, ServerIdentity: run.ServerIdentity, Status: state.RunRunning, StartedAt: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				if err := h.store.FinishRun(id, state.RunInterrupted, "", time.Now()); err != nil {
					t.Fatal(err)
				}
			},
			want:   map[string]string{"server.a": "no-op", "scenario.chat": ">"},
			reason: "was interrupted",
		},
		{
			name:   "destroy",
			opts:   func(o *Options) { o.Destroy = true },
			want:   map[string]string{"server.a": "-", "scenario.chat": "-"},
			reason: "",
		},
		{
			name: "-target narrows the plan",
			change: func(h *harness) {
				h.write(config("m2", 2) + `
server "b" {
  engine = "simulated"
  model  = "b"
}
`)
			},
			opts: func(o *Options) { o.Targets = addrs("server.b") },
			want: map[string]string{"server.b": "+"},
		},
		{
			name:   "-target includes dependencies",
			change: func(h *harness) { h.write(config("m2", 2)) },
			opts:   func(o *Options) { o.Targets = addrs("scenario.chat") },
			want:   map[string]string{"server.a": "~", "scenario.chat": ">"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, config("m1", 1))
			h.apply(nil)
			if tt.change != nil {
				tt.change(h)
			}
			p := h.plan(tt.opts)
			if diff := cmp.Diff(tt.want, actions(p)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if tt.reason != "" {
				var all []string
				for _, c := range p.Changes {
					all = append(all, c.Reasons...)
				}
				if !strings.Contains(strings.Join(all, "|"), tt.reason) {
					t.Errorf("reasons %q do not mention %q", all, tt.reason)
				}
			}
		})
	}
}

func TestApplyThenNoChanges(t *testing.T) {
	h := newHarness(t, config("m1", 1))
	r := h.apply(nil)
	if r.Done[Create] != 1 || r.Done[Run] != 1 {
		t.Fatalf("done = %v, want one create and one run", r.Done)
	}
	if len(r.Runs) != 1 || r.Runs[0].Status != state.RunCompleted {
		t.Fatalf("runs = %+v", r.Runs)
	}
	if p := h.plan(nil); p.HasChanges() {
		t.Errorf("second plan has changes: %v", actions(p))
	}
	recs, err := h.store.Records(r.Runs[0].ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Errorf("stored %d request records, want 3", len(recs))
	}
	steps, err := h.store.Steps(r.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Status != state.RunCompleted || len(steps[0].Summary) == 0 {
		t.Errorf("steps = %+v", steps)
	}
}

// TestDestroyOrder checks that destroy removes dependents before what they
// depend on, working from state alone.
func TestDestroyOrder(t *testing.T) {
	h := newHarness(t, `
server "a" {
  engine = "simulated"
}

server "b" {
  engine = "simulated"
  model  = server.a.model
}

server "c" {
  engine = "simulated"
  model  = server.b.model
}
`)
	h.apply(nil)
	before := len(h.fake.Calls())
	ex := New(Options{State: h.store, Providers: h.executor(nil).opts.Providers, Parallelism: 10})
	p, diags := ex.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, diags := ex.Apply(context.Background(), p); diags.HasErrors() {
		t.Fatal(diags)
	}
	var deletes []string
	for _, c := range h.fake.Calls()[before:] {
		if strings.HasPrefix(c, "delete ") {
			deletes = append(deletes, c)
		}
	}
	if diff := cmp.Diff([]string{"delete server.c", "delete server.b", "delete server.a"}, deletes); diff != "" {
		t.Errorf("delete order (-want +got):\n%s", diff)
	}
	rows, _ := h.store.Resources()
	if len(rows) != 0 {
		t.Errorf("state still holds %d resources", len(rows))
	}
}

// TestFailureStopsDependentsOnly checks that a failed create stops what
// depends on it, that an independent branch still finishes, and that the
// failure comes back once, at the failed block.
func TestFailureStopsDependentsOnly(t *testing.T) {
	h := newHarness(t, `
server "a" {
  engine = "simulated"
}

server "b" {
  engine = "simulated"
}

server "after_a" {
  engine = "simulated"
  model  = server.a.model
}
`)
	h.fake.failOn["create server.a"] = errors.New("no capacity")
	ex := h.executor(nil)
	p, diags := ex.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r, diags := ex.Apply(context.Background(), p)
	if len(diags) != 1 || diags[0].Summary != "Failed to create server.a" || !strings.Contains(diags[0].Detail, "no capacity") || diags[0].Subject == nil {
		t.Fatalf("diagnostics = %v, want one for server.a with its place", diags)
	}
	if r.Done[Create] != 1 {
		t.Errorf("done = %v, want server.b created", r.Done)
	}
	for _, c := range h.fake.Calls() {
		if c == "create server.after_a" {
			t.Errorf("server.after_a was created although server.a failed")
		}
	}
	row, ok, err := h.store.Resource("server.a")
	if err != nil || !ok || row.Status != state.StatusCreating {
		t.Errorf("server.a row = %+v, %v, %v; want it kept as creating so the next plan looks for it", row, ok, err)
	}
	if next := h.plan(nil); actions(next)["server.a"] != "+" {
		t.Errorf("next plan for server.a = %q, want +", actions(next)["server.a"])
	}
}

func TestParallelismCapsConcurrentChanges(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "server \"s%d\" {\n  engine = \"simulated\"\n}\n", i)
	}
	h := newHarness(t, b.String())
	h.fake.block = make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.apply(func(o *Options) { o.Parallelism = 3 })
	}()
	// Let the walk fill its slots, then release everything.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.fake.mu.Lock()
		n := h.fake.inFlight
		h.fake.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(h.fake.block)
	<-done
	if h.fake.maxSeen != 3 {
		t.Errorf("at most %d creates ran at once, want 3", h.fake.maxSeen)
	}
}

// TestSecretsNeverStored checks that a sensitive value reaches the
// provider but not the state file.
func TestSecretsNeverStored(t *testing.T) {
	const secret = "sk-very-secret-value"
	h := newHarness(t, fmt.Sprintf(`
variable "key" {
  default   = %q
  sensitive = true
}

server "a" {
  engine  = "simulated"
  api_key = var.key
}
`, secret))
	h.apply(nil)
	h.store.Close()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(h.store.Path() + suffix)
		if err != nil && suffix == "" {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("state file%s contains the secret", suffix)
		}
	}
}

// TestInterruptKeepsWhatFinished cancels an apply while its scenario runs
// and checks that the run is recorded as interrupted with the requests
// that finished, and that the next plan runs the scenario again.
func TestInterruptKeepsWhatFinished(t *testing.T) {
	h := newHarness(t, `
server "a" {
  engine = "simulated"
}

scenario "chat" {
  server     = server.a
  max_tokens = 4
  dataset {
    kind    = "prompts"
    prompts = ["hello"]
  }
  load {
    concurrency = [1]
    requests    = 100000
  }
}
`)
	ctx, cancel := context.WithCancel(context.Background())
	var seen atomic.Int64
	hook := &countingHook{onRequest: func() {
		if seen.Add(1) == 20 {
			cancel()
		}
	}}
	ex := h.executor(func(o *Options) { o.Hook = hook })
	p, diags := ex.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r, diags := ex.Apply(ctx, p)
	if diags.HasErrors() {
		t.Errorf("an interrupt is not an error of a block: %v", diags)
	}
	if !r.Interrupted || len(r.Runs) != 1 || r.Runs[0].Status != state.RunInterrupted {
		t.Fatalf("result = %+v, want one interrupted run", r)
	}
	recs, err := h.store.Records(r.Runs[0].ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 20 || len(recs) > 1000 {
		t.Errorf("stored %d records, want the ~20 that finished", len(recs))
	}
	if got := actions(h.plan(nil))["scenario.chat"]; got != ">" {
		t.Errorf("next plan for the scenario = %q, want it to run again", got)
	}
}

type countingHook struct {
	NopHook
	onRequest func()
}

func (h *countingHook) RequestDone(lang.Addr, StepInfo, *workload.Record) { h.onRequest() }

// TestWarmCacheWarning runs the same dataset against the same server twice:
// the second run warns that the server's prefix cache may be warm.
func TestWarmCacheWarning(t *testing.T) {
	h := newHarness(t, config("m1", 1))
	first := h.apply(nil)
	second := h.apply(func(o *Options) { o.Replace = []lang.Addr{{Kind: lang.KindScenario, Name: "chat"}} })
	warnings := func(r *Result) []string {
		steps, err := h.store.Steps(r.Runs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		var s StepSummary
		if err := json.Unmarshal(steps[0].Summary, &s); err != nil {
			t.Fatal(err)
		}
		return s.Warnings
	}
	for _, w := range warnings(first) {
		if strings.Contains(w, "prefix cache") {
			t.Errorf("first run warns of a warm cache: %q", w)
		}
	}
	want := fmt.Sprintf("in run #%d: its prefix cache may be warm", first.Runs[0].ID)
	if w := warnings(second); len(w) == 0 || !strings.Contains(w[0], want) {
		t.Errorf("second run warnings = %q, want the warm-cache warning first", w)
	}
}

// TestOpenLoopSteps runs a scenario with rates: one step per rate, each
// recording its target and achieved rate.
func TestOpenLoopSteps(t *testing.T) {
	h := newHarness(t, `
server "a" {
  engine = "simulated"
}

scenario "open" {
  server     = server.a
  max_tokens = 4
  dataset {
    kind         = "synthetic"
    input_tokens = { min = 4, max = 8 }
  }
  load {
    rate     = [100, "inf"]
    requests = 10
  }
}
`)
	r := h.apply(nil)
	steps, err := h.store.Steps(r.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range steps {
		var s StepSummary
		if err := json.Unmarshal(st.Summary, &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s completed=%d", s.Label, s.RequestRate, s.Completed))
		if s.AchievedRate <= 0 {
			t.Errorf("%s: achieved rate %v", s.Label, s.AchievedRate)
		}
	}
	if diff := cmp.Diff([]string{"rate=100 100 completed=10", "rate=inf inf completed=10"}, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

// TestTelemetryAndCost runs a scenario whose server has a price and whose
// provider can read its GPU: each step carries the server's own metrics
// (the simulator's), GPU figures, energy per token and cost, and the
// samples are kept in state.
func TestTelemetryAndCost(t *testing.T) {
	h := newHarness(t, `
server "a" {
  engine         = "simulated"
  price_per_hour = 2.5
}

scenario "chat" {
  server     = server.a
  max_tokens = 8
  dataset {
    kind         = "synthetic"
    input_tokens = 8
  }
  load {
    concurrency = [2]
    requests    = 20
  }
  telemetry {
    gpu_interval    = "20ms"
    server_interval = "20ms"
  }
}
`)
	began := time.Now()
	r := h.apply(nil)
	elapsed := time.Since(began)
	steps, err := h.store.Steps(r.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var s StepSummary
	if err := json.Unmarshal(steps[0].Summary, &s); err != nil {
		t.Fatal(err)
	}
	if s.ServerMetrics == nil || s.ServerMetrics.Total.GenerationTokens == nil {
		t.Fatalf("no server metrics: %+v", s.ServerMetrics)
	}
	if got := int(*s.ServerMetrics.Total.GenerationTokens); got != s.TotalOutputTokens {
		t.Errorf("server generated %d tokens, client counted %d", got, s.TotalOutputTokens)
	}
	if s.ServerTokenRatio == nil || *s.ServerTokenRatio != 1 {
		t.Errorf("server token ratio = %v, want 1", s.ServerTokenRatio)
	}
	if s.GPU == nil || s.GPU.UtilizationPctMean == nil || *s.GPU.UtilizationPctMean != 50 {
		t.Fatalf("GPU stats = %+v, want 50 %% utilisation", s.GPU)
	}
	if s.Energy == nil || s.Energy.JPerOutputToken == nil || s.Energy.EnergyJ <= 0 {
		t.Errorf("energy = %+v", s.Energy)
	}
	// The step cost what its machine does per hour over no more than the
	// time the whole apply took, as the test's own clock measured it.
	if s.CostUSD == nil || *s.CostUSD <= 0 || *s.CostUSD > 2.5*elapsed.Hours() || s.USDPerMillionOutputTokens == nil {
		t.Errorf("cost = %v, want within (0, %v] for %v at $2.50/h", s.CostUSD, 2.5*elapsed.Hours(), elapsed)
	}
	sets, err := h.store.Samples(r.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, set := range sets {
		kinds = append(kinds, fmt.Sprintf("%d %s", set.Step, set.Kind))
	}
	want := []string{"-1 gpu_idle:server.a", "0 gpu"}
	if s.ServerMetrics.Samples > 0 {
		want = append(want, "0 server") // a step this short may end before the first sample
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("samples kept (-want +got):\n%s", diff)
	}
	run, err := LoadRun(h.store, r.Runs[0].ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if run.Manifest == nil || len(run.Manifest.Servers) != 1 {
		t.Fatalf("manifest %+v", run.Manifest)
	}
	power, clock := 700.0, 1980.0
	wantGPUs := []GPUInfo{{Name: "NVIDIA H100 80GB HBM3", Driver: "570.124.06", PowerLimitW: &power, MaxSMClockMHz: &clock}}
	if diff := cmp.Diff(wantGPUs, run.Manifest.Servers[0].GPUs); diff != "" {
		t.Errorf("the manifest's GPUs (-want +got):\n%s", diff)
	}
}

// TestTTL ages a pod past its ttl: the plan destroys it and the server on
// it, does not run the scenario that needs them, and lists the pod as
// billing and expired; -keep-expired keeps it.
func TestTTL(t *testing.T) {
	h := newHarness(t, `
pod "gpu" {
  provider = "runpod"
  gpu_type = "NVIDIA H100 80GB HBM3"
  ttl      = "1h"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.gpu
  model  = "m"
}

scenario "chat" {
  server     = server.vllm
  max_tokens = 4
  dataset {
    kind    = "prompts"
    prompts = ["hi"]
  }
  load {
    concurrency = [1]
    requests    = 2
  }
}
`)
	h.apply(func(o *Options) { o.Providers["runpod"] = h.fake })
	// Ninety minutes later, by the plan's clock.
	withRunpod := func(o *Options) {
		o.Providers["runpod"] = h.fake
		o.Now = func() time.Time { return time.Now().Add(90 * time.Minute) }
	}

	p := h.plan(func(o *Options) { withRunpod(o); o.Replace = []lang.Addr{{Kind: lang.KindScenario, Name: "chat"}} })
	if diff := cmp.Diff(map[string]string{"pod.gpu": "-", "server.vllm": "-", "scenario.chat": "no-op"}, actions(p)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if c := p.Change(lang.Addr{Kind: lang.KindPod, Name: "gpu"}); c == nil || len(c.Reasons) == 0 || !strings.Contains(c.Reasons[0], "past its ttl of 1h0m0s") {
		t.Errorf("pod change = %+v", c)
	}
	if len(p.Billing) != 1 || !p.Billing[0].Expired || p.Billing[0].Age(p.Now) < 90*time.Minute {
		t.Errorf("billing = %+v", p.Billing)
	}
	kept := h.plan(func(o *Options) { withRunpod(o); o.KeepExpired = true })
	if kept.HasChanges() || len(kept.Notes) == 0 || !strings.Contains(kept.Notes[0], "kept because of -keep-expired") {
		t.Errorf("with -keep-expired: actions %v, notes %q", actions(kept), kept.Notes)
	}

	ex := h.executor(withRunpod)
	p, diags := ex.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, diags := ex.Apply(context.Background(), p); diags.HasErrors() {
		t.Fatal(diags)
	}
	var deletes []string
	for _, c := range h.fake.Calls() {
		if strings.HasPrefix(c, "delete ") {
			deletes = append(deletes, c)
		}
	}
	if diff := cmp.Diff([]string{"delete server.vllm", "delete pod.gpu"}, deletes); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
}

// TestTTLNewServer places a new server on a pod past its ttl: the server
// is not created, the scenario against it does not run, and the pod and
// the server already on it are destroyed, the server first.
func TestTTLNewServer(t *testing.T) {
	const config = `
pod "gpu" {
  provider = "runpod"
  gpu_type = "NVIDIA H100 80GB HBM3"
  ttl      = "1h"
}

server "{{.}}" {
  engine = "vllm"
  pod    = pod.gpu
  model  = "m"
}

scenario "chat" {
  server     = server.{{.}}
  max_tokens = 4
  dataset {
    kind    = "prompts"
    prompts = ["hi"]
  }
  load {
    concurrency = [1]
    requests    = 2
  }
}
`
	render := func(server string) string {
		var b strings.Builder
		template.Must(template.New("").Option("missingkey=error").Parse(config)).Execute(&b, server)
		return b.String()
	}
	h := newHarness(t, render("old"))
	h.apply(func(o *Options) { o.Providers["runpod"] = h.fake })
	h.write(render("new"))
	later := func(o *Options) {
		o.Providers["runpod"] = h.fake
		o.Now = func() time.Time { return time.Now().Add(90 * time.Minute) }
	}
	p := h.plan(later)
	want := map[string]string{"pod.gpu": "-", "server.old": "-", "server.new": "no-op", "scenario.chat": "no-op"}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	notes := strings.Join(p.Notes, "\n")
	if !strings.Contains(notes, "server.new is not created: pod.gpu, where it runs, is past its ttl") || !strings.Contains(notes, "scenario.chat is not run") {
		t.Errorf("notes:\n%s", notes)
	}

	before := len(h.fake.Calls())
	h.apply(later)
	var calls []string
	for _, c := range h.fake.Calls()[before:] {
		if !strings.HasPrefix(c, "read ") && !strings.HasPrefix(c, "plan ") {
			calls = append(calls, c)
		}
	}
	if diff := cmp.Diff([]string{"delete server.old", "delete pod.gpu"}, calls); diff != "" {
		t.Errorf("provider calls (-want +got):\n%s", diff)
	}
	if rows, _ := h.store.Resources(); len(rows) != 1 || rows[0].Address != "scenario.chat" {
		t.Errorf("state after the apply: %+v", rows)
	}
}

// TestInstanceTransitions applies servers with count and for_each, changes
// their keys, and checks that only the instances whose key came or went
// change, each removal saying why.
func TestInstanceTransitions(t *testing.T) {
	matrix := func(repeat string) string {
		return `
server "llm" {
  ` + repeat + `
  engine = "simulated"
  model  = "m"
}
`
	}
	tests := []struct {
		name          string
		before, after string
		want          map[string]string
		reasons       map[string]string
	}{
		{
			name: "a key added creates only it", before: `for_each = toset(["a", "b"])`, after: `for_each = toset(["a", "b", "c"])`,
			want: map[string]string{`server.llm["a"]`: "no-op", `server.llm["b"]`: "no-op", `server.llm["c"]`: "+"},
		},
		{
			name: "a key removed deletes only it", before: `for_each = toset(["a", "b"])`, after: `for_each = toset(["a"])`,
			want:    map[string]string{`server.llm["a"]`: "no-op", `server.llm["b"]`: "-"},
			reasons: map[string]string{`server.llm["b"]`: "its key was removed from for_each"},
		},
		{
			name: "a key renamed: the old goes, the new comes", before: `for_each = toset(["a", "b"])`, after: `for_each = toset(["a", "bb"])`,
			want:    map[string]string{`server.llm["a"]`: "no-op", `server.llm["b"]`: "-", `server.llm["bb"]`: "+"},
			reasons: map[string]string{`server.llm["b"]`: "its key was removed from for_each"},
		},
		{
			name: "keys reordered change nothing", before: `for_each = { x = 1, y = 2 }`, after: `for_each = { y = 2, x = 1 }`,
			want: map[string]string{`server.llm["x"]`: "no-op", `server.llm["y"]`: "no-op"},
		},
		{
			name: "count shrinks: the last indexes go", before: `count = 3`, after: `count = 1`,
			want:    map[string]string{"server.llm[0]": "no-op", "server.llm[1]": "-", "server.llm[2]": "-"},
			reasons: map[string]string{"server.llm[2]": "its index is out of range for count (now 1)"},
		},
		{
			name: "count grows", before: `count = 1`, after: `count = 2`,
			want: map[string]string{"server.llm[0]": "no-op", "server.llm[1]": "+"},
		},
		{
			name: "for_each added to a single block", before: ``, after: `for_each = toset(["a"])`,
			want:    map[string]string{"server.llm": "-", `server.llm["a"]`: "+"},
			reasons: map[string]string{"server.llm": "server.llm now has for_each"},
		},
		{
			name: "count removed", before: `count = 1`, after: ``,
			want:    map[string]string{"server.llm[0]": "-", "server.llm": "+"},
			reasons: map[string]string{"server.llm[0]": "server.llm no longer has count or for_each"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, matrix(tt.before))
			h.apply(nil)
			h.write(matrix(tt.after))
			p := h.plan(nil)
			if diff := cmp.Diff(tt.want, actions(p)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			for addr, reason := range tt.reasons {
				a, _ := lang.ParseAddr(addr)
				if c := p.Change(a); c == nil || !slices.Contains(c.Reasons, reason) {
					t.Errorf("%s: reasons %v, want %q", addr, c, reason)
				}
			}
			h.apply(nil)
			if p := h.plan(nil); p.HasChanges() {
				t.Errorf("after apply the plan still has changes: %v", actions(p))
			}
		})
	}
}

// TestCreatedButNotRecorded: when the state cannot be written after a
// provider created an object, the error names the object, its id and its
// name, so that nothing billing is forgotten while the state is down.
func TestCreatedButNotRecorded(t *testing.T) {
	h := newHarness(t, fmt.Sprintf(serverConfig, "m"))
	block := make(chan struct{})
	h.fake.block = block
	ex := h.executor(nil)
	p, diags := ex.Plan(context.Background())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	done := make(chan hcl.Diagnostics)
	go func() {
		_, diags := ex.Apply(context.Background(), p)
		done <- diags
	}()
	// The create is under way: its intent is recorded. Then the state
	// goes away.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if row, ok, _ := h.store.Resource("server.a"); ok && row.Status == state.StatusCreating {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the create never began")
		}
	}
	h.store.Close()
	close(block)
	diags = <-done
	want := `server.a was created as simulated "id-server.a" (name benchform-server-a-`
	if !diags.HasErrors() || !strings.Contains(diags.Error(), want) || !strings.Contains(diags.Error(), "the state could not record it") {
		t.Errorf("apply with the state gone after a create: %v", diags)
	}
}
