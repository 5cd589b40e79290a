package lang

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Resource is what pods, servers and scenarios share: an address, a place
// in the files, and a body evaluated once the values it refers to are known.
// A block with count or for_each is declared once and has one Resource per
// instance, each with its key in Addr; they share the block's body.
type Resource struct {
	Addr      Addr
	DeclRange hcl.Range

	body    hcl.Body          // the block's body without its static attributes
	spec    hcldec.ObjectSpec // decodes body
	statics map[string]*hcl.Attribute
	written map[string]*hcl.Attribute // attributes of body the file sets
	refs    []reference
	// refDiags are problems found while reading references; they are
	// reported once, by Load.
	refDiags hcl.Diagnostics

	// repeat is the block's count or for_each argument, nil when it has
	// neither; forEach says which. repeatRefs are its references.
	repeat     *hcl.Attribute
	forEach    bool
	repeatRefs []reference
	// coarseRefs are the blocks referred to outside the arguments that
	// name a pod or servers, whose every instance an instance depends on.
	coarseRefs map[Addr]bool
}

func (r *Resource) declRange() hcl.Range { return r.DeclRange }

func (r *Resource) node() node {
	return node{addr: r.Addr, rng: r.DeclRange, refs: r.refs, refDiags: r.refDiags}
}

// newResource splits a block into the attributes that must be known while
// loading (statics, such as a server's engine), attributes that name other
// blocks by reference, and the rest, decoded later with spec.
func newResource(kind Kind, b *hcl.Block, spec hcldec.ObjectSpec, statics, refAttrs []string) (*Resource, map[string]*hcl.Attribute, hcl.Diagnostics) {
	r := &Resource{
		Addr:       Addr{Kind: kind, Name: b.Labels[0]},
		DeclRange:  hcl.RangeBetween(b.DefRange, b.LabelRanges[0]),
		spec:       spec,
		statics:    map[string]*hcl.Attribute{},
		coarseRefs: map[Addr]bool{},
	}
	schema := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "count"}, {Name: "for_each"}}}
	for _, name := range append(append([]string{}, statics...), refAttrs...) {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: name})
	}
	content, rest, diags := b.Body.PartialContent(schema)
	count, forEach := content.Attributes["count"], content.Attributes["for_each"]
	switch {
	case count != nil && forEach != nil:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid combination of \"count\" and \"for_each\"",
			Detail:   "The \"count\" and \"for_each\" arguments cannot be used together in the same block: use one of them.",
			Subject:  forEach.NameRange.Ptr(),
		})
	case count != nil:
		r.repeat = count
	case forEach != nil:
		r.repeat, r.forEach = forEach, true
	}
	if r.repeat != nil {
		refs, d := referencesIn(r.repeat.Expr.Variables())
		diags = append(diags, d...)
		for _, ref := range refs {
			if ref.addr.Kind == kindEach || ref.addr.Kind == kindCount {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference",
					Detail:   fmt.Sprintf("The %q argument decides the instances, so it cannot use %s.", r.repeat.Name, ref.addr.Kind),
					Subject:  ref.rng.Ptr(),
				})
				continue
			}
			r.repeatRefs = append(r.repeatRefs, ref)
		}
	}
	r.body = rest
	if c, _, _ := rest.PartialContent(hcldec.ImpliedSchema(spec)); c != nil {
		r.written = c.Attributes
	}
	refAttr := map[string]*hcl.Attribute{}
	for _, name := range statics {
		if a := content.Attributes[name]; a != nil {
			r.statics[name] = a
		}
	}
	for _, name := range refAttrs {
		if a := content.Attributes[name]; a != nil {
			refAttr[name] = a
		}
	}

	traversals := hcldec.Variables(rest, spec)
	for _, name := range sortedKeys(r.statics) {
		traversals = append(traversals, r.statics[name].Expr.Variables()...)
	}
	for _, name := range sortedKeys(refAttr) {
		traversals = append(traversals, refAttr[name].Expr.Variables()...)
	}
	r.refs, r.refDiags = referencesIn(traversals)
	r.refs = append(r.refs, r.repeatRefs...)
	for _, ref := range r.refs {
		if ref.addr.Kind.IsResource() && !within(ref.rng, refAttr) {
			r.coarseRefs[ref.addr] = true
		}
	}
	for _, ref := range r.refs {
		if (ref.addr.Kind == kindEach && !r.forEach) || (ref.addr.Kind == kindCount && (r.repeat == nil || r.forEach)) {
			want := map[Kind]string{kindEach: "for_each", kindCount: "count"}[ref.addr.Kind]
			r.refDiags = append(r.refDiags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Reference to %q in a block without %s", ref.addr.Kind, want),
				Detail:   fmt.Sprintf("%s is set only in a block with the %q argument.", ref.addr.Kind, want),
				Subject:  ref.rng.Ptr(),
			})
		}
	}
	return r, refAttr, diags
}

