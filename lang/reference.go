package lang

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
)

// reference is one mention of another block inside an expression, or of
// the instance being evaluated (each, count).
type reference struct {
	// addr is the block referred to, without a key.
	addr Addr
	// key is the instance key, where the reference indexes the block with
	// a literal key: pod.gpu[0], server.llm["vllm"].
	key string
	rng hcl.Range
}

// The roots of references to the instance being evaluated: each.key and
// each.value in a block with for_each, count.index in one with count.
const (
	kindEach  Kind = "each"
	kindCount Kind = "count"
)

// node is the part of a block the graph needs.
type node struct {
	addr     Addr
	rng      hcl.Range
	refs     []reference
	refDiags hcl.Diagnostics
}

// referencesIn turns traversals into references. Traversals that cannot
// name a block (an unknown root such as "foo.bar", or a bare "pod") become
// diagnostics instead.
func referencesIn(traversals []hcl.Traversal) ([]reference, hcl.Diagnostics) {
	var refs []reference
	var diags hcl.Diagnostics
	for _, t := range traversals {
		ref, d := parseReference(t)
		diags = append(diags, d...)
		if d == nil {
			refs = append(refs, ref)
		}
	}
	return refs, diags
}

func parseReference(t hcl.Traversal) (reference, hcl.Diagnostics) {
	root := t.RootName()
	rng := t.SourceRange()
	invalid := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference", Detail: detail, Subject: rng.Ptr()}}
	}
	var kind Kind
	switch root {
	case "var":
		kind = KindVariable
	case "local":
		kind = KindLocal
	case "pod":
		kind = KindPod
	case "server":
		kind = KindServer
	case "each", "count":
		want := map[string][]string{"each": {"key", "value"}, "count": {"index"}}[root]
		if len(t) < 2 {
			return reference{}, invalid(fmt.Sprintf("%s is used as %s.%s.", root, root, strings.Join(want, " or "+root+".")))
		}
		if step, ok := t[1].(hcl.TraverseAttr); !ok || !slices.Contains(want, step.Name) {
			return reference{}, invalid(fmt.Sprintf("%s has %s.", root, strings.Join(want, " and ")))
		}
		return reference{addr: Addr{Kind: Kind(root)}, rng: t[:2].SourceRange()}, nil
	case "scenario", "output":
		return reference{}, invalid(fmt.Sprintf("A %s cannot be referred to from an expression; only var, local, pod and server values can.", root))
	default:
		return reference{}, invalid(fmt.Sprintf("There is nothing named %q to refer to. References start with var., local., pod., server., each. or count.", root))
	}
	if len(t) < 2 {
		return reference{}, invalid(fmt.Sprintf("A reference to a %s needs its name, as in %s.NAME.", kind, root))
	}
	step, ok := t[1].(hcl.TraverseAttr)
	if !ok {
		return reference{}, invalid(fmt.Sprintf("A reference to a %s needs its name after a dot, as in %s.NAME.", kind, root))
	}
	ref := reference{addr: Addr{Kind: kind, Name: step.Name}, rng: t[:2].SourceRange()}
	if len(t) > 2 && kind.IsResource() {
		if idx, ok := t[2].(hcl.TraverseIndex); ok {
			if key, err := instanceKey(idx.Key); err == nil {
				ref.key, ref.rng = key, t[:3].SourceRange()
			}
		}
	}
	return ref, nil
}

// undeclaredReference explains a reference to a block that does not exist,
// suggesting a close name when there is one.
func (c *Config) undeclaredReference(ref reference) *hcl.Diagnostic {
	noun := map[Kind]string{KindVariable: "input variable", KindLocal: "local value", KindPod: "pod", KindServer: "server"}[ref.addr.Kind]
	detail := fmt.Sprintf("The configuration declares no %s named %q.", noun, ref.addr.Name)
	if s := suggest(ref.addr.Name, c.names(ref.addr.Kind)); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Reference to undeclared " + noun,
		Detail:   detail,
		Subject:  ref.rng.Ptr(),
	}
}

func (c *Config) names(kind Kind) []string {
	var names []string
	switch kind {
	case KindVariable:
		for n := range c.Variables {
			names = append(names, n)
		}
	case KindLocal:
		for n := range c.Locals {
			names = append(names, n)
		}
	case KindPod:
		for n := range c.pods {
			names = append(names, n)
		}
	case KindServer:
		for n := range c.servers {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// suggest returns the candidate closest to name, if it is close enough to
// be a likely typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// nodes returns every resource, local and output with its references.
func (c *Config) nodes() []node {
	var out []node
	for _, p := range c.pods {
		out = append(out, p.node())
	}
	for _, s := range c.servers {
		out = append(out, s.node())
	}
	for _, s := range c.scenarios {
		out = append(out, s.node())
	}
	for _, l := range c.Locals {
		out = append(out, node{addr: Addr{Kind: KindLocal, Name: l.Name}, rng: l.DeclRange, refs: l.refs, refDiags: l.refDiags})
	}
	for _, o := range c.Outputs {
		out = append(out, node{addr: Addr{Kind: KindOutput, Name: o.Name}, rng: o.DeclRange, refs: o.refs, refDiags: o.refDiags})
	}
	return out
}

func (c *Config) node(addr Addr) node {
	switch addr.Kind {
	case KindLocal:
		l := c.Locals[addr.Name]
		return node{addr: addr, rng: l.DeclRange, refs: l.refs}
	case KindOutput:
		o := c.Outputs[addr.Name]
		return node{addr: addr, rng: o.DeclRange, refs: o.refs}
	default:
		return c.block(addr).node()
	}
}
