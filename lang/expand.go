package lang

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// maxInstances bounds a block's count or for_each: a matrix of pods or
// servers is tens of instances, and a slip (count = 1e9) must not hang
// the plan.
const maxInstances = 10000

// expand makes the instances of every pod, server and scenario block: one
// for a block without count or for_each, one per index or key otherwise,
// then resolves what each names by reference: a server's pod and a
// scenario's servers. Blocks are expanded after what they refer to, since
// count and for_each may count another block's instances
// (for_each = server.llm); a block that depends on a dependency cycle is
// left without instances, the cycle being reported.
func (c *Config) expand() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, a := range c.graph.topoOrder() {
		if !a.Kind.IsResource() {
			continue
		}
		keys, d := c.instanceKeys(c.block(a))
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		insts := make([]Addr, len(keys))
		for i, k := range keys {
			inst := a.Instance(k)
			insts[i] = inst
			switch a.Kind {
			case KindPod:
				p := *c.pods[a.Name]
				p.Addr = inst
				c.Pods[inst] = &p
			case KindServer:
				s := *c.servers[a.Name]
				s.Addr = inst
				diags = append(diags, c.resolvePod(&s)...)
				c.Servers[inst] = &s
			case KindScenario:
				s := *c.scenarios[a.Name]
				s.Addr = inst
				diags = append(diags, c.resolveServers(&s)...)
				c.Scenarios[inst] = &s
			}
		}
		c.instances[a] = insts
	}
	return diags
}

// instanceKeys evaluates a block's count or for_each into the keys of its
// instances, in order: "" alone for a block with neither, 0 to N-1 for
// count, the sorted keys of for_each. Both must be known while loading:
// they may count other blocks' instances but not use their values.
func (c *Config) instanceKeys(r *Resource) ([]string, hcl.Diagnostics) {
	if r.repeat == nil {
		return []string{""}, nil
	}
	invalid := func(summary, detail string) ([]string, hcl.Diagnostics) {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.repeat.Expr.Range().Ptr()}}
	}
	ctx, diags := c.evalContext(r.repeatRefs, addressScope(), nil)
	v, d := r.repeat.Expr.Value(ctx)
	diags = append(diags, d...)
	if diags.HasErrors() {
		// Where pods and servers stand for their addresses, their
		// attributes do not exist. With the attributes unknown instead,
		// an expression that is valid says what is wrong: it needs them.
		ctx, vd := c.evalContext(r.repeatRefs, NewScope(), nil)
		if _, d := r.repeat.Expr.Value(ctx); vd.HasErrors() || d.HasErrors() {
			return nil, append(vd, d...)
		}
		v = cty.DynamicVal
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return invalid(fmt.Sprintf("Invalid %s argument", r.repeat.Name),
			fmt.Sprintf("The %q value must be known while loading, to decide the instances of %s. It may use variables and locals, and count or list other pods and servers (length(pod.gpu), server.llm), but not their attributes.", r.repeat.Name, r.Addr))
	}
	if !r.forEach {
		if v.IsNull() || v.Type() != cty.Number {
			return invalid("Invalid count argument", fmt.Sprintf("The \"count\" argument must be a whole number, not %s.", typeName(v)))
		}
		n, acc := v.AsBigFloat().Int64()
		if acc != big.Exact || n < 0 || n > maxInstances {
			return invalid("Invalid count argument", fmt.Sprintf("The \"count\" argument must be a whole number from 0 to %d, not %s.", maxInstances, v.AsBigFloat().Text('f', -1)))
		}
		keys := make([]string, n)
		for i := range keys {
			keys[i] = IntKey(i)
		}
		return keys, diags
	}
	ty := v.Type()
	var names []string
	switch {
	case v.IsNull():
		return invalid("Invalid for_each argument", "The \"for_each\" value is null; give a map, or a set of strings.")
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, _ := it.Element()
			names = append(names, k.AsString())
		}
	case ty.IsSetType() && ty.ElementType() == cty.String:
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				return invalid("Invalid for_each argument", "A set for \"for_each\" may not hold null.")
			}
			names = append(names, e.AsString())
		}
	case ty.IsSetType() || ty.IsListType() || ty.IsTupleType():
		return invalid("Invalid for_each argument",
			fmt.Sprintf("The \"for_each\" value must be a map, or a set of strings, not %s. A list of strings becomes a set with toset(...).", typeName(v)))
	default:
		return invalid("Invalid for_each argument", fmt.Sprintf("The \"for_each\" value must be a map, or a set of strings, not %s.", typeName(v)))
	}
	if len(names) > maxInstances {
		return invalid("Invalid for_each argument", fmt.Sprintf("The \"for_each\" value has %d keys; at most %d are allowed.", len(names), maxInstances))
	}
	sort.Strings(names)
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = StringKey(n)
	}
	return keys, diags
}

