package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers"
)

// fakeEngineEnv makes the test binary an engine (fake_engine_test.go);
// tests set it through the server's env, which also shows that env
// reaches the process.
const fakeEngineEnv = "BENCHFORM_TEST_FAKE_ENGINE"

const testKey = "sk-test-0123456789-secret"

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newProvider(t *testing.T, dir string, grace time.Duration) *Provider {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return New(Settings{
		StateDir:     dir,
		Now:          func() time.Time { return testNow },
		Grace:        grace,
		PollInterval: 20 * time.Millisecond,
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// serverValue is a server block's configuration as the executor passes it:
// every argument, null when not set, and the pod's object. set overrides
// arguments; env entries are added to the fake engine's.
func serverValue(t *testing.T, engine string, set map[string]cty.Value, env map[string]string) cty.Value {
	t.Helper()
	envVals := map[string]cty.Value{
		fakeEngineEnv: cty.StringVal("1"),
		// Under -race a process waits a second before it exits, to
		// report races of its last goroutines; the fakes have none.
		"GORACE": cty.StringVal("atexit_sleep_ms=0"),
	}
	for k, v := range env {
		envVals[k] = cty.StringVal(v)
	}
	m := map[string]cty.Value{
		"engine":            cty.StringVal(engine),
		"model":             cty.StringVal("Qwen/Qwen2.5-0.5B-Instruct"),
		"served_model_name": cty.NullVal(cty.String),
		"api_key":           cty.NullVal(cty.String),
		"args":              cty.NullVal(cty.List(cty.String)),
		"env":               cty.MapVal(envVals),
		"image":             cty.NullVal(cty.String),
		"port":              cty.NullVal(cty.Number),
		"ready_timeout":     cty.StringVal("20s"),
		"executable":        cty.StringVal(testExecutable(t)),
		"endpoint":          cty.NullVal(cty.String),
		"simulate":          cty.NullVal(cty.DynamicPseudoType),
		"price_per_hour":    cty.NullVal(cty.Number),
		"pod": cty.ObjectVal(map[string]cty.Value{
			"id":       cty.StringVal(PodID),
			"provider": cty.StringVal("local"),
		}),
	}
	for k, v := range set {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

func attrsJSON(t *testing.T, v cty.Value) string {
	t.Helper()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func engine(name string) *engines.Engine {
	e, ok := engines.Lookup(name)
	if !ok {
		panic("no engine " + name)
	}
	return e
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name      string
		cfg       serverConfig
		port      int
		want      []string
		wantShown []string // nil: as want
		// wantEnv is what the engine's environment gets: vLLM reads its
		// key from there, out of the process listing.
		wantEnv map[string]string
	}{
		{
			name: "vllm",
			cfg:  serverConfig{engine: engine("vllm"), model: "Qwen/Qwen2.5-7B-Instruct"},
			port: 8000,
			want: []string{"vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--host", "127.0.0.1", "--port", "8000"},
		},
		{
			name: "vllm with everything",
			cfg: serverConfig{
				engine: engine("vllm"), model: "/models/my model", servedName: "chat", apiKey: "k3y-secret", executable: "/opt/venv/bin/vllm",
				args: []string{"--max-model-len", "8192", "--chat-template", `{{ "it's" }} a b`, "--hf-token", "hf_abc", "--override-generation-config={\"x\": 1}"},
			},
			port: 41000,
			want: []string{
				"/opt/venv/bin/vllm", "serve", "/models/my model", "--host", "127.0.0.1", "--port", "41000",
				"--served-model-name", "chat",
				"--max-model-len", "8192", "--chat-template", `{{ "it's" }} a b`, "--hf-token", "hf_abc", "--override-generation-config={\"x\": 1}",
			},
			wantShown: []string{
				"/opt/venv/bin/vllm", "serve", "/models/my model", "--host", "127.0.0.1", "--port", "41000",
				"--served-model-name", "chat",
				"--max-model-len", "8192", "--chat-template", `{{ "it's" }} a b`, "--hf-token", "(sensitive)", "--override-generation-config={\"x\": 1}",
			},
			wantEnv: map[string]string{"VLLM_API_KEY": "k3y-secret"},
		},
		{
			name: "sglang",
			cfg:  serverConfig{engine: engine("sglang"), model: "Qwen/Qwen2.5-7B-Instruct"},
			port: 30000,
			want: []string{"python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-7B-Instruct", "--host", "127.0.0.1", "--port", "30000", "--enable-metrics"},
		},
		{
			name: "sglang with everything",
			cfg: serverConfig{
				engine: engine("sglang"), model: "m", servedName: "chat", apiKey: "k3y-secret", executable: "/opt/venv/bin/python",
				args: []string{"--tp", "2", "--api-key=other", "--mem-fraction-static", "0.8"},
			},
			port: 30001,
			want: []string{
				"/opt/venv/bin/python", "-m", "sglang.launch_server", "--model-path", "m", "--host", "127.0.0.1", "--port", "30001", "--enable-metrics",
				"--served-model-name", "chat", "--api-key", "k3y-secret", "--tp", "2", "--api-key=other", "--mem-fraction-static", "0.8",
			},
			wantShown: []string{
				"/opt/venv/bin/python", "-m", "sglang.launch_server", "--model-path", "m", "--host", "127.0.0.1", "--port", "30001", "--enable-metrics",
				"--served-model-name", "chat", "--api-key", "(sensitive)", "--tp", "2", "--api-key=(sensitive)", "--mem-fraction-static", "0.8",
			},
		},
		{
			name:      "key inside another argument",
			cfg:       serverConfig{engine: engine("vllm"), model: "m", apiKey: "k3y-secret", args: []string{"--middleware", "auth:k3y-secret"}},
			port:      1,
			want:      []string{"vllm", "serve", "m", "--host", "127.0.0.1", "--port", "1", "--middleware", "auth:k3y-secret"},
			wantShown: []string{"vllm", "serve", "m", "--host", "127.0.0.1", "--port", "1", "--middleware", "auth:(sensitive)"},
			wantEnv:   map[string]string{"VLLM_API_KEY": "k3y-secret"},
		},
		{
			name: "flags that merely mention tokens are shown",
			cfg:  serverConfig{engine: engine("vllm"), model: "m", args: []string{"--max-num-batched-tokens", "8192", "--tokenizer", "t"}},
			port: 2,
			want: []string{"vllm", "serve", "m", "--host", "127.0.0.1", "--port", "2", "--max-num-batched-tokens", "8192", "--tokenizer", "t"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, env := command(tt.cfg, tt.port)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEnv, env, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
			wantShown := tt.wantShown
			if wantShown == nil {
				wantShown = tt.want
			}
			if diff := cmp.Diff(wantShown, redactArgv(got, tt.cfg.apiKey)); diff != "" {
				t.Errorf("redactArgv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeServerErrors(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]cty.Value
		want string
	}{
		{"engine", map[string]cty.Value{"engine": cty.StringVal("openai")}, `local: engine: the local provider cannot start a "openai" server`},
		{"no model", map[string]cty.Value{"model": cty.NullVal(cty.String)}, "local: model: must name the model to serve"},
		{"ready_timeout", map[string]cty.Value{"ready_timeout": cty.StringVal("soon")}, `local: ready_timeout: invalid duration "soon"`},
		{"negative ready_timeout", map[string]cty.Value{"ready_timeout": cty.StringVal("-1s")}, "local: ready_timeout: must be positive, got -1s"},
		{"port range", map[string]cty.Value{"port": cty.NumberIntVal(70000)}, "local: port: must be a whole number from 1 to 65535, got 70000"},
		{"port fraction", map[string]cty.Value{"port": cty.NumberFloatVal(80.5)}, "local: port: must be a whole number from 1 to 65535, got 80.5"},
		{"port in args", map[string]cty.Value{"args": cty.ListVal([]cty.Value{cty.StringVal("--port=9000")})}, "local: args: set the port with the port argument rather than --port=9000, so that benchform knows where the server listens"},
		{"empty executable", map[string]cty.Value{"executable": cty.StringVal("")}, "local: executable: must not be empty"},
		{"key with NUL", map[string]cty.Value{"api_key": cty.StringVal("sec\x00" + testKey)}, "local: api_key: must not contain a NUL byte"},
		{"unknown", map[string]cty.Value{"model": cty.UnknownVal(cty.String)}, "local: model: value is not known yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeServer(serverValue(t, "vllm", tt.set, nil))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	p := newProvider(t, "", 0)
	ctx := testContext(t)

	resp, err := p.Plan(ctx, providers.PlanRequest{Addr: "pod.local", Kind: providers.KindPod, Config: cty.ObjectVal(map[string]cty.Value{
		"provider": cty.StringVal("local"), "gpu_type": cty.NullVal(cty.String), "server": cty.NullVal(cty.DynamicPseudoType),
	})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.RequiresReplace) != 0 || !resp.Planned.RawEquals(cty.EmptyObjectVal) {
		t.Errorf("pod plan = %#v, want an empty object and nothing forcing replacement", resp)
	}

	tests := []struct {
		name  string
		set   map[string]cty.Value
		known map[string]cty.Value // the planned attributes that are known
	}{
		{
			name: "port picked at create",
			known: map[string]cty.Value{
				"model": cty.StringVal("Qwen/Qwen2.5-0.5B-Instruct"),
			},
		},
		{
			name: "port set",
			set:  map[string]cty.Value{"port": cty.NumberIntVal(8000), "served_model_name": cty.StringVal("chat"), "api_key": cty.StringVal(testKey), "executable": cty.NullVal(cty.String)},
			known: map[string]cty.Value{
				"model":    cty.StringVal("chat"),
				"port":     cty.NumberIntVal(8000),
				"endpoint": cty.StringVal("http://127.0.0.1:8000"),
				"command": stringList([]string{"vllm", "serve", "Qwen/Qwen2.5-0.5B-Instruct", "--host", "127.0.0.1", "--port", "8000",
					"--served-model-name", "chat"}),
			},
		},
		{
			name: "model not known yet",
			set:  map[string]cty.Value{"model": cty.UnknownVal(cty.String), "port": cty.NumberIntVal(8000)},
			known: map[string]cty.Value{
				"port":     cty.NumberIntVal(8000),
				"endpoint": cty.StringVal("http://127.0.0.1:8000"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Plan(ctx, providers.PlanRequest{Addr: "server.vllm", Kind: providers.KindServer, Config: serverValue(t, "vllm", tt.set, nil)})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.RequiresReplace) != 0 {
				t.Errorf("RequiresReplace = %q, want none", resp.RequiresReplace)
			}
			got := map[string]cty.Value{}
			for name, v := range resp.Planned.AsValueMap() {
				if v.IsKnown() {
					got[name] = v
				}
				if _, ok := attrTypes[name]; !ok {
					t.Errorf("planned attribute %s is not one Create returns", name)
				}
			}
			if diff := cmp.Diff(tt.known, got, cmp.Comparer(cty.Value.RawEquals)); diff != "" {
				t.Errorf("known planned attributes (-want +got):\n%s", diff)
			}
			if strings.Contains(resp.Planned.GoString(), testKey) {
				t.Errorf("the API key is in the plan")
			}
		})
	}

	_, err = p.Plan(ctx, providers.PlanRequest{Addr: "server.vllm", Kind: providers.KindServer, Config: serverValue(t, "vllm", map[string]cty.Value{"ready_timeout": cty.StringVal("5 m")}, nil)})
	if err == nil || err.Error() != `local: ready_timeout: invalid duration "5 m"` {
		t.Errorf("Plan with a bad ready_timeout: %v", err)
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (python3 (vllm) x) S 1 4242 4242 0 -1 4194560 25 0 0 0 3 1 0 0 20 0 4 0 987654 1000 200 18446744073709551615\n"
	got, ok := parseStat([]byte(line))
	want := stat{pgrp: 4242, session: 4242, start: "987654"}
	if !ok || got != want {
		t.Errorf("parseStat = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := parseStat([]byte("4242 (short) S 1")); ok {
		t.Errorf("a short line was accepted")
	}
	if got, _ := parseStat([]byte(strings.Replace(line, ") S ", ") Z ", 1))); !got.zombie {
		t.Errorf("a zombie was not recognised")
	}
}

func TestReadTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	var b strings.Builder
	b.WriteString("==> benchform: an earlier start\nold line\n")
	offset := int64(b.Len())
	for i := range 30 {
		fmt.Fprintf(&b, "line %d key=%s\n", i, testKey)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := readTail(path, offset, []string{testKey})
	var want []string
	for i := 10; i < 30; i++ {
		want = append(want, fmt.Sprintf("    line %d key=(sensitive)", i))
	}
	if diff := cmp.Diff(strings.Join(want, "\n"), got); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	if got := readTail(path, int64(b.Len()), nil); got != "" {
		t.Errorf("tail of nothing written = %q", got)
	}

	// A long last line is cut at the byte limit, at a line start.
	long := strings.Repeat("x", 2*tailBytes)
	if err := os.WriteFile(path, []byte("first\n"+long+"\nlast\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readTail(path, 0, nil); got != "    last" {
		t.Errorf("tail after a long line = %q", got)
	}
}
