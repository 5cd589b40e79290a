package lang

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Graph holds the references between the blocks of a configuration:
// resources, locals and outputs. Variables have no dependencies and are left
// out.
type Graph struct {
	deps    map[Addr][]Addr // sorted, without duplicates
	order   []Addr
	inCycle map[Addr]bool
}

// DependsOn returns the blocks addr refers to directly.
func (g *Graph) DependsOn(addr Addr) []Addr { return g.deps[addr] }

// Order returns every block after everything it depends on, ties broken by
// address so that the order is the same on every run.
func (g *Graph) Order() []Addr { return g.order }

// ResourceDeps returns the resources addr depends on, following references
// through locals, sorted.
func (g *Graph) ResourceDeps(addr Addr) []Addr {
	seen := map[Addr]bool{}
	var out []Addr
	var visit func(Addr)
	visit = func(a Addr) {
		for _, d := range g.deps[a] {
			if seen[d] {
				continue
			}
			seen[d] = true
			if d.Kind.IsResource() {
				out = append(out, d)
			} else {
				visit(d)
			}
		}
	}
	visit(addr)
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// buildGraph checks that every reference names a declared block and orders
// the blocks. A cycle is one diagnostic naming its members.
func (c *Config) buildGraph() (*Graph, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	g := &Graph{deps: map[Addr][]Addr{}}
	for _, n := range c.nodes() {
		diags = append(diags, n.refDiags...)
		seen := map[Addr]bool{}
		for _, ref := range n.refs {
			if ref.addr.Kind == kindEach || ref.addr.Kind == kindCount {
				continue // checked where the block is read
			}
			if !c.Exists(ref.addr) {
				diags = append(diags, c.undeclaredReference(ref))
				continue
			}
			if ref.addr.Kind == KindVariable || seen[ref.addr] {
				continue
			}
			seen[ref.addr] = true
			g.deps[n.addr] = append(g.deps[n.addr], ref.addr)
		}
		sort.Slice(g.deps[n.addr], func(i, j int) bool { return g.deps[n.addr][i].Less(g.deps[n.addr][j]) })
		if _, ok := g.deps[n.addr]; !ok {
			g.deps[n.addr] = nil
		}
	}
	diags = append(diags, c.podEdges(g)...)
	for _, name := range sortedKeys(c.Providers) {
		p := c.Providers[name]
		diags = append(diags, p.refDiags...)
		for _, ref := range p.refs {
			if ref.addr.Kind != KindVariable && ref.addr.Kind != KindLocal {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference",
					Detail:   "A provider block is read before any pod or server exists, so it may refer only to variables and locals.",
					Subject:  ref.rng.Ptr(),
				})
			} else if !c.Exists(ref.addr) {
				diags = append(diags, c.undeclaredReference(ref))
			}
		}
	}
	g.inCycle = map[Addr]bool{}
	for _, cycle := range g.cycles() {
		for _, a := range cycle {
			g.inCycle[a] = true
		}
		first := c.node(cycle[0])
		names := make([]string, len(cycle)+1)
		for i, a := range cycle {
			names[i] = a.String()
		}
		names[len(cycle)] = cycle[0].String()
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Dependency cycle",
			Detail:   fmt.Sprintf("These blocks refer to each other in a circle, so none can be evaluated first: %s. Remove one of the references.", strings.Join(names, " → ")),
			Subject:  first.rng.Ptr(),
		})
	}
	if len(g.inCycle) == 0 {
		g.order = g.topoOrder()
	}
	return g, diags
}