func typeName(v cty.Value) string {
	if v.IsNull() {
		return "null"
	}
	return v.Type().FriendlyName()
}

// addressesOf evaluates an argument that names instances (a server's pod,
// a scenario's servers) in an address scope and returns the addresses it
// names, in order: a string, or any nesting of lists, sets, tuples, maps
// and objects of them (values(server.llm), server.llm[*]).
func (c *Config) addressesOf(r *Resource, a *hcl.Attribute, kind Kind) ([]Addr, hcl.Diagnostics) {
	ctx, diags := c.evalContext(r.refs, addressScope(), r)
	v, d := a.Expr.Value(ctx)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	invalid := func(detail string) ([]Addr, hcl.Diagnostics) {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   detail,
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	v, _ = v.UnmarkDeep()
	var names []string
	var walk func(cty.Value) bool
	walk = func(v cty.Value) bool {
		switch {
		case v.IsNull() || !v.IsKnown():
			return false
		case v.Type() == cty.String:
			names = append(names, v.AsString())
			return true
		case v.CanIterateElements():
			for it := v.ElementIterator(); it.Next(); {
				if _, e := it.Element(); !walk(e) {
					return false
				}
			}
			return true
		}
		return false
	}
	example := map[Kind]string{KindPod: `pod.NAME, or pod.NAME[KEY] for an instance`, KindServer: `server.NAME, server.NAME[KEY], a list of them, or values(server.NAME)`}[kind]
	if !walk(v) {
		return invalid(fmt.Sprintf("The argument %q must name %s blocks: %s.", a.Name, kind, example))
	}
	var out []Addr
	for _, n := range names {
		addr, err := ParseAddr(n)
		if err != nil || addr.Kind != kind || c.Resource(addr) == nil {
			return invalid(fmt.Sprintf("The argument %q must name %s blocks (%s), not %s.", a.Name, kind, example, quoteValue(n)))
		}
		out = append(out, addr)
	}
	return out, diags
}

// quoteValue shows a value an argument evaluated to, which may be anything
// at all.
func quoteValue(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// resolvePod sets the pod a server instance runs on.
func (c *Config) resolvePod(s *Server) hcl.Diagnostics {
	if s.podAttr == nil || s.podBlock == nil {
		return nil
	}
	addrs, diags := c.addressesOf(&s.Resource, s.podAttr, KindPod)
	switch {
	case diags.HasErrors():
		return diags
	case len(addrs) != 1:
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   fmt.Sprintf("The argument \"pod\" must name one pod; it names %d. Index a pod with count or for_each: pod.NAME[KEY].", len(addrs)),
			Subject:  s.podAttr.Expr.Range().Ptr(),
		})
	}
	s.Pod = &addrs[0]
	return diags
}

