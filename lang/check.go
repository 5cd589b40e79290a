package lang

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Check is a check block: assertions about the results of scenarios,
// evaluated after apply and by benchform check, which fail the command
// when one does not hold.
type Check struct {
	Name      string
	DeclRange hcl.Range
	Asserts   []*Assert
}

// Assert is one assert block of a check.
type Assert struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	// Scenarios are the scenario instances the condition reads, in the
	// order they are first named.
	Scenarios []Addr

	refs      []reference
	scenarios []scenarioRef
}

// scenarioRef is one mention of scenario.NAME in a check.
type scenarioRef struct {
	addr Addr // the block, without a key
	key  string
	t    hcl.Traversal
}

func (c *Check) declRange() hcl.Range { return c.DeclRange }

var (
	checkSchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "assert"}},
	}
	assertSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "condition", Required: true},
			{Name: "error_message", Required: true},
		},
	}
)

// ScenarioAttributes are what a check sees of a scenario instance: its
// latest run's results by server and step label (each step's figures by
// their JSON keys, and the server's capacity), the run's manifest, its
// number and its status.
var ScenarioAttributes = []string{"result", "manifest", "run", "status"}

func decodeCheckBlock(b *hcl.Block) (*Check, hcl.Diagnostics) {
	c := &Check{Name: b.Labels[0], DeclRange: hcl.RangeBetween(b.DefRange, b.LabelRanges[0])}
	content, diags := b.Body.Content(checkSchema)
	for _, ab := range content.Blocks {
		body, d := ab.Body.Content(assertSchema)
		diags = append(diags, d...)
		cond, msg := body.Attributes["condition"], body.Attributes["error_message"]
		if cond == nil || msg == nil {
			continue
		}
		a := &Assert{Condition: cond.Expr, ErrorMessage: msg.Expr}
		for _, expr := range []hcl.Expression{cond.Expr, msg.Expr} {
			d := a.readReferences(expr.Variables())
			diags = append(diags, d...)
		}
		c.Asserts = append(c.Asserts, a)
	}
	if len(c.Asserts) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Check without assertions",
			Detail: "A check holds one or more assert blocks, each with a condition and an error_message.", Subject: c.DeclRange.Ptr()})
	}
	return c, diags
}

// readReferences sorts a check's references into scenario mentions and
// the values an output could name; a check reads results, not pods or
// servers, which need not exist when it runs.
func (a *Assert) readReferences(traversals []hcl.Traversal) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range traversals {
		rng := t.SourceRange()
		switch t.RootName() {
		case "scenario":
			ref, d := parseScenarioRef(t)
			diags = append(diags, d...)
			if d == nil {
				a.scenarios = append(a.scenarios, ref)
			}
		case "pod", "server", "each", "count":
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference",
				Detail:  fmt.Sprintf("A check reads results: it can refer to scenario, var and local values, not to %s, which need not exist when it runs.", t.RootName()),
				Subject: rng.Ptr()})
		default:
			ref, d := parseReference(t)
			diags = append(diags, d...)
			if d == nil {
				a.refs = append(a.refs, ref)
			}
		}
	}
	return diags
}

func parseScenarioRef(t hcl.Traversal) (scenarioRef, hcl.Diagnostics) {
	rng := t.SourceRange()
	invalid := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: detail, Subject: rng.Ptr()}}
	}
	if len(t) < 3 {
		return scenarioRef{}, invalid(fmt.Sprintf("A check reads a scenario's %s, as in scenario.NAME.result.", strings.Join(ScenarioAttributes, ", ")))
	}
	name, ok := t[1].(hcl.TraverseAttr)
	if !ok {
		return scenarioRef{}, invalid("A reference to a scenario needs its name after a dot, as in scenario.NAME.result.")
	}
	ref := scenarioRef{addr: Addr{Kind: KindScenario, Name: name.Name}, t: t}
	rest := t[2:]
	if idx, ok := rest[0].(hcl.TraverseIndex); ok {
		key, err := instanceKey(idx.Key)
		if err != nil {
			return scenarioRef{}, invalid(err.Error())
		}
		ref.key, rest = key, rest[1:]
	}
	if len(rest) == 0 {
		return scenarioRef{}, invalid(fmt.Sprintf("A check reads a scenario's %s, as in scenario.%s.result.", strings.Join(ScenarioAttributes, ", "), name.Name))
	}
	attr, ok := rest[0].(hcl.TraverseAttr)
	if !ok || !slices.Contains(ScenarioAttributes, attr.Name) {
		return scenarioRef{}, invalid(fmt.Sprintf("A scenario has %s for a check to read.", strings.Join(ScenarioAttributes, ", ")))
	}
	return ref, nil
}

