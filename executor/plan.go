package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// Plan is what an apply will do. It is a value: printing it, saving it and
// applying it do not change it.
type Plan struct {
	// Changes lists every resource the plan considered, no-ops included,
	// in an order that respects dependencies (deletions last, dependents
	// first).
	Changes []*Change
	// Destroy is set for a plan that destroys everything it covers.
	Destroy bool
	// Lineage and Serial identify the state the plan was made against; a
	// saved plan is refused once the state has moved on.
	Lineage string
	Serial  int64
	// Notes are things the user should know that change nothing, such as a
	// half-created object found again and adopted.
	Notes []string
	// Billing lists every pod in state that costs money, oldest first.
	Billing []BilledPod
	// CostBound bounds what the pods the plan leaves cost before they go.
	CostBound CostBound
	// Now is when the plan was made, for ages and costs so far.
	Now time.Time

	scope *lang.Scope
	// expiring are the stored pods this plan destroys for their ttl.
	expiring map[lang.Addr]BilledPod
}

// Change is the plan for one resource.
type Change struct {
	Addr     lang.Addr
	Action   Action
	Provider string // "" for scenarios

	// Before is the resource as stored, cty.NilVal when it is new; After is
	// what it will be, with unknown values where they are known only after
	// apply, cty.NilVal for a deletion. Both are redacted of secrets.
	Before, After cty.Value
	// Reasons explain a change that the attributes alone do not:
	// "forced by -replace", "last run was interrupted".
	Reasons []string
	// ReplacePaths are the attributes whose change forces replacement.
	ReplacePaths []string
	// Sensitive are the attributes that hold secrets, shown as
	// (sensitive value).
	Sensitive []string
	// DependsOn are the resources that must be applied first.
	DependsOn []lang.Addr
	// UsedBy, on a pod with destroy_after_use or a server on one, are the
	// scenarios of this plan that use it: it is destroyed once they have
	// all finished with it.
	UsedBy []lang.Addr

	// Scenario plans only.
	Servers        []lang.Addr
	ServerIdentity string // "" when a server changes in this plan

	config     cty.Value        // evaluated configuration, secrets marked
	configHash string           // "" when not yet known
	row        *state.Resource  // the stored row, nil when new
	prior      *providers.State // the refreshed object, nil when gone
	refreshed  bool             // prior differs from row and must be stored
	expired    bool             // decided by a pod's ttl (see decideAction)
}

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != NoOp {
			return true
		}
	}
	return false
}

// HasRefreshes reports whether the refresh found stored objects that
// changed outside benchform, which an apply records even when it has
// nothing else to do.
func (p *Plan) HasRefreshes() bool {
	for _, c := range p.Changes {
		if c.refreshed {
			return true
		}
	}
	return false
}

// Change returns the change for addr, or nil.
func (p *Plan) Change(addr lang.Addr) *Change {
	for _, c := range p.Changes {
		if c.Addr == addr {
			return c
		}
	}
	return nil
}

// Plan refreshes every object in state through its provider and diffs the
// result against the configuration. It changes nothing, in state or
// elsewhere.
func (e *Executor) Plan(ctx context.Context) (*Plan, hcl.Diagnostics) {
	serial, err := e.opts.State.Serial()
	if err != nil {
		return nil, errorDiags("Cannot read state", err)
	}
	lineage, err := e.opts.State.Lineage()
	if err != nil {
		return nil, errorDiags("Cannot read state", err)
	}
	rows, err := e.opts.State.Resources()
	if err != nil {
		return nil, errorDiags("Cannot read state", err)
	}
	stored := map[lang.Addr]*state.Resource{}
	for i := range rows {
		addr, err := lang.ParseAddr(rows[i].Address)
		if err != nil {
			return nil, errorDiags("Corrupt state", fmt.Errorf("resource row %q: %w", rows[i].Address, err))
		}
		stored[addr] = &rows[i]
	}

	plan := &Plan{Destroy: e.opts.Destroy || e.opts.Config == nil, Lineage: lineage, Serial: serial, Now: e.opts.Now(), scope: lang.NewScope()}
	var diags hcl.Diagnostics
	if !plan.Destroy {
		diags = append(diags, e.checkTargets()...)
		if diags.HasErrors() {
			return nil, diags
		}
	}

	refreshed, d := e.refresh(ctx, stored)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}

	plan.Billing = e.billedPods(stored, plan.Now)
	var creates []*Change
	if !plan.Destroy {
		plan.expiring = e.expiring(plan)
		creates, d = e.planConfig(ctx, plan, stored, refreshed)
		diags = append(diags, d...)
		creates = e.planAfterUse(plan, creates)
	}
	deletes := e.planDeletes(plan, stored, refreshed)
	plan.Changes = append(creates, deletes...)
	orderExpiry(plan)
	if !plan.Destroy {
		plan.CostBound = e.costBound(plan)
	}
	return plan, diags
}

