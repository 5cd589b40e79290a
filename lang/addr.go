package lang

import (
	"fmt"
	"strings"
)

// Addr names a block that others can refer to: "pod.h100", "server.vllm",
// "scenario.chat", "var.model", "local.x" or "output.endpoint". Its String
// is what users type, and ParseAddr reads it back, so one type keys state
// rows, plan lines, -target, -replace and diagnostics.
type Addr struct {
	Kind Kind
	Name string
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

func (a Addr) String() string { return string(a.Kind) + "." + a.Name }

// Less orders addresses by kind, then name.
func (a Addr) Less(b Addr) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Name < b.Name
}

// ParseAddr reads an address as users write it on the command line.
func ParseAddr(s string) (Addr, error) {
	kind, name, ok := strings.Cut(s, ".")
	if !ok || name == "" || strings.Contains(name, ".") {
		return Addr{}, fmt.Errorf("invalid address %q: want KIND.NAME, such as pod.h100 or scenario.chat", s)
	}
	switch k := Kind(kind); k {
	case KindPod, KindServer, KindScenario, KindVariable, KindLocal, KindOutput:
		if !validName(name) {
			return Addr{}, fmt.Errorf("invalid address %q: %q is not a valid name", s, name)
		}
		return Addr{Kind: k, Name: name}, nil
	default:
		return Addr{}, fmt.Errorf("invalid address %q: unknown kind %q (want pod, server, scenario, var, local or output)", s, kind)
	}
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
