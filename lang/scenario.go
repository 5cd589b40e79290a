package lang

import (
	"fmt"
	"math"
	"math/big"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Scenario is a scenario block: a benchmark run against one or more
// servers.
type Scenario struct {
	Resource
	// Servers are the server instances the scenario runs against, in the
	// order written, compared side by side.
	Servers []Addr

	serverAttr *hcl.Attribute
}

// ScenarioSpec is a scenario's evaluated settings.
type ScenarioSpec struct {
	API         string    // "chat" or "completions"
	MaxTokens   int       // max_tokens of every request
	Percentiles []float64 // reported percentiles, such as 50, 90, 99
	IgnoreEOS   bool
	// ExtraBody is a JSON object added to every request body.
	ExtraBody []byte
	// ContinuousUsage asks servers for a running token count on every
	// chunk; nil leaves the choice to the engine.
	ContinuousUsage *bool
	Dataset         DatasetSpec
	Load            LoadSpec
	SLO             SLOSpec
	Telemetry       TelemetrySpec
	Timeouts        TimeoutsSpec
	// MaxFailureRate is the share of a step's requests that may fail
	// before apply fails: from 0 to 1.
	MaxFailureRate float64
	// Timing is when a stream's event counts as arrived: "kernel" (the
	// kernel's receive time, Linux), "read" (when the client's read
	// returned), or "" for the default, kernel where it works.
	Timing string
}

// TimeoutsSpec bounds every request of a scenario, and the end of a step
// bounded by a duration.
type TimeoutsSpec struct {
	// Connect bounds opening a connection, FirstByte the wait for the
	// response's headers, Idle the silence of a stream (before its first
	// event and between two), Request a whole request.
	Connect, FirstByte, Idle, Request time.Duration
	// Drain is how long requests in flight when a step's duration ends
	// may take to finish before they are cut off.
	Drain time.Duration
}

// DefaultTimeouts apply where a scenario's timeouts block says nothing.
var DefaultTimeouts = TimeoutsSpec{
	Connect:   10 * time.Second,
	FirstByte: 10 * time.Minute,
	Idle:      60 * time.Second,
	Request:   30 * time.Minute,
	Drain:     30 * time.Second,
}

// DefaultMaxFailureRate is the share of failed requests a step may have
// before apply fails.
const DefaultMaxFailureRate = 0.5

// TelemetrySpec says what is sampled beside each step.
type TelemetrySpec struct {
	// GPU is "auto" (where the server runs: through its pod, or
	// nvidia-smi on this machine for a local pod; nothing for an
	// endpoint), "local" (nvidia-smi here), "dcgm:<url>" (a DCGM
	// exporter) or "off".
	GPU string
	// ServerMetrics scrapes the server's Prometheus /metrics; nil leaves
	// the choice to the engine (vLLM, SGLang and the simulator expose
	// them, an OpenAI-compatible endpoint may not).
	ServerMetrics *bool
	// GPUInterval and ServerInterval are the sampling periods; zero means
	// the samplers' defaults.
	GPUInterval, ServerInterval time.Duration
}

// DatasetSpec says where prompts come from.
type DatasetSpec struct {
	Kind    string // one of DatasetKinds
	Prompts []string
	Path    string // jsonl, sharegpt
	// Input and Output are prompt and answer lengths in tokens; zero
	// values are unset.
	Input, Output LengthSpec
	PrefixTokens  int
	PrefixGroups  int
	Seed          int64
}

// LengthSpec is a length in tokens: a fixed number, a uniform range
// { min, max }, or a normal distribution { mean, stddev }.
type LengthSpec struct {
	Fixed        int
	Min, Max     int
	Mean, StdDev float64
}

// IsZero reports whether the length is unset.
func (l LengthSpec) IsZero() bool { return l == LengthSpec{} }

// LoadSpec is the load of each step: a closed loop per concurrency value
// or an open loop per rate.
type LoadSpec struct {
	Concurrency []int
	// Rates are requests per second; math.Inf(1) sends all at once.
	Rates          []float64
	Arrival        string // "constant", "poisson" or "gamma"
	Burstiness     float64
	MaxConcurrency int
	Requests       int           // measured requests per step, or
	Duration       time.Duration // the time each step sends for
	Warmup         int           // requests per step sent first and left out of results
	Seed           int64         // seeds the arrival gaps; defaults to the dataset's
	// Search, when set, replaces Concurrency and Rates: the steps are the
	// probes of a search for the highest load within the SLO.
	Search *SearchSpec
	// Repeat is how many times each step runs in a row; its figures are
	// then given with an interval at the Confidence level.
	Repeat     int
	Confidence float64
}

// DefaultConfidence is the level of the intervals of repeated steps.
const DefaultConfidence = 0.95

// SearchSpec is a search for the highest load a server sustains within a
// scenario's SLO: probes doubling from From until one fails (or Max
// passes), then bisection of the bracket until it is within Tolerance.
type SearchSpec struct {
	// Over is "concurrency" (a closed loop) or "rate" (an open loop).
	Over string
	From float64
	Max  float64
	// Attainment is the share of a probe's requests that must meet every
	// objective of the SLO for the probe to pass.
	Attainment float64
	// Tolerance is how tight, relative to the passing load, the bracket
	// between the highest passing and the first failing load must be.
	Tolerance float64
}

// Search defaults.
const (
	DefaultAttainment = 0.99
	DefaultTolerance  = 0.1
)

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
var DatasetKinds = []string{"prompts", "jsonl", "sharegpt", "synthetic"}

// Arrivals are the values a load's arrival may take.
var Arrivals = []string{"constant", "poisson", "gamma"}

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
	"ignore_eos":       attr("ignore_eos", cty.Bool),
	"continuous_usage": attr("continuous_usage", cty.Bool),
	"extra_body": validated(attr("extra_body", cty.DynamicPseudoType), func(v cty.Value) error {
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			return fmt.Errorf("extra_body must be an object of fields to add to every request, such as { temperature = 0 }")
		}
		return nil
	}),
	"dataset": block("dataset", true, hcldec.ObjectSpec{
		"kind":          enumAttr("kind", true, DatasetKinds...),
		"prompts":       attr("prompts", cty.List(cty.String)),
		"path":          attr("path", cty.String),
		"input_tokens":  lengthAttr("input_tokens"),
		"output_tokens": lengthAttr("output_tokens"),
		"prefix_tokens": intAttr("prefix_tokens", 0, false),
		"prefix_groups": intAttr("prefix_groups", 1, false),
		"seed":          intAttr("seed", 0, false),
	}),
	"load": block("load", true, hcldec.ObjectSpec{
		"concurrency": intListAttr("concurrency", 1, false),
		"rate": validated(attr("rate", cty.DynamicPseudoType), func(v cty.Value) error {
			_, err := ParseRates(v)
			return err
		}),
		"arrival":         enumAttr("arrival", false, Arrivals...),
		"burstiness":      numberAttr("burstiness", 0.001, 1000),
		"max_concurrency": intAttr("max_concurrency", 1, false),
		"requests":        intAttr("requests", 1, false),
		"duration":        durationAttr("duration", false),
		"warmup":          intAttr("warmup", 0, false),
		"seed":            intAttr("seed", 0, false),
		"repeat":          intAttr("repeat", 1, false),
		"confidence":      numberAttr("confidence", 0.5, 0.999),
		"search": block("search", false, hcldec.ObjectSpec{
			"over":       enumAttr("over", false, "concurrency", "rate"),
			"from":       numberAttr("from", 1e-6, 1e9),
			"max":        numberAttr("max", 1e-6, 1e9),
			"attainment": numberAttr("attainment", 0.5, 1),
			"tolerance":  numberAttr("tolerance", 0.001, 1),
		}),
	}),
	"telemetry": block("telemetry", false, hcldec.ObjectSpec{
		"gpu": validated(attr("gpu", cty.String), func(v cty.Value) error {
			return checkGPUSource(v.AsString())
		}),
		"server_metrics":  attr("server_metrics", cty.Bool),
		"gpu_interval":    durationAttr("gpu_interval", false),
		"server_interval": durationAttr("server_interval", false),
	}),
	"timeouts": block("timeouts", false, hcldec.ObjectSpec{
		"connect":    positiveDurationAttr("connect"),
		"first_byte": positiveDurationAttr("first_byte"),
		"idle":       positiveDurationAttr("idle"),
		"request":    positiveDurationAttr("request"),
		"drain":      durationAttr("drain", false),
	}),
	"max_failure_rate": numberAttr("max_failure_rate", 0, 1),
	"timing":           enumAttr("timing", false, "kernel", "read"),
	"slo": block("slo", false, hcldec.ObjectSpec{
		"ttft": durationAttr("ttft", false),
		"tpot": durationAttr("tpot", false),
		"itl":  durationAttr("itl", false),
		"e2el": durationAttr("e2el", false),
	}),
}

