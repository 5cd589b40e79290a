package lang

import (
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Resource is what pods, servers and scenarios share: an address, a place
// in the files, and a body evaluated once the values it refers to are known.
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
		Addr:      Addr{Kind: kind, Name: b.Labels[0]},
		DeclRange: hcl.RangeBetween(b.DefRange, b.LabelRanges[0]),
		spec:      spec,
		statics:   map[string]*hcl.Attribute{},
	}
	schema := &hcl.BodySchema{}
	for _, name := range append(append([]string{}, statics...), refAttrs...) {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: name})
	}
	content, rest, diags := b.Body.PartialContent(schema)
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
	return r, refAttr, diags
}

// decode evaluates the body against scope and adds the static attributes.
func (c *Config) decode(r *Resource, s *Scope) (cty.Value, hcl.Diagnostics) {
	ctx, diags := c.evalContext(r.refs, s)
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
	ctx, diags := c.evalContext(r.refs, NewScope())
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