// checkScenarioRefs resolves the scenarios checks read and reports those
// the configuration does not declare, and servers or step labels a
// scenario does not have where they are written out.
func (c *Config) checkScenarioRefs() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range sortedKeys(c.Checks) {
		for _, a := range c.Checks[name].Asserts {
			for _, ref := range a.scenarios {
				diags = append(diags, c.resolveScenarioRef(a, ref)...)
			}
			for _, ref := range a.refs {
				if !c.Exists(ref.addr) {
					diags = append(diags, c.undeclaredReference(ref))
				}
			}
		}
	}
	return diags
}

func (c *Config) resolveScenarioRef(a *Assert, ref scenarioRef) hcl.Diagnostics {
	rng := ref.t.SourceRange()
	problem := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: detail, Subject: rng.Ptr()}}
	}
	decl := c.scenarios[ref.addr.Name]
	if decl == nil {
		detail := fmt.Sprintf("The configuration declares no scenario named %q.", ref.addr.Name)
		if s := suggest(ref.addr.Name, sortedKeys(c.scenarios)); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		return problem(detail)
	}
	insts := c.instances[ref.addr]
	if decl.repeat != nil && ref.key == "" {
		return problem(fmt.Sprintf("scenario.%s has several instances: name one, as in scenario.%s[%s].", ref.addr.Name, ref.addr.Name, keyHint(insts)))
	}
	inst := Addr{Kind: KindScenario, Name: ref.addr.Name, Key: ref.key}
	if !slices.Contains(insts, inst) {
		return problem(fmt.Sprintf("scenario.%s has no instance %s.", ref.addr.Name, inst))
	}
	if !slices.Contains(a.Scenarios, inst) {
		a.Scenarios = append(a.Scenarios, inst)
	}
	return c.checkResultPath(inst, ref.t, rng)
}

func keyHint(insts []Addr) string {
	if len(insts) == 0 {
		return "KEY"
	}
	k := insts[0].Key
	if _, err := strconv.Atoi(k); err == nil {
		return k
	}
	return strconv.Quote(k)
}

// checkResultPath checks, in scenario.NAME.result["server.x"]["label"],
// that the server is one the scenario runs against and the label one of
// the steps it will run, where both are written as literals and the
// scenario's loads are known before it runs.
func (c *Config) checkResultPath(inst Addr, t hcl.Traversal, rng hcl.Range) hcl.Diagnostics {
	var steps []hcl.Traverser
	for i, s := range t {
		if a, ok := s.(hcl.TraverseAttr); ok && a.Name == "result" && i >= 2 {
			steps = t[i+1:]
			break
		}
	}
	if len(steps) == 0 {
		return nil
	}
	sc := c.Scenarios[inst]
	if sc == nil {
		return nil
	}
	server, ok := literalKey(steps[0])
	if !ok {
		return nil
	}
	var names []string
	for _, s := range sc.Servers {
		names = append(names, s.String())
	}
	if !slices.Contains(names, server) {
		detail := fmt.Sprintf("%s does not run against %s; its servers: %s.", inst, server, strings.Join(names, ", "))
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown server in a check", Detail: detail, Subject: rng.Ptr()}}
	}
	if len(steps) < 2 {
		return nil
	}
	label, ok := literalKey(steps[1])
	if !ok || label == CapacityKey {
		return nil
	}
	labels, known := c.stepLabels(sc)
	if known && !slices.Contains(labels, label) {
		detail := fmt.Sprintf("%s runs no step %q; its steps: %s.", inst, label, strings.Join(labels, ", "))
		if s := suggest(label, labels); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown step in a check", Detail: detail, Subject: rng.Ptr()}}
	}
	return nil
}

// CapacityKey is the key, beside a server's step labels, of its capacity
// in a check's result.
const CapacityKey = "capacity"

// literalKey is the string a traversal step indexes or names.
func literalKey(s hcl.Traverser) (string, bool) {
	switch s := s.(type) {
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
			return s.Key.AsString(), true
		}
	case hcl.TraverseAttr:
		return s.Name, true
	}
	return "", false
}

// stepLabels are the labels of a scenario's steps, when its loads are
// known before it runs (a search decides its loads as it goes).
func (c *Config) stepLabels(sc *Scenario) ([]string, bool) {
	val, diags := c.decode(&sc.Resource, NewScope())
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return nil, false
	}
	spec, err := DecodeScenarioSpec(val)
	if err != nil || spec.Load.Search != nil {
		return nil, false
	}
	return spec.Load.StepLabels(), true
}

// StepLabels are the labels of the steps a load runs, in order: one per
// concurrency, then one per rate.
func (l LoadSpec) StepLabels() []string {
	var out []string
	for _, n := range l.Concurrency {
		out = append(out, ConcurrencyLabel(n))
	}
	for _, r := range l.Rates {
		out = append(out, RateLabel(r))
	}
	return out
}

