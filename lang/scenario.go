package lang

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Scenario is a scenario block: a benchmark run against one or more
// servers.
type Scenario struct {
	Resource
	// Servers are the servers the scenario runs against, in the order
	// written, compared side by side.
	Servers []Addr

	serverAttr *hcl.Attribute
}

// ScenarioSpec is a scenario's evaluated settings.
type ScenarioSpec struct {
	API         string    // "chat" or "completions"
	MaxTokens   int       // max_tokens of every request
	Percentiles []float64 // reported percentiles, such as 50, 90, 99
	Dataset     DatasetSpec
	Load        LoadSpec
	SLO         SLOSpec
}

// DatasetSpec says where prompts come from.
type DatasetSpec struct {
	Kind         string // "prompts" or "synthetic"
	Prompts      []string
	InputTokens  int // synthetic prompts' length in tokens
	OutputTokens int // 0 when not set
	Seed         int64
}

// LoadSpec is the closed-loop load: one step per concurrency value.
type LoadSpec struct {
	Concurrency []int
	Requests    int // measured requests per step
	Warmup      int // requests per step sent first and left out of results
}

// SLOSpec holds service-level objectives for goodput; zero means unset.
type SLOSpec struct {
	TTFT, TPOT, ITL, E2EL time.Duration
}

// Scenario defaults.
const (
	DefaultMaxTokens   = 128
	DefaultInputTokens = 128
)

// DefaultPercentiles are reported when a scenario does not list its own.
var DefaultPercentiles = []float64{50, 90, 99}

// DatasetKinds are the values a dataset's kind may take.
var DatasetKinds = []string{"prompts", "synthetic"}

var scenarioSpec = hcldec.ObjectSpec{
	"api":        enumAttr("api", false, "chat", "completions"),
	"max_tokens": intAttr("max_tokens", 1, false),
	"percentiles": validated(attr("percentiles", cty.List(cty.Number)), func(v cty.Value) error {
		if v.LengthInt() == 0 {
			return fmt.Errorf("percentiles must list at least one value")
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			f, _ := e.AsBigFloat().Float64()
			if f <= 0 || f > 100 {
				return fmt.Errorf("each percentile must be above 0 and at most 100, got %g", f)
			}
		}
		return nil
	}),
	"dataset": block("dataset", true, hcldec.ObjectSpec{
		"kind":          enumAttr("kind", true, DatasetKinds...),
		"prompts":       attr("prompts", cty.List(cty.String)),
		"input_tokens":  intAttr("input_tokens", 1, false),
		"output_tokens": intAttr("output_tokens", 1, false),
		"seed":          intAttr("seed", 0, false),
	}),
	"load": block("load", true, hcldec.ObjectSpec{
		"concurrency": intListAttr("concurrency", 1, true),
		"requests":    intAttr("requests", 1, true),
		"warmup":      intAttr("warmup", 0, false),
	}),
	"slo": block("slo", false, hcldec.ObjectSpec{
		"ttft": durationAttr("ttft", false),
		"tpot": durationAttr("tpot", false),
		"itl":  durationAttr("itl", false),
		"e2el": durationAttr("e2el", false),
	}),
}

func decodeScenarioBlock(b *hcl.Block) (*Scenario, hcl.Diagnostics) {
	r, refAttrs, diags := newResource(KindScenario, b, scenarioSpec, nil, []string{"server"})
	s := &Scenario{Resource: *r, serverAttr: refAttrs["server"]}
	if s.serverAttr == nil {
		return s, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   "A scenario needs the server it runs against: server = server.NAME, or a list of servers to compare.",
			Subject:  s.DeclRange.Ptr(),
		})
	}
	exprs := []hcl.Expression{s.serverAttr.Expr}
	if list, d := hcl.ExprList(s.serverAttr.Expr); !d.HasErrors() {
		exprs = list
	}
	for _, e := range exprs {
		addr, d := referenceAttr(&hcl.Attribute{Name: "server", Expr: e, Range: e.Range()}, KindServer)
		diags = append(diags, d...)
		if addr != nil {
			s.Servers = append(s.Servers, *addr)
		}
	}
	if len(exprs) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for \"server\"",
			Detail:   "The list of servers is empty; name at least one.",
			Subject:  s.serverAttr.Expr.Range().Ptr(),
		})
	}
	return s, diags
}

