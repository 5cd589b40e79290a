package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty/function"
)

// Config is a loaded configuration directory: its blocks, the values of its
// variables and the graph of references between them.
type Config struct {
	// Dir is the configuration directory; file() resolves against it.
	Dir string

	Variables map[string]*Variable
	Locals    map[string]*Local
	Providers map[string]*Provider
	// Pods, Servers and Scenarios hold every instance of the pod, server
	// and scenario blocks by address: the block itself when it has
	// neither count nor for_each, else one per index or key.
	Pods      map[Addr]*Pod
	Servers   map[Addr]*Server
	Scenarios map[Addr]*Scenario
	Outputs   map[string]*Output
	// Checks are the check blocks, by name.
	Checks map[string]*Check
	// stateBlock is the state block, nil when there is none.
	stateBlock *StateBlock

	// pods, servers and scenarios are the blocks as declared, by name.
	pods      map[string]*Pod
	servers   map[string]*Server
	scenarios map[string]*Scenario
	// instances lists the instances of each block, by the block's
	// address, in key order; a block whose count or for_each is invalid
	// is absent.
	instances map[Addr][]Addr

	files map[string]*hcl.File
	funcs map[string]function.Function
	graph *Graph
}

// LoadOptions are the values a configuration is loaded with. The zero value
// reads variables from the process environment only.
type LoadOptions struct {
	// Vars are -var and -var-file arguments in command-line order; a later
	// one wins over an earlier one.
	Vars []VarArg
	// Environ is the environment BENCHFORM_VAR_name values come from, in
	// os.Environ form; nil means os.Environ().
	Environ []string
	// AllowUnset leaves variables without a value unknown instead of
	// reporting them, so that a configuration can be checked before its
	// values are at hand.
	AllowUnset bool
}

// VarArg is one -var name=value or -var-file=path argument.
type VarArg struct {
	// File is the path of a -var-file; empty for a -var.
	File string `json:"file,omitempty"`
	// Assignment is the text of a -var, "name=value".
	Assignment string `json:"assignment,omitempty"`
}

var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "provider", LabelNames: []string{"name"}},
		{Type: "pod", LabelNames: []string{"name"}},
		{Type: "server", LabelNames: []string{"name"}},
		{Type: "scenario", LabelNames: []string{"name"}},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "state"},
	},
}

// Load reads every *.hcl file of dir and checks it. The Config is returned
// even when there are errors, so that diagnostics can be rendered with the
// source it holds.
func Load(dir string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	cfg := &Config{
		Dir:       dir,
		Variables: map[string]*Variable{},
		Locals:    map[string]*Local{},
		Providers: map[string]*Provider{},
		Pods:      map[Addr]*Pod{},
		Servers:   map[Addr]*Server{},
		Scenarios: map[Addr]*Scenario{},
		Outputs:   map[string]*Output{},
		Checks:    map[string]*Check{},
		pods:      map[string]*Pod{},
		servers:   map[string]*Server{},
		scenarios: map[string]*Scenario{},
		instances: map[Addr][]Addr{},
		files:     map[string]*hcl.File{},
		funcs:     functions(dir),
	}
	paths, err := ConfigFiles(dir)
	if err != nil {
		return cfg, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration directory", Detail: err.Error()}}
	}
	if len(paths) == 0 {
		return cfg, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The directory %s contains no .hcl files. Write the configuration in files ending in .hcl, or pass the directory that holds them.", dir),
		}}
	}

	parser := hclparse.NewParser()
	var diags hcl.Diagnostics
	var bodies []hcl.Body
	for _, path := range paths {
		src, d := ReadSource(path)
		if d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		f, d := parser.ParseHCL(src, path)
		diags = append(diags, d...)
		if f != nil {
			bodies = append(bodies, f.Body)
		}
	}
	cfg.files = parser.Files()

	// A syntax error leaves a body whose meaning is a guess; stop there
	// rather than report the consequences of the guess.
	if diags.HasErrors() {
		return cfg, diags
	}
	for _, body := range bodies {
		content, d := body.Content(topSchema)
		diags = append(diags, d...)
		for _, b := range content.Blocks {
			diags = append(diags, cfg.addBlock(b)...)
		}
	}

	diags = append(diags, cfg.assignVariables(opts)...)
	graph, d := cfg.buildGraph()
	diags = append(diags, d...)
	cfg.graph = graph
	expanded := cfg.expand()
	var keys hcl.Diagnostics
	for _, n := range cfg.nodes() {
		keys = append(keys, cfg.checkInstanceRefs(n.refs)...)
	}
	d = append(d, keys...)
	diags = append(append(diags, keys...), dropCovered(expanded, d)...)
	// Evaluation goes on after a bad reference so that the other problems
	// are reported too; hcl's own complaint about the same expression
	// would only repeat ours.
	diags = append(diags, dropCovered(cfg.validate(), d)...)
	diags = append(diags, cfg.checkScenarioRefs()...)
	_, d = cfg.State()
	diags = append(diags, d...)
	return cfg, diags
}