// checkGPUSource accepts the values of telemetry.gpu.
func checkGPUSource(s string) error {
	switch {
	case s == "auto" || s == "local" || s == "off":
		return nil
	case strings.HasPrefix(s, "dcgm:"):
		u, err := url.Parse(strings.TrimPrefix(s, "dcgm:"))
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			return nil
		}
		return fmt.Errorf("gpu = %q: after dcgm: comes the exporter's metrics URL, such as \"dcgm:http://node:9400/metrics\"", s)
	}
	return fmt.Errorf("gpu must be \"auto\", \"local\", \"off\" or \"dcgm:<url>\", got %q", s)
}

// lengthAttr is a token length: a whole number, { min, max } or
// { mean, stddev }.
func lengthAttr(name string) hcldec.Spec {
	return validated(attr(name, cty.DynamicPseudoType), func(v cty.Value) error {
		_, err := ParseLength(name, v)
		return err
	})
}

// ParseLength reads a token length as configuration writes it.
func ParseLength(name string, v cty.Value) (LengthSpec, error) {
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return LengthSpec{}, nil
	}
	if v.Type() == cty.Number {
		if err := checkInt(name, v, 1); err != nil {
			return LengthSpec{}, err
		}
		n, _ := v.AsBigFloat().Int64()
		return LengthSpec{Fixed: int(n)}, nil
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return LengthSpec{}, fmt.Errorf("%s must be a number of tokens, { min = …, max = … } or { mean = …, stddev = … }", name)
	}
	fields := map[string]float64{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		num, err := convert.Convert(e, cty.Number)
		if err != nil || num.IsNull() {
			return LengthSpec{}, fmt.Errorf("%s.%s must be a number", name, k.AsString())
		}
		f, _ := num.AsBigFloat().Float64()
		fields[k.AsString()] = f
	}
	keys := sortedKeys(fields)
	switch strings.Join(keys, ",") {
	case "max,min":
		lo, hi := fields["min"], fields["max"]
		if lo < 1 || hi < lo || lo != math.Trunc(lo) || hi != math.Trunc(hi) {
			return LengthSpec{}, fmt.Errorf("%s: min and max must be whole numbers with 1 ≤ min ≤ max, got %g and %g", name, lo, hi)
		}
		return LengthSpec{Min: int(lo), Max: int(hi)}, nil
	case "mean,stddev":
		mean, sd := fields["mean"], fields["stddev"]
		if mean < 1 || sd < 0 {
			return LengthSpec{}, fmt.Errorf("%s: mean must be at least 1 and stddev not negative, got %g and %g", name, mean, sd)
		}
		return LengthSpec{Mean: mean, StdDev: sd}, nil
	}
	return LengthSpec{}, fmt.Errorf("%s must be a number of tokens, { min = …, max = … } or { mean = …, stddev = … }; got fields %s", name, strings.Join(keys, ", "))
}

