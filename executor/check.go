package executor

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/state"
)

// CheckOutcome is what one assert of a check concluded.
type CheckOutcome struct {
	Check  string
	Assert *lang.Assert
	// Holds is true when the condition was true; false when it was false
	// or could not be evaluated, which Diags then say.
	Holds   bool
	Message string
	// Values are what the condition's references were, for the reader
	// of a failure.
	Values []string
	Diags  hcl.Diagnostics
}

// Diagnostic is a failed assertion as an error at its condition: its
// message, then the values the condition read.
func (o CheckOutcome) Diagnostic() *hcl.Diagnostic {
	detail := o.Message
	if len(o.Values) > 0 {
		detail += "\n\nThe condition read:\n  " + strings.Join(o.Values, "\n  ")
	}
	rng := o.Assert.Condition.Range()
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Check %q failed", o.Check), Detail: detail, Subject: &rng}
}

// RunChecks evaluates every check of a configuration against the latest
// run of each scenario it reads, or the run given for that scenario.
func RunChecks(cfg *lang.Config, st *state.Store, chosen map[string]int64) ([]CheckOutcome, error) {
	values := map[lang.Addr]cty.Value{}
	runOf := map[lang.Addr]int64{}
	for _, check := range cfg.SortedChecks() {
		for _, a := range check.Asserts {
			for _, inst := range a.Scenarios {
				if _, done := runOf[inst]; done {
					continue
				}
				runOf[inst] = 0
				id, ok := chosen[inst.String()]
				if !ok {
					r, found, err := st.LatestRun(inst.String())
					if err != nil {
						return nil, err
					}
					if !found {
						continue
					}
					id = r.ID
				}
				run, err := LoadRun(st, id, false)
				if err != nil {
					return nil, err
				}
				runOf[inst] = id
				values[inst] = ScenarioValue(run)
			}
		}
	}
	var out []CheckOutcome
	for _, check := range cfg.SortedChecks() {
		for _, a := range check.Asserts {
			o := CheckOutcome{Check: check.Name, Assert: a}
			if missing := withoutRun(a, runOf); missing != "" {
				rng := a.Condition.Range()
				o.Diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Check %q cannot be decided", check.Name),
					Detail: fmt.Sprintf("%s has no run in state to check: apply it first.", missing), Subject: &rng}}
				out = append(out, o)
				continue
			}
			o.Holds, o.Message, o.Diags = cfg.EvalAssert(a, values)
			if o.Diags.HasErrors() {
				o.Holds = false
			} else if !o.Holds {
				o.Values = cfg.ConditionValues(a, values)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

func withoutRun(a *lang.Assert, runOf map[lang.Addr]int64) string {
	for _, inst := range a.Scenarios {
		if runOf[inst] == 0 {
			return inst.String()
		}
	}
	return ""
}

// ScenarioValue is what a check sees of a scenario's run: result, by
// server and step label, each step's figures by their JSON keys (the mean
// over a step's repeats, whose ci_low, ci_high, std and cv are objects of
// the same keys) and, beside the labels, the server's capacity; the
// run's manifest; its number and status.
func ScenarioValue(run StoredRun) cty.Value {
	byServer := map[string]map[string]cty.Value{}
	for _, g := range GroupSteps(run) {
		if byServer[g.Server] == nil {
			byServer[g.Server] = map[string]cty.Value{}
		}
		byServer[g.Server][g.Label] = stepValue(g, run.Repeated())
	}
	for _, d := range Decide(run) {
		if byServer[d.Server] == nil {
			byServer[d.Server] = map[string]cty.Value{}
		}
		byServer[d.Server][lang.CapacityKey] = capacityValue(d)
	}
	result := map[string]cty.Value{}
	for server, steps := range byServer {
		result[server] = cty.ObjectVal(steps)
	}
	manifest := cty.NullVal(cty.DynamicPseudoType)
	if run.Manifest != nil {
		manifest = jsonValue(run.Manifest)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"result":   cty.ObjectVal(result),
		"manifest": manifest,
		"run":      cty.NumberIntVal(run.ID),
		"status":   cty.StringVal(run.Status),
	})
}

func stepValue(g StepGroup, repeated bool) cty.Value {
	obj := map[string]cty.Value{"repeats": cty.NumberIntVal(int64(len(g.Steps)))}
	lows, highs, stds, cvs := map[string]cty.Value{}, map[string]cty.Value{}, map[string]cty.Value{}, map[string]cty.Value{}
	for key, in := range g.Figures {
		obj[key] = cty.NumberFloatVal(in.Mean)
		lows[key], highs[key] = cty.NumberFloatVal(in.Low), cty.NumberFloatVal(in.High)
		stds[key], cvs[key] = cty.NumberFloatVal(in.Std), cty.NumberFloatVal(in.CV)
	}
	// Intervals exist only over repeats: a check of a bound on one run
	// must not read its value as an interval.
	if repeated {
		obj["ci_low"], obj["ci_high"] = cty.ObjectVal(lows), cty.ObjectVal(highs)
		obj["std"], obj["cv"] = cty.ObjectVal(stds), cty.ObjectVal(cvs)
	}
	return cty.ObjectVal(obj)
}

// capacityValue is a server's row of the decision, with requests_per_s
// for its request throughput.
func capacityValue(d Decision) cty.Value {
	v := jsonValue(d)
	m := v.AsValueMap()
	m["load"] = m["capacity"]
	m["requests_per_s"] = m["request_throughput"]
	if m["requests_per_s"] == cty.NilVal {
		m["requests_per_s"] = cty.NullVal(cty.Number)
	}
	return cty.ObjectVal(m)
}

// jsonValue turns a value that marshals to a JSON object into a cty
// object of the same shape.
func jsonValue(v any) cty.Value {
	b, err := json.Marshal(v)
	if err != nil {
		return cty.DynamicVal
	}
	ty, err := ctyjson.ImpliedType(b)
	if err != nil {
		return cty.DynamicVal
	}
	out, err := ctyjson.Unmarshal(b, ty)
	if err != nil {
		return cty.DynamicVal
	}
	return out
}