// refreshResult is the provider's current view of a stored object.
type refreshResult struct {
	prior     *providers.State // nil when the object no longer exists
	stored    cty.Value        // the attributes state holds, decoded
	drift     string
	refreshed bool // prior differs from what is stored
}

// refresh reads every stored pod and server from its provider, at most
// Parallelism at once.
func (e *Executor) refresh(ctx context.Context, stored map[lang.Addr]*state.Resource) (map[lang.Addr]refreshResult, hcl.Diagnostics) {
	var (
		mu    sync.Mutex
		out   = map[lang.Addr]refreshResult{}
		diags hcl.Diagnostics
		wg    sync.WaitGroup
		sem   = make(chan struct{}, e.opts.Parallelism)
	)
	for addr, row := range stored {
		if addr.Kind == lang.KindScenario {
			continue
		}
		p := e.opts.Providers[row.Provider]
		if p == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Provider not available",
				Detail:   fmt.Sprintf("The state records %s, managed by the %q provider, which this build of benchform does not include, so it cannot be refreshed or destroyed.", addr, row.Provider),
			})
			continue
		}
		wg.Add(1)
		go func(addr lang.Addr, row *state.Resource, p providers.Provider) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := e.refreshOne(ctx, addr, row, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Failed to refresh " + addr.String(),
					Detail:   err.Error(),
					Subject:  e.declRange(addr),
				})
				return
			}
			out[addr] = res
		}(addr, row, p)
	}
	wg.Wait()
	return out, diags
}

func (e *Executor) refreshOne(ctx context.Context, addr lang.Addr, row *state.Resource, p providers.Provider) (refreshResult, error) {
	attrs, err := decodeValue(row.Attributes)
	if err != nil {
		return refreshResult{}, err
	}
	prior := providers.State{ID: row.ProviderID, Name: row.Name, Attrs: attrs}
	resp, err := p.Read(ctx, providers.ReadRequest{Addr: addr.String(), Kind: providers.Kind(addr.Kind), Prior: prior})
	if err != nil {
		return refreshResult{}, err
	}
	if !resp.Exists {
		drift := resp.Drift
		if drift == "" && row.Status == state.StatusReady {
			drift = "no longer exists"
		}
		return refreshResult{drift: drift, refreshed: true}, nil
	}
	got := resp.State
	// A provider that found nothing new returns the prior attributes as
	// they were, so an exact comparison suffices; a false "changed" costs
	// one state write.
	changed := got.ID != prior.ID || got.Name != prior.Name || !sameValue(got.Attrs, prior.Attrs)
	return refreshResult{prior: &got, stored: attrs, drift: resp.Drift, refreshed: changed}, nil
}

func sameValue(a, b cty.Value) bool {
	if a == cty.NilVal || b == cty.NilVal {
		return a == b
	}
	return a.RawEquals(b)
}

// checkTargets makes sure every -target and -replace names a resource of
// the configuration.
func (e *Executor) checkTargets() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for flag, addrs := range map[string][]lang.Addr{"-target": e.opts.Targets, "-replace": e.opts.Replace} {
		for _, a := range addrs {
			if !a.Kind.IsResource() || len(e.opts.Config.Instances(a)) == 0 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid " + flag + " address",
					Detail:   fmt.Sprintf("The configuration declares no resource %s. %s takes the address of a pod, server or scenario, such as scenario.chat, or of one instance, such as server.llm[\"vllm\"].", a, flag),
				})
			}
		}
	}
	return diags
}

