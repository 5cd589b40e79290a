package simulated

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/benchform/benchform/providers"
	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

// serverConfig builds a server block's configuration as lang would, with
// attributes this provider ignores.
func serverConfig(model string, simulate cty.Value) cty.Value {
	attrs := map[string]cty.Value{
		"engine":   cty.StringVal("simulated"),
		"endpoint": cty.NullVal(cty.String),
		"args":     cty.ListValEmpty(cty.String),
		"api_key":  cty.NullVal(cty.String),
		"model":    cty.NullVal(cty.String),
		"simulate": simulate,
	}
	if model != "" {
		attrs["model"] = cty.StringVal(model)
	}
	return cty.ObjectVal(attrs)
}

func fastSimulate() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"ttft": cty.StringVal("1ms"), "itl": cty.StringVal("1ms")})
}

func TestModelFromConfig(t *testing.T) {
	full := DefaultModel()
	full.ServedModel, full.APIKey = "qwen", "k-123"
	full.TTFT, full.ITL, full.Jitter = 50*time.Millisecond, 7*time.Millisecond, 0.25
	full.MaxNumSeqs, full.ITLPerSeq, full.PrefillPerToken = 16, time.Millisecond, 10*time.Microsecond
	full.Seed, full.DefaultMaxTokens, full.MaxModelLen = -3, 64, 4096

	tests := []struct {
		name    string
		cfg     cty.Value
		want    Model
		wantErr string
	}{
		{name: "nil", cfg: cty.NilVal, want: DefaultModel()},
		{name: "null", cfg: cty.NullVal(cty.DynamicPseudoType), want: DefaultModel()},
		{name: "empty object", cfg: cty.EmptyObjectVal, want: DefaultModel()},
		{name: "null simulate", cfg: serverConfig("", cty.NullVal(cty.DynamicPseudoType)), want: DefaultModel()},
		{
			name: "everything",
			cfg: cty.ObjectVal(map[string]cty.Value{
				"model":   cty.StringVal("qwen"),
				"api_key": cty.StringVal("k-123").Mark("sensitive"),
				"image":   cty.StringVal("ignored"),
				"simulate": cty.ObjectVal(map[string]cty.Value{
					"ttft": cty.StringVal("50ms"), "itl": cty.StringVal("7ms"), "jitter": cty.NumberFloatVal(0.25),
					"max_num_seqs": cty.NumberIntVal(16), "itl_per_seq": cty.StringVal("1ms"),
					"prefill_per_token": cty.StringVal("10us"), "seed": cty.NumberIntVal(-3),
					"default_max_tokens": cty.NumberIntVal(64), "max_model_len": cty.NumberIntVal(4096),
				}),
			}),
			want: full,
		},
		{
			name: "nulls inside simulate",
			cfg: serverConfig("m", cty.ObjectVal(map[string]cty.Value{
				"ttft": cty.NullVal(cty.String), "jitter": cty.NullVal(cty.Number), "itl": cty.StringVal("2ms"),
			})),
			want: func() Model { m := DefaultModel(); m.ServedModel, m.ITL = "m", 2*time.Millisecond; return m }(),
		},
		{
			name: "simulate as a map",
			cfg:  cty.ObjectVal(map[string]cty.Value{"simulate": cty.MapVal(map[string]cty.Value{"ttft": cty.StringVal("3ms")})}),
			want: func() Model { m := DefaultModel(); m.TTFT = 3 * time.Millisecond; return m }(),
		},
		{
			name: "number as string",
			cfg:  serverConfig("", cty.ObjectVal(map[string]cty.Value{"max_num_seqs": cty.StringVal("4")})),
			want: func() Model { m := DefaultModel(); m.MaxNumSeqs = 4; return m }(),
		},
		{name: "bad duration", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"ttft": cty.StringVal("5 0ms")})), wantErr: `simulate.ttft: invalid duration "5 0ms"`},
		{name: "duration without unit", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"itl": cty.NumberIntVal(5)})), wantErr: `simulate.itl: invalid duration "5"`},
		{name: "negative duration", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"itl_per_seq": cty.StringVal("-1ms")})), wantErr: "simulate.itl_per_seq: must not be negative, got -1ms"},
		{
			name: "batched",
			cfg:  serverConfig("", cty.ObjectVal(map[string]cty.Value{"schedule": cty.StringVal("batched")})),
			want: func() Model { m := DefaultModel(); m.Schedule = ScheduleBatched; return m }(),
		},
		{name: "unknown schedule", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"schedule": cty.StringVal("random")})), wantErr: `simulate.schedule: must be independent or batched, got "random"`},
		{name: "jitter too big", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"jitter": cty.NumberFloatVal(1.5)})), wantErr: "simulate.jitter: must be between 0 and 1, got 1.5"},
		{name: "jitter not a number", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"jitter": cty.StringVal("lots")})), wantErr: "simulate.jitter: must be a number, got string"},
		{name: "zero seqs", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"max_num_seqs": cty.NumberIntVal(0)})), wantErr: "simulate.max_num_seqs: must be a whole number of at least 1, got 0"},
		{name: "fractional seqs", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"max_num_seqs": cty.NumberFloatVal(2.5)})), wantErr: "simulate.max_num_seqs: must be a whole number of at least 1, got 2.5"},
		{name: "fractional seed", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"seed": cty.NumberFloatVal(0.5)})), wantErr: "simulate.seed: must be a whole number within 64 bits, got 0.5"},
		{name: "zero context", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"max_model_len": cty.NumberIntVal(0)})), wantErr: "simulate.max_model_len: must be a whole number of at least 1, got 0"},
		{
			name: "reasoning",
			cfg:  serverConfig("", cty.ObjectVal(map[string]cty.Value{"reasoning_tokens": cty.NumberIntVal(64), "engine": cty.StringVal("llama.cpp")})),
			want: func() Model { m := DefaultModel(); m.ReasoningTokens, m.Metrics = 64, MetricsLlamaCpp; return m }(),
		},
		{name: "negative reasoning", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"reasoning_tokens": cty.NumberIntVal(-1)})), wantErr: "simulate.reasoning_tokens: must be a whole number of at least 0, got -1"},
		{name: "reasoning on an engine without", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"reasoning_tokens": cty.NumberIntVal(8), "engine": cty.StringVal("tgi")})),
			wantErr: "simulate.reasoning_tokens: needs an engine that streams reasoning (vllm, llama.cpp); tgi streams none"},
		{name: "simulate not an object", cfg: serverConfig("", cty.StringVal("fast")), wantErr: "simulate: must be an object, got string"},
		{name: "config not an object", cfg: cty.StringVal("x"), wantErr: "simulated: configuration must be an object, got string"},
		{name: "model not a string", cfg: cty.ObjectVal(map[string]cty.Value{"model": cty.ListValEmpty(cty.String)}), wantErr: "model: must be a string, got list of string"},
		{name: "api key not a string", cfg: cty.ObjectVal(map[string]cty.Value{"api_key": cty.TupleVal([]cty.Value{cty.StringVal("sekrit")})}), wantErr: "api_key: must be a string, got tuple"},
		{name: "unknown value", cfg: serverConfig("", cty.ObjectVal(map[string]cty.Value{"ttft": cty.UnknownVal(cty.String)})), wantErr: "simulate.ttft: value is not known yet"},
		{name: "unknown config", cfg: cty.DynamicVal, wantErr: "simulated: configuration is not known yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ModelFromConfig(tt.cfg)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("ModelFromConfig() error = %q, want %q", gotErr, tt.wantErr)
			}
			if strings.Contains(gotErr, "sekrit") {
				t.Errorf("error quotes the API key: %s", gotErr)
			}
			if tt.wantErr != "" {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ModelFromConfig() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	prior := &providers.State{ID: "sim-00000001", Name: "benchform-server.sim-1", Attrs: cty.ObjectVal(map[string]cty.Value{
		"model": cty.StringVal("m"), "endpoint": cty.StringVal("http://127.0.0.1:1234"),
	})}
	planned := func(model, endpoint cty.Value) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"model": model, "endpoint": endpoint})
	}
	unknown := cty.UnknownVal(cty.String)
	tests := []struct {
		name    string
		cfg     cty.Value
		prior   *providers.State
		want    cty.Value
		wantErr string
	}{
		{name: "create", cfg: serverConfig("m", fastSimulate()), want: planned(cty.StringVal("m"), unknown)},
		{name: "default model", cfg: serverConfig("", cty.NullVal(cty.DynamicPseudoType)), want: planned(cty.StringVal("simulated"), unknown)},
		{name: "unknown model", cfg: cty.ObjectVal(map[string]cty.Value{"model": unknown}), want: planned(unknown, unknown)},
		{name: "unknown simulate values", cfg: serverConfig("m", cty.ObjectVal(map[string]cty.Value{
			"ttft": unknown, "jitter": cty.UnknownVal(cty.Number), "default_max_tokens": cty.NumberIntVal(64),
		})), want: planned(cty.StringVal("m"), unknown)},
		{name: "unknown simulate", cfg: serverConfig("m", cty.DynamicVal), want: planned(cty.StringVal("m"), unknown)},
		{name: "unknown config", cfg: cty.DynamicVal, want: planned(unknown, unknown)},
		{name: "known values still checked", cfg: serverConfig("m", cty.ObjectVal(map[string]cty.Value{
			"ttft": unknown, "itl": cty.StringVal("soon"),
		})), wantErr: `simulate.itl: invalid duration "soon"`},
		{name: "unchanged keeps endpoint", cfg: serverConfig("m", fastSimulate()), prior: prior, want: planned(cty.StringVal("m"), cty.StringVal("http://127.0.0.1:1234"))},
		{name: "new model, new endpoint", cfg: serverConfig("n", fastSimulate()), prior: prior, want: planned(cty.StringVal("n"), unknown)},
		{name: "unknown model with prior", cfg: cty.ObjectVal(map[string]cty.Value{"model": unknown}), prior: prior, want: planned(unknown, unknown)},
	}
	p := New()
	defer p.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Plan(context.Background(), providers.PlanRequest{Addr: "server.sim", Kind: providers.KindServer, Config: tt.cfg, Prior: tt.prior})
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("Plan() error = %q, want %q", gotErr, tt.wantErr)
			}
			if tt.wantErr != "" {
				return
			}
			if !resp.Planned.RawEquals(tt.want) {
				t.Errorf("Planned = %#v, want %#v", resp.Planned, tt.want)
			}
			if len(resp.RequiresReplace) != 0 {
				t.Errorf("RequiresReplace = %v, want none", resp.RequiresReplace)
			}
		})
	}
	if _, err := p.Plan(context.Background(), providers.PlanRequest{Addr: "pod.x", Kind: providers.KindPod, Config: cty.EmptyObjectVal}); err == nil {
		t.Errorf("Plan for a pod succeeded, want an error")
	}
}