// validate evaluates every block with nothing known about pods and
// servers, which checks types, required arguments and the rules of each
// block.
func (c *Config) validate() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, a := range sortedAddrs(c.Pods) {
		diags = append(diags, c.resolveProvider(c.Pods[a])...)
	}
	for _, a := range c.graph.sortedNodes() {
		if c.graph.reachesCycle(a) {
			continue // its value cannot be computed; the cycle is reported
		}
		for _, inst := range c.instances[a] {
			switch a.Kind {
			case KindPod:
				diags = append(diags, c.validatePod(c.Pods[inst])...)
			case KindServer:
				diags = append(diags, c.validateServer(c.Servers[inst])...)
			case KindScenario:
				diags = append(diags, c.validateScenario(c.Scenarios[inst])...)
			}
		}
		switch a.Kind {
		case KindLocal:
			_, d := c.evalLocal(a.Name, NewScope())
			diags = append(diags, d...)
		case KindOutput:
			_, d := c.EvalOutput(a.Name, NewScope())
			diags = append(diags, d...)
		}
	}
	for _, name := range sortedKeys(c.Providers) {
		_, d := c.DecodeProvider(name)
		diags = append(diags, d...)
	}
	diags = append(diags, c.checkPlacement()...)
	return dedupe(diags)
}

// dropCovered removes diagnostics about a range that one of covering
// already reports on.
func dropCovered(diags, covering hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		covered := false
		for _, c := range covering {
			if d.Subject != nil && c.Subject != nil && d.Subject.Filename == c.Subject.Filename && d.Subject.Overlaps(*c.Subject) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, d)
		}
	}
	return out
}

// dedupe removes repeated diagnostics. A local evaluated by several blocks
// reports the same problem from each.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		summary, detail string
		rng             hcl.Range
	}
	seen := map[key]bool{}
	var out hcl.Diagnostics
	for _, d := range diags {
		k := key{summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.rng = *d.Subject
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// ConfigFiles lists the configuration files of dir in the order they are
// read.
func ConfigFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") && !strings.HasPrefix(e.Name(), ".") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// Files returns the source of every file read, keyed by the file names
// diagnostics carry, for rendering snippets.
func (c *Config) Files() map[string]*hcl.File { return c.files }

// Graph returns the references between blocks.
func (c *Config) Graph() *Graph { return c.graph }

func (c *Config) addBlock(b *hcl.Block) hcl.Diagnostics {
	if len(b.Labels) > 0 && !validName(b.Labels[0]) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid name",
			Detail:   fmt.Sprintf("%q is not a valid %s name. A name must start with a letter or underscore and may contain only letters, digits, underscores and dashes.", b.Labels[0], b.Type),
			Subject:  b.LabelRanges[0].Ptr(),
		}}
	}
	switch b.Type {
	case "variable":
		return addNamed(c.Variables, b, decodeVariableBlock)
	case "locals":
		locals, diags := decodeLocalsBlock(b)
		for _, l := range locals {
			if prev := c.Locals[l.Name]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value definition",
					Detail:   fmt.Sprintf("A local value named %q was already defined at %s. Local value names must be unique.", l.Name, prev.DeclRange),
					Subject:  l.DeclRange.Ptr(),
				})
				continue
			}
			c.Locals[l.Name] = l
		}
		return diags
	case "provider":
		return addNamed(c.Providers, b, decodeProviderBlock)
	case "pod":
		return addNamed(c.pods, b, decodePodBlock)
	case "server":
		return addNamed(c.servers, b, decodeServerBlock)
	case "scenario":
		return addNamed(c.scenarios, b, decodeScenarioBlock)
	case "output":
		return addNamed(c.Outputs, b, decodeOutputBlock)
	case "check":
		return addNamed(c.Checks, b, decodeCheckBlock)
	case "state":
		if c.stateBlock != nil {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Duplicate state block",
				Detail: fmt.Sprintf("The state is already set at %s; a configuration has one state.", c.stateBlock.DeclRange), Subject: b.DefRange.Ptr()}}
		}
		c.stateBlock = decodeStateBlock(b)
	}
	return nil
}