// inTargets returns the configured resources the plan covers: everything,
// or the targets and what they depend on.
func (e *Executor) inTargets() map[lang.Addr]bool {
	cfg := e.opts.Config
	out := map[lang.Addr]bool{}
	if len(e.opts.Targets) == 0 {
		for _, a := range cfg.Resources() {
			out[a] = true
		}
		return out
	}
	var visit func(lang.Addr)
	visit = func(a lang.Addr) {
		if out[a] {
			return
		}
		out[a] = true
		for _, d := range cfg.DependsOn(a) {
			visit(d)
		}
	}
	for _, t := range e.opts.Targets {
		for _, a := range cfg.Instances(t) {
			visit(a)
		}
	}
	return out
}

// forced reports whether -replace names addr or its block.
func (e *Executor) forced(addr lang.Addr) bool {
	for _, a := range e.opts.Replace {
		if a == addr || a == addr.Block() {
			return true
		}
	}
	return false
}

// planConfig plans every configured resource in dependency order, so that
// each is evaluated with the planned values of what it refers to.
func (e *Executor) planConfig(ctx context.Context, plan *Plan, stored map[lang.Addr]*state.Resource, refreshed map[lang.Addr]refreshResult) ([]*Change, hcl.Diagnostics) {
	cfg := e.opts.Config
	covered := e.inTargets()
	var changes []*Change
	var diags hcl.Diagnostics
	byAddr := map[lang.Addr]*Change{}
	for _, addr := range cfg.Resources() {
		if !covered[addr] {
			continue
		}
		var ch *Change
		var d hcl.Diagnostics
		if addr.Kind == lang.KindScenario {
			ch, d = e.planScenario(plan, addr, stored[addr], byAddr)
		} else {
			ch, d = e.planResource(ctx, plan, addr, stored[addr], refreshed, byAddr)
		}
		diags = append(diags, d...)
		if ch == nil {
			continue
		}
		for _, dep := range cfg.DependsOn(addr) {
			if covered[dep] && !ch.expired {
				ch.DependsOn = append(ch.DependsOn, dep)
			}
		}
		byAddr[addr] = ch
		changes = append(changes, ch)
	}
	return changes, diags
}

