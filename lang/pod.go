package lang

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Pod is a pod block: a machine with GPUs, rented from a provider or, with
// provider = "local", this machine.
type Pod struct {
	Resource
	// Provider is the provider's name, known once Load has succeeded.
	Provider string
}

var podSpec = hcldec.ObjectSpec{
	"gpu_type": validated(attr("gpu_type", cty.DynamicPseudoType), func(v cty.Value) error {
		_, err := GPUTypes(v)
		return err
	}),
	"gpu_count":         intAttr("gpu_count", 1, false),
	"cloud_type":        enumAttr("cloud_type", false, "SECURE", "COMMUNITY"),
	"container_disk_gb": intAttr("container_disk_gb", 1, false),
	"volume_gb":         intAttr("volume_gb", 0, false),
	"env":               attr("env", cty.Map(cty.String)),
	"ports":             attr("ports", cty.List(cty.String)),
	"data_center_ids":   attr("data_center_ids", cty.List(cty.String)),
	"name":              attr("name", cty.String),
	"ttl":               durationAttr("ttl", false),
	"image":             attr("image", cty.String),
	"price_per_hour":    numberAttr("price_per_hour", 0, 1e6),
}

func decodePodBlock(b *hcl.Block) (*Pod, hcl.Diagnostics) {
	r, _, diags := newResource(KindPod, b, podSpec, []string{"provider"}, nil)
	return &Pod{Resource: *r}, diags
}

// GPUTypes reads gpu_type, which is one GPU type id or a list of them in
// order of preference.
func GPUTypes(v cty.Value) ([]string, error) {
	v, _ = v.UnmarkDeep()
	ty := v.Type()
	switch {
	case ty == cty.String:
		return []string{v.AsString()}, nil
	case ty.IsListType() || ty.IsTupleType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() != cty.String || e.IsNull() {
				return nil, fmt.Errorf("gpu_type must be a string or a list of strings")
			}
			out = append(out, e.AsString())
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("gpu_type must list at least one GPU type")
		}
		return out, nil
	}
	return nil, fmt.Errorf("gpu_type must be a string or a list of strings")
}

func (c *Config) validatePod(p *Pod) hcl.Diagnostics {
	name, rng, diags := c.staticString(&p.Resource, "provider")
	if diags.HasErrors() {
		return diags
	}
	if name == "" {
		name = "runpod"
	}
	if err := checkEnum("provider", name, PodProviders); err != nil {
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported provider", Detail: err.Error(), Subject: rng})
	}
	p.Provider = name
	val, d := c.decode(&p.Resource, NewScope())
	diags = append(diags, d...)
	if d.HasErrors() || !val.IsKnown() {
		return diags
	}
	if name == "runpod" && val.GetAttr("gpu_type").IsNull() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   "A runpod pod needs gpu_type: one GPU type id such as \"NVIDIA H100 80GB HBM3\", or a list of them tried in order.",
			Subject:  p.DeclRange.Ptr(),
		})
	}
	return diags
}
