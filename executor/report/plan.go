package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
)

// Plan writes a plan as Terraform does: one block per resource that
// changes, with attribute-level differences, then a summary line.
func Plan(w io.Writer, plan *executor.Plan) error {
	pw := &printer{w: w}
	for _, note := range plan.Notes {
		pw.printf("Note: %s\n\n", safetext.Line(note))
	}
	changes := sortedChanges(plan)
	if len(changes) == 0 {
		pw.printf("No changes. The state matches the configuration, and every scenario's results are current.\n")
		writeBilling(pw, plan)
		return pw.err
	}

	pw.printf("benchform will perform the following actions:\n")
	for _, c := range changes {
		pw.printf("\n")
		writeChange(pw, c)
	}
	pw.printf("\n%s\n", Summary(plan))
	writeCosts(pw, plan)
	return pw.err
}

// writeCosts says what the pods a plan creates cost, the most they can
// cost before they go, and which pods bill now.
func writeCosts(pw *printer, plan *executor.Plan) {
	if cost, upTo, known, any := newPodCost(plan); any {
		bound := ""
		if upTo {
			bound = "at most "
		}
		if known {
			pw.printf("Pods this plan creates cost %s$%.2f per hour in all.\n", bound, cost)
		} else {
			pw.printf("Pods this plan creates cost %s$%.2f per hour, plus pods whose price is known only after apply.\n", bound, cost)
		}
	}
	writeCostBound(pw, plan.CostBound)
	writeBilling(pw, plan)
}

// sortedChanges are the plan's changes other than no-ops: pods, then
// servers, then scenarios, the order a reader follows and the order apply
// creates them in.
func sortedChanges(plan *executor.Plan) []*executor.Change {
	changes := make([]*executor.Change, 0, len(plan.Changes))
	for _, c := range plan.Changes {
		if c.Action != executor.NoOp {
			changes = append(changes, c)
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		ri, rj := kindRank[changes[i].Addr.Kind], kindRank[changes[j].Addr.Kind]
		if ri != rj {
			return ri < rj
		}
		return changes[i].Addr.Less(changes[j].Addr)
	})
	return changes
}

// newPodCost sums the hourly price of the pods a plan creates. A pod whose
// price depends on the GPU type found at create time counts at its
// provider's upper bound (upTo); known is false when some pod has neither.
func newPodCost(plan *executor.Plan) (cost float64, upTo, known, any bool) {
	known = true
	number := func(v cty.Value) (float64, bool) {
		if v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
			f, _ := v.AsBigFloat().Float64()
			return f, true
		}
		return 0, false
	}
	for _, c := range plan.Changes {
		if c.Addr.Kind != lang.KindPod || (c.Action != executor.Create && c.Action != executor.Replace) {
			continue
		}
		any = true
		if f, ok := number(attr(c.After, providers.AttrCostPerHour)); ok {
			cost += f
		} else if f, ok := number(attr(c.After, providers.AttrCostPerHourMax)); ok {
			cost, upTo = cost+f, true
		} else {
			known = false
		}
	}
	return cost, upTo, known, any
}

// writeCostBound says the most the plan's pods can cost before their ttl or
// destroy_after_use ends them, and which pods no bound ends.
func writeCostBound(pw *printer, b executor.CostBound) {
	if b.Bounded == 0 && b.Unbounded == 0 {
		return
	}
	var parts []string
	if b.Bounded > 0 {
		parts = append(parts, fmt.Sprintf("%d %s cost at most $%.2f before %s ttl or destroy_after_use ends %s, if every ready_timeout and request timeout is reached",
			b.Bounded, plural(b.Bounded, "pod", "pods"), b.USD, plural(b.Bounded, "its", "their"), plural(b.Bounded, "it", "them")))
	}
	if b.Unpriced > 0 {
		parts = append(parts, fmt.Sprintf("%d more whose price is known only after apply", b.Unpriced))
	}
	if b.Unbounded > 0 {
		parts = append(parts, fmt.Sprintf("%d %s until destroyed, having neither ttl nor destroy_after_use", b.Unbounded, plural(b.Unbounded, "pod bills", "pods bill")))
	}
	s := strings.Join(parts, "; ")
	pw.printf("%s.\n", strings.ToUpper(s[:1])+s[1:])
}