func (e *Executor) planResource(ctx context.Context, plan *Plan, addr lang.Addr, row *state.Resource, refreshed map[lang.Addr]refreshResult, planned map[lang.Addr]*Change) (*Change, hcl.Diagnostics) {
	cfg := e.opts.Config
	decl := e.declRange(addr)
	config, diags := decodeForProvider(cfg, addr, plan.scope)
	if diags.HasErrors() {
		return nil, diags
	}
	provName := e.providerName(addr)
	p := e.opts.Providers[provName]
	if p == nil {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Provider not available",
			Detail:   fmt.Sprintf("%s needs the %q provider, which this build of benchform does not include. Available: %s.", addr, provName, strings.Join(e.providerNames(), ", ")),
			Subject:  decl,
		})
	}

	ch := &Change{Addr: addr, Provider: provName, config: config, configHash: hashValue(config), row: row, Sensitive: sensitiveAttrs(config)}
	rr, wasRefreshed := refreshed[addr]
	if row != nil && wasRefreshed {
		ch.Before, ch.prior, ch.refreshed = rr.stored, rr.prior, rr.refreshed
	}

	resp, err := p.Plan(ctx, providers.PlanRequest{Addr: addr.String(), Kind: providers.Kind(addr.Kind), Config: unmark(config), Prior: ch.prior})
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + addr.String(),
			Detail:   err.Error(),
			Subject:  e.errorRange(addr, err),
		})
	}
	ch.ReplacePaths = resp.RequiresReplace

	inState := ch.prior != nil
	// A tainted object (an apply failed part-way) or one whose deletion was
	// interrupted cannot be trusted and is replaced; an interrupted update
	// is made again.
	untrusted := inState && (row.Status == state.StatusTainted || row.Status == state.StatusDeleting)
	configChanged := !inState || ch.configHash == "" || ch.configHash != row.ConfigHash || row.Status == state.StatusUpdating
	replaceAttrChanged := row != nil && row.Provider != provName
	// An object that exists but drifted (a pod stopped behind benchform's
	// back) is brought back by an update.
	drifted := inState && rr.drift != "" && !untrusted
	// A server waits for its pod: when the pod changes, its container
	// restarts and the server must be waited for again.
	podChanges := ""
	if s := cfg.Servers[addr]; addr.Kind == lang.KindServer && s.Pod != nil {
		if pc := planned[*s.Pod]; pc != nil && pc.Action != NoOp {
			podChanges = s.Pod.String()
		}
	}
	configChanged = configChanged || drifted || podChanges != ""
	if inState && configChanged {
		for _, name := range intersect(changedAttrs(ch.Before, redactOnly(config)), resp.RequiresReplace) {
			replaceAttrChanged = true
			ch.Reasons = append(ch.Reasons, fmt.Sprintf("changing %s forces replacement", name))
		}
	}
	expiredWhy := e.expiry(plan, addr)
	ch.expired = expiredWhy != ""
	ch.Action = decideAction(facts{
		stored:             row != nil,
		exists:             inState,
		forceReplace:       e.forced(addr) || untrusted,
		changed:            configChanged,
		replaceAttrChanged: replaceAttrChanged,
		expired:            ch.expired,
	})
	if ch.expired {
		ch.Reasons = []string{expiredWhy}
		if ch.Action == NoOp {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s is not created: %s.", addr, expiredWhy))
		}
		ch.After = cty.NilVal
		return ch, diags
	}

	switch {
	case row != nil && !inState:
		if rr.drift != "" {
			ch.Reasons = append(ch.Reasons, rr.drift)
		} else if row.Status == state.StatusCreating {
			ch.Reasons = append(ch.Reasons, "an earlier create was interrupted before it finished")
		}
		ch.Before = cty.NilVal
	case e.forced(addr):
		ch.Reasons = append(ch.Reasons, "forced by -replace")
	case row == nil:
	case row.Provider != provName:
		ch.Reasons = append(ch.Reasons, fmt.Sprintf("the provider changes from %s to %s", row.Provider, provName))
	case row.Status == state.StatusTainted:
		ch.Reasons = append(ch.Reasons, "an earlier apply failed part-way through it")
	case row.Status == state.StatusDeleting:
		ch.Reasons = append(ch.Reasons, "an earlier destroy was interrupted before it finished")
	case row.Status == state.StatusUpdating:
		ch.Reasons = append(ch.Reasons, "an earlier update was interrupted before it finished")
	case drifted:
		ch.Reasons = append(ch.Reasons, rr.drift)
	case podChanges != "" && ch.configHash == row.ConfigHash:
		ch.Reasons = append(ch.Reasons, fmt.Sprintf("%s changes, so the server is waited for again", podChanges))
	}
	if inState && row.Status == state.StatusCreating && ch.prior.ID != "" {
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s: found %s, created by an apply that was interrupted; it is adopted instead of created again.", addr, ch.prior.ID))
	}

	computed := withID(resp.Planned, "")
	switch ch.Action {
	case NoOp:
		computed = withID(ch.prior.Attrs, ch.prior.ID)
	case Update:
		computed = withID(resp.Planned, ch.prior.ID)
	}
	obj := cfg.Object(addr, config, computed)
	plan.scope.Set(addr, obj)
	ch.After, _ = redact(withExtras(obj, computed))
	return ch, diags
}

// scenarioObject is a scenario as plans show it and state stores it: its
// settings and the servers it runs against, which configuration names by
// reference rather than as a value.
func scenarioObject(config cty.Value, servers []lang.Addr) cty.Value {
	m := config.AsValueMap()
	if m == nil {
		m = map[string]cty.Value{}
	}
	if len(servers) == 1 {
		m["server"] = cty.StringVal(servers[0].String())
	} else {
		names := make([]cty.Value, len(servers))
		for i, s := range servers {
			names[i] = cty.StringVal(s.String())
		}
		m["server"] = cty.TupleVal(names)
	}
	return cty.ObjectVal(m)
}

// sensitiveAttrs names the top-level attributes of v that hold a secret.
func sensitiveAttrs(v cty.Value) []string {
	_, paths := redact(v)
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		if len(p) == 0 {
			continue
		}
		if step, ok := p[0].(cty.GetAttrStep); ok && !seen[step.Name] {
			seen[step.Name] = true
			out = append(out, step.Name)
		}
	}
	sort.Strings(out)
	return out
}

// redactOnly drops secrets from a value so that it compares with what
// state holds.
func redactOnly(v cty.Value) cty.Value {
	r, _ := redact(v)
	return r
}

