package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/executor/telemetry"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/probe"
	"github.com/benchform/benchform/state"
)

// versionTimeout bounds the question of a server's version, which a run
// goes on without.
const versionTimeout = 5 * time.Second

// Sample kinds stored in state beside a run's steps.
const (
	samplesServer  = "server"
	samplesGPU     = "gpu"
	samplesGPUIdle = "gpu_idle:" // + the server's address, for step -1
)

// instruments are the samplers beside one server's steps: its Prometheus
// metrics and its GPUs, either of which may be absent, and the price of
// the machine it runs on.
type instruments struct {
	server       *telemetry.ServerSampler
	gpu          *telemetry.GPUSampler
	pricePerHour float64 // USD; zero when unknown
	// version is what the server says of its version, where its engine
	// states it; "" otherwise.
	version string
}

// instrument prepares the samplers for a server as the scenario asks, and
// takes the GPU snapshot at idle that the run keeps. A GPU source that
// cannot be read is dropped with a warning when it was asked for by name,
// silently when "auto" found nothing.
func (a *applier) instrument(ctx context.Context, c *Change, spec lang.ScenarioSpec, server lang.Addr, endpoint providers.Endpoint, runID int64) *instruments {
	in := &instruments{pricePerHour: a.pricePerHour(server)}
	vctx, cancel := context.WithTimeout(ctx, versionTimeout)
	in.version = probe.Version(vctx, probe.Options{BaseURL: endpoint.BaseURL, APIKey: endpoint.APIKey, Engine: a.engine(server)})
	cancel()
	// Scraped by default where the engine has metrics; asked of an
	// endpoint of unknown kind, at the usual path.
	metrics := a.engine(server).Metrics
	scrape := metrics != nil
	if spec.Telemetry.ServerMetrics != nil {
		scrape = *spec.Telemetry.ServerMetrics
	}
	if scrape {
		path := "/metrics"
		if metrics != nil {
			path = metrics.Path
		}
		in.server = telemetry.NewServerSampler(strings.TrimSuffix(endpoint.BaseURL, "/")+path, endpoint.APIKey, spec.Telemetry.ServerInterval, nil)
	}
	src, err := a.gpuSource(spec.Telemetry.GPU, server)
	if err != nil {
		a.opts.Hook.Warn(c.Addr, fmt.Sprintf("no GPU telemetry for %s: %s", server, err))
	}
	if src == nil {
		return in
	}
	in.gpu = telemetry.NewGPUSampler(src, spec.Telemetry.GPUInterval)
	idle, err := in.gpu.Idle(ctx)
	if err != nil {
		if spec.Telemetry.GPU != "auto" {
			a.opts.Hook.Warn(c.Addr, fmt.Sprintf("no GPU telemetry for %s: %s", server, err))
		}
		in.gpu = nil
		return in
	}
	a.putSamples(c.Addr, runID, -1, samplesGPUIdle+server.String(), idle)
	return in
}

// gpuSource picks where a server's GPUs are read: "auto" asks the
// provider that runs the server, which knows its machine (a pod, this
// machine); an endpoint benchform did not start has no known GPU.
func (a *applier) gpuSource(setting string, server lang.Addr) (telemetry.GPUSource, error) {
	switch {
	case setting == "off":
		return nil, nil
	case setting == "local":
		// python3 with pynvml, where present, adds NVML's energy counter as a
		// cross-check of the integrated power.
		return telemetry.LocalNvidiaSMI{Python: "python3"}, nil
	case strings.HasPrefix(setting, "dcgm:"):
		return telemetry.DCGM{URL: strings.TrimPrefix(setting, "dcgm:")}, nil
	}
	row, ok, err := a.opts.State.Resource(server.String())
	if err != nil || !ok {
		return nil, err
	}
	q, ok := a.opts.Providers[row.Provider].(providers.GPUQuerier)
	if !ok {
		return nil, nil
	}
	attrs, err := decodeValue(row.Attributes)
	if err != nil {
		return nil, err
	}
	config, diags := decodeForProvider(a.opts.Config, server, a.scope)
	if diags.HasErrors() {
		return nil, diags
	}
	return &providerGPU{q: q, req: providers.GPURequest{
		Addr:   server.String(),
		State:  providers.State{ID: row.ProviderID, Name: row.Name, Attrs: attrs},
		Config: unmark(config),
	}}, nil
}

// providerGPU reads GPUs through the provider that runs a server. A
// provider runs nvidia-smi with real fields only, so the NVML energy
// counter that the sampler asks for as a pseudo-field is answered [N/A]
// here, and energy comes from integrating power instead.
type providerGPU struct {
	q   providers.GPUQuerier
	req providers.GPURequest
}

func (p *providerGPU) Query(ctx context.Context, fields []string) ([]byte, error) {
	energyAt := -1
	real := make([]string, 0, len(fields))
	for i, f := range fields {
		if f == telemetry.EnergyField {
			energyAt = i
			continue
		}
		real = append(real, f)
	}
	req := p.req
	req.Fields = real
	out, err := p.q.QueryGPU(ctx, req)
	if err != nil || energyAt < 0 {
		return out, err
	}
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		cols := strings.Split(line, ",")
		if energyAt > len(cols) {
			b.WriteString(line + "\n")
			continue
		}
		cols = append(cols[:energyAt], append([]string{" [N/A]"}, cols[energyAt:]...)...)
		b.WriteString(strings.Join(cols, ",") + "\n")
	}
	return b.Bytes(), nil
}

