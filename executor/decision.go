package executor

import (
	"cmp"
	"slices"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
)

// ServerFacts are what a decision says of a server beside its figures:
// the engine it ran and the GPUs it ran on, as known when the run began.
type ServerFacts struct {
	Server string `json:"server"`
	Engine string `json:"engine,omitempty"`
	// GPU is the GPU type, GPUCount how many; empty and zero when the
	// server's provider does not say (they may still come from GPU
	// telemetry).
	GPU      string `json:"gpu,omitempty"`
	GPUCount int    `json:"gpu_count,omitempty"`
}

// Decision is a server at its capacity within a scenario's objectives: the
// answer a comparison of servers gives, one row each.
type Decision struct {
	// Rank orders the servers, 1 the best: by dollars per million output
	// tokens at capacity where priced, then by output tokens per second
	// per GPU (or in all).
	Rank int  `json:"rank"`
	Best bool `json:"best"`
	// Run is the run the server's figures come from.
	Run int64 `json:"run"`
	ServerFacts
	// Basis says where the capacity comes from: "search" (the highest
	// load a search passed), "slo" (the highest load among the steps whose
	// attainment met lang.DefaultAttainment) or "throughput" (no
	// objectives: the step with the most output tokens per second).
	Basis string `json:"basis"`
	// Over is "concurrency" or "rate"; Capacity the load at capacity,
	// nil when no load met the objectives; Failing the lowest load above
	// it that missed them, and Binding the objective most missed there.
	Over     string   `json:"over"`
	Capacity *float64 `json:"capacity"`
	Failing  *float64 `json:"first_failing,omitempty"`
	Binding  string   `json:"bound_by,omitempty"`
	// Step is the index of the step whose figures stand for the
	// capacity; -1 when there is none.
	Step int `json:"step"`

	RequestThroughput       *float64 `json:"request_throughput,omitempty"`
	OutputThroughput        *float64 `json:"output_throughput,omitempty"`
	OutputThroughputPerGPU  *float64 `json:"output_throughput_per_gpu,omitempty"`
	OutputThroughputPerUser *float64 `json:"output_throughput_per_user,omitempty"`
	JPerOutputToken         *float64 `json:"j_per_output_token,omitempty"`
	USDPerMillionOutput     *float64 `json:"usd_per_million_output_tokens,omitempty"`
}

// Decision bases.
const (
	BasisSearch     = "search"
	BasisSLO        = "slo"
	BasisThroughput = "throughput"
)

// Decide ranks the servers of runs at their capacity: from each run's
// searches where it has them, else from its steps. Servers are ranked
// together, whichever run they come from.
func Decide(runs ...StoredRun) []Decision {
	var out []Decision
	for _, run := range runs {
		searches := map[string]SearchResult{}
		for _, s := range run.Outcome.Searches {
			searches[s.Server] = s
		}
		facts := map[string]ServerFacts{}
		for _, f := range run.Outcome.Servers {
			facts[f.Server] = f
		}
		var servers []string
		for _, s := range run.Steps {
			if !slices.Contains(servers, s.Server) {
				servers = append(servers, s.Server)
			}
		}
		for _, server := range servers {
			d := Decision{Run: run.ID, ServerFacts: facts[server], Step: -1}
			d.Server = server
			if r, ok := searches[server]; ok {
				d.Basis, d.Over, d.Capacity, d.Failing, d.Binding, d.Step = BasisSearch, r.Over, r.Passing, r.Failing, r.Binding, r.Step
			} else {
				capacityFromSteps(&d, run.Steps)
			}
			if s, ok := run.Step(d.Step); ok && d.Capacity != nil {
				d.figures(s)
			}
			out = append(out, d)
		}
	}
	rank(out)
	return out
}