func intersect(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range b {
		set[s] = true
	}
	var out []string
	for _, s := range a {
		if set[s] {
			out = append(out, s)
		}
	}
	return out
}

// planScenario decides whether a scenario runs: when it is new, its
// settings or servers changed, its last run did not complete, or -replace
// names it.
func (e *Executor) planScenario(plan *Plan, addr lang.Addr, row *state.Resource, planned map[lang.Addr]*Change) (*Change, hcl.Diagnostics) {
	cfg := e.opts.Config
	config, diags := cfg.Decode(addr, plan.scope)
	if diags.HasErrors() {
		return nil, diags
	}
	spec, err := lang.DecodeScenarioSpec(config)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + addr.String(), Detail: err.Error(), Subject: e.declRange(addr)})
	}
	if p := spec.Dataset.Path; p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, p)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Dataset file not found",
				Detail:   fmt.Sprintf("%s reads its prompts from %s: %s.", addr, p, err),
				Subject:  e.declRange(addr),
			})
		}
	}
	sc := cfg.Scenarios[addr]
	ch := &Change{Addr: addr, Servers: sc.Servers, config: config, configHash: hashValue(config), row: row, Sensitive: sensitiveAttrs(config)}
	ch.After, _ = redact(scenarioObject(config, sc.Servers))

	var changing []string
	var identity []string
	for _, s := range sc.Servers {
		if pod, ok := afterUsePod(cfg, s); ok {
			// New each time: what counts is its configuration.
			identity = append(identity, afterUseIdentity(cfg, s, pod))
			continue
		}
		sch := planned[s]
		if sch == nil || sch.Action != NoOp || sch.prior == nil {
			changing = append(changing, s.String())
			continue
		}
		identity = append(identity, s.String()+"="+sch.configHash+"@"+sch.prior.ID)
	}
	if len(changing) == 0 {
		ch.ServerIdentity = strings.Join(identity, ",")
	}

	if row != nil {
		before, err := decodeValue(row.Attributes)
		if err != nil {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Corrupt state", Detail: fmt.Sprintf("%s: %s", addr, err), Subject: e.declRange(addr)})
		}
		ch.Before = before
	}
	last, hasLast, err := e.opts.State.LatestRun(addr.String())
	if err != nil {
		return nil, append(diags, errorDiags("Cannot read state", err)...)
	}

	switch {
	case row == nil:
		ch.Reasons = append(ch.Reasons, "new scenario")
	case e.forced(addr):
		ch.Reasons = append(ch.Reasons, "forced by -replace")
	case !hasLast:
		ch.Reasons = append(ch.Reasons, "it has never run")
	case last.Status != state.RunCompleted:
		ch.Reasons = append(ch.Reasons, fmt.Sprintf("its last run (#%d) %s", last.ID, runStatusPhrase(last.Status)))
	default:
		if last.SpecHash != ch.configHash {
			ch.Reasons = append(ch.Reasons, "its settings changed")
		}
		if len(changing) > 0 {
			ch.Reasons = append(ch.Reasons, fmt.Sprintf("%s %s", strings.Join(changing, ", "), pluralVerb(len(changing), "changes", "change")))
		} else if last.ServerIdentity != ch.ServerIdentity {
			ch.Reasons = append(ch.Reasons, "its servers changed since the last run")
		}
	}
	var gone []string
	for _, s := range sc.Servers {
		if sch := planned[s]; sch != nil && sch.expired {
			gone = append(gone, s.String())
		}
	}
	ch.expired = len(gone) > 0
	ch.Action = decideAction(facts{scenario: true, stored: row != nil, changed: len(ch.Reasons) > 0, expired: ch.expired})
	if ch.expired && len(ch.Reasons) > 0 {
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s is not run: %s %s with its pod, which is past its ttl.", addr, strings.Join(gone, ", "), pluralVerb(len(gone), "goes", "go")))
	}
	return ch, diags
}

func runStatusPhrase(status string) string {
	switch status {
	case state.RunInterrupted:
		return "was interrupted"
	case state.RunFailed:
		return "failed"
	case state.RunRunning:
		return "did not finish"
	default:
		return "ended " + status
	}
}

