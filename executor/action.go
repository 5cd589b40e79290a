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

// facts are what a plan found about one resource, the only inputs of
// decideAction.
type facts struct {
	scenario bool // a scenario, which runs rather than exists
	// stored says state holds the resource; exists that its object was
	// found by the refresh (a pod or server).
	stored, exists bool
	// forceReplace: -replace, or an object an interrupted apply left
	// untrustworthy.
	forceReplace bool
	// changed: the configuration differs from what was applied (for a
	// scenario: any reason to run it again); replaceAttrChanged: a changed
	// attribute cannot change in place.
	changed, replaceAttrChanged bool
	// expired: a pod past its ttl, a server placed on one, a scenario
	// against such a server.
	expired bool
}

// decideAction picks a resource's action. It is the one place where an
// action is decided, and a pure function, so that every combination can
// be tested.
//
// Expiry comes first: a pod past its ttl is destroyed with what runs on
// it, whatever else changed, and nothing new is placed on it.
func decideAction(f facts) Action {
	switch {
	case f.expired && f.stored && !f.scenario:
		return Delete
	case f.expired:
		return NoOp
	case f.scenario && f.changed:
		return Run
	case f.scenario:
		return NoOp
	case !f.exists:
		return Create
	case f.forceReplace || (f.changed && f.replaceAttrChanged):
		return Replace
	case f.changed:
		return Update
	default:
		return NoOp
	}
}