// writeBilling lists every pod in state that costs money, so that a plan
// never hides one.
func writeBilling(pw *printer, plan *executor.Plan) {
	if len(plan.Billing) == 0 {
		return
	}
	pw.printf("\nPods billing now:\n")
	total := 0.0
	for _, b := range plan.Billing {
		age := b.Age(plan.Now)
		line := fmt.Sprintf("  %s (%s): up %s", b.Addr, b.ID, shortDuration(age))
		if b.CostPerHour > 0 {
			line += fmt.Sprintf(", $%.2f/h, $%.2f so far", b.CostPerHour, b.CostSoFar(plan.Now))
			total += b.CostPerHour
		}
		if b.TTL > 0 {
			line += fmt.Sprintf(", ttl %s", shortDuration(b.TTL))
			if b.Expired {
				line += " — past its ttl"
			}
		}
		pw.printf("%s\n", line)
	}
	if total > 0 {
		pw.printf("  In all $%.2f per hour while they run.\n", total)
	}
}

// shortDuration prints hours and minutes, or seconds for short spans.
func shortDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if h == 0 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%02dm", h, m)
}

var kindRank = map[lang.Kind]int{lang.KindPod: 0, lang.KindServer: 1, lang.KindScenario: 2}

// Summary is the plan's last line: "Plan: 1 to add, 0 to change, 0 to
// destroy, 1 scenario to run."
func Summary(plan *executor.Plan) string {
	afterUse := 0
	for _, c := range plan.Changes {
		if len(c.UsedBy) > 0 && c.Action != executor.Delete && c.Addr.Kind != lang.KindScenario {
			afterUse++
		}
	}
	n := PlanCounts(plan)
	line := fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy, %d %s to run", n.Add, n.Change, n.Remove, n.Run, plural(n.Run, "scenario", "scenarios"))
	if afterUse > 0 {
		line += fmt.Sprintf("; %d destroyed after use", afterUse)
	}
	return line + "."
}

// ChangeCounts are what a plan would do, or an apply did, as summaries
// count it: a replacement is one added and one removed.
type ChangeCounts struct {
	Add, Change, Remove, Run int
}

// PlanCounts counts the changes of a plan.
func PlanCounts(plan *executor.Plan) ChangeCounts {
	done := map[executor.Action]int{}
	for _, c := range plan.Changes {
		done[c.Action]++
	}
	return countActions(done)
}

// AppliedCounts counts the changes an apply made.
func AppliedCounts(r *executor.Result) ChangeCounts {
	return countActions(r.Done)
}

func countActions(n map[executor.Action]int) ChangeCounts {
	return ChangeCounts{
		Add:    n[executor.Create] + n[executor.Replace],
		Change: n[executor.Update],
		Remove: n[executor.Delete] + n[executor.Replace],
		Run:    n[executor.Run],
	}
}

// fields are the counts as Terraform's change_summary writes them, with
// the scenarios run beside them; benchform imports nothing.
func (n ChangeCounts) fields(operation string) orderedObject {
	return orderedObject{{"add", n.Add}, {"change", n.Change}, {"import", 0}, {"remove", n.Remove}, {"run", n.Run}, {"operation", operation}}
}