// capacityFromSteps reads a server's capacity from a run's fixed loads:
// the highest load whose attainment met the default target, with
// objectives; the step with the most output tokens per second, without.
func capacityFromSteps(d *Decision, steps []StepSummary) {
	var mine []StepSummary
	for _, s := range steps {
		if s.Server == d.Server && s.Status == "completed" {
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		return
	}
	d.Over = "concurrency"
	if mine[0].RequestRate != 0 {
		d.Over = "rate"
	}
	slices.SortStableFunc(mine, func(a, b StepSummary) int { return cmp.Compare(stepLoad(a), stepLoad(b)) })
	if mine[0].GoodPercent == nil {
		d.Basis = BasisThroughput
		best := slices.MaxFunc(mine, func(a, b StepSummary) int { return cmp.Compare(a.OutputThroughput, b.OutputThroughput) })
		l := stepLoad(best)
		d.Capacity, d.Step = &l, best.Index
		return
	}
	d.Basis = BasisSLO
	met := func(s StepSummary) bool { return *s.GoodPercent >= 100*lang.DefaultAttainment }
	for _, s := range mine {
		if met(s) {
			l := stepLoad(s)
			d.Capacity, d.Step = &l, s.Index
		}
	}
	for _, s := range mine {
		if !met(s) && (d.Capacity == nil || stepLoad(s) > *d.Capacity) {
			l := stepLoad(s)
			d.Failing, d.Binding = &l, binding(s.SLOMissed)
			break
		}
	}
}

// stepLoad is the load a step ran at: its concurrency or its rate.
func stepLoad(s StepSummary) float64 {
	if s.RequestRate != 0 {
		return float64(s.RequestRate)
	}
	return float64(s.Concurrency)
}

// figures takes the decision's figures from the step at capacity, and
// the GPUs from its telemetry where the provider did not name them.
func (d *Decision) figures(s StepSummary) {
	rt, ot, pu := s.RequestThroughput, s.OutputThroughput, s.OutputThroughputPerUser
	d.RequestThroughput, d.OutputThroughput, d.OutputThroughputPerUser = &rt, &ot, &pu
	if d.GPU == "" && s.GPU != nil && len(s.GPU.GPUs) > 0 {
		d.GPU, d.GPUCount = s.GPU.GPUs[0].Name, len(s.GPU.GPUs)
	}
	if d.GPUCount > 0 {
		per := ot / float64(d.GPUCount)
		d.OutputThroughputPerGPU = &per
	}
	if s.Energy != nil {
		d.JPerOutputToken = s.Energy.JPerOutputToken
	}
	d.USDPerMillionOutput = s.USDPerMillionOutputTokens
}

// rank orders decisions best first and numbers them: a server with a
// capacity before one without, then the cheaper per million output
// tokens, then the faster per GPU, then the faster; a figure known before
// one that is not.
func rank(ds []Decision) {
	slices.SortStableFunc(ds, func(a, b Decision) int {
		return cmp.Or(
			knownFirst(a.Capacity, b.Capacity, 0),
			knownFirst(a.USDPerMillionOutput, b.USDPerMillionOutput, 1),
			knownFirst(a.OutputThroughputPerGPU, b.OutputThroughputPerGPU, -1),
			knownFirst(a.OutputThroughput, b.OutputThroughput, -1),
		)
	})
	for i := range ds {
		ds[i].Rank = i + 1
	}
	if len(ds) > 1 && ds[0].Capacity != nil {
		ds[0].Best = true
	}
}

// knownFirst compares optional figures: a known one first, then by
// value, ascending for order 1, descending for -1, not at all for 0.
func knownFirst(a, b *float64, order int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return order * cmp.Compare(*a, *b)
}

// serverFacts reads what the configuration and the pod's provider say of
// a server's engine and GPUs.
func (a *applier) serverFacts(server lang.Addr) ServerFacts {
	f := ServerFacts{Server: server.String(), Engine: a.engine(server).Name}
	s := a.opts.Config.Servers[server]
	if s == nil || s.Pod == nil {
		return f
	}
	v, ok := a.scope.Get(*s.Pod)
	if !ok {
		return f
	}
	if g := attrOf(v, providers.AttrGPUSelected); g != cty.NilVal && !g.IsNull() && g.IsKnown() && g.Type() == cty.String {
		f.GPU = g.AsString()
	}
	if n := attrOf(v, providers.AttrGPUCount); n != cty.NilVal && !n.IsNull() && n.IsKnown() && n.Type() == cty.Number {
		c, _ := n.AsBigFloat().Int64()
		f.GPUCount = int(c)
	}
	if f.GPU != "" && f.GPUCount == 0 {
		f.GPUCount = 1
	}
	return f
}
