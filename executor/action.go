package executor

// Action is what a plan does to one resource. Its string is the symbol the
// plan prints.
type Action int

// Actions, in the order a plan summary counts them.
const (
	NoOp Action = iota
	Create
	Update
	Replace
	Delete
	// Run runs a scenario; its results join the history in state.
	Run
)

func (a Action) String() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Replace:
		return "-/+"
	case Delete:
		return "-"
	case Run:
		return ">"
	default:
		return " "
	}
}

// Verb is how a plan describes the action: "pod.h100 will be created".
func (a Action) Verb() string {
	switch a {
	case Create:
		return "created"
	case Update:
		return "updated in place"
	case Replace:
		return "replaced"
	case Delete:
		return "destroyed"
	case Run:
		return "run"
	default:
		return "left unchanged"
	}
}

// decideAction picks the action for a pod or server from what the plan
// found. It is a pure function so that every combination can be tested.
func decideAction(inState, forceReplace, configChanged, replaceAttrChanged bool) Action {
	switch {
	case !inState:
		return Create
	case forceReplace || (configChanged && replaceAttrChanged):
		return Replace
	case configChanged:
		return Update
	default:
		return NoOp
	}
}
