package lang

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/benchform/benchform/providers"
)

// Pod is a pod block: a machine with GPUs, rented from a provider or, with
// provider = "local", this machine.
type Pod struct {
	Resource
	// Provider is the provider's name, known once Load has succeeded.
	Provider string
	// DestroyAfterUse makes the pod, and the servers on it, exist only
	// while scenarios use them: created when a scenario that runs on them
	// is to run, destroyed as soon as every such scenario has finished
	// with them.
	DestroyAfterUse bool

	destroyAfterUse *hcl.Attribute
}

// DefaultPodProvider is the provider of a pod block that names none.
const DefaultPodProvider = "runpod"

func decodePodBlock(b *hcl.Block) (*Pod, hcl.Diagnostics) {
	r, attrs, diags := newResource(KindPod, b, podSpec(), []string{"provider"}, []string{"destroy_after_use"})
	return &Pod{Resource: *r, destroyAfterUse: attrs["destroy_after_use"]}, diags
}

// Schema is the schema of the pod's provider, known once Load has
// succeeded.
func (p *Pod) Schema() providers.Schema {
	return schemas[p.Provider]
}

// resolveProvider sets the pod's provider. Every pod's is known before
// any block is evaluated, since a pod's type depends on it.
func (c *Config) resolveProvider(p *Pod) hcl.Diagnostics {
	name, rng, diags := c.staticString(&p.Resource, "provider")
	if diags.HasErrors() {
		return diags
	}
	if a := p.destroyAfterUse; a != nil {
		ctx, d := c.evalContext(p.refs, NewScope(), &p.Resource)
		v, vd := a.Expr.Value(ctx)
		diags = append(append(diags, d...), vd...)
		v, _ = v.Unmark()
		if !vd.HasErrors() && !d.HasErrors() {
			conv, err := convert.Convert(v, cty.Bool)
			if err != nil || conv.IsNull() || !conv.IsKnown() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for \"destroy_after_use\"",
					Detail: "destroy_after_use must be true or false, known while loading.", Subject: a.Expr.Range().Ptr()})
			} else {
				p.DestroyAfterUse = conv.True()
			}
		}
	}
	if name == "" {
		name = DefaultPodProvider
	}
	if s, ok := schemas[name]; !ok || s.Pod == nil {
		subject := rng
		if subject == nil {
			subject = p.DeclRange.Ptr()
		}
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported provider",
			Detail: fmt.Sprintf("provider must be one of %s, got %q", providers.QuoteList(PodProviders()), name), Subject: subject})
	}
	p.Provider = name
	return diags
}

func (c *Config) validatePod(p *Pod) hcl.Diagnostics {
	if p.Provider == "" {
		return nil // resolveProvider said why
	}
	name, s := p.Provider, p.Schema()
	var diags hcl.Diagnostics
	// The block is decoded with every provider's arguments; only its own
	// provider's may be set, and its provider checks their values.
	for _, a := range sortedKeys(p.written) {
		if _, own := s.Pod[a]; !own {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   fmt.Sprintf("A %s pod does not take %q. It takes %s.", name, a, providers.QuoteList(slices.Sorted(maps.Keys(s.Pod)))),
				Subject:  p.attrRange(a).Ptr(),
			})
		}
	}
	val, d := c.decode(&p.Resource, NewScope())
	diags = append(diags, d...)
	if d.HasErrors() || !val.IsKnown() {
		return diags
	}
	for _, a := range sortedKeys(s.Pod) {
		spec := s.Pod[a]
		v := val.GetAttr(a)
		switch {
		case v.IsNull() && spec.Required:
			detail := fmt.Sprintf("A %s pod needs %s.", name, a)
			if spec.Hint != "" {
				detail = fmt.Sprintf("A %s pod needs %s: %s.", name, a, spec.Hint)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   detail,
				Subject:  p.DeclRange.Ptr(),
			})
		case spec.Validate != nil && !v.IsNull() && v.IsWhollyKnown():
			uv, _ := v.UnmarkDeep()
			if err := spec.Validate(uv); err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Invalid value for %q", a),
					Detail:   sentence(a + " " + err.Error()),
					Subject:  p.valueRange(a).Ptr(),
				})
			}
		}
	}
	return diags
}
