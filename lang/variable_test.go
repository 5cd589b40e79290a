package lang

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

const variablesConfig = `
variable "model" {
  type    = string
  default = "from-default"
}

variable "sizes" {
  type    = list(number)
  default = [1]
}

variable "token" {
  type      = string
  default   = "s3cret"
  sensitive = true
}
`

// TestVariablePrecedence checks the order values win in: default, then the
// environment, then -var and -var-file in the order given.
func TestVariablePrecedence(t *testing.T) {
	tests := []struct {
		name       string
		environ    []string
		vars       func(dir string) []VarArg
		wantModel  string
		wantSource string
		wantSizes  cty.Value
	}{
		{
			name:       "default",
			wantModel:  "from-default",
			wantSource: "default",
			wantSizes:  cty.ListVal([]cty.Value{cty.NumberIntVal(1)}),
		},
		{
			name:       "environment over default",
			environ:    []string{"BENCHFORM_VAR_model=from-env", "BENCHFORM_VAR_sizes=[2, 3]", "BENCHFORM_VAR_unknown=x"},
			wantModel:  "from-env",
			wantSource: "BENCHFORM_VAR_model",
			wantSizes:  cty.ListVal([]cty.Value{cty.NumberIntVal(2), cty.NumberIntVal(3)}),
		},
		{
			name:    "-var over environment",
			environ: []string{"BENCHFORM_VAR_model=from-env"},
			vars: func(string) []VarArg {
				return []VarArg{{Assignment: "model=from-flag"}}
			},
			wantModel:  "from-flag",
			wantSource: "-var",
			wantSizes:  cty.ListVal([]cty.Value{cty.NumberIntVal(1)}),
		},
		{
			name: "later -var-file wins over earlier -var",
			vars: func(dir string) []VarArg {
				return []VarArg{{Assignment: "model=from-flag"}, {File: filepath.Join(dir, "vars.hcl")}}
			},
			wantModel:  "from-file",
			wantSource: "-var-file=",
			wantSizes:  cty.ListVal([]cty.Value{cty.NumberIntVal(4)}),
		},
		{
			name: "later -var wins over earlier -var-file",
			vars: func(dir string) []VarArg {
				return []VarArg{{File: filepath.Join(dir, "vars.hcl")}, {Assignment: "model=last"}}
			},
			wantModel:  "last",
			wantSource: "-var",
			wantSizes:  cty.ListVal([]cty.Value{cty.NumberIntVal(4)}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "main.hcl", variablesConfig)
			varsDir := t.TempDir()
			write(t, varsDir, "vars.hcl", "model = \"from-file\"\nsizes = [4]\n")
			opts := LoadOptions{Environ: tt.environ}
			if opts.Environ == nil {
				opts.Environ = []string{}
			}
			if tt.vars != nil {
				opts.Vars = tt.vars(varsDir)
			}
			cfg, diags := Load(dir, opts)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			model := cfg.Variables["model"]
			if got := model.Value.AsString(); got != tt.wantModel {
				t.Errorf("model = %q, want %q", got, tt.wantModel)
			}
			if got := model.Source; len(got) < len(tt.wantSource) || got[:len(tt.wantSource)] != tt.wantSource {
				t.Errorf("source = %q, want prefix %q", got, tt.wantSource)
			}
			if got := cfg.Variables["sizes"].Value; !got.RawEquals(tt.wantSizes) {
				t.Errorf("sizes = %#v, want %#v", got, tt.wantSizes)
			}
		})
	}
}

func TestVariableErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    LoadOptions
		summary string
		file    string // the pseudo file a diagnostic points at, when it has one
	}{
		{"undeclared -var", LoadOptions{Vars: []VarArg{{Assignment: "nope=1"}}}, "Value for undeclared variable", ""},
		{"malformed -var", LoadOptions{Vars: []VarArg{{Assignment: "model"}}}, "Invalid -var option", ""},
		{"wrong type from -var", LoadOptions{Vars: []VarArg{{Assignment: "sizes=[\"a\"]"}}}, "Invalid value for variable", "<value for var.sizes from -var>"},
		{"wrong type from environment", LoadOptions{Environ: []string{"BENCHFORM_VAR_sizes=oops"}}, "Variables not allowed", "<value for var.sizes from BENCHFORM_VAR_sizes>"},
		{"missing var file", LoadOptions{Vars: []VarArg{{File: "/nonexistent/vars.hcl"}}}, "Cannot read file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "main.hcl", variablesConfig)
			if tt.opts.Environ == nil {
				tt.opts.Environ = []string{}
			}
			_, diags := Load(dir, tt.opts)
			if len(diags) != 1 || diags[0].Summary != tt.summary {
				t.Fatalf("got %v, want one %q", diags, tt.summary)
			}
			if tt.file != "" && (diags[0].Subject == nil || diags[0].Subject.Filename != tt.file) {
				t.Errorf("subject = %v, want file %q", diags[0].Subject, tt.file)
			}
		})
	}
}

// TestSensitiveStaysMarked checks that a sensitive variable, and what is
// computed from it, carry the mark that keeps them out of output and
// state, and that a diagnostic does not print the value.
func TestSensitiveStaysMarked(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", variablesConfig+`
server "sim" {
  engine  = "simulated"
  api_key = "Bearer ${var.token}"
}
`)
	cfg, diags := Load(dir, LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := cfg.Decode(Addr{Kind: KindServer, Name: "sim"}, NewScope())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if key := v.GetAttr("api_key"); !key.HasMark(Sensitive) {
		t.Errorf("api_key is not marked sensitive: %#v", key)
	}
	if model := v.GetAttr("model"); model.IsMarked() {
		t.Errorf("model is marked: %#v", model)
	}

	write(t, dir, "main.hcl", variablesConfig+`
server "sim" {
  engine = "simulated"
  model  = var.token + 1
}
`)
	_, diags = Load(dir, LoadOptions{Environ: []string{}})
	if !diags.HasErrors() {
		t.Fatal("want an error for adding to a string")
	}
	for _, d := range diags {
		if strings.Contains(d.Detail, "s3cret") || strings.Contains(d.Summary, "s3cret") {
			t.Errorf("diagnostic shows the secret: %s", d.Detail)
		}
	}
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "prompt.txt", "from a file")
	write(t, dir, "main.hcl", `
locals {
  file_text = file("prompt.txt")
  joined    = join("-", concat(["a"], ["b"]))
  biggest   = max(1, 7, 3)
  key       = env("BENCHFORM_TEST_API_KEY")
  plain     = env("BENCHFORM_TEST_PLAIN")
  hidden    = sensitive("x")
}

output "all" {
  value = [local.file_text, local.joined, local.biggest, local.plain]
}

output "key" {
  value = local.key
}

output "hidden" {
  value = local.hidden
}
`)
	t.Setenv("BENCHFORM_TEST_API_KEY", "k")
	t.Setenv("BENCHFORM_TEST_PLAIN", "p")
	cfg, diags := Load(dir, LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	all, _ := cfg.EvalOutput("all", NewScope())
	want := cty.TupleVal([]cty.Value{cty.StringVal("from a file"), cty.StringVal("a-b"), cty.NumberIntVal(7), cty.StringVal("p")})
	if !all.RawEquals(want) {
		t.Errorf("all = %#v, want %#v", all, want)
	}
	for _, name := range []string{"key", "hidden"} {
		if v, _ := cfg.EvalOutput(name, NewScope()); !v.HasMark(Sensitive) {
			t.Errorf("output %s is not sensitive: %#v", name, v)
		}
	}
}

func TestGraph(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", `
locals {
  via_local = server.b.model
}

server "a" {
  engine = "simulated"
  model  = local.via_local
}

server "b" {
  engine = "simulated"
}

scenario "s" {
  server = [server.a, server.b]
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 1
  }
}
`)
	cfg, diags := Load(dir, LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a, b, s := Addr{Kind: KindServer, Name: "a"}, Addr{Kind: KindServer, Name: "b"}, Addr{Kind: KindScenario, Name: "s"}
	if diff := cmp.Diff([]Addr{b, a, s}, cfg.Resources()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Addr{b}, cfg.Graph().ResourceDeps(a)); diff != "" {
		t.Errorf("deps of server.a through a local (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Addr{a, b}, cfg.Graph().ResourceDeps(s)); diff != "" {
		t.Errorf("deps of scenario.s (-want +got):\n%s", diff)
	}

	// A value known in the scope flows through the local.
	scope := NewScope()
	scope.Set(b, cfg.Object(b, cty.ObjectVal(map[string]cty.Value{"model": cty.StringVal("m")}), cty.NilVal))
	v, diags := cfg.Decode(a, scope)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := v.GetAttr("model"); !got.RawEquals(cty.StringVal("m")) {
		t.Errorf("model = %#v, want \"m\"", got)
	}
	// Without it, the value is unknown: (known after apply).
	v, _ = cfg.Decode(a, NewScope())
	if v.GetAttr("model").IsKnown() {
		t.Errorf("model is known without server.b's value")
	}
}

func TestCycleNamesMembersInOrder(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", `
server "b" {
  engine = "simulated"
  model  = server.a.model
}

