package lang

import (
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/benchform/benchform/providers"
)

// Scope holds the values of pods and servers known at one moment: from
// state while planning, from providers while applying. A resource absent
// from the scope evaluates as an unknown value of its type, shown in plans
// as (known after apply). A Scope is safe for concurrent use.
type Scope struct {
	mu     sync.RWMutex
	values map[Addr]cty.Value
	// addresses makes every pod and server instance evaluate to its
	// address, so that an argument naming a pod or servers
	// (pod = pod.gpu[each.key], server = values(server.llm)) evaluates to
	// the addresses it names.
	addresses bool
}

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{values: map[Addr]cty.Value{}} }

// addressScope returns a scope in which instances are their addresses.
func addressScope() *Scope { return &Scope{values: map[Addr]cty.Value{}, addresses: true} }

// Set records the value other blocks see for addr.
func (s *Scope) Set(addr Addr, v cty.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[addr] = v
}

// Get returns the value recorded for addr.
func (s *Scope) Get(addr Addr) (cty.Value, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.values[addr]
	return v, ok
}

// serverComputed are the attributes of a server its provider sets during
// apply; a pod's are its provider's (providers.Schema.PodComputed).
// Arguments a provider may fill in (a server's model or endpoint) are
// arguments, not listed here.
var serverComputed = map[string]cty.Type{providers.AttrID: cty.String}

// ObjectType returns the type of the value references to the instance at
// addr evaluate to.
func (c *Config) ObjectType(addr Addr) cty.Type {
	r := c.Resource(addr)
	switch addr.Kind {
	case KindPod:
		return r.ObjectType(c.Pods[addr].Schema().PodComputed)
	case KindServer:
		return r.ObjectType(serverComputed)
	default:
		return r.ObjectType(nil)
	}
}

// Object builds the value references to addr see: its configuration, and
// where the configuration leaves an attribute null, what its provider
// computed (an endpoint, a resolved model name). Attributes neither has are
// null. The configuration wins because it is the truth about arguments:
// state holds them with secrets removed.
func (c *Config) Object(addr Addr, config, computed cty.Value) cty.Value {
	ty := c.ObjectType(addr)
	attrs := map[string]cty.Value{}
	for name, at := range ty.AttributeTypes() {
		v := cty.NullVal(at)
		if config != cty.NilVal && !config.IsNull() && config.IsKnown() && config.Type().IsObjectType() && config.Type().HasAttribute(name) {
			v = config.GetAttr(name)
		}
		if computed != cty.NilVal && !computed.IsNull() && computed.Type().IsObjectType() && computed.Type().HasAttribute(name) {
			if cv := computed.GetAttr(name); !cv.IsNull() && v.IsKnown() && v.IsNull() {
				v = cv
			}
		}
		conv, err := convert.Convert(v, at)
		if err != nil {
			conv = cty.UnknownVal(at)
		}
		attrs[name] = conv
	}
	return cty.ObjectVal(attrs)
}

// evalContext builds the context for expressions with the given references:
// every variable, the locals and resources referred to (locals evaluated on
// the way), the functions, and, for an instance of a block with count or
// for_each (inst; nil elsewhere), count.index or each.key and each.value.
func (c *Config) evalContext(refs []reference, s *Scope, inst *Resource) (*hcl.EvalContext, hcl.Diagnostics) {
	vars := make(map[string]cty.Value, len(c.Variables))
	for name, v := range c.Variables {
		vars[name] = v.Value
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: c.funcs,
	}
	pods := map[string]cty.Value{}
	servers := map[string]cty.Value{}
	locals := map[string]cty.Value{}
	var diags hcl.Diagnostics
	for _, ref := range refs {
		switch ref.addr.Kind {
		case KindPod, KindServer:
			if c.block(ref.addr) == nil {
				continue // reported by Load as an undeclared reference
			}
			v := c.blockValue(ref.addr, s)
			if ref.addr.Kind == KindPod {
				pods[ref.addr.Name] = v
			} else {
				servers[ref.addr.Name] = v
			}
		case KindLocal:
			if _, done := locals[ref.addr.Name]; !done && c.Locals[ref.addr.Name] != nil {
				v, d := c.evalLocal(ref.addr.Name, s)
				diags = append(diags, d...)
				locals[ref.addr.Name] = v
			}
		}
	}
	ctx.Variables["pod"] = cty.ObjectVal(pods)
	ctx.Variables["server"] = cty.ObjectVal(servers)
	ctx.Variables["local"] = cty.ObjectVal(locals)
	if inst != nil && inst.repeat != nil && inst.Addr.Key != "" {
		key := KeyValue(inst.Addr.Key)
		if inst.forEach {
			value, d := c.eachValue(inst, s)
			diags = append(diags, d...)
			ctx.Variables["each"] = cty.ObjectVal(map[string]cty.Value{"key": key, "value": value})
		} else {
			ctx.Variables["count"] = cty.ObjectVal(map[string]cty.Value{"index": key})
		}
	}
	return ctx, diags
}

