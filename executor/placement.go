package executor

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
)

// decodeForProvider evaluates a pod's or server's configuration as its
// provider receives it (see the configuration shapes in package
// providers): a rented pod carries the server placed on it, since its
// container is built from the server's settings; a server on a pod carries
// the pod's object. The placed server's settings are part of the pod's
// configuration hash, so changing a server's model updates its pod.
func decodeForProvider(cfg *lang.Config, addr lang.Addr, scope *lang.Scope) (cty.Value, hcl.Diagnostics) {
	config, diags := cfg.Decode(addr, scope)
	if diags.HasErrors() || !config.IsKnown() || config.IsNull() {
		return config, diags
	}
	attrs := config.AsValueMap()
	switch addr.Kind {
	case lang.KindPod:
		if !cfg.Pods[addr].Schema().Pods.RunsServer {
			return config, diags
		}
		placed := cty.NullVal(cty.DynamicPseudoType)
		if servers := cfg.ServersOn(addr); len(servers) > 0 {
			v, d := cfg.Decode(servers[0].Addr, scope)
			diags = append(diags, d...)
			placed = v
		}
		attrs[providers.AttrServer] = placed
	case lang.KindServer:
		s := cfg.Servers[addr]
		pod := cty.NullVal(cty.DynamicPseudoType)
		if s.Pod != nil {
			if v, ok := scope.Get(*s.Pod); ok {
				pod = v
			} else {
				pod = cty.UnknownVal(cfg.ObjectType(*s.Pod))
			}
		}
		attrs[providers.AttrPod] = pod
	}
	return cty.ObjectVal(attrs), diags
}