// ConcurrencyLabel names a closed-loop step.
func ConcurrencyLabel(n int) string { return fmt.Sprintf("concurrency=%d", n) }

// RateLabel names an open-loop step.
func RateLabel(r float64) string {
	if math.IsInf(r, 1) {
		return "rate=inf"
	}
	return "rate=" + strconv.FormatFloat(r, 'f', -1, 64)
}

// SortedChecks lists the checks in the order they are declared.
func (c *Config) SortedChecks() []*Check {
	out := make([]*Check, 0, len(c.Checks))
	for _, ch := range c.Checks {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].DeclRange, out[j].DeclRange
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return out
}

// EvalAssert evaluates an assertion with the given scenario instances'
// values: its condition, true or false, and its error message. A
// condition that is not a known bool is an error diagnostic at it.
func (c *Config) EvalAssert(a *Assert, scenarios map[Addr]cty.Value) (holds bool, message string, diags hcl.Diagnostics) {
	ctx, diags := c.checkContext(a, scenarios)
	v, d := a.Condition.Value(ctx)
	for _, diag := range d {
		if diag.Summary == "Unsupported attribute" || diag.Summary == "Invalid index" {
			diag.Detail += " A step of a result holds its figures by their JSON keys (as results -format json shows them) and repeats; over repeats also ci_low, ci_high, std and cv, objects of the same keys; beside the steps, a server's result has its capacity."
		}
	}
	diags = append(diags, d...)
	if diags.HasErrors() {
		return false, "", diags
	}
	rng := a.Condition.Range()
	v, _ = v.UnmarkDeep()
	b, err := convert.Convert(v, cty.Bool)
	switch {
	case err != nil:
		return false, "", append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid condition",
			Detail: fmt.Sprintf("A condition must be true or false: %s.", err), Subject: rng.Ptr()})
	case !b.IsKnown() || b.IsNull():
		return false, "", append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid condition",
			Detail: "The condition has no value: it reads something the results do not hold.", Subject: rng.Ptr()})
	}
	m, d := a.ErrorMessage.Value(ctx)
	diags = append(diags, d...)
	if m, _ = m.UnmarkDeep(); m.IsKnown() && !m.IsNull() {
		if s, err := convert.Convert(m, cty.String); err == nil {
			message = s.AsString()
		}
	}
	return b.True(), message, diags
}

// ConditionValues lists what each reference in an assertion's condition
// evaluates to, as "612.3 from scenario.chat.result[...].p99_ttft_ms",
// for the diagnostic of a failed check.
func (c *Config) ConditionValues(a *Assert, scenarios map[Addr]cty.Value) []string {
	ctx, _ := c.checkContext(a, scenarios)
	var out []string
	seen := map[string]bool{}
	for _, t := range a.Condition.Variables() {
		v, d := t.TraverseAbs(ctx)
		if d.HasErrors() {
			continue
		}
		v, _ = v.UnmarkDeep()
		if !v.IsKnown() || !v.Type().IsPrimitiveType() {
			continue
		}
		// The value first, so that wrapping a long reference does not
		// part it from its value.
		line := shortString(v) + " from " + traversalString(t)
		if !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	return out
}

func (c *Config) checkContext(a *Assert, scenarios map[Addr]cty.Value) (*hcl.EvalContext, hcl.Diagnostics) {
	ctx, diags := c.evalContext(a.refs, NewScope(), nil)
	s := NewScope()
	for addr, v := range scenarios {
		s.Set(addr, v)
	}
	values := map[string]cty.Value{}
	for _, ref := range a.scenarios {
		if _, done := values[ref.addr.Name]; done || c.scenarios[ref.addr.Name] == nil {
			continue
		}
		// An instance without results is unknown, so that a condition
		// reading it cannot be decided rather than decided wrongly.
		for _, inst := range c.instances[ref.addr] {
			if _, ok := s.Get(inst); !ok {
				s.Set(inst, cty.DynamicVal)
			}
		}
		values[ref.addr.Name] = c.blockValue(ref.addr, s)
	}
	ctx.Variables["scenario"] = cty.ObjectVal(values)
	return ctx, diags
}

func traversalString(t hcl.Traversal) string {
	var b strings.Builder
	for _, s := range t {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			b.WriteString("[" + primitiveString(s.Key) + "]")
		}
	}
	return b.String()
}

// shortString is a value with numbers to six significant digits, enough
// to see why a comparison went as it did.
func shortString(v cty.Value) string {
	if v.Type() == cty.Number && !v.IsNull() {
		f, _ := v.AsBigFloat().Float64()
		return strconv.FormatFloat(f, 'g', 6, 64)
	}
	return primitiveString(v)
}

func primitiveString(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return strconv.Quote(v.AsString())
	case v.Type() == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	}
	return v.GoString()
}