func (c *Config) validateScenario(s *Scenario) hcl.Diagnostics {
	val, diags := c.decode(&s.Resource, NewScope())
	if !val.IsKnown() || val.IsNull() {
		return diags
	}
	ds := val.GetAttr("dataset")
	if !ds.IsKnown() || ds.IsNull() || !ds.GetAttr("kind").IsKnown() || ds.GetAttr("kind").IsNull() || !ds.GetAttr("prompts").IsKnown() {
		return diags
	}
	kind := ds.GetAttr("kind").AsString()
	prompts := ds.GetAttr("prompts")
	dsBlock := s.nestedBlockRange("dataset")
	switch {
	case kind == "prompts" && (prompts.IsNull() || prompts.LengthInt() == 0):
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   "A dataset of kind \"prompts\" needs prompts = [\"...\", ...] with at least one prompt.",
			Subject:  &dsBlock,
		})
	case kind != "prompts" && !prompts.IsNull():
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Argument not valid for this dataset",
			Detail:   fmt.Sprintf("prompts are only read by datasets of kind \"prompts\"; this one is %q.", kind),
			Subject:  &dsBlock,
		})
	}
	return diags
}

func (s *Scenario) nestedBlockRange(name string) hcl.Range {
	content, _, _ := s.body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: name}}})
	if content != nil && len(content.Blocks) > 0 {
		return content.Blocks[0].DefRange
	}
	return s.DeclRange
}

// DecodeScenarioSpec turns an evaluated scenario (from Config.Decode) into
// settings, filling in defaults. The value must be wholly known, which it
// is once the configuration has loaded: scenarios do not depend on values
// known only after apply.
func DecodeScenarioSpec(v cty.Value) (ScenarioSpec, error) {
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return ScenarioSpec{}, fmt.Errorf("scenario settings depend on values known only after apply")
	}
	spec := ScenarioSpec{
		API:         stringOr(v.GetAttr("api"), "chat"),
		Percentiles: DefaultPercentiles,
	}
	if p := v.GetAttr("percentiles"); !p.IsNull() {
		spec.Percentiles = nil
		for it := p.ElementIterator(); it.Next(); {
			_, e := it.Element()
			f, _ := e.AsBigFloat().Float64()
			spec.Percentiles = append(spec.Percentiles, f)
		}
	}
	ds := v.GetAttr("dataset")
	spec.Dataset = DatasetSpec{
		Kind:         ds.GetAttr("kind").AsString(),
		InputTokens:  intOr(ds.GetAttr("input_tokens"), DefaultInputTokens),
		OutputTokens: intOr(ds.GetAttr("output_tokens"), 0),
		Seed:         int64(intOr(ds.GetAttr("seed"), 0)),
	}
	if p := ds.GetAttr("prompts"); !p.IsNull() {
		for it := p.ElementIterator(); it.Next(); {
			_, e := it.Element()
			spec.Dataset.Prompts = append(spec.Dataset.Prompts, e.AsString())
		}
	}
	defaultMax := DefaultMaxTokens
	if spec.Dataset.OutputTokens > 0 {
		defaultMax = spec.Dataset.OutputTokens
	}
	spec.MaxTokens = intOr(v.GetAttr("max_tokens"), defaultMax)

	load := v.GetAttr("load")
	for it := load.GetAttr("concurrency").ElementIterator(); it.Next(); {
		_, e := it.Element()
		spec.Load.Concurrency = append(spec.Load.Concurrency, intOr(e, 1))
	}
	spec.Load.Requests = intOr(load.GetAttr("requests"), 0)
	spec.Load.Warmup = intOr(load.GetAttr("warmup"), 0)

	if slo := v.GetAttr("slo"); !slo.IsNull() {
		for name, dst := range map[string]*time.Duration{"ttft": &spec.SLO.TTFT, "tpot": &spec.SLO.TPOT, "itl": &spec.SLO.ITL, "e2el": &spec.SLO.E2EL} {
			if a := slo.GetAttr(name); !a.IsNull() {
				d, err := ParseDuration(a.AsString())
				if err != nil {
					return ScenarioSpec{}, fmt.Errorf("slo.%s: %w", name, err)
				}
				*dst = d
			}
		}
	}
	return spec, nil
}

func stringOr(v cty.Value, def string) string {
	if v.IsNull() {
		return def
	}
	return v.AsString()
}

func intOr(v cty.Value, def int) int {
	if v.IsNull() {
		return def
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != big.Exact {
		return def
	}
	return int(i)
}
