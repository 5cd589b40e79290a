package lang

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/engines"
)

// Server is a server block: an inference server placed on a pod, an
// endpoint that already exists, or the built-in simulator.
type Server struct {
	Resource
	// Engine is the engine the server runs, known once Load has
	// succeeded.
	Engine *engines.Engine
	// Pod is the pod instance the server runs on, nil for an endpoint or
	// the simulator.
	Pod *Addr

	podAttr *hcl.Attribute
	// podBlock is the pod block podAttr names, whichever instance.
	podBlock *Addr
}

var simulateSpec = hcldec.ObjectSpec{
	"ttft":               durationAttr("ttft", false),
	"itl":                durationAttr("itl", false),
	"jitter":             numberAttr("jitter", 0, 1),
	"max_num_seqs":       intAttr("max_num_seqs", 1, false),
	"itl_per_seq":        durationAttr("itl_per_seq", false),
	"prefill_per_token":  durationAttr("prefill_per_token", false),
	"seed":               intAttr("seed", 0, false),
	"default_max_tokens": intAttr("default_max_tokens", 1, false),
	"max_model_len":      intAttr("max_model_len", 1, false),
	"reasoning_tokens":   intAttr("reasoning_tokens", 0, false),
	// The engine whose /metrics the simulator imitates; its provider
	// knows which it can.
	"engine":   attr("engine", cty.String),
	"schedule": attr("schedule", cty.String),
}

var serverSpec = hcldec.ObjectSpec{
	"endpoint":          urlAttr("endpoint"),
	"model":             attr("model", cty.String),
	"served_model_name": attr("served_model_name", cty.String),
	"api_key":           attr("api_key", cty.String),
	"args":              attr("args", cty.List(cty.String)),
	"env":               attr("env", cty.Map(cty.String)),
	"image":             attr("image", cty.String),
	"port":              intAttr("port", 1, false),
	"price_per_hour":    numberAttr("price_per_hour", 0, 1e6),
	"ready_timeout":     durationAttr("ready_timeout", false),
	"executable":        attr("executable", cty.String),
	"simulate":          block("simulate", false, simulateSpec),
}

func decodeServerBlock(b *hcl.Block) (*Server, hcl.Diagnostics) {
	r, refAttrs, diags := newResource(KindServer, b, serverSpec, []string{"engine"}, []string{"pod"})
	s := &Server{Resource: *r, podAttr: refAttrs["pod"]}
	if s.podAttr != nil {
		block, d := namedBlock(s.podAttr, KindPod)
		diags = append(diags, d...)
		s.podBlock = block
	}
	return s, diags
}

// namedBlock reads which block of a kind an argument names, as in
// pod = pod.h100 or pod = pod.gpu[each.key]: the argument must refer to
// exactly one block of that kind. Which instance it names is known once
// the blocks are expanded.
func namedBlock(a *hcl.Attribute, kind Kind) (*Addr, hcl.Diagnostics) {
	refs, _ := referencesIn(a.Expr.Variables())
	var block *Addr
	for _, ref := range refs {
		switch {
		case ref.addr.Kind != kind:
		case block == nil:
			block = &ref.addr
		case *block != ref.addr:
			return nil, namesNoBlock(a, kind)
		}
	}
	if block == nil {
		return nil, namesNoBlock(a, kind)
	}
	return block, nil
}

func namesNoBlock(a *hcl.Attribute, kind Kind) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid reference",
		Detail:   fmt.Sprintf("The argument %q must name one %s block, as in %s = %s.NAME, or %s.NAME[KEY] for an instance.", a.Name, kind, a.Name, kind, kind),
		Subject:  a.Expr.Range().Ptr(),
	}}
}

// launchArgs are the arguments of a server benchform starts.
var launchArgs = []string{"args", "env", "image", "served_model_name", "port", "executable"}