// instanceValue is what a reference to one instance sees in scope s: its
// address in an address scope, else its value, unknown until planned.
func (c *Config) instanceValue(addr Addr, s *Scope) cty.Value {
	if s.addresses {
		return cty.StringVal(addr.String())
	}
	if v, ok := s.Get(addr); ok {
		return v
	}
	return cty.UnknownVal(c.ObjectType(addr))
}

// blockValue is what a reference to a pod or server block sees: its one
// instance, a tuple of its count instances, or an object of its for_each
// instances by key. A block whose instances are not known (its count or
// for_each is invalid) is unknown.
func (c *Config) blockValue(block Addr, s *Scope) cty.Value {
	decl := c.block(block)
	insts, expanded := c.instances[block]
	switch {
	case !expanded:
		return cty.DynamicVal
	case decl.repeat == nil:
		return c.instanceValue(block, s)
	case !decl.forEach:
		if len(insts) == 0 {
			return cty.EmptyTupleVal
		}
		vals := make([]cty.Value, len(insts))
		for i, a := range insts {
			vals[i] = c.instanceValue(a, s)
		}
		return cty.TupleVal(vals)
	default:
		vals := make(map[string]cty.Value, len(insts))
		for _, a := range insts {
			vals[KeyValue(a.Key).AsString()] = c.instanceValue(a, s)
		}
		return cty.ObjectVal(vals)
	}
}

// eachValue is each.value of a for_each instance: the element of the
// for_each map under its key, or the key itself for a set. The for_each
// expression is evaluated in s, so that a map of pods or servers gives
// their values when they are known, and their addresses in an address
// scope.
func (c *Config) eachValue(inst *Resource, s *Scope) (cty.Value, hcl.Diagnostics) {
	key := KeyValue(inst.Addr.Key)
	ctx, diags := c.evalContext(inst.repeatRefs, s, nil)
	v, d := inst.repeat.Expr.Value(ctx)
	diags = append(diags, d...)
	v, marks := v.Unmark()
	ty := v.Type()
	switch {
	case diags.HasErrors() || v.IsNull():
		return cty.DynamicVal, diags
	case ty.IsSetType():
		return key.WithMarks(marks), diags
	case !v.IsKnown():
		return cty.DynamicVal, diags
	case ty.IsObjectType():
		if !ty.HasAttribute(key.AsString()) {
			return cty.DynamicVal, diags
		}
		return v.GetAttr(key.AsString()).WithMarks(marks), diags
	case ty.IsMapType():
		if v.HasIndex(key).False() {
			return cty.DynamicVal, diags
		}
		return v.Index(key).WithMarks(marks), diags
	}
	return cty.DynamicVal, diags
}

// evalLocal evaluates a local value and, through evalContext, the locals it
// refers to; Load has rejected cycles, so the recursion ends.
func (c *Config) evalLocal(name string, s *Scope) (cty.Value, hcl.Diagnostics) {
	l := c.Locals[name]
	ctx, diags := c.evalContext(l.refs, s, nil)
	v, d := l.Expr.Value(ctx)
	return v, append(diags, d...)
}

// Decode evaluates a pod, server or scenario instance against a scope.
func (c *Config) Decode(addr Addr, s *Scope) (cty.Value, hcl.Diagnostics) {
	r := c.Resource(addr)
	if r == nil {
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown resource", Detail: "The configuration declares no " + addr.String() + "."}}
	}
	return c.decode(r, s)
}

// EvalOutput evaluates an output against a scope.
func (c *Config) EvalOutput(name string, s *Scope) (cty.Value, hcl.Diagnostics) {
	o := c.Outputs[name]
	ctx, diags := c.evalContext(o.refs, s, nil)
	v, d := o.Expr.Value(ctx)
	diags = append(diags, d...)
	if o.Sensitive {
		v = v.Mark(Sensitive)
	}
	return v, diags
}
