package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/simulated"
	"github.com/benchform/benchform/state"
)

// fakeProvider records every call and can be told to fail, to report an
// object gone, or to force replacement; Connect hands out one simulated
// server so scenarios can run.
type fakeProvider struct {
	mu       sync.Mutex
	calls    []string
	failOn   map[string]error // "create server.a" → error
	gone     map[string]bool  // addresses Read reports missing
	replace  []string         // attributes that force replacement
	inFlight int
	maxSeen  int
	block    chan struct{} // when set, Create waits on it
	sim      *simulated.Server
	simURL   string
}

var (
	_ providers.Provider   = (*fakeProvider)(nil)
	_ providers.GPUQuerier = (*fakeProvider)(nil)
)

func newFake(t *testing.T) *fakeProvider {
	t.Helper()
	m := simulated.DefaultModel()
	m.TTFT, m.ITL = 0, 0
	srv, err := simulated.NewServer(m)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fakeProvider{failOn: map[string]error{}, gone: map[string]bool{}, sim: srv, simURL: url}
}

func (f *fakeProvider) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.failOn[call]
}

func (f *fakeProvider) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeProvider) attrs(id string, config cty.Value) cty.Value {
	model := cty.StringVal("simulated")
	if config != cty.NilVal && config.Type().IsObjectType() && config.Type().HasAttribute("model") && !config.GetAttr("model").IsNull() {
		model = config.GetAttr("model")
	}
	return cty.ObjectVal(map[string]cty.Value{"endpoint": cty.StringVal("http://" + id), "model": model})
}

func (f *fakeProvider) Plan(ctx context.Context, req providers.PlanRequest) (providers.PlanResponse, error) {
	if err := f.record("plan " + req.Addr); err != nil {
		return providers.PlanResponse{}, err
	}
	return providers.PlanResponse{
		Planned:         cty.ObjectVal(map[string]cty.Value{"endpoint": cty.UnknownVal(cty.String), "model": cty.UnknownVal(cty.String)}),
		RequiresReplace: f.replace,
	}, nil
}

func (f *fakeProvider) Create(ctx context.Context, req providers.CreateRequest) (providers.State, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxSeen = max(f.maxSeen, f.inFlight)
	block := f.block
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if block != nil {
		<-block
	}
	if err := f.record("create " + req.Addr); err != nil {
		return providers.State{}, err
	}
	id := "id-" + req.Addr
	return providers.State{ID: id, Name: req.Name, Attrs: f.attrs(id, req.Config)}, nil
}

func (f *fakeProvider) Read(ctx context.Context, req providers.ReadRequest) (providers.ReadResponse, error) {
	if err := f.record("read " + req.Addr); err != nil {
		return providers.ReadResponse{}, err
	}
	f.mu.Lock()
	gone := f.gone[req.Addr]
	f.mu.Unlock()
	if gone || req.Prior.ID == "" {
		return providers.ReadResponse{Exists: false, Drift: "deleted outside benchform"}, nil
	}
	return providers.ReadResponse{State: req.Prior, Exists: true}, nil
}

func (f *fakeProvider) Update(ctx context.Context, req providers.UpdateRequest) (providers.State, error) {
	if err := f.record("update " + req.Addr); err != nil {
		return providers.State{}, err
	}
	return providers.State{ID: req.Prior.ID, Name: req.Prior.Name, Attrs: f.attrs(req.Prior.ID, req.Config)}, nil
}

func (f *fakeProvider) Delete(ctx context.Context, req providers.DeleteRequest) error {
	return f.record("delete " + req.Addr)
}

func (f *fakeProvider) Connect(ctx context.Context, req providers.ConnectRequest) (providers.Endpoint, error) {
	if err := f.record("connect " + req.Addr); err != nil {
		return providers.Endpoint{}, err
	}
	return providers.Endpoint{BaseURL: f.simURL, Model: "simulated"}, nil
}

// harness is a configuration directory, a state file and a fake provider
// standing in for the simulated one.
type harness struct {
	t     *testing.T
	dir   string
	store *state.Store
	fake  *fakeProvider
}

func newHarness(t *testing.T, config string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), fake: newFake(t)}
	h.write(config)
	store, err := state.Open(filepath.Join(t.TempDir(), "benchform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h.store = store
	return h
}

func (h *harness) write(config string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "main.hcl"), []byte(config), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) executor(mod func(*Options)) *Executor {
	h.t.Helper()
	cfg, diags := lang.Load(h.dir, lang.LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		h.t.Fatal(diags)
	}
	opts := Options{Config: cfg, State: h.store, Providers: map[string]providers.Provider{"simulated": h.fake, "openai": h.fake}}
	if mod != nil {
		mod(&opts)
	}
	return New(opts)
}

func (h *harness) plan(mod func(*Options)) *Plan {
	h.t.Helper()
	p, diags := h.executor(mod).Plan(context.Background())
	if diags.HasErrors() {
		h.t.Fatal(diags)
	}
	return p
}

// apply plans and applies, failing the test on any diagnostic.
func (h *harness) apply(mod func(*Options)) *Result {
	h.t.Helper()
	ex := h.executor(mod)
	p, diags := ex.Plan(context.Background())
	if diags.HasErrors() {
		h.t.Fatal(diags)
	}
	r, diags := ex.Apply(context.Background(), p)
	if diags.HasErrors() {
		h.t.Fatal(diags)
	}
	return r
}

// actions summarises a plan as address → action symbol, no-ops included.
func actions(p *Plan) map[string]string {
	out := map[string]string{}
	for _, c := range p.Changes {
		sym := c.Action.String()
		if c.Action == NoOp {
			sym = "no-op"
		}
		out[c.Addr.String()] = sym
	}
	return out
}

const serverConfig = `
server "a" {
  engine = "simulated"
  model  = "%s"
}
`

const scenarioConfig = `
scenario "chat" {
  server     = server.a
  max_tokens = 4
  dataset {
    kind    = "prompts"
    prompts = ["hello there"]
  }
  load {
    concurrency = [%d]
    requests    = 3
  }
}
`

func config(model string, concurrency int) string {
	return fmt.Sprintf(serverConfig, model) + fmt.Sprintf(scenarioConfig, concurrency)
}

// QueryGPU answers like nvidia-smi on a machine with one busy GPU: every
// field the fake knows gets a plausible value, the rest [N/A].
func (f *fakeProvider) QueryGPU(ctx context.Context, req providers.GPURequest) ([]byte, error) {
	values := map[string]string{
		"timestamp":                   time.Now().Format("2006/01/02 15:04:05.000"),
		"uuid":                        "GPU-fake-0",
		"index":                       "0",
		"name":                        "NVIDIA H100 80GB HBM3",
		"driver_version":              "570.124.06",
		"clocks.max.sm":               "1980",
		"utilization.gpu":             "50",
		"utilization.memory":          "20",
		"memory.used":                 "40960",
		"memory.total":                "81559",
		"power.draw":                  "300.00",
		"power.draw.instant":          "300.00",
		"power.limit":                 "700.00",
		"enforced.power.limit":        "700.00",
		"temperature.gpu":             "40",
		"clocks.sm":                   "1980",
		"clocks.mem":                  "2619",
		"clocks_event_reasons.active": "0x0000000000000000",
	}
	cols := make([]string, len(req.Fields))
	for i, field := range req.Fields {
		v, ok := values[field]
		if !ok {
			v = "[N/A]"
		}
		cols[i] = v
	}
	return []byte(strings.Join(cols, ", ") + "\n"), nil
}