// ParseRates reads a load's rate: a number of requests per second, "inf"
// for all at once, or a list of those, one step each.
func ParseRates(v cty.Value) ([]float64, error) {
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return nil, nil
	}
	one := func(e cty.Value) (float64, error) {
		if e.Type() == cty.String && e.AsString() == "inf" {
			return math.Inf(1), nil
		}
		if e.Type() == cty.Number {
			f, _ := e.AsBigFloat().Float64()
			if f > 0 && !math.IsInf(f, 0) {
				return f, nil
			}
		}
		return 0, fmt.Errorf("each rate must be a number of requests per second above zero, or \"inf\"")
	}
	if v.Type().IsListType() || v.Type().IsTupleType() {
		var out []float64
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			f, err := one(e)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("rate must list at least one value")
		}
		return out, nil
	}
	f, err := one(v)
	if err != nil {
		return nil, err
	}
	return []float64{f}, nil
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
	// The servers are known once the blocks are expanded: see
	// resolveServers.
	return s, diags
}

func (c *Config) validateScenario(s *Scenario) hcl.Diagnostics {
	val, diags := c.decode(&s.Resource, NewScope())
	if !val.IsWhollyKnown() || val.IsNull() {
		return diags
	}
	val, _ = val.UnmarkDeep()
	problem := func(blockName, summary, detail string) {
		rng := s.nestedBlockRange(blockName)
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng})
	}
	set := func(obj cty.Value, name string) bool { return !obj.IsNull() && !obj.GetAttr(name).IsNull() }

	if ds := val.GetAttr("dataset"); !ds.IsNull() {
		kind := ds.GetAttr("kind").AsString()
		switch {
		case kind == "prompts" && (!set(ds, "prompts") || ds.GetAttr("prompts").LengthInt() == 0):
			problem("dataset", "Missing required argument", "A dataset of kind \"prompts\" needs prompts = [\"...\", ...] with at least one prompt.")
		case kind != "prompts" && set(ds, "prompts"):
			problem("dataset", "Argument not valid for this dataset", fmt.Sprintf("prompts are only read by datasets of kind \"prompts\"; this one is %q.", kind))
		}
		fromFile := kind == "jsonl" || kind == "sharegpt"
		switch {
		case fromFile && !set(ds, "path"):
			problem("dataset", "Missing required argument", fmt.Sprintf("A dataset of kind %q reads a file: set path = \"data.%s\".", kind, map[string]string{"jsonl": "jsonl", "sharegpt": "json"}[kind]))
		case !fromFile && set(ds, "path"):
			problem("dataset", "Argument not valid for this dataset", fmt.Sprintf("path is only read by datasets of kind \"jsonl\" or \"sharegpt\"; this one is %q.", kind))
		}
		for _, name := range []string{"input_tokens", "prefix_tokens", "prefix_groups"} {
			if kind != "synthetic" && set(ds, name) {
				problem("dataset", "Argument not valid for this dataset", fmt.Sprintf("%s shapes synthetic prompts; a dataset of kind %q has its own.", name, kind))
			}
		}
		if set(ds, "prefix_groups") && !set(ds, "prefix_tokens") {
			problem("dataset", "Missing required argument", "prefix_groups spreads prompts over shared prefixes: set prefix_tokens too.")
		}
	}

	if t := val.GetAttr("timing"); !t.IsNull() && t.AsString() == "kernel" && runtime.GOOS != "linux" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Kernel timing not available",
			Detail:  fmt.Sprintf("timing = \"kernel\" reads the kernel's receive time of every event, which needs Linux; this is %s. Use timing = \"read\".", runtime.GOOS),
			Subject: s.attrRange("timing").Ptr()})
	}
	if load := val.GetAttr("load"); !load.IsNull() {
		hasConc, hasRate := set(load, "concurrency"), set(load, "rate")
		search := load.GetAttr("search")
		if !search.IsNull() {
			over := "concurrency"
			if set(search, "over") {
				over = search.GetAttr("over").AsString()
			}
			hasConc, hasRate = over == "concurrency", over == "rate"
			if set(load, "concurrency") || set(load, "rate") {
				problem("load", "Conflicting arguments", "A search chooses the loads it probes: remove concurrency and rate, or the search block.")
			}
			if set(load, "repeat") {
				problem("load", "Conflicting arguments", "A search repeats the probes it cannot decide on by itself: remove repeat, or the search block.")
			}
			if val.GetAttr("slo").IsNull() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing slo block",
					Detail: "A search looks for the highest load within the scenario's objectives: add an slo block, such as slo { ttft = \"500ms\" }.", Subject: s.searchRange().Ptr()})
			}
			from, maxLoad := numberOr(search.GetAttr("from"), 1), numberOr(search.GetAttr("max"), 0)
			switch {
			case !set(search, "max"):
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
					Detail: "A search needs the highest load it may probe: max = 512.", Subject: s.searchRange().Ptr()})
			case from > maxLoad:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid search range",
					Detail: fmt.Sprintf("The search starts at from = %g, above max = %g.", from, maxLoad), Subject: s.searchRange().Ptr()})
			case over == "concurrency" && (from != math.Trunc(from) || maxLoad != math.Trunc(maxLoad)):
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid search range",
					Detail: fmt.Sprintf("A search over concurrency probes whole numbers of requests: from and max must be whole, not %g and %g.", from, maxLoad), Subject: s.searchRange().Ptr()})
			}
		}
		switch {
		case hasConc == hasRate:
			problem("load", map[bool]string{true: "Conflicting arguments", false: "Missing required argument"}[hasConc],
				"A load is either a closed loop, concurrency = [1, 8, 32], or an open loop, rate = [1, 5, 10] requests per second; set exactly one.")
		case hasConc:
			for _, name := range []string{"arrival", "burstiness", "max_concurrency"} {
				if set(load, name) {
					problem("load", "Argument not valid for this load", fmt.Sprintf("%s shapes an open loop (rate = …); a closed loop (concurrency = …) has none.", name))
				}
			}
		}
		if set(load, "requests") == set(load, "duration") {
			problem("load", map[bool]string{true: "Conflicting arguments", false: "Missing required argument"}[set(load, "requests")],
				"Each step sends a number of requests (requests = 200) or for a time (duration = \"2m\"); set exactly one.")
		}
		if hasRate && set(load, "duration") {
			if rates, err := ParseRates(load.GetAttr("rate")); err == nil && slices.ContainsFunc(rates, func(r float64) bool { return math.IsInf(r, 1) }) {
				problem("load", "Invalid value for \"rate\"", "rate = \"inf\" sends every request at once, so the step needs requests = N, not a duration.")
			}
		}
		arrival := "poisson"
		if set(load, "arrival") {
			arrival = load.GetAttr("arrival").AsString()
		}
		if set(load, "burstiness") && arrival != "gamma" {
			problem("load", "Argument not valid for this load", fmt.Sprintf("burstiness is the shape of gamma-distributed gaps; set arrival = \"gamma\" to use it (arrival is %q).", arrival))
		}
	}
	return diags
}