// up reports whether a server answers /health at base.
func up(base string) bool {
	resp, err := testClient.Get(base + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func listedModel(t *testing.T, ep providers.Endpoint) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ep.BaseURL+"/v1/models", nil)
	if ep.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+ep.APIKey)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list modelList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Data) != 1 {
		t.Fatalf("GET /v1/models: status %d, %v", resp.StatusCode, err)
	}
	return list.Data[0].ID
}

func endpointOf(t *testing.T, s providers.State) string {
	t.Helper()
	return s.Attrs.GetAttr("endpoint").AsString()
}

func TestProviderLifecycle(t *testing.T) {
	ctx := context.Background()
	p := New()
	defer p.Close()
	const addr = "server.sim"
	cfg := cty.ObjectVal(map[string]cty.Value{
		"model": cty.StringVal("m"), "api_key": cty.StringVal("sekrit"), "simulate": fastSimulate(),
	})

	st, err := p.Create(ctx, providers.CreateRequest{Addr: addr, Kind: providers.KindServer, Name: "benchform-server.sim-1", Config: cfg})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !regexp.MustCompile(`^sim-[0-9a-f]{8}$`).MatchString(st.ID) || st.Name != "benchform-server.sim-1" {
		t.Errorf("State ID, Name = %q, %q; want sim-<8 hex>, benchform-server.sim-1", st.ID, st.Name)
	}
	if got := st.Attrs.Type(); !got.Equals(cty.Object(map[string]cty.Type{"model": cty.String, "endpoint": cty.String})) {
		t.Errorf("Attrs type = %#v, want model and endpoint only", got)
	}
	if strings.Contains(st.Attrs.GoString(), "sekrit") {
		t.Errorf("state holds the API key: %#v", st.Attrs)
	}
	base := endpointOf(t, st)
	if !up(base) {
		t.Fatalf("server at %s is not up after Create", base)
	}

	read, err := p.Read(ctx, providers.ReadRequest{Addr: addr, Kind: providers.KindServer, Prior: st})
	if err != nil || !read.Exists || read.State.ID != st.ID || !read.State.Attrs.RawEquals(st.Attrs) {
		t.Errorf("Read = %+v, %v; want the prior state, existing", read, err)
	}
	if gone, _ := p.Read(ctx, providers.ReadRequest{Addr: addr, Kind: providers.KindServer, Prior: providers.State{Name: "half"}}); gone.Exists {
		t.Errorf("Read of a state without ID exists, want not")
	}

	ep, err := p.Connect(ctx, providers.ConnectRequest{Addr: addr, State: st, Config: cfg})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if diff := cmp.Diff([]string{base, "sekrit", "m"}, []string{ep.BaseURL, ep.APIKey, ep.Model}); diff != "" {
		t.Errorf("Endpoint mismatch (-want +got):\n%s", diff)
	}
	if got := listedModel(t, ep); got != "m" {
		t.Errorf("listed model = %q, want m", got)
	}
	resp := post(t, ctx, ep.BaseURL+"/v1/completions", map[string]any{"prompt": "x", "max_tokens": 2}, "Authorization", "Bearer "+ep.APIKey)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("completion through the endpoint: status %d", resp.StatusCode)
	}
	ep.Release()
	if !up(base) {
		t.Errorf("server started by Create stopped on Release")
	}

	upd, err := p.Update(ctx, providers.UpdateRequest{Addr: addr, Kind: providers.KindServer, Prior: st,
		Config: serverConfig("m2", fastSimulate())})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	newBase := endpointOf(t, upd)
	if upd.ID != st.ID || upd.Name != st.Name || upd.Attrs.GetAttr("model").AsString() != "m2" || newBase == base {
		t.Errorf("Update = %#v, want same ID and name, model m2, a new endpoint", upd)
	}
	if up(base) || !up(newBase) {
		t.Errorf("after Update: old server up = %v, new server up = %v; want false, true", up(base), up(newBase))
	}

	if err := p.Delete(ctx, providers.DeleteRequest{Addr: addr, Kind: providers.KindServer, Prior: upd}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if up(newBase) {
		t.Errorf("server still up after Delete")
	}
	if err := p.Delete(ctx, providers.DeleteRequest{Addr: addr, Kind: providers.KindServer, Prior: upd}); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestProviderConnectRefcount(t *testing.T) {
	ctx := context.Background()
	p := New()
	defer p.Close()
	req := providers.ConnectRequest{Addr: "server.a", Config: serverConfig("a", fastSimulate())}

	ep1, err := p.Connect(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ep2, err := p.Connect(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ep1.BaseURL != ep2.BaseURL || ep1.Release == nil {
		t.Fatalf("two Connects got %q and %q, want one shared server with a Release", ep1.BaseURL, ep2.BaseURL)
	}
	ep1.Release()
	ep1.Release() // a second call is a no-op, not a second release
	if !up(ep2.BaseURL) {
		t.Fatalf("server stopped while an endpoint is still held")
	}
	ep2.Release()
	if up(ep2.BaseURL) {
		t.Errorf("server started by Connect still up after the last Release")
	}

	// With no configuration, the stored state says which model to serve.
	st := providers.State{ID: "sim-0000abcd", Name: "n", Attrs: cty.ObjectVal(map[string]cty.Value{
		"model": cty.StringVal("from-state"), "endpoint": cty.StringVal("http://127.0.0.1:1"),
	})}
	ep3, err := p.Connect(ctx, providers.ConnectRequest{Addr: "server.b", State: st, Config: cty.NilVal})
	if err != nil {
		t.Fatal(err)
	}
	defer ep3.Release()
	if ep3.Model != "from-state" || listedModel(t, ep3) != "from-state" || ep3.APIKey != "" {
		t.Errorf("Connect from state: model %q, key %q; want from-state and none", ep3.Model, ep3.APIKey)
	}

	if _, err := p.Connect(ctx, providers.ConnectRequest{Addr: "server.c", Config: serverConfig("", cty.ObjectVal(map[string]cty.Value{"itl": cty.StringVal("x")}))}); err == nil {
		t.Errorf("Connect with a bad configuration succeeded")
	}
}

func TestProviderClose(t *testing.T) {
	ctx := context.Background()
	p := New()
	var bases []string
	for _, addr := range []string{"server.a", "server.b"} {
		st, err := p.Create(ctx, providers.CreateRequest{Addr: addr, Kind: providers.KindServer, Name: addr, Config: serverConfig("", fastSimulate())})
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, endpointOf(t, st))
	}
	ep, err := p.Connect(ctx, providers.ConnectRequest{Addr: "server.c", Config: serverConfig("", fastSimulate())})
	if err != nil {
		t.Fatal(err)
	}
	bases = append(bases, ep.BaseURL)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, b := range bases {
		if up(b) {
			t.Errorf("server %s still up after Close", b)
		}
	}
	ep.Release() // after Close: nothing left to stop, and no panic
}