server "a" {
  engine = "simulated"
  model  = server.b.model
}
`)
	_, diags := Load(dir, LoadOptions{Environ: []string{}})
	var cycles hcl.Diagnostics
	for _, d := range diags {
		if d.Summary == "Dependency cycle" {
			cycles = append(cycles, d)
		}
	}
	if len(cycles) != 1 {
		t.Fatalf("got %v, want one cycle", diags)
	}
	if want := "server.a → server.b → server.a"; !strings.Contains(cycles[0].Detail, want) {
		t.Errorf("detail = %q, want it to contain %q", cycles[0].Detail, want)
	}
}

func TestDecodeScenarioSpecDefaults(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", `
server "sim" {
  engine = "simulated"
}

scenario "s" {
  server = server.sim
  dataset {
    kind          = "synthetic"
    output_tokens = 64
  }
  load {
    concurrency = [1, 4]
    requests    = 10
  }
  slo {
    ttft = "250ms"
  }
}
`)
	cfg, diags := Load(dir, LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, _ := cfg.Decode(Addr{Kind: KindScenario, Name: "s"}, NewScope())
	spec, err := DecodeScenarioSpec(v)
	if err != nil {
		t.Fatal(err)
	}
	want := ScenarioSpec{
		API:         "chat",
		MaxTokens:   64,
		Percentiles: []float64{50, 90, 99},
		Dataset:     DatasetSpec{Kind: "synthetic", Input: LengthSpec{Fixed: DefaultInputTokens}, Output: LengthSpec{Fixed: 64}},
		Load:        LoadSpec{Concurrency: []int{1, 4}, Requests: 10, Arrival: "poisson", Burstiness: 1, Repeat: 1, Confidence: 0.95},
		SLO:         SLOSpec{TTFT: 250_000_000},
		Telemetry:   TelemetrySpec{GPU: "auto"},
		// A scenario that sets no timeouts gets 10s to connect, 10m to
		// the first byte, 1m of silence, 30m a request and 30s of drain.
		Timeouts:       TimeoutsSpec{Connect: 10_000_000_000, FirstByte: 600_000_000_000, Idle: 60_000_000_000, Request: 1_800_000_000_000, Drain: 30_000_000_000},
		MaxFailureRate: 0.5,
	}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

// TestPodWaitsForItsServersDependencies checks that a pod depends on what
// the server placed on it depends on: the pod's container is built from
// the server's settings.
func TestPodWaitsForItsServersDependencies(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", `
server "name_source" {
  engine = "simulated"
}

pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.gpu
  model  = server.name_source.model
}
`)
	cfg, diags := Load(dir, LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	pod := Addr{Kind: KindPod, Name: "gpu"}
	if diff := cmp.Diff([]Addr{{Kind: KindServer, Name: "name_source"}}, cfg.Graph().ResourceDeps(pod)); diff != "" {
		t.Errorf("pod deps (-want +got):\n%s", diff)
	}
	if got := cfg.ServersOn(pod); len(got) != 1 || got[0].Addr.Name != "vllm" {
		t.Errorf("ServersOn = %v", got)
	}
}