// searchRange is where a scenario's load.search block is written.
func (s *Scenario) searchRange() hcl.Range {
	content, _, _ := s.body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "load"}}})
	if content == nil || len(content.Blocks) == 0 {
		return s.DeclRange
	}
	inner, _, _ := content.Blocks[0].Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "search"}}})
	if inner == nil || len(inner.Blocks) == 0 {
		return content.Blocks[0].DefRange
	}
	return inner.Blocks[0].DefRange
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
		IgnoreEOS:   boolOr(v.GetAttr("ignore_eos"), false),
	}
	if c := v.GetAttr("continuous_usage"); !c.IsNull() {
		on := c.True()
		spec.ContinuousUsage = &on
	}
	if p := v.GetAttr("percentiles"); !p.IsNull() {
		spec.Percentiles = nil
		for it := p.ElementIterator(); it.Next(); {
			_, e := it.Element()
			f, _ := e.AsBigFloat().Float64()
			spec.Percentiles = append(spec.Percentiles, f)
		}
	}
	if eb := v.GetAttr("extra_body"); !eb.IsNull() {
		b, err := ctyjson.Marshal(eb, eb.Type())
		if err != nil {
			return ScenarioSpec{}, fmt.Errorf("extra_body: %w", err)
		}
		spec.ExtraBody = b
	}

	ds := v.GetAttr("dataset")
	spec.Dataset = DatasetSpec{
		Kind:         ds.GetAttr("kind").AsString(),
		Path:         stringOr(ds.GetAttr("path"), ""),
		PrefixTokens: intOr(ds.GetAttr("prefix_tokens"), 0),
		PrefixGroups: intOr(ds.GetAttr("prefix_groups"), 0),
		Seed:         int64(intOr(ds.GetAttr("seed"), 0)),
	}
	var err error
	if spec.Dataset.Input, err = ParseLength("input_tokens", ds.GetAttr("input_tokens")); err != nil {
		return ScenarioSpec{}, err
	}
	if spec.Dataset.Output, err = ParseLength("output_tokens", ds.GetAttr("output_tokens")); err != nil {
		return ScenarioSpec{}, err
	}
	if spec.Dataset.Kind == "synthetic" && spec.Dataset.Input.IsZero() {
		spec.Dataset.Input = LengthSpec{Fixed: DefaultInputTokens}
	}
	if p := ds.GetAttr("prompts"); !p.IsNull() {
		for it := p.ElementIterator(); it.Next(); {
			_, e := it.Element()
			spec.Dataset.Prompts = append(spec.Dataset.Prompts, e.AsString())
		}
	}
	defaultMax := DefaultMaxTokens
	if spec.Dataset.Output.Fixed > 0 {
		defaultMax = spec.Dataset.Output.Fixed
	}
	spec.MaxTokens = intOr(v.GetAttr("max_tokens"), defaultMax)

	load := v.GetAttr("load")
	if c := load.GetAttr("concurrency"); !c.IsNull() {
		for it := c.ElementIterator(); it.Next(); {
			_, e := it.Element()
			spec.Load.Concurrency = append(spec.Load.Concurrency, intOr(e, 1))
		}
	}
	if spec.Load.Rates, err = ParseRates(load.GetAttr("rate")); err != nil {
		return ScenarioSpec{}, err
	}
	spec.Load.Arrival = stringOr(load.GetAttr("arrival"), "poisson")
	spec.Load.Burstiness = 1
	if b := load.GetAttr("burstiness"); !b.IsNull() {
		spec.Load.Burstiness, _ = b.AsBigFloat().Float64()
	}
	spec.Load.MaxConcurrency = intOr(load.GetAttr("max_concurrency"), 0)
	spec.Load.Requests = intOr(load.GetAttr("requests"), 0)
	spec.Load.Warmup = intOr(load.GetAttr("warmup"), 0)
	spec.Load.Repeat = intOr(load.GetAttr("repeat"), 1)
	spec.Load.Confidence = numberOr(load.GetAttr("confidence"), DefaultConfidence)
	spec.Load.Seed = int64(intOr(load.GetAttr("seed"), int(spec.Dataset.Seed)))
	if d := load.GetAttr("duration"); !d.IsNull() {
		if spec.Load.Duration, err = ParseDuration(d.AsString()); err != nil {
			return ScenarioSpec{}, fmt.Errorf("load.duration: %w", err)
		}
	}
	if s := load.GetAttr("search"); !s.IsNull() {
		spec.Load.Search = &SearchSpec{
			Over:       stringOr(s.GetAttr("over"), "concurrency"),
			From:       numberOr(s.GetAttr("from"), 1),
			Max:        numberOr(s.GetAttr("max"), 0),
			Attainment: numberOr(s.GetAttr("attainment"), DefaultAttainment),
			Tolerance:  numberOr(s.GetAttr("tolerance"), DefaultTolerance),
		}
	}

	spec.Telemetry = TelemetrySpec{GPU: "auto"}
	if tel := v.GetAttr("telemetry"); !tel.IsNull() {
		spec.Telemetry.GPU = stringOr(tel.GetAttr("gpu"), "auto")
		if sm := tel.GetAttr("server_metrics"); !sm.IsNull() {
			on := sm.True()
			spec.Telemetry.ServerMetrics = &on
		}
		for name, dst := range map[string]*time.Duration{"gpu_interval": &spec.Telemetry.GPUInterval, "server_interval": &spec.Telemetry.ServerInterval} {
			if a := tel.GetAttr(name); !a.IsNull() {
				d, err := ParseDuration(a.AsString())
				if err != nil {
					return ScenarioSpec{}, fmt.Errorf("telemetry.%s: %w", name, err)
				}
				*dst = d
			}
		}
	}
	spec.Timeouts = DefaultTimeouts
	if to := v.GetAttr("timeouts"); !to.IsNull() {
		for name, dst := range map[string]*time.Duration{"connect": &spec.Timeouts.Connect, "first_byte": &spec.Timeouts.FirstByte,
			"idle": &spec.Timeouts.Idle, "request": &spec.Timeouts.Request, "drain": &spec.Timeouts.Drain} {
			if a := to.GetAttr(name); !a.IsNull() {
				d, err := ParseDuration(a.AsString())
				if err != nil {
					return ScenarioSpec{}, fmt.Errorf("timeouts.%s: %w", name, err)
				}
				*dst = d
			}
		}
	}
	spec.Timing = stringOr(v.GetAttr("timing"), "")
	spec.MaxFailureRate = DefaultMaxFailureRate
	if m := v.GetAttr("max_failure_rate"); !m.IsNull() {
		spec.MaxFailureRate, _ = m.AsBigFloat().Float64()
	}
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

func boolOr(v cty.Value, def bool) bool {
	if v.IsNull() {
		return def
	}
	return v.True()
}

func numberOr(v cty.Value, def float64) float64 {
	if v.IsNull() {
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	return f
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
