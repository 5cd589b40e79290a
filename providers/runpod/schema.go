package runpod

import (
	"errors"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// Schema is what the provider declares of its blocks: the arguments of the
// provider "runpod" block and of its pods, what it computes, and what its
// pods can do.
var Schema = providers.Schema{
	Provider: map[string]providers.Attribute{
		"api_key":    {Type: cty.String},
		"cloud_type": {Type: cty.String, Validate: providers.OneOf(cloudTypes...)},
		"rest_url":   {Type: cty.String, Validate: providers.HTTPURL},
		"proxy_url":  {Type: cty.String},
	},
	Pod: map[string]providers.Attribute{
		"gpu_type": {Type: cty.DynamicPseudoType, Required: true, Validate: validGPUTypes,
			Hint: `one GPU type id such as "NVIDIA H100 80GB HBM3", or a list of them tried in order`},
		"gpu_count":                {Type: cty.Number, Validate: providers.WholeNumber(1, 64)},
		"cloud_type":               {Type: cty.String, Validate: providers.OneOf(cloudTypes...)},
		"container_disk_gb":        {Type: cty.Number, Validate: providers.WholeNumber(1, 100000)},
		"volume_gb":                {Type: cty.Number, Validate: validVolume},
		"env":                      {Type: cty.Map(cty.String)},
		"ports":                    {Type: cty.List(cty.String)},
		"data_center_ids":          {Type: cty.List(cty.String)},
		"name":                     {Type: cty.String},
		providers.AttrTTL:          {Type: cty.String, Validate: providers.Duration},
		"image":                    {Type: cty.String},
		providers.AttrPricePerHour: {Type: cty.Number, Validate: providers.NumberBetween(0, 1e6)},
	},
	PodComputed: map[string]cty.Type{
		providers.AttrID:          cty.String,
		providers.AttrCostPerHour: cty.Number, // USD, RunPod's price for the pod
		"gpu_type_selected":       cty.String, // the GPU type RunPod found capacity for
		"cloud_selected":          cty.String, // SECURE or COMMUNITY, where the pod landed
		"data_center_id":          cty.String, // the data centre RunPod placed the pod in
		"created_at":              cty.String, // RFC 3339
	},
	// A pod's container is the image of the one server placed on it, and
	// RunPod bills it while it exists.
	Pods: providers.PodCapabilities{ServersPerPod: 1, RunsServer: true, Bills: true},
}

// Schema implements providers.Schemer.
func (p *Provider) Schema() providers.Schema { return Schema }

var _ providers.Schemer = (*Provider)(nil)

var cloudTypes = []string{"SECURE", "COMMUNITY"}

// validGPUTypes accepts one GPU type id or a non-empty list of them.
func validGPUTypes(v cty.Value) error {
	ty := v.Type()
	if ty == cty.String {
		return nil
	}
	if !ty.IsListType() && !ty.IsTupleType() {
		return errors.New("must be a string or a list of strings")
	}
	if v.LengthInt() == 0 {
		return errors.New("must list at least one GPU type")
	}
	for it := v.ElementIterator(); it.Next(); {
		if _, e := it.Element(); e.Type() != cty.String || e.IsNull() {
			return errors.New("must be a string or a list of strings")
		}
	}
	return nil
}

// validVolume accepts 0 (no volume) or RunPod's smallest volume and more.
func validVolume(v cty.Value) error {
	if err := providers.WholeNumber(0, 100000)(v); err != nil {
		return err
	}
	if f, _ := v.AsBigFloat().Float64(); f > 0 && f < 10 {
		return errors.New("must be 0 (no volume) or at least 10, RunPod's smallest volume")
	}
	return nil
}
