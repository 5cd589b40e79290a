package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// Result is what an apply did.
type Result struct {
	// Done counts the changes that succeeded, by action.
	Done map[Action]int
	// Runs are the scenario runs started, in the order they started.
	Runs []RunRef
	// Outputs are the configuration's outputs, evaluated after apply;
	// sensitive ones keep their mark.
	Outputs map[string]cty.Value
	// Interrupted is set when the apply's context was cancelled.
	Interrupted bool
}

// RunRef names a scenario run kept in state.
type RunRef struct {
	Scenario lang.Addr
	ID       int64
	Status   string
}

// Apply carries out a plan. Changes are applied in dependency order, at
// most Parallelism at once; a failed change stops what depends on it while
// independent branches finish. Cancelling ctx stops new changes from
// starting and cancels the requests of running scenarios; what finished is
// recorded either way. All errors come back together as diagnostics.
func (e *Executor) Apply(ctx context.Context, plan *Plan) (*Result, hcl.Diagnostics) {
	a := &applier{
		Executor: e,
		plan:     plan,
		scope:    lang.NewScope(),
		result:   &Result{Done: map[Action]int{}},
		afterUse: newAfterUse(e.opts.Config, plan),
	}
	errs := walk(ctx, plan.Changes, e.opts.Parallelism, func(c *Change) error {
		e.opts.Hook.PreApply(c.Addr, c.Action)
		err := a.apply(ctx, c)
		e.opts.Hook.PostApply(c.Addr, c.Action, err)
		if err == nil {
			a.mu.Lock()
			a.result.Done[c.Action]++
			a.mu.Unlock()
		}
		return err
	})
	a.result.Interrupted = ctx.Err() != nil

	var diags hcl.Diagnostics
	for _, err := range a.finishAfterUse() {
		diags = append(diags, errorDiags("Failed to destroy after use", err)...)
	}
	for _, c := range plan.Changes {
		err := errs[c.Addr]
		if err == nil || errors.Is(err, errSkipped) || errors.Is(err, errNotStarted) {
			continue
		}
		if errors.Is(err, context.Canceled) && a.result.Interrupted {
			continue // reported once, as the interrupt itself
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Failed to %s %s", actionInfinitive(c.Action), c.Addr),
			Detail:   err.Error(),
			Subject:  e.declRange(c.Addr),
		})
	}
	// Outputs are evaluated only after a whole configuration was applied:
	// after a targeted apply they could refer to resources it skipped.
	switch {
	case len(errs) > 0 || len(e.opts.Targets) > 0:
	case !plan.Destroy && e.opts.Config != nil:
		diags = append(diags, a.outputs()...)
	case plan.Destroy:
		if err := e.opts.State.SetOutputs(nil); err != nil {
			diags = append(diags, errorDiags("Cannot record outputs", err)...)
		}
	}
	sort.Slice(a.result.Runs, func(i, j int) bool { return a.result.Runs[i].ID < a.result.Runs[j].ID })
	return a.result, diags
}

func actionInfinitive(a Action) string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Replace:
		return "replace"
	case Delete:
		return "destroy"
	case Run:
		return "run"
	default:
		return "refresh"
	}
}

// applier holds the state of one apply.
type applier struct {
	*Executor
	plan   *Plan
	scope  *lang.Scope // values of pods and servers as applied
	mu     sync.Mutex
	result *Result
	// afterUse tracks the pods destroyed once their scenarios are done.
	afterUse *afterUse
}

func (a *applier) apply(ctx context.Context, c *Change) error {
	switch c.Action {
	case NoOp:
		return a.keep(c)
	case Create:
		return a.create(c)
	case Update:
		return a.update(c)
	case Replace:
		if err := a.delete(c); err != nil {
			return err
		}
		return a.create(c)
	case Delete:
		return a.delete(c)
	case Run:
		return a.runScenario(ctx, c)
	}
	return fmt.Errorf("unknown action %d", c.Action)
}

// keep handles a resource the plan leaves alone: it makes its value
// available to what depends on it and records what the refresh found.
func (a *applier) keep(c *Change) error {
	if c.Addr.Kind == lang.KindScenario || c.prior == nil {
		return nil // a scenario, or an object not created on an expired pod
	}
	config, err := a.evaluate(c)
	if err != nil {
		return err
	}
	computed := withID(c.prior.Attrs, c.prior.ID)
	obj := a.opts.Config.Object(c.Addr, config, computed)
	a.scope.Set(c.Addr, obj)
	if !c.refreshed {
		return nil
	}
	row := *c.row
	row.ProviderID, row.Name, row.Status = c.prior.ID, c.prior.Name, state.StatusReady
	return a.putObject(row, withExtras(obj, computed))
}

// evaluate evaluates a resource's configuration with the values applied so
// far, which by now must all be known.
func (a *applier) evaluate(c *Change) (cty.Value, error) {
	config, diags := decodeForProvider(a.opts.Config, c.Addr, a.scope)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	if !config.IsWhollyKnown() {
		return cty.NilVal, fmt.Errorf("its configuration still has unknown values after what it depends on was applied")
	}
	return config, nil
}

func (a *applier) provider(c *Change) (providers.Provider, error) {
	p := a.opts.Providers[c.Provider]
	if p == nil {
		return nil, fmt.Errorf("the %q provider is not available", c.Provider)
	}
	return p, nil
}

