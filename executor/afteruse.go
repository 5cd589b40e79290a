package executor

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// afterUsePod is the pod a pod or server belongs to when it exists only
// while scenarios use it: a pod with destroy_after_use, or a server on one.
func afterUsePod(cfg *lang.Config, addr lang.Addr) (lang.Addr, bool) {
	if cfg == nil {
		return lang.Addr{}, false
	}
	switch addr.Kind {
	case lang.KindPod:
		if p := cfg.Pods[addr]; p != nil && p.DestroyAfterUse {
			return addr, true
		}
	case lang.KindServer:
		if s := cfg.Servers[addr]; s != nil && s.Pod != nil {
			if p := cfg.Pods[*s.Pod]; p != nil && p.DestroyAfterUse {
				return *s.Pod, true
			}
		}
	}
	return lang.Addr{}, false
}

// afterUseIdentity is what a scenario's run records of a server on a pod
// destroyed after use, to tell later whether it must run again: the
// server's and the pod's configurations as written, since the objects
// themselves are new every time.
func afterUseIdentity(cfg *lang.Config, server, pod lang.Addr) string {
	sv, _ := cfg.Decode(server, lang.NewScope())
	pv, _ := cfg.Decode(pod, lang.NewScope())
	return server.String() + "=" + hashValue(sv) + "+" + hashValue(pv) + "@after-use"
}

// planAfterUse settles the pods with destroy_after_use, and the servers on
// them: where a scenario that runs uses one, each is marked to be
// destroyed once every such scenario has finished with it; where none
// does, those not yet created are left out of the plan, and those left
// over from an earlier apply are destroyed.
func (e *Executor) planAfterUse(plan *Plan, changes []*Change) []*Change {
	cfg := e.opts.Config
	byAddr := map[lang.Addr]*Change{}
	for _, c := range changes {
		byAddr[c.Addr] = c
	}
	users := map[lang.Addr][]lang.Addr{}
	for _, c := range changes {
		if c.Action != Run {
			continue
		}
		for _, s := range c.Servers {
			if pod, ok := afterUsePod(cfg, s); ok && !slices.Contains(users[pod], c.Addr) {
				users[pod] = append(users[pod], c.Addr)
			}
		}
	}
	drop := map[lang.Addr]bool{}
	for _, c := range changes {
		if c.Addr.Kind != lang.KindPod {
			continue
		}
		if _, ok := afterUsePod(cfg, c.Addr); !ok {
			continue
		}
		members := []lang.Addr{c.Addr}
		for _, s := range cfg.ServersOn(c.Addr) {
			members = append(members, s.Addr)
		}
		if len(users[c.Addr]) > 0 {
			for _, m := range members {
				if mc := byAddr[m]; mc != nil {
					mc.UsedBy = users[c.Addr]
				}
			}
			continue
		}
		var unused []string
		for _, m := range members {
			mc := byAddr[m]
			switch {
			case mc == nil:
			case mc.row == nil:
				drop[m] = true
				unused = append(unused, m.String())
			default:
				afterUseDelete(mc, members)
			}
		}
		if len(unused) > 0 {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s %s not created: destroy_after_use, and no scenario that runs needs %s.",
				strings.Join(unused, ", "), pluralVerb(len(unused), "is", "are"), pluralVerb(len(unused), "it", "them")))
		}
	}
	out := changes[:0]
	for _, c := range changes {
		if !drop[c.Addr] {
			out = append(out, c)
		}
	}
	return out
}

// afterUseDelete turns the change of a pod or server left over from an
// interrupted apply, which no scenario needs now, into its destruction:
// servers first, then their pod.
func afterUseDelete(c *Change, members []lang.Addr) {
	c.Action, c.After = Delete, cty.NilVal
	c.Reasons = []string{"destroy_after_use, and no scenario that runs needs it"}
	c.DependsOn = nil
	if c.Addr.Kind == lang.KindPod {
		c.DependsOn = append(c.DependsOn, members[1:]...)
	}
}

