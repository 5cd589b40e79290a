package local

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// Schema is what the provider declares: a pod stands for this machine,
// which costs nothing unless a price is stated, and runs any number of
// servers as processes.
var Schema = providers.Schema{
	Provider: map[string]providers.Attribute{},
	Pod: map[string]providers.Attribute{
		providers.AttrPricePerHour: {Type: cty.Number, Validate: providers.NumberBetween(0, 1e6)},
	},
	PodComputed: map[string]cty.Type{providers.AttrID: cty.String},
}

// Schema implements providers.Schemer.
func (p *Provider) Schema() providers.Schema { return Schema }

var _ providers.Schemer = (*Provider)(nil)