// within reports whether rng lies in the expression of one of attrs.
func within(rng hcl.Range, attrs map[string]*hcl.Attribute) bool {
	for _, a := range attrs {
		if a.Expr.Range().Overlaps(rng) {
			return true
		}
	}
	return false
}

// decode evaluates the body against scope and adds the static attributes.
func (c *Config) decode(r *Resource, s *Scope) (cty.Value, hcl.Diagnostics) {
	ctx, diags := c.evalContext(r.refs, s, r)
	val, d := hcldec.Decode(r.body, r.spec, ctx)
	diags = append(diags, d...)
	if val == cty.NilVal || val.IsNull() || !val.Type().IsObjectType() {
		val = cty.UnknownVal(hcldec.ImpliedType(r.spec))
	}
	if len(r.statics) == 0 || !val.IsKnown() {
		return val, diags
	}
	attrs := val.AsValueMap()
	if attrs == nil {
		attrs = map[string]cty.Value{}
	}
	for name, a := range r.statics {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		conv, err := convert.Convert(v, cty.String)
		if err != nil {
			conv = cty.UnknownVal(cty.String)
		}
		attrs[name] = conv
	}
	return cty.ObjectVal(attrs), diags
}

// staticString evaluates one of a resource's static attributes, which must
// be a known string. It returns "" with no diagnostic when the attribute is
// absent.
func (c *Config) staticString(r *Resource, name string) (string, *hcl.Range, hcl.Diagnostics) {
	a := r.statics[name]
	if a == nil {
		return "", nil, nil
	}
	rng := a.Expr.Range()
	ctx, diags := c.evalContext(r.refs, NewScope(), r)
	v, d := a.Expr.Value(ctx)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return "", &rng, diags
	}
	v, _ = v.Unmark()
	conv, err := convert.Convert(v, cty.String)
	switch {
	case err != nil || conv.IsNull():
		return "", &rng, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   "The argument \"" + name + "\" must be a string.",
			Subject:  &rng,
		})
	case !conv.IsKnown():
		return "", &rng, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value not known while loading",
			Detail:   "The argument \"" + name + "\" decides how the block is handled, so it cannot depend on values known only after apply. Use a literal or a variable.",
			Subject:  &rng,
		})
	}
	return conv.AsString(), &rng, diags
}

// attrRange returns where an attribute of a resource's body is written, or
// the block's header when it is not written.
func (r *Resource) attrRange(name string) hcl.Range {
	if a := r.written[name]; a != nil {
		return a.Range
	}
	return r.DeclRange
}

// AttributeRange returns where the attribute at path of a pod, server or
// scenario is written: a top-level argument (["model"]) or one in a nested
// block (["simulate", "ttft"]). It is nil when the file does not set it.
func (c *Config) AttributeRange(addr Addr, path []string) *hcl.Range {
	r := c.Resource(addr)
	if r == nil || len(path) == 0 {
		return nil
	}
	if a := r.statics[path[0]]; a != nil && len(path) == 1 {
		return a.Expr.Range().Ptr()
	}
	if a := r.written[path[0]]; a != nil {
		return a.Expr.Range().Ptr()
	}
	if len(path) < 2 {
		return nil
	}
	content, _, _ := r.body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: path[0]}}})
	if content == nil || len(content.Blocks) == 0 {
		return nil
	}
	b := content.Blocks[0]
	inner, _, _ := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: path[1]}}})
	if inner != nil {
		if a := inner.Attributes[path[1]]; a != nil {
			return a.Expr.Range().Ptr()
		}
	}
	return b.DefRange.Ptr()
}

// valueRange returns where the value of an attribute of a resource's body
// is written, or the block's header when it is not written.
func (r *Resource) valueRange(name string) hcl.Range {
	if a := r.written[name]; a != nil {
		return a.Expr.Range()
	}
	return r.DeclRange
}

// hasAttr reports whether the body sets an attribute.
func (r *Resource) hasAttr(name string) bool {
	_, ok := r.written[name]
	return ok
}

// ObjectType is the type of the value other blocks see when they refer to
// the resource: its arguments and the attributes its provider computes.
func (r *Resource) ObjectType(computed map[string]cty.Type) cty.Type {
	attrs := hcldec.ImpliedType(r.spec).AttributeTypes()
	all := make(map[string]cty.Type, len(attrs)+len(r.statics)+len(computed))
	for k, v := range attrs {
		all[k] = v
	}
	for k := range r.statics {
		all[k] = cty.String
	}
	for k, v := range computed {
		all[k] = v
	}
	return cty.Object(all)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedAttributes(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, name := range sortedKeys(attrs) {
		out = append(out, attrs[name])
	}
	return out
}