// addNamed decodes a labelled block and adds it under its name; a second
// block of the same name is reported and left out.
func addNamed[T declared](into map[string]T, b *hcl.Block, decode func(*hcl.Block) (T, hcl.Diagnostics)) hcl.Diagnostics {
	v, diags := decode(b)
	var none T
	if any(v) == any(none) {
		return diags // nothing usable was decoded; diags say why
	}
	name := b.Labels[0]
	if _, ok := into[name]; ok {
		return append(diags, checkDuplicate(into, name, b)...)
	}
	into[name] = v
	return diags
}

// declared is implemented by every named block so duplicates can say where
// the first one was.
type declared interface{ declRange() hcl.Range }

func checkDuplicate[T declared](existing map[string]T, name string, b *hcl.Block) hcl.Diagnostics {
	prev, ok := existing[name]
	if !ok {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s. Each %s needs a unique name.", b.Type, name, prev.declRange(), b.Type),
		Subject:  b.LabelRanges[0].Ptr(),
	}}
}

// Resource returns the pod, server or scenario instance at addr, or nil.
func (c *Config) Resource(addr Addr) *Resource {
	switch addr.Kind {
	case KindPod:
		if p := c.Pods[addr]; p != nil {
			return &p.Resource
		}
	case KindServer:
		if s := c.Servers[addr]; s != nil {
			return &s.Resource
		}
	case KindScenario:
		if s := c.Scenarios[addr]; s != nil {
			return &s.Resource
		}
	}
	return nil
}

// block returns the pod, server or scenario block addr belongs to, as
// declared, or nil.
func (c *Config) block(addr Addr) *Resource {
	switch addr.Kind {
	case KindPod:
		if p := c.pods[addr.Name]; p != nil {
			return &p.Resource
		}
	case KindServer:
		if s := c.servers[addr.Name]; s != nil {
			return &s.Resource
		}
	case KindScenario:
		if s := c.scenarios[addr.Name]; s != nil {
			return &s.Resource
		}
	}
	return nil
}

// Resources returns every instance of every pod, server and scenario in an
// order where each comes after everything it refers to, ties broken by
// address.
func (c *Config) Resources() []Addr {
	var out []Addr
	for _, a := range c.graph.Order() {
		if a.Kind.IsResource() {
			out = append(out, c.instances[a]...)
		}
	}
	return out
}

// Instances returns the instances addr names: every instance of a block,
// or the one instance an instance address names; nil when there is none.
func (c *Config) Instances(addr Addr) []Addr {
	if addr.Key == "" {
		return c.instances[addr]
	}
	if c.Resource(addr) != nil {
		return []Addr{addr}
	}
	return nil
}

// Declares reports whether the configuration declares the block addr
// belongs to.
func (c *Config) Declares(addr Addr) bool {
	return c.Exists(addr.Block())
}

// Exists reports whether addr names a block of the configuration.
func (c *Config) Exists(addr Addr) bool {
	switch addr.Kind {
	case KindVariable:
		return c.Variables[addr.Name] != nil
	case KindLocal:
		return c.Locals[addr.Name] != nil
	case KindOutput:
		return c.Outputs[addr.Name] != nil
	default:
		return c.block(addr) != nil
	}
}
