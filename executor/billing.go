package executor

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// BilledPod is a pod in state that costs money while it exists. Every plan
// lists them, so that nothing rented goes unnoticed.
type BilledPod struct {
	Addr lang.Addr
	ID   string
	// Since is when the pod was created (recorded before the provider
	// call, so it errs on the early side).
	Since time.Time
	// CostPerHour is the provider's hourly price in USD; zero when unknown.
	CostPerHour float64
	// TTL is the longest the pod may live, zero when it has none; Expired
	// says it has lived longer.
	TTL     time.Duration
	Expired bool
}

// Age is how long the pod has existed at now.
func (b BilledPod) Age(now time.Time) time.Duration { return now.Sub(b.Since) }

// CostSoFar is what the pod has cost at now, at its hourly price.
func (b BilledPod) CostSoFar(now time.Time) float64 {
	return b.CostPerHour * b.Age(now).Hours()
}

// billedPods lists the stored pods of providers that rent them (those
// whose objects carry a price or a ttl), oldest first.
func (e *Executor) billedPods(stored map[lang.Addr]*state.Resource, now time.Time) []BilledPod {
	var out []BilledPod
	for addr, row := range stored {
		if addr.Kind != lang.KindPod || row.ProviderID == "" || !e.bills(row.Provider) {
			continue
		}
		attrs, err := decodeValue(row.Attributes)
		if err != nil {
			continue
		}
		b := BilledPod{Addr: addr, ID: row.ProviderID, Since: row.CreatedAt}
		if v := attrOf(attrs, providers.AttrCostPerHour); !v.IsNull() && v.IsKnown() && v.Type() == cty.Number {
			b.CostPerHour, _ = v.AsBigFloat().Float64()
		}
		b.TTL = e.podTTL(addr, attrs)
		b.Expired = b.TTL > 0 && now.Sub(b.Since) > b.TTL
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].Addr.Less(out[j].Addr)
	})
	return out
}

// bills reports whether a provider's pods cost money while they exist, as
// its schema says.
func (e *Executor) bills(provider string) bool {
	s, ok := e.opts.Providers[provider].(providers.Schemer)
	return ok && s.Schema().Pods.Bills
}

// podTTL is a pod's ttl from its configuration, or from state when the
// configuration no longer declares it.
func (e *Executor) podTTL(addr lang.Addr, stored cty.Value) time.Duration {
	v := attrOf(stored, providers.AttrTTL)
	if e.opts.Config != nil && e.opts.Config.Pods[addr] != nil {
		if cv, diags := e.opts.Config.Decode(addr, lang.NewScope()); !diags.HasErrors() && cv.IsKnown() {
			v = attrOf(cv, providers.AttrTTL)
		}
	}
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return 0
	}
	d, err := providers.ParseDuration(v.AsString())
	if err != nil {
		return 0
	}
	return d
}

// expiring returns the stored pods past their ttl, which the plan
// destroys, unless the options keep them (said in a note).
func (e *Executor) expiring(plan *Plan) map[lang.Addr]BilledPod {
	out := map[lang.Addr]BilledPod{}
	for _, b := range plan.Billing {
		if !b.Expired {
			continue
		}
		if e.opts.KeepExpired {
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s has run for %s, past its ttl of %s; it is kept because of -keep-expired.", b.Addr, roundAge(b.Age(plan.Now)), b.TTL))
			continue
		}
		out[b.Addr] = b
	}
	return out
}

// expiry says why a pod or server goes with a pod past its ttl, or ""
// when it does not.
func (e *Executor) expiry(plan *Plan, addr lang.Addr) string {
	switch addr.Kind {
	case lang.KindPod:
		if b, ok := plan.expiring[addr]; ok {
			return fmt.Sprintf("it has run for %s, past its ttl of %s", roundAge(b.Age(plan.Now)), b.TTL)
		}
	case lang.KindServer:
		if s := e.opts.Config.Servers[addr]; s != nil && s.Pod != nil {
			if _, ok := plan.expiring[*s.Pod]; ok {
				return fmt.Sprintf("%s, where it runs, is past its ttl and is destroyed", s.Pod)
			}
		}
	}
	return ""
}

// orderExpiry makes each pod destroyed for its ttl wait for whatever is
// destroyed of what depended on it when it was made (the servers placed on
// it, whether the configuration still declares them or not), as any
// deletion waits for its dependents.
func orderExpiry(plan *Plan) {
	byAddr := map[lang.Addr]*Change{}
	for _, c := range plan.Changes {
		byAddr[c.Addr] = c
	}
	for _, c := range plan.Changes {
		if c.Action != Delete || c.row == nil {
			continue
		}
		for _, dep := range c.row.Dependencies {
			d, err := lang.ParseAddr(dep)
			if err != nil {
				continue
			}
			if pc := byAddr[d]; pc != nil && pc.expired && pc.Action == Delete && !slices.Contains(pc.DependsOn, c.Addr) {
				pc.DependsOn = append(pc.DependsOn, c.Addr)
			}
		}
	}
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
