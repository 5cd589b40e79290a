package executor

import (
	"math"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
)

// CostBound is the most the pods of a plan can cost before they are gone,
// should everything take as long as its bounds allow: each pod's hourly
// price (or its bound) for as long as it can live, its ttl or, for a pod
// destroyed after use, the time its server may take to answer and its
// scenarios to run to every timeout, whichever is shorter.
type CostBound struct {
	USD float64
	// Bounded counts the pods in USD; Unbounded the pods that bill until
	// destroyed (neither a ttl nor destroy_after_use); Unpriced the pods
	// whose price is not known before apply.
	Bounded, Unbounded, Unpriced int
}

// costBound bounds the cost of the pods that exist after the plan is
// applied.
func (e *Executor) costBound(plan *Plan) CostBound {
	byAddr := map[lang.Addr]*Change{}
	for _, c := range plan.Changes {
		byAddr[c.Addr] = c
	}
	var b CostBound
	for _, c := range plan.Changes {
		if c.Addr.Kind != lang.KindPod || c.Action == Delete || c.After == cty.NilVal {
			continue
		}
		price, ok := number(attrOf(c.After, providers.AttrCostPerHour))
		if !ok {
			price, ok = number(attrOf(c.After, providers.AttrCostPerHourMax))
		}
		hours := math.Inf(1)
		if ttl, ok := duration(attrOf(c.After, providers.AttrTTL)); ok {
			hours = ttl.Hours()
		}
		if len(c.UsedBy) > 0 {
			hours = min(hours, e.afterUseBound(c.Addr, c.UsedBy, byAddr).Hours())
		}
		switch {
		case math.IsInf(hours, 1):
			b.Unbounded++
		case !ok:
			b.Unpriced++
		default:
			b.Bounded++
			b.USD += price * hours
		}
	}
	return b
}

// afterUseBound is how long a pod destroyed after use can live: its
// servers' time to answer, then each scenario that uses it run to every
// bound up to and including its servers, the scenario's servers being
// run one after the other.
func (e *Executor) afterUseBound(pod lang.Addr, users []lang.Addr, byAddr map[lang.Addr]*Change) time.Duration {
	cfg := e.opts.Config
	var total time.Duration
	for _, s := range cfg.ServersOn(pod) {
		ready := providers.DefaultReadyTimeout
		if c := byAddr[s.Addr]; c != nil {
			if d, ok := duration(attrOf(c.After, providers.AttrReadyTimeout)); ok {
				ready = d
			}
		}
		total = max(total, ready)
	}
	for _, u := range users {
		c := byAddr[u]
		if c == nil {
			continue
		}
		spec, err := lang.DecodeScenarioSpec(c.config)
		if err != nil {
			return time.Duration(math.MaxInt64)
		}
		for _, s := range c.Servers {
			total += serverBound(spec)
			if p, ok := afterUsePod(cfg, s); ok && p == pod {
				break
			}
		}
	}
	return total
}

// serverBound is how long a scenario's steps against one server can
// take, every request taking its whole timeout.
func serverBound(spec lang.ScenarioSpec) time.Duration {
	if s := spec.Load.Search; s != nil {
		// The slowest probe is the smallest load.
		return maxProbes * stepBound(spec, loadStep(spec, s.From, s.Over == "rate").load)
	}
	var total time.Duration
	for _, ps := range steps(spec) {
		total += stepBound(spec, ps.load)
	}
	return total
}

// stepBound is how long a step can take: its warm-up and its requests in
// rounds of as many as run at once, each round its request timeout; or
// its duration and drain.
func stepBound(spec lang.ScenarioSpec, l workload.Load) time.Duration {
	per := spec.Timeouts.Request
	workers := l.Concurrency
	if workers == 0 {
		workers = l.MaxConcurrency
	}
	rounds := func(n int) time.Duration {
		if workers == 0 {
			return per // an open loop without a cap sends them all at once
		}
		return time.Duration((n+workers-1)/workers) * per
	}
	total := rounds(l.Warmup)
	switch {
	case l.Duration > 0:
		total += l.Duration + l.Drain
	case l.Concurrency > 0:
		total += rounds(l.Requests)
	case math.IsInf(l.Rate, 1):
		total += per
	default:
		total += time.Duration(float64(l.Requests)/l.Rate*float64(time.Second)) + per
	}
	return total
}

func number(v cty.Value) (float64, bool) {
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

func duration(v cty.Value) (time.Duration, bool) {
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return 0, false
	}
	d, err := lang.ParseDuration(v.AsString())
	return d, err == nil && d > 0
}