// create records the intent, with the unique name the object will carry,
// before asking the provider; if benchform dies during the call, the next
// refresh looks the object up by that name instead of creating a second one.
func (a *applier) create(c *Change) error {
	p, err := a.provider(c)
	if err != nil {
		return err
	}
	config, err := a.evaluate(c)
	if err != nil {
		return err
	}
	row := state.Resource{
		Address:      c.Addr.String(),
		Kind:         string(c.Addr.Kind),
		Provider:     c.Provider,
		Name:         uniqueName(c.Addr),
		Status:       state.StatusCreating,
		ConfigHash:   hashValue(config),
		Dependencies: addrStrings(c.DependsOn),
	}
	if err := a.putObject(row, config); err != nil {
		return err
	}
	st, err := p.Create(a.opts.CleanupContext, providers.CreateRequest{
		Addr: c.Addr.String(), Kind: providers.Kind(c.Addr.Kind), Name: row.Name, Config: unmark(config),
		Progress: a.progress(c.Addr),
	})
	if err != nil {
		return err
	}
	computed := withID(st.Attrs, st.ID)
	obj := a.opts.Config.Object(c.Addr, config, computed)
	row.ProviderID, row.Status = st.ID, state.StatusReady
	if st.Name != "" {
		row.Name = st.Name
	}
	a.scope.Set(c.Addr, obj)
	if err := a.putObject(row, withExtras(obj, computed)); err != nil {
		// The object exists and may bill: say which, so that it is not
		// forgotten while the state cannot be written.
		return fmt.Errorf("%s was created as %s %q (name %s) but the state could not record it, so the next apply finds it by its name, or delete it by hand: %w",
			c.Addr, c.Provider, st.ID, row.Name, err)
	}
	return nil
}

func (a *applier) update(c *Change) error {
	p, err := a.provider(c)
	if err != nil {
		return err
	}
	config, err := a.evaluate(c)
	if err != nil {
		return err
	}
	row := *c.row
	row.Status = state.StatusUpdating
	row.Dependencies = addrStrings(c.DependsOn)
	if err := a.opts.State.PutResource(row); err != nil {
		return err
	}
	st, err := p.Update(a.opts.CleanupContext, providers.UpdateRequest{
		Addr: c.Addr.String(), Kind: providers.Kind(c.Addr.Kind), Prior: *c.prior, Config: unmark(config),
		Progress: a.progress(c.Addr),
	})
	if err != nil {
		return err
	}
	computed := withID(st.Attrs, st.ID)
	obj := a.opts.Config.Object(c.Addr, config, computed)
	row.ProviderID, row.Status, row.ConfigHash = st.ID, state.StatusReady, hashValue(config)
	a.scope.Set(c.Addr, obj)
	return a.putObject(row, withExtras(obj, computed))
}

// delete removes a resource. The row is marked first so that an
// interrupted delete is finished, not forgotten, by the next apply; the row
// goes only once the provider has confirmed.
func (a *applier) delete(c *Change) error {
	if c.row == nil {
		return nil // a replacement of something no longer stored
	}
	if c.Addr.Kind == lang.KindScenario {
		// A scenario owns nothing outside state; its runs stay in history.
		return a.opts.State.DeleteResource(c.Addr.String())
	}
	row := *c.row
	row.Status = state.StatusDeleting
	if err := a.opts.State.PutResource(row); err != nil {
		return err
	}
	if c.prior != nil {
		// The stored row names the provider that made the object, which a
		// replacement's new configuration may not.
		p := a.opts.Providers[row.Provider]
		if p == nil {
			return fmt.Errorf("the %q provider that created it is not available", row.Provider)
		}
		if err := p.Delete(a.opts.CleanupContext, providers.DeleteRequest{Addr: c.Addr.String(), Kind: providers.Kind(c.Addr.Kind), Prior: *c.prior}); err != nil {
			return err
		}
	}
	return a.opts.State.DeleteResource(c.Addr.String())
}

func (a *applier) progress(addr lang.Addr) func(string) {
	return func(msg string) { a.opts.Hook.Progress(addr, msg) }
}

// putObject stores a row with the object's attributes, secrets removed.
func (a *applier) putObject(row state.Resource, obj cty.Value) error {
	red, _ := redact(obj)
	attrs, err := encodeValue(red)
	if err != nil {
		return fmt.Errorf("encode attributes: %w", err)
	}
	row.Attributes = attrs
	return a.opts.State.PutResource(row)
}

// outputs evaluates and records the outputs. Sensitive outputs are
// recorded as such, without their value.
func (a *applier) outputs() hcl.Diagnostics {
	var diags hcl.Diagnostics
	cfg := a.opts.Config
	stored := map[string][]byte{}
	a.result.Outputs = map[string]cty.Value{}
	for name := range cfg.Outputs {
		v, d := cfg.EvalOutput(name, a.scope)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		a.result.Outputs[name] = v
		red, paths := redact(v)
		if len(paths) > 0 {
			stored[name] = []byte(`{"sensitive":true}`)
			continue
		}
		b, err := ctyjson.Marshal(red, red.Type())
		if err != nil {
			diags = append(diags, errorDiags("Cannot record output "+name, err)...)
			continue
		}
		stored[name], _ = json.Marshal(map[string]json.RawMessage{"value": b})
	}
	if err := a.opts.State.SetOutputs(stored); err != nil {
		diags = append(diags, errorDiags("Cannot record outputs", err)...)
	}
	return diags
}

// uniqueName is the name an object is created under: recognisable in a
// provider's console, and unique so that an interrupted create can be found
// again.
func uniqueName(addr lang.Addr) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	name := strings.ReplaceAll(addr.Name, "_", "-")
	if key := nameSafe(addr.Key); key != "" {
		name += "-" + key
	}
	return fmt.Sprintf("benchform-%s-%s-%s", addr.Kind, name, hex.EncodeToString(b))
}

// nameSafe keeps what a provider's names allow of an instance key:
// letters, digits and dashes, the rest dashes, at most 32 characters.
func nameSafe(key string) string {
	var b strings.Builder
	for _, r := range strings.Trim(key, `"`) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 32 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

func addrStrings(addrs []lang.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
