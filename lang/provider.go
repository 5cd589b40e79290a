package lang

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// Provider is a provider block: settings shared by every pod of one
// provider, such as an API key.
type Provider struct {
	Name      string
	DeclRange hcl.Range
	body      hcl.Body
	spec      hcldec.ObjectSpec
	refs      []reference
	refDiags  hcl.Diagnostics
}

func (p *Provider) declRange() hcl.Range { return p.DeclRange }

// schemas are the providers registered, by name.
var schemas = map[string]providers.Schema{}

// RegisterProvider makes a provider's blocks known to configurations: the
// arguments of its provider block and, for a provider with pods, of its
// pods, with what its pods can do. main registers every provider the
// binary has, before loading anything; a configuration naming another is
// refused. Two providers may share a pod argument only with one type.
func RegisterProvider(name string, s providers.Schema) {
	if _, dup := schemas[name]; dup {
		panic("lang: provider " + name + " registered twice")
	}
	for n, a := range s.Pod {
		for other, o := range schemas {
			if b, ok := o.Pod[n]; ok && !b.Type.Equals(a.Type) {
				panic(fmt.Sprintf("lang: pod argument %s is %s for %s and %s for %s", n, b.Type.FriendlyName(), other, a.Type.FriendlyName(), name))
			}
		}
	}
	schemas[name] = s
}

// PodProviders lists the registered providers that manage pods, sorted.
func PodProviders() []string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(schemas)) {
		if schemas[n].Pod != nil {
			out = append(out, n)
		}
	}
	return out
}

// ProviderSchema returns a registered provider's schema.
func ProviderSchema(name string) (providers.Schema, bool) {
	s, ok := schemas[name]
	return s, ok
}

// attributeSpecs builds the hcldec specs of a block's arguments; each
// argument's validation reports on its value, naming it.
func attributeSpecs(attrs map[string]providers.Attribute) hcldec.ObjectSpec {
	spec := hcldec.ObjectSpec{}
	for name, a := range attrs {
		s := hcldec.Spec(&hcldec.AttrSpec{Name: name, Type: a.Type})
		if a.Validate != nil {
			s = validated(s, func(v cty.Value) error {
				if err := a.Validate(v); err != nil {
					return fmt.Errorf("%s %w", name, err)
				}
				return nil
			})
		}
		spec[name] = s
	}
	return spec
}

// podSpec decodes a pod block of any provider: the arguments of every
// registered provider's pods. validatePod checks that a block sets only
// those of its own provider.
func podSpec() hcldec.ObjectSpec {
	all := map[string]providers.Attribute{}
	for _, n := range PodProviders() {
		for name, a := range schemas[n].Pod {
			all[name] = providers.Attribute{Type: a.Type}
		}
	}
	return attributeSpecs(all)
}

func decodeProviderBlock(b *hcl.Block) (*Provider, hcl.Diagnostics) {
	name := b.Labels[0]
	s, ok := schemas[name]
	if !ok || (s.Provider == nil && s.Pod == nil) {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unsupported provider",
			Detail:   fmt.Sprintf("There is no provider named %q. Providers are %s.", name, providers.QuoteList(PodProviders())),
			Subject:  b.LabelRanges[0].Ptr(),
		}}
	}
	spec := attributeSpecs(s.Provider)
	refs, d := referencesIn(hcldec.Variables(b.Body, spec))
	return &Provider{
		Name:      name,
		DeclRange: hcl.RangeBetween(b.DefRange, b.LabelRanges[0]),
		body:      b.Body,
		spec:      spec,
		refs:      refs,
		refDiags:  d,
	}, nil
}

// DecodeProvider evaluates a provider block. A provider with no block
// decodes as an object of nulls, so every provider has its defaults.
func (c *Config) DecodeProvider(name string) (cty.Value, hcl.Diagnostics) {
	p := c.Providers[name]
	if p == nil {
		s, ok := schemas[name]
		if !ok {
			return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported provider", Detail: fmt.Sprintf("There is no provider named %q.", name)}}
		}
		return cty.NullVal(hcldec.ImpliedType(attributeSpecs(s.Provider))), nil
	}
	ctx, diags := c.evalContext(p.refs, NewScope(), nil)
	v, d := hcldec.Decode(p.body, p.spec, ctx)
	return v, append(diags, d...)
}