func addrList(addrs []lang.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func writeChange(pw *printer, c *executor.Change) {
	header := fmt.Sprintf("  # %s will be %s", c.Addr, c.Action.Verb())
	if c.Action == executor.Delete && c.Addr.Kind == lang.KindScenario {
		header = fmt.Sprintf("  # %s will be removed from state (its runs stay in history)", c.Addr)
	}
	if len(c.UsedBy) > 0 && c.Action != executor.Delete {
		header += fmt.Sprintf(", then destroyed once %s %s finished with it", addrList(c.UsedBy), plural(len(c.UsedBy), "has", "have"))
	}
	if len(c.Reasons) > 0 {
		header += ": " + strings.Join(c.Reasons, "; ")
	}
	pw.printf("%s\n", header)
	pw.printf("%s %s %q {\n", padSymbol(c.Action), c.Addr.Kind, c.Addr.Name)

	sensitive := map[string]bool{}
	for _, s := range c.Sensitive {
		sensitive[s] = true
	}
	forces := map[string]bool{}
	for _, s := range c.ReplacePaths {
		forces[s] = true
	}
	switch c.Action {
	case executor.Create:
		writeAttrs(pw, 6, "+", c.After, sensitive)
	case executor.Delete:
		writeAttrs(pw, 6, "-", c.Before, sensitive)
	case executor.Run:
		if c.Before == cty.NilVal {
			writeAttrs(pw, 6, "+", c.After, sensitive)
		} else {
			writeDiff(pw, c.Before, c.After, sensitive, nil)
		}
	default:
		writeDiff(pw, c.Before, c.After, sensitive, forces)
	}
	pw.printf("    }\n")
}

// padSymbol right-aligns the action symbol in a three-column gutter, as
// Terraform does, so that "-/+" and "+" blocks line up.
func padSymbol(a executor.Action) string {
	return fmt.Sprintf("%3s", a.String())
}

// writeAttrs writes every non-null attribute of an object, with a symbol.
func writeAttrs(pw *printer, indent int, symbol string, obj cty.Value, sensitive map[string]bool) {
	var names []string
	for _, n := range attrNames(obj) {
		if v := obj.GetAttr(n); !v.IsKnown() || !v.IsNull() || sensitive[n] {
			names = append(names, n)
		}
	}
	width := nameWidth(names)
	for _, n := range names {
		v := obj.GetAttr(n)
		pw.printf("%s%s %-*s = %s\n", strings.Repeat(" ", indent), symbol, width, n, renderValue(v, sensitive[n], indent+2))
	}
}

// writeDiff writes the attributes that differ between two objects and
// counts the ones that do not.
func writeDiff(pw *printer, before, after cty.Value, sensitive, forces map[string]bool) {
	names := map[string]bool{}
	for _, n := range attrNames(before) {
		names[n] = true
	}
	for _, n := range attrNames(after) {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	width := nameWidth(sorted)
	unchanged := 0
	for _, n := range sorted {
		b, a := attr(before, n), attr(after, n)
		if sameRendering(b, a) && !sensitive[n] || (sensitive[n] && !forces[n]) {
			if !(b.IsKnown() && b.IsNull() && a.IsKnown() && a.IsNull()) {
				unchanged++
			}
			continue
		}
		suffix := ""
		if forces[n] {
			suffix = " # forces replacement"
		}
		switch {
		case b.IsKnown() && b.IsNull():
			pw.printf("      + %-*s = %s%s\n", width, n, renderValue(a, sensitive[n], 8), suffix)
		case a.IsKnown() && a.IsNull():
			pw.printf("      - %-*s = %s -> null%s\n", width, n, renderValue(b, sensitive[n], 8), suffix)
		default:
			pw.printf("      ~ %-*s = %s -> %s%s\n", width, n, renderValue(b, sensitive[n], 8), renderValue(a, sensitive[n], 8), suffix)
		}
	}
	if unchanged > 0 {
		pw.printf("        # (%d unchanged %s hidden)\n", unchanged, plural(unchanged, "attribute", "attributes"))
	}
}

func sameRendering(a, b cty.Value) bool {
	if !a.IsWhollyKnown() || !b.IsWhollyKnown() {
		return false
	}
	return renderValue(a, false, 0) == renderValue(b, false, 0)
}

func attr(obj cty.Value, name string) cty.Value {
	if obj == cty.NilVal || !obj.IsKnown() || obj.IsNull() || !obj.Type().IsObjectType() || !obj.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return obj.GetAttr(name)
}

func attrNames(obj cty.Value) []string {
	if obj == cty.NilVal || !obj.Type().IsObjectType() {
		return nil
	}
	var names []string
	for n := range obj.Type().AttributeTypes() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func nameWidth(names []string) int {
	w := 0
	for _, n := range names {
		w = max(w, len(n))
	}
	return w
}

// FormatValue writes a value as configuration would; secrets show as
// (sensitive value). indent is the column nested lines start at.
func FormatValue(v cty.Value, indent int) string {
	return renderValue(v, v.ContainsMarked(), indent)
}

// renderValue writes a value as configuration would: strings quoted, lists
// in brackets, objects as nested blocks of name = value.
func renderValue(v cty.Value, sensitive bool, indent int) string {
	switch {
	case sensitive || v.IsMarked():
		return "(sensitive value)"
	case !v.IsKnown():
		return "(known after apply)"
	case v.IsNull():
		return "null"
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case ty == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case ty == cty.Bool:
		if v.True() {
			return "true"
		}
		return "false"
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			parts = append(parts, renderValue(e, false, indent+2))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case ty.IsMapType() || ty.IsObjectType():
		var keys []string
		m := v.AsValueMap()
		for k := range m {
			if e := m[k]; e.IsKnown() && e.IsNull() {
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			return "{}"
		}
		width := nameWidth(keys)
		var b strings.Builder
		b.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s  %-*s = %s\n", strings.Repeat(" ", indent), width, k, renderValue(m[k], false, indent+2))
		}
		b.WriteString(strings.Repeat(" ", indent) + "}")
		return b.String()
	}
	return v.GoString()
}

// printer keeps the first write error so that rendering code stays linear.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}