// pricePerHour is what the machine a server runs on costs: the server's
// own price_per_hour, else its pod's price as configured or as its
// provider reported it.
func (a *applier) pricePerHour(server lang.Addr) float64 {
	num := func(v cty.Value) float64 {
		if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
			return 0
		}
		f, _ := v.AsBigFloat().Float64()
		return f
	}
	if v, ok := a.scope.Get(server); ok {
		if p := num(attrOf(v, providers.AttrPricePerHour)); p > 0 {
			return p
		}
	}
	s := a.opts.Config.Servers[server]
	if s == nil || s.Pod == nil {
		return 0
	}
	if v, ok := a.scope.Get(*s.Pod); ok {
		if p := num(attrOf(v, providers.AttrPricePerHour)); p > 0 {
			return p
		}
		return num(attrOf(v, providers.AttrCostPerHour))
	}
	return 0
}

// measuring is the telemetry of one step while it runs.
type measuring struct {
	in      *instruments
	mu      sync.Mutex
	started bool
	errs    []error
}

// start is called just before the measured window.
func (m *measuring) start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started = true
	if m.in.server != nil {
		if err := m.in.server.Start(ctx); err != nil {
			m.errs = append(m.errs, err)
		}
	}
	if m.in.gpu != nil {
		if err := m.in.gpu.Start(ctx); err != nil {
			m.errs = append(m.errs, err)
		}
	}
}

// stepTelemetry is what a step's samplers found.
type stepTelemetry struct {
	server     *telemetry.ServerStats
	serverRaw  []telemetry.ServerSample
	gpu        *telemetry.GPUStats
	gpuSamples []telemetry.GPUSample
	warnings   []string
}

// stop ends the samplers and summarises them.
func (m *measuring) stop() stepTelemetry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var t stepTelemetry
	if !m.started {
		return t
	}
	if m.in.server != nil {
		w, err := m.in.server.Stop()
		if err != nil {
			t.warnings = append(t.warnings, fmt.Sprintf("server metrics: %s", err))
		}
		if w.Before != nil || len(w.Samples) > 0 {
			st := w.Stats()
			t.server, t.serverRaw = &st, w.Samples
		}
	}
	if m.in.gpu != nil {
		w := m.in.gpu.Stop()
		if len(w.Samples) > 0 {
			st := w.Stats()
			t.gpu, t.gpuSamples = &st, w.Samples
		}
	}
	return t
}

// attach adds a step's telemetry, energy efficiency and cost to its
// summary, with warnings where the server's figures cast doubt on the
// client's.
func (t stepTelemetry) attach(s *StepSummary, pricePerHour float64) {
	s.Warnings = append(s.Warnings, t.warnings...)
	if t.server != nil {
		s.ServerMetrics = t.server
		if t.server.Restarted {
			s.Warnings = append(s.Warnings, fmt.Sprintf("the server restarted during the step (%s went down): its counters undercount and the step's figures are suspect", strings.Join(t.server.RestartEvidence, ", ")))
		}
		if g := t.server.Total.GenerationTokens; g != nil && s.TotalOutputTokens > 0 {
			ratio, flagged := telemetry.TokenMismatch(int(*g), s.TotalOutputTokens)
			s.ServerTokenRatio = &ratio
			// Requests cut off were generating too; the client leaves
			// them out, so the two counts differ by right.
			if flagged && s.CutOff == 0 {
				s.Warnings = append(s.Warnings, fmt.Sprintf("the server generated %.0f tokens in the window, the client counted %d (ratio %.3f): more than 2 %% apart", *g, s.TotalOutputTokens, ratio))
			}
		}
	}
	if t.gpu != nil {
		s.GPU = t.gpu
		eff := t.gpu.Efficiency(s.TotalOutputTokens, s.Completed)
		s.Energy = &eff
		if t.gpu.Throttled {
			s.Warnings = append(s.Warnings, "a GPU throttled (power or thermal) during the step: its figures are not comparable with an unthrottled run")
		}
	}
	if pricePerHour > 0 {
		s.PricePerHour = pricePerHour
		cost := pricePerHour * s.DurationSeconds / 3600
		s.CostUSD = &cost
		if s.TotalOutputTokens > 0 {
			perM := cost / float64(s.TotalOutputTokens) * 1e6
			s.USDPerMillionOutputTokens = &perM
		}
	}
}

// putSamples stores a set of samples as JSON. Telemetry problems are
// warnings, not errors: the run's results are complete without its samples.
func (a *applier) putSamples(scenario lang.Addr, runID int64, step int, kind string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		err = a.opts.State.PutSamples(state.SampleSet{RunID: runID, Step: step, Kind: kind, Data: b})
	}
	if err != nil {
		a.opts.Hook.Warn(scenario, fmt.Sprintf("telemetry samples of run %d not recorded: %s", runID, err))
	}
}