// cycles finds the strongly connected components with more than one member
// (or a block that refers to itself), each rotated to start at its smallest
// address so that the message is stable (Tarjan's algorithm).
func (g *Graph) cycles() [][]Addr {
	nodes := g.sortedNodes()
	index := map[Addr]int{}
	low := map[Addr]int{}
	onStack := map[Addr]bool{}
	var stack []Addr
	var out [][]Addr
	next := 0
	var strongConnect func(Addr)
	strongConnect = func(v Addr) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.deps[v] {
			if _, visited := index[w]; !visited {
				strongConnect(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var scc []Addr
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			scc = append(scc, w)
			if w == v {
				break
			}
		}
		if len(scc) > 1 || g.refersTo(v, v) {
			out = append(out, g.cycleOrder(scc))
		}
	}
	for _, v := range nodes {
		if _, visited := index[v]; !visited {
			strongConnect(v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0].Less(out[j][0]) })
	return out
}

// cycleOrder lists the members of a strongly connected component along
// references, starting from the smallest address.
func (g *Graph) cycleOrder(scc []Addr) []Addr {
	member := map[Addr]bool{}
	start := scc[0]
	for _, a := range scc {
		member[a] = true
		if a.Less(start) {
			start = a
		}
	}
	path := []Addr{start}
	seen := map[Addr]bool{start: true}
	for cur := start; ; {
		var nextAddr *Addr
		for _, d := range g.deps[cur] {
			if member[d] && !seen[d] {
				nextAddr = &d
				break
			}
		}
		if nextAddr == nil {
			break
		}
		cur = *nextAddr
		seen[cur] = true
		path = append(path, cur)
	}
	// A component is not always a simple ring; list members the walk
	// missed so that none goes unnamed.
	var rest []Addr
	for _, a := range scc {
		if !seen[a] {
			rest = append(rest, a)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Less(rest[j]) })
	return append(path, rest...)
}

func (g *Graph) refersTo(from, to Addr) bool {
	for _, d := range g.deps[from] {
		if d == to {
			return true
		}
	}
	return false
}

func (g *Graph) sortedNodes() []Addr {
	nodes := make([]Addr, 0, len(g.deps))
	for a := range g.deps {
		nodes = append(nodes, a)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Less(nodes[j]) })
	return nodes
}

// topoOrder is Kahn's algorithm with the ready set kept sorted.
func (g *Graph) topoOrder() []Addr {
	waiting := map[Addr]int{}
	dependents := map[Addr][]Addr{}
	for a, deps := range g.deps {
		waiting[a] = len(deps)
		for _, d := range deps {
			dependents[d] = append(dependents[d], a)
		}
	}
	var ready []Addr
	for _, a := range g.sortedNodes() {
		if waiting[a] == 0 {
			ready = append(ready, a)
		}
	}
	order := make([]Addr, 0, len(g.deps))
	for len(ready) > 0 {
		a := ready[0]
		ready = ready[1:]
		order = append(order, a)
		added := false
		for _, d := range dependents[a] {
			waiting[d]--
			if waiting[d] == 0 {
				ready = append(ready, d)
				added = true
			}
		}
		if added {
			sort.Slice(ready, func(i, j int) bool { return ready[i].Less(ready[j]) })
		}
	}
	return order
}

// reachesCycle reports whether evaluating addr would need a block that is
// part of a dependency cycle.
func (g *Graph) reachesCycle(addr Addr) bool {
	if len(g.inCycle) == 0 {
		return false
	}
	seen := map[Addr]bool{}
	var visit func(Addr) bool
	visit = func(a Addr) bool {
		if g.inCycle[a] {
			return true
		}
		if seen[a] {
			return false
		}
		seen[a] = true
		for _, d := range g.deps[a] {
			if visit(d) {
				return true
			}
		}
		return false
	}
	return visit(addr)
}

// podEdges makes a pod depend on what the servers placed on it depend on,
// since a pod's container is built from its server's settings: they must be
// known before the pod is created. A server that refers to its own pod's
// attributes would need the pod before the pod could be built.
func (c *Config) podEdges(g *Graph) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range sortedKeys(c.servers) {
		s := c.servers[name]
		if s.podBlock == nil || c.pods[s.podBlock.Name] == nil {
			continue
		}
		pod := *s.podBlock
		for _, ref := range s.refs {
			switch {
			case ref.addr == pod && (s.podAttr == nil || !s.podAttr.Expr.Range().Overlaps(ref.rng)):
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to the server's own pod",
					Detail:   fmt.Sprintf("%s runs on %s, whose container is built from the server's settings, so the server cannot use the pod's attributes. Use a variable or a local instead.", s.Addr, pod),
					Subject:  ref.rng.Ptr(),
				})
			case ref.addr != pod && ref.addr.Kind != KindVariable && c.Exists(ref.addr):
				if !slices.Contains(g.deps[pod], ref.addr) {
					g.deps[pod] = append(g.deps[pod], ref.addr)
				}
			}
		}
		sort.Slice(g.deps[pod], func(i, j int) bool { return g.deps[pod][i].Less(g.deps[pod][j]) })
	}
	return diags
}