func pluralVerb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// planDeletes plans the destruction of stored resources that the
// configuration no longer declares, or of all of them for a destroy plan.
// Dependents are destroyed before what they depend on.
func (e *Executor) planDeletes(plan *Plan, stored map[lang.Addr]*state.Resource, refreshed map[lang.Addr]refreshResult) []*Change {
	selected := map[lang.Addr]bool{}
	for addr := range stored {
		switch {
		case plan.Destroy && len(e.opts.Targets) == 0:
			selected[addr] = true
		case plan.Destroy:
			// A targeted destroy also destroys what depends on a target.
		case e.opts.Config.Resource(addr) == nil:
			selected[addr] = true
		}
	}
	if plan.Destroy && len(e.opts.Targets) > 0 {
		for _, t := range e.opts.Targets {
			if stored[t] != nil {
				selected[t] = true
			}
		}
		for grew := true; grew; {
			grew = false
			for addr, row := range stored {
				if selected[addr] {
					continue
				}
				for _, dep := range row.Dependencies {
					if d, err := lang.ParseAddr(dep); err == nil && selected[d] {
						selected[addr] = true
						grew = true
						break
					}
				}
			}
		}
	}

	var out []*Change
	for addr := range selected {
		row := stored[addr]
		ch := &Change{Addr: addr, Action: Delete, Provider: row.Provider, row: row}
		if !plan.Destroy {
			ch.Reasons = append(ch.Reasons, e.opts.Config.RemovalReason(addr))
		}
		ch.Before, _ = decodeValue(row.Attributes)
		if rr, ok := refreshed[addr]; ok {
			ch.prior = rr.prior
			if rr.prior == nil {
				ch.Reasons = append(ch.Reasons, "already gone: "+orDefault(rr.drift, "no longer exists"))
			}
		} else if addr.Kind != lang.KindScenario {
			ch.prior = &providers.State{ID: row.ProviderID, Name: row.Name}
		}
		// A deletion waits for the deletion of everything that depends on
		// it; the edges are reversed here and read by the walk.
		for dependent, drow := range stored {
			if !selected[dependent] {
				continue
			}
			for _, dep := range drow.Dependencies {
				if dep == addr.String() {
					ch.DependsOn = append(ch.DependsOn, dependent)
				}
			}
		}
		sortAddrs(ch.DependsOn)
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortAddrs(a []lang.Addr) {
	sort.Slice(a, func(i, j int) bool { return a[i].Less(a[j]) })
}

// providerName returns the provider that manages a configured pod or
// server.
func (e *Executor) providerName(addr lang.Addr) string {
	cfg := e.opts.Config
	switch addr.Kind {
	case lang.KindPod:
		return cfg.Pods[addr].Provider
	case lang.KindServer:
		return cfg.ServerProvider(cfg.Servers[addr])
	}
	return ""
}

func (e *Executor) providerNames() []string {
	var names []string
	for n := range e.opts.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// declRange returns where a resource is declared, or nil when the
// configuration does not declare it.
func (e *Executor) declRange(addr lang.Addr) *hcl.Range {
	if e.opts.Config == nil {
		return nil
	}
	if r := e.opts.Config.Resource(addr); r != nil {
		return r.DeclRange.Ptr()
	}
	return nil
}

// errorRange is where an error a provider returned about a resource
// belongs: on the attribute it names, where the file sets it (a pod's
// error about its placed server's attribute points into that server's
// block, a server's about its pod's into the pod's), else on the block.
func (e *Executor) errorRange(addr lang.Addr, err error) *hcl.Range {
	var ae *providers.AttributeError
	cfg := e.opts.Config
	if cfg == nil || !errors.As(err, &ae) || len(ae.Path) == 0 {
		return e.declRange(addr)
	}
	target, path := addr, ae.Path
	switch {
	case addr.Kind == lang.KindPod && path[0] == providers.AttrServer && len(path) > 1:
		if servers := cfg.ServersOn(addr); len(servers) > 0 {
			target, path = servers[0].Addr, path[1:]
		}
	case addr.Kind == lang.KindServer && path[0] == providers.AttrPod && len(path) > 1:
		if s := cfg.Servers[addr]; s != nil && s.Pod != nil {
			target, path = *s.Pod, path[1:]
		}
	}
	if r := cfg.AttributeRange(target, path); r != nil {
		return r
	}
	return e.declRange(addr)
}

// errorDiags turns an error with no place in a file into a diagnostic.
func errorDiags(summary string, err error) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: err.Error()}}
}
