package executor

import (
	"fmt"
	"sort"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
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
		if addr.Kind != lang.KindPod || row.Provider == "local" || row.ProviderID == "" {
			continue
		}
		attrs, err := decodeValue(row.Attributes)
		if err != nil {
			continue
		}
		b := BilledPod{Addr: addr, ID: row.ProviderID, Since: row.CreatedAt}
		if v := attrOf(attrs, "cost_per_hour"); !v.IsNull() && v.IsKnown() && v.Type() == cty.Number {
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

// podTTL is a pod's ttl from its configuration, or from state when the
// configuration no longer declares it.
func (e *Executor) podTTL(addr lang.Addr, stored cty.Value) time.Duration {
	v := attrOf(stored, "ttl")
	if e.opts.Config != nil && e.opts.Config.Pods[addr.Name] != nil {
		if cv, diags := e.opts.Config.Decode(addr, lang.NewScope()); !diags.HasErrors() && cv.IsKnown() {
			v = attrOf(cv, "ttl")
		}
	}
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return 0
	}
	d, err := lang.ParseDuration(v.AsString())
	if err != nil {
		return 0
	}
	return d
}

// expire turns the plan for pods past their ttl into their destruction,
// with the servers placed on them, unless the options keep them. Scenarios
// that need such a server are not run.
func (e *Executor) expire(plan *Plan) {
	expired := map[lang.Addr]BilledPod{}
	for _, b := range plan.Billing {
		if b.Expired {
			expired[b.Addr] = b
		}
	}
	if len(expired) == 0 {
		return
	}
	now := e.opts.Now()
	if e.opts.KeepExpired {
		for _, b := range plan.Billing {
			if b.Expired {
				plan.Notes = append(plan.Notes, fmt.Sprintf("%s has run for %s, past its ttl of %s; it is kept because of -keep-expired.", b.Addr, roundAge(b.Age(now)), b.TTL))
			}
		}
		return
	}
	gone := map[lang.Addr]bool{}
	for _, c := range plan.Changes {
		b, ok := expired[c.Addr]
		if !ok || c.row == nil {
			continue
		}
		c.Action = Delete
		c.After = cty.NilVal
		c.Reasons = []string{fmt.Sprintf("it has run for %s, past its ttl of %s", roundAge(b.Age(now)), b.TTL)}
		c.DependsOn = nil
		gone[c.Addr] = true
	}
	cfg := e.opts.Config
	for _, c := range plan.Changes {
		if c.Addr.Kind != lang.KindServer || cfg == nil || cfg.Servers[c.Addr.Name] == nil {
			continue
		}
		s := cfg.Servers[c.Addr.Name]
		if s.Pod == nil || !gone[*s.Pod] {
			continue
		}
		gone[c.Addr] = true
		if c.row == nil {
			c.Action = NoOp // nothing to create on a pod about to go
		} else {
			c.Action, c.After = Delete, cty.NilVal
		}
		c.Reasons = []string{fmt.Sprintf("%s is past its ttl", s.Pod)}
		c.DependsOn = nil
		// The pod goes after the server placed on it.
		for _, pc := range plan.Changes {
			if pc.Addr == *s.Pod {
				pc.DependsOn = append(pc.DependsOn, c.Addr)
			}
		}
	}
	for _, c := range plan.Changes {
		if c.Addr.Kind != lang.KindScenario || c.Action != Run {
			continue
		}
		for _, srv := range c.Servers {
			if gone[srv] {
				c.Action = NoOp
				plan.Notes = append(plan.Notes, fmt.Sprintf("%s is not run: %s goes with its pod, which is past its ttl.", c.Addr, srv))
				break
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
