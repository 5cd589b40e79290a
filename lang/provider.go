package lang

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
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

// providerSpecs lists the providers a configuration may configure and
// their arguments.
var providerSpecs = map[string]hcldec.ObjectSpec{
	"runpod": {
		"api_key":    attr("api_key", cty.String),
		"cloud_type": enumAttr("cloud_type", false, "SECURE", "COMMUNITY"),
		"rest_url":   urlAttr("rest_url"),
		"proxy_url":  attr("proxy_url", cty.String),
	},
	"local": {},
}

// PodProviders are the values a pod's provider argument may take.
var PodProviders = []string{"runpod", "local"}

// serversPerPod is how many servers a pod of a provider can run, for the
// providers that limit it: a RunPod pod runs one container, built from the
// one server placed on it.
var serversPerPod = map[string]int{"runpod": 1}

func decodeProviderBlock(b *hcl.Block) (*Provider, hcl.Diagnostics) {
	name := b.Labels[0]
	spec, ok := providerSpecs[name]
	if !ok {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unsupported provider",
			Detail:   fmt.Sprintf("There is no provider named %q. Providers are %s.", name, quoteList(PodProviders)),
			Subject:  b.LabelRanges[0].Ptr(),
		}}
	}
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
		spec, ok := providerSpecs[name]
		if !ok {
			return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported provider", Detail: fmt.Sprintf("There is no provider named %q.", name)}}
		}
		return cty.NullVal(hcldec.ImpliedType(spec)), nil
	}
	ctx, diags := c.evalContext(p.refs, NewScope())
	v, d := hcldec.Decode(p.body, p.spec, ctx)
	return v, append(diags, d...)
}