func (c *Config) validateServer(s *Server) hcl.Diagnostics {
	name, rng, diags := c.staticString(&s.Resource, "engine")
	if diags.HasErrors() {
		return diags
	}
	if rng == nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   fmt.Sprintf("A server needs an engine: %s.", quoteList(engines.Names())),
			Subject:  s.DeclRange.Ptr(),
		})
	}
	e, ok := engines.Lookup(name)
	if !ok {
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported engine", Detail: checkEnum("engine", name, engines.Names()).Error(), Subject: rng})
	}
	s.Engine = e
	_, d := c.decode(&s.Resource, NewScope())
	diags = append(diags, d...)

	notFor := func(name, why string) {
		var subject hcl.Range
		switch {
		case name == "pod" && s.podAttr != nil:
			subject = s.podAttr.Range
		case s.hasAttr(name):
			subject = s.attrRange(name)
		default:
			return
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Argument not valid for this engine",
			Detail:   fmt.Sprintf("A %s server does not take %q: %s.", e.Name, name, why),
			Subject:  &subject,
		})
	}
	missing := func(detail string) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   detail,
			Subject:  s.DeclRange.Ptr(),
		})
	}
	if !e.BuiltIn && s.simulateBlock() != nil {
		rng := s.simulateBlock().DefRange
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Block not valid for this engine",
			Detail:   fmt.Sprintf("A simulate block sets the timing of the built-in simulator; a %s server has none. Remove it, or set engine = \"simulated\".", e.Name),
			Subject:  &rng,
		})
	}
	switch {
	case e.BuiltIn:
		notFor("pod", "the simulator runs inside benchform")
		notFor("endpoint", "the simulator listens on an address of its own")
		for _, name := range append(launchArgs, "ready_timeout") {
			notFor(name, "the simulator is not a process with a command line")
		}
	case e.Launch == nil:
		notFor("pod", "it talks to an endpoint that already runs; name the engine it runs, such as \"vllm\", to start a server on a pod")
		for _, name := range launchArgs {
			notFor(name, "benchform does not start an endpoint that already runs")
		}
		if !s.hasAttr("endpoint") {
			missing(fmt.Sprintf("A %s server talks to an endpoint that already runs: set endpoint, for example endpoint = \"http://localhost:8000\".", e.Name))
		}
	default:
		onPod := s.podAttr != nil
		switch {
		case !onPod && !s.hasAttr("endpoint"):
			missing(fmt.Sprintf("A %s server runs on a pod (pod = pod.NAME) or already runs at an endpoint (endpoint = \"http://localhost:%d\").", e.Name, e.Launch.Port))
		case onPod && s.hasAttr("endpoint"):
			notFor("endpoint", "a server on a pod gets its endpoint from the pod")
		case onPod && !s.hasAttr("model"):
			missing(fmt.Sprintf("A %s server started on a pod needs the model to serve, such as model = \"Qwen/Qwen2.5-7B-Instruct\".", e.Name))
		}
		if !onPod {
			for _, name := range launchArgs {
				notFor(name, "it already runs at its endpoint, so benchform does not start it")
			}
			break
		}
		if !e.Launch.Flags {
			notFor("args", fmt.Sprintf("%s takes no flags; set its environment with env instead", e.Name))
		}
		if !e.Launch.ServedName {
			notFor("served_model_name", fmt.Sprintf("%s serves the model under the name it is given", e.Name))
		}
		if s.Pod != nil {
			if pod := c.Pods[*s.Pod]; pod != nil && pod.Provider != "" {
				if pod.Schema().Pods.RunsServer {
					notFor("executable", "the engine runs in its container image on the pod; set image instead")
				} else {
					notFor("image", "the engine runs as a process on the pod's machine; set executable instead")
				}
			}
		}
	}
	return diags
}

// checkPlacement refuses more servers on a pod than its provider can run.
// The first declared keeps its place; each one after it gets a diagnostic
// on its pod argument, since without it a pod would bill while benchform
// waited for a server that never starts.
func (c *Config) checkPlacement() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, addr := range sortedAddrs(c.Pods) {
		pod := c.Pods[addr]
		limit := pod.Schema().Pods.ServersPerPod
		servers := c.ServersOn(pod.Addr)
		if limit == 0 || len(servers) <= limit {
			continue
		}
		sort.SliceStable(servers, func(i, j int) bool { return rangeBefore(servers[i].DeclRange, servers[j].DeclRange) })
		first := servers[0]
		for _, s := range servers[limit:] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "One server per pod",
				Detail: fmt.Sprintf("A %s pod runs the container of one server, and %s, declared at %s, is already placed on %s. Give %s a pod of its own.",
					pod.Provider, first.Addr, first.DeclRange, pod.Addr, s.Addr),
				Subject: s.podAttr.Range.Ptr(),
			})
		}
	}
	return diags
}

// rangeBefore orders ranges by file, then position.
func rangeBefore(a, b hcl.Range) bool {
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	return a.Start.Byte < b.Start.Byte
}

// ServersOn returns the server instances placed on a pod instance, sorted
// by address.
func (c *Config) ServersOn(pod Addr) []*Server {
	var out []*Server
	for _, addr := range sortedAddrs(c.Servers) {
		if s := c.Servers[addr]; s.Pod != nil && *s.Pod == pod {
			out = append(out, s)
		}
	}
	return out
}

func (s *Server) simulateBlock() *hcl.Block {
	content, _, _ := s.body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "simulate"}}})
	if content == nil || len(content.Blocks) == 0 {
		return nil
	}
	return content.Blocks[0]
}

// ProviderName returns the provider that manages the server: the pod's for
// a server on a pod, "openai" for an endpoint, "simulated" for the
// simulator. It needs a loaded configuration.
func (c *Config) ServerProvider(s *Server) string {
	switch {
	case s.Engine != nil && s.Engine.BuiltIn:
		return "simulated"
	case s.Pod != nil:
		if p := c.Pods[*s.Pod]; p != nil {
			return p.Provider
		}
		return ""
	default:
		return "openai"
	}
}