// afterUse tracks, during an apply, what each pod destroyed after use is
// still needed for: the scenarios that have yet to finish with the
// servers on it.
type afterUse struct {
	mu      sync.Mutex
	pending map[lang.Addr]map[[2]lang.Addr]bool // pod → (scenario, server) pairs
	gone    map[lang.Addr]bool                  // pods destroyed, or being
	wg      sync.WaitGroup
	errs    []error
}

// newAfterUse collects, from a plan, which scenario runs use which pods
// destroyed after use.
func newAfterUse(cfg *lang.Config, plan *Plan) *afterUse {
	u := &afterUse{pending: map[lang.Addr]map[[2]lang.Addr]bool{}, gone: map[lang.Addr]bool{}}
	for _, c := range plan.Changes {
		if c.Action != Run {
			continue
		}
		for _, s := range c.Servers {
			if pod, ok := afterUsePod(cfg, s); ok {
				if u.pending[pod] == nil {
					u.pending[pod] = map[[2]lang.Addr]bool{}
				}
				u.pending[pod][[2]lang.Addr{c.Addr, s}] = true
			}
		}
	}
	return u
}

// doneWith says that scenario has finished with server, and destroys the
// server's pod, in the background, once no scenario needs it any more.
func (a *applier) doneWith(scenario, server lang.Addr) {
	pod, ok := afterUsePod(a.opts.Config, server)
	if !ok {
		return
	}
	u := a.afterUse
	u.mu.Lock()
	delete(u.pending[pod], [2]lang.Addr{scenario, server})
	ready := len(u.pending[pod]) == 0 && !u.gone[pod]
	if ready {
		u.gone[pod] = true
		u.wg.Add(1)
	}
	u.mu.Unlock()
	if ready {
		go func() {
			defer u.wg.Done()
			a.destroyAfterUse(pod)
		}()
	}
}

// finishAfterUse destroys, once the walk is over, every pod destroyed
// after use that is still there because a scenario that was to use it did
// not run, and waits for the destructions under way.
func (a *applier) finishAfterUse() []error {
	u := a.afterUse
	u.mu.Lock()
	var left []lang.Addr
	for pod := range u.pending {
		if !u.gone[pod] {
			u.gone[pod] = true
			left = append(left, pod)
		}
	}
	u.mu.Unlock()
	sortAddrs(left)
	for _, pod := range left {
		a.destroyAfterUse(pod)
	}
	u.wg.Wait()
	return u.errs
}

// destroyAfterUse destroys the servers on a pod, then the pod, as a
// destroy would: each row is marked before its object goes, and removed
// once it has.
func (a *applier) destroyAfterUse(pod lang.Addr) {
	members := []lang.Addr{}
	for _, s := range a.opts.Config.ServersOn(pod) {
		members = append(members, s.Addr)
	}
	members = append(members, pod)
	for _, m := range members {
		row, ok, err := a.opts.State.Resource(m.String())
		if err == nil && !ok {
			continue // never created: its scenario did not get that far
		}
		if err == nil {
			err = a.deleteRow(m, row)
		}
		if err != nil {
			a.afterUse.mu.Lock()
			a.afterUse.errs = append(a.afterUse.errs, fmt.Errorf("destroy %s after use: %w", m, err))
			a.afterUse.mu.Unlock()
			return // the pod stays in state, to be destroyed by the next apply
		}
	}
}

// deleteRow destroys the object a state row records, with the hooks a
// planned destruction has.
func (a *applier) deleteRow(addr lang.Addr, row state.Resource) error {
	attrs, err := decodeValue(row.Attributes)
	if err != nil {
		return err
	}
	c := &Change{Addr: addr, Action: Delete, Provider: row.Provider, row: &row,
		prior: &providers.State{ID: row.ProviderID, Name: row.Name, Attrs: attrs}}
	a.opts.Hook.PreApply(addr, Delete)
	err = a.delete(c)
	a.opts.Hook.PostApply(addr, Delete, err)
	if err == nil {
		a.mu.Lock()
		a.result.Done[Delete]++
		a.mu.Unlock()
	}
	return err
}