// resolveServers sets the servers a scenario instance runs against.
func (c *Config) resolveServers(s *Scenario) hcl.Diagnostics {
	if s.serverAttr == nil {
		return nil
	}
	addrs, diags := c.addressesOf(&s.Resource, s.serverAttr, KindServer)
	if diags.HasErrors() {
		return diags
	}
	seen := map[Addr]bool{}
	var servers []Addr
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			servers = append(servers, a)
		}
	}
	if len(servers) == 0 {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for \"server\"",
			Detail:   "The list of servers is empty; name at least one.",
			Subject:  s.serverAttr.Expr.Range().Ptr(),
		})
	}
	s.Servers = servers
	return diags
}

// checkInstanceRefs reports references that index a block with a key it
// does not have, or that index a block without count or for_each.
func (c *Config) checkInstanceRefs(refs []reference) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, ref := range refs {
		if ref.key == "" || !ref.addr.Kind.IsResource() {
			continue
		}
		decl := c.block(ref.addr)
		insts, expanded := c.instances[ref.addr]
		switch {
		case decl == nil || !expanded:
		case decl.repeat == nil:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected instance key",
				Detail:   fmt.Sprintf("%s has neither count nor for_each, so it has no instances to index: refer to it as %s.", ref.addr, ref.addr),
				Subject:  ref.rng.Ptr(),
			})
		case !slices.Contains(insts, ref.addr.Instance(ref.key)):
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Reference to undeclared instance",
				Detail:   fmt.Sprintf("%s has no instance [%s]; its %s %s.", ref.addr, ref.key, map[bool]string{true: "keys are", false: "indexes are"}[decl.forEach], keyList(insts)),
				Subject:  ref.rng.Ptr(),
			})
		}
	}
	return diags
}

func keyList(insts []Addr) string {
	if len(insts) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(insts))
	for _, a := range insts[:min(len(insts), 20)] {
		keys = append(keys, a.Key)
	}
	if len(insts) > 20 {
		keys = append(keys, fmt.Sprintf("and %d more", len(insts)-20))
	}
	return strings.Join(keys, ", ")
}

// RemovalReason says why the configuration no longer has the instance at
// addr, which state holds: its block is gone, or its key is.
func (c *Config) RemovalReason(addr Addr) string {
	decl := c.block(addr)
	switch {
	case decl == nil:
		return addr.Block().String() + " is no longer in the configuration"
	case decl.repeat == nil && addr.Key != "":
		return addr.Block().String() + " no longer has count or for_each"
	case decl.repeat != nil && addr.Key == "":
		return addr.Block().String() + " now has " + decl.repeat.Name
	case decl.forEach:
		return "its key was removed from for_each"
	}
	return fmt.Sprintf("its index is out of range for count (now %d)", len(c.instances[addr.Block()]))
}

// DependsOn returns the resource instances the instance at addr must wait
// for: the pod a server runs on and the servers a scenario runs against,
// exactly, and every instance of any other pod or server block it refers
// to, directly or through locals.
func (c *Config) DependsOn(addr Addr) []Addr {
	r := c.Resource(addr)
	if r == nil {
		return nil
	}
	exact := map[Addr]bool{}
	switch addr.Kind {
	case KindServer:
		if p := c.Servers[addr].Pod; p != nil {
			exact[*p] = true
		}
	case KindScenario:
		for _, s := range c.Scenarios[addr].Servers {
			exact[s] = true
		}
	}
	var out []Addr
	for a := range exact {
		out = append(out, a)
	}
	for _, block := range c.graph.ResourceDeps(addr.Block()) {
		if !r.coarseRefs[block] && !c.throughLocals(addr.Block(), block) {
			continue
		}
		for _, inst := range c.instances[block] {
			if !exact[inst] {
				out = append(out, inst)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// throughLocals reports whether from reaches the resource block to only
// through locals, which DependsOn cannot resolve to instances.
func (c *Config) throughLocals(from, to Addr) bool {
	for _, d := range c.graph.DependsOn(from) {
		if d.Kind == KindLocal && slices.Contains(c.graph.ResourceDeps(d), to) {
			return true
		}
	}
	return false
}

func sortedAddrs[V any](m map[Addr]V) []Addr {
	out := make([]Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
