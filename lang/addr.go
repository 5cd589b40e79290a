package lang

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Addr names a block that others can refer to: "pod.h100", "server.vllm",
// "scenario.chat", "var.model", "local.x" or "output.endpoint", and one
// instance of a block with count or for_each: "pod.gpu[0]",
// `server.llm["vllm"]`. Its String is what users type, and ParseAddr
// reads it back, so one type keys state rows, plan lines, -target,
// -replace and diagnostics.
type Addr struct {
	Kind Kind
	Name string
	// Key is an instance's key as HCL writes it between the brackets: a
	// count index (0) or a for_each key ("vllm", quoted). It is empty for
	// a block with neither, and for the block as a whole.
	Key string
}

// Kind is the type of block an Addr names.
type Kind string

// Kinds of addressable blocks.
const (
	KindPod      Kind = "pod"
	KindServer   Kind = "server"
	KindScenario Kind = "scenario"
	KindVariable Kind = "var"
	KindLocal    Kind = "local"
	KindOutput   Kind = "output"
)

// IsResource reports whether the kind is managed by plan and apply and
// recorded in state.
func (k Kind) IsResource() bool {
	return k == KindPod || k == KindServer || k == KindScenario
}

func (a Addr) String() string {
	s := string(a.Kind) + "." + a.Name
	if a.Key != "" {
		s += "[" + a.Key + "]"
	}
	return s
}

// Block is the address of the block a resource instance belongs to: the
// address without its key.
func (a Addr) Block() Addr {
	a.Key = ""
	return a
}

// Instance is the address of the block's instance with key.
func (a Addr) Instance(key string) Addr {
	a.Key = key
	return a
}

// IntKey is the key of the count instance i.
func IntKey(i int) string { return strconv.Itoa(i) }

// StringKey is the key of the for_each instance k, quoted as HCL quotes
// a string.
func StringKey(k string) string {
	return strings.TrimSpace(string(hclwrite.TokensForValue(cty.StringVal(k)).Bytes()))
}

// KeyValue is the value of an instance key: each.key of a for_each
// instance, count.index of a count one.
func KeyValue(key string) cty.Value {
	if n, err := strconv.Atoi(key); err == nil {
		return cty.NumberIntVal(int64(n))
	}
	expr, diags := hclsyntax.ParseExpression([]byte(key), "", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.StringVal(key)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.StringVal(key)
	}
	return v
}

// Less orders addresses by kind, then name, then key: count indexes as
// numbers, for_each keys as strings.
func (a Addr) Less(b Addr) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return keyLess(a.Key, b.Key)
}

func keyLess(a, b string) bool {
	ia, errA := strconv.Atoi(a)
	ib, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return ia < ib
	}
	return a < b
}

// ParseAddr reads an address as users write it on the command line:
// KIND.NAME, or KIND.NAME[KEY] for an instance.
func ParseAddr(s string) (Addr, error) {
	invalid := func(why string) (Addr, error) {
		return Addr{}, fmt.Errorf("invalid address %q: %s", s, why)
	}
	t, diags := hclsyntax.ParseTraversalAbs([]byte(s), "", hcl.InitialPos)
	if diags.HasErrors() || len(t) < 2 || len(t) > 3 {
		return invalid(`want KIND.NAME, such as pod.h100 or scenario.chat, or KIND.NAME[KEY], such as server.llm["vllm"]`)
	}
	step, ok := t[1].(hcl.TraverseAttr)
	if !ok {
		return invalid("want KIND.NAME, such as pod.h100 or scenario.chat")
	}
	a := Addr{Kind: Kind(t.RootName()), Name: step.Name}
	switch a.Kind {
	case KindPod, KindServer, KindScenario, KindVariable, KindLocal, KindOutput:
	default:
		return invalid(fmt.Sprintf("unknown kind %q (want pod, server, scenario, var, local or output)", a.Kind))
	}
	if !validName(a.Name) {
		return invalid(fmt.Sprintf("%q is not a valid name", a.Name))
	}
	if len(t) == 3 {
		idx, ok := t[2].(hcl.TraverseIndex)
		switch {
		case !ok:
			return invalid(`want KIND.NAME, or KIND.NAME[KEY] for an instance, such as server.llm["vllm"]`)
		case !a.Kind.IsResource():
			return invalid("only a pod, server or scenario has instances, written KIND.NAME[KEY]")
		}
		key, err := instanceKey(idx.Key)
		if err != nil {
			return invalid(err.Error())
		}
		a.Key = key
	}
	return a, nil
}

// instanceKey renders an index value as an instance key: a whole number
// from 0 for count, a string for for_each.
func instanceKey(v cty.Value) (string, error) {
	switch {
	case v.IsNull() || !v.IsKnown():
		return "", fmt.Errorf("an instance key must be a known number or string")
	case v.Type() == cty.String:
		return StringKey(v.AsString()), nil
	case v.Type() == cty.Number:
		bf := v.AsBigFloat()
		if i, acc := bf.Int64(); acc == big.Exact && i >= 0 && i <= 1<<31 {
			return IntKey(int(i)), nil
		}
		return "", fmt.Errorf("a count index is a whole number from 0, not %s", bf.Text('f', -1))
	}
	return "", fmt.Errorf("an instance key is a number or a string, not %s", v.Type().FriendlyName())
}

// validName reports whether s is an HCL identifier, the form block labels
// must take so that they can be referenced.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}
