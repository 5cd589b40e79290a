package telemetry

import (
	"math"
	"slices"
	"sort"
	"time"
)

// GPUStats describes the GPUs over one step. Energy is GPU board energy
// only: no CPU, host memory, network or power-supply losses, as in AI
// Energy Score and ML.ENERGY.
type GPUStats struct {
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	DurationS      float64   `json:"duration_s"`
	Samples        int       `json:"samples"`
	FailedQueries  int       `json:"failed_queries"`
	MalformedLines int       `json:"malformed_lines"`
	// EnergyJ sums the GPUs' integrated energy; EnergyMethod names the
	// power field integrated ("mixed" when GPUs differ).
	EnergyJ      float64 `json:"energy_j"`
	EnergyMethod string  `json:"energy_method,omitempty"`
	// CounterEnergyJ sums the NVML energy counter's deltas, present only
	// when every GPU had one: the better number, reported beside the
	// integration as a cross-check.
	CounterEnergyJ *float64 `json:"counter_energy_j,omitempty"`
	// PowerWMean sums the GPUs' time-weighted mean power; PowerWMax is the
	// largest sum over GPUs within one sample.
	PowerWMean *float64 `json:"power_w_mean,omitempty"`
	PowerWMax  *float64 `json:"power_w_max,omitempty"`
	// UtilizationPctMean averages the GPUs' mean utilisation.
	UtilizationPctMean *float64 `json:"util_pct_mean,omitempty"`
	// MemoryUsedMiBMax sums the GPUs' peak memory.
	MemoryUsedMiBMax *float64 `json:"memory_used_mib_max,omitempty"`
	// Throttled is true when any GPU's clocks were held down by power or
	// temperature: such a run is not comparable with one that was not.
	Throttled       bool             `json:"throttled"`
	GPUsDisappeared int              `json:"gpus_disappeared,omitempty"`
	GPUs            []GPUDeviceStats `json:"gpus"`
}

// GPUDeviceStats describes one GPU over a step. Means are over samples
// except PowerWMean, which is energy over covered time.
type GPUDeviceStats struct {
	UUID   string `json:"uuid,omitempty"`
	Index  *int   `json:"index,omitempty"`
	Name   string `json:"name,omitempty"`
	Driver string `json:"driver_version,omitempty"`

	Samples int `json:"samples"`
	// MissingSamples counts samples after the GPU's first appearance that
	// did not list it; Disappeared flags any. Its statistics cover the
	// samples it had, and its energy stops at its last sample.
	MissingSamples int  `json:"missing_samples,omitempty"`
	Disappeared    bool `json:"disappeared,omitempty"`
	// CoveredS is the part of the window its energy covers.
	CoveredS float64 `json:"covered_s"`

	UtilizationPctMean       *float64 `json:"util_pct_mean,omitempty"`
	UtilizationPctMax        *float64 `json:"util_pct_max,omitempty"`
	MemoryUtilizationPctMean *float64 `json:"mem_util_pct_mean,omitempty"`
	MemoryUsedMiBMean        *float64 `json:"memory_used_mib_mean,omitempty"`
	MemoryUsedMiBMax         *float64 `json:"memory_used_mib_max,omitempty"`
	MemoryTotalMiB           *float64 `json:"memory_total_mib,omitempty"`

	PowerWMean  *float64 `json:"power_w_mean,omitempty"`
	PowerWMax   *float64 `json:"power_w_max,omitempty"`
	IdlePowerW  *float64 `json:"idle_power_w,omitempty"`
	PowerLimitW *float64 `json:"power_limit_w,omitempty"`
	// EnergyJ integrates power by the trapezoid rule over the window,
	// holding the first and last readings flat to the window's edges.
	EnergyJ      float64 `json:"energy_j"`
	EnergyMethod string  `json:"energy_method,omitempty"`
	// CounterEnergyJ is the NVML counter's delta between the first and
	// last samples that carried it, CounterSpanS apart; CounterReset
	// means the counter went down (driver reload) and was discarded.
	CounterEnergyJ *float64 `json:"counter_energy_j,omitempty"`
	CounterSpanS   *float64 `json:"counter_span_s,omitempty"`
	CounterReset   bool     `json:"counter_reset,omitempty"`

	SMClockMHzMean        *float64 `json:"sm_clock_mhz_mean,omitempty"`
	MaxSMClockMHz         *float64 `json:"max_sm_clock_mhz,omitempty"`
	MemoryClockMHzMean    *float64 `json:"memory_clock_mhz_mean,omitempty"`
	TemperatureCMax       *float64 `json:"temperature_c_max,omitempty"`
	MemoryTemperatureCMax *float64 `json:"memory_temperature_c_max,omitempty"`
	// Throttled is true when a power or thermal clock-event reason was
	// active in any sample; ThrottleReasons names them and
	// ThrottledFraction is the share of samples affected.
	Throttled         bool     `json:"throttled"`
	ThrottleReasons   []string `json:"throttle_reasons,omitempty"`
	ThrottledFraction *float64 `json:"throttled_fraction,omitempty"`
}

// Energy methods, as reported in EnergyMethod and Efficiency.EnergySource.
const (
	// MethodPowerInstant integrates power.draw.instant, the shape of
	// the load as it was.
	MethodPowerInstant = "integrated power.draw.instant"
	// MethodPowerAverage integrates power.draw, instantaneous before
	// Ampere but a one-second average from Ampere on, which shifts
	// energy about half a second late and smears short windows.
	MethodPowerAverage = "integrated power.draw"
	// MethodCounter is the delta of NVML's total energy counter.
	MethodCounter = "nvml energy counter"
)

// Clock-event reasons that mean the GPU was held below the clocks it asked
// for (NVML's nvmlClocksEventReason* bits). Idle, application clocks, sync
// boost and display settings are not throttling.
var throttleReasons = []struct {
	bit  uint64
	name string
}{
	{0x4, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{0x20, "sw_thermal_slowdown"},
	{0x40, "hw_thermal_slowdown"},
	{0x80, "hw_power_brake_slowdown"},
}

// Efficiency relates a step's GPU energy to the client's counts.
type Efficiency struct {
	EnergyJ float64 `json:"energy_j"`
	// EnergySource is MethodCounter when every GPU had the counter, else
	// the integration method.
	EnergySource     string   `json:"energy_source,omitempty"`
	JPerOutputToken  *float64 `json:"j_per_output_token,omitempty"`
	OutputTokensPerJ *float64 `json:"output_tokens_per_j,omitempty"`
	// WhPer1000Requests is AI Energy Score's unit.
	WhPer1000Requests *float64 `json:"wh_per_1000_requests,omitempty"`
}

// Efficiency computes energy per output token, output tokens per joule and
// Wh per 1,000 requests from the client's counts of output tokens and
// successful requests, using the energy counter where every GPU had one.
// Figures whose denominator is zero are absent.
func (s GPUStats) Efficiency(outputTokens, requests int) Efficiency {
	e := Efficiency{EnergyJ: s.EnergyJ, EnergySource: s.EnergyMethod}
	if s.CounterEnergyJ != nil {
		e.EnergyJ, e.EnergySource = *s.CounterEnergyJ, MethodCounter
	}
	if e.EnergySource == "" {
		return e
	}
	if outputTokens > 0 {
		e.JPerOutputToken = num(e.EnergyJ / float64(outputTokens))
	}
	if e.EnergyJ > 0 {
		e.OutputTokensPerJ = num(float64(outputTokens) / e.EnergyJ)
	}
	if requests > 0 {
		e.WhPer1000Requests = num(e.EnergyJ / 3600 / float64(requests) * 1000)
	}
	return e
}

// gpuTrack gathers one GPU's readings across a window.
type gpuTrack struct {
	key      string
	first    GPUReading
	times    []time.Time
	readings []GPUReading
	missing  int
}

// Stats reduces the window to per-GPU and total statistics.
func (w GPUWindow) Stats() GPUStats {
	st := GPUStats{
		Start: w.Start, End: w.End, DurationS: w.End.Sub(w.Start).Seconds(),
		Samples: len(w.Samples), FailedQueries: w.FailedQueries, MalformedLines: w.MalformedLines,
	}
	samples := slices.Clone(w.Samples)
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].Time.Before(samples[j].Time) })

	tracks := map[string]*gpuTrack{}
	var order []string
	for _, s := range samples {
		seen := map[string]bool{}
		for pos, r := range s.GPUs {
			k := r.key(pos)
			if seen[k] {
				continue
			}
			seen[k] = true
			t := tracks[k]
			if t == nil {
				t = &gpuTrack{key: k, first: r}
				tracks[k] = t
				order = append(order, k)
			}
			t.times = append(t.times, s.Time)
			t.readings = append(t.readings, r)
		}
		for k, t := range tracks {
			if !seen[k] {
				t.missing++
			}
		}
	}
	idle := map[string]GPUReading{}
	if w.Idle != nil {
		for pos, r := range w.Idle.GPUs {
			idle[r.key(pos)] = r
		}
	}

	var methods []string
	counterAll := len(order) > 0
	var counterSum, powerMeanSum float64
	var havePowerMean bool
	var utilMeans []float64
	var memMaxSum float64
	var haveMem bool
	for _, k := range order {
		t := tracks[k]
		inFirst := len(samples) > 0 && containsKey(samples[0], k)
		inLast := len(samples) > 0 && containsKey(samples[len(samples)-1], k)
		d := deviceStats(t, w.Start, w.End, inFirst, inLast)
		if r, ok := idle[k]; ok {
			d.IdlePowerW = firstOf(r.PowerInstantW, r.PowerW)
			d.PowerLimitW = r.PowerLimitW
			if d.Name == "" {
				d.Name = r.Name
			}
			if d.Driver == "" {
				d.Driver = r.DriverVersion
			}
			d.MaxSMClockMHz = r.MaxSMClockMHz
		}
		st.EnergyJ += d.EnergyJ
		if d.EnergyMethod != "" {
			methods = append(methods, d.EnergyMethod)
		}
		if d.CounterEnergyJ == nil {
			counterAll = false
		} else {
			counterSum += *d.CounterEnergyJ
		}
		if d.PowerWMean != nil {
			powerMeanSum += *d.PowerWMean
			havePowerMean = true
		}
		if d.UtilizationPctMean != nil {
			utilMeans = append(utilMeans, *d.UtilizationPctMean)
		}
		if d.MemoryUsedMiBMax != nil {
			memMaxSum += *d.MemoryUsedMiBMax
			haveMem = true
		}
		if d.Throttled {
			st.Throttled = true
		}
		if d.Disappeared {
			st.GPUsDisappeared++
		}
		st.GPUs = append(st.GPUs, d)
	}
	sort.SliceStable(st.GPUs, func(i, j int) bool {
		a, b := st.GPUs[i].Index, st.GPUs[j].Index
		if a != nil && b != nil {
			return *a < *b
		}
		return a != nil && b == nil
	})
	slices.Sort(methods)
	if methods = slices.Compact(methods); len(methods) == 1 {
		st.EnergyMethod = methods[0]
	} else if len(methods) > 1 {
		st.EnergyMethod = "mixed"
	}
	if counterAll {
		st.CounterEnergyJ = num(counterSum)
	}
	if havePowerMean {
		st.PowerWMean = num(powerMeanSum)
	}
	if len(utilMeans) > 0 {
		st.UtilizationPctMean = num(sumOf(utilMeans) / float64(len(utilMeans)))
	}
	if haveMem {
		st.MemoryUsedMiBMax = num(memMaxSum)
	}
	var peak float64
	var havePeak bool
	for _, s := range samples {
		var sum float64
		var any bool
		for _, r := range s.GPUs {
			if p := firstOf(r.PowerInstantW, r.PowerW); p != nil {
				sum += *p
				any = true
			}
		}
		if any && (!havePeak || sum > peak) {
			peak, havePeak = sum, true
		}
	}
	if havePeak {
		st.PowerWMax = num(peak)
	}
	return st
}

func containsKey(s GPUSample, k string) bool {
	for pos, r := range s.GPUs {
		if r.key(pos) == k {
			return true
		}
	}
	return false
}

func firstOf(ps ...*float64) *float64 {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func deviceStats(t *gpuTrack, start, end time.Time, inFirst, inLast bool) GPUDeviceStats {
	d := GPUDeviceStats{
		UUID: t.first.UUID, Index: t.first.Index, Name: t.first.Name,
		Samples: len(t.readings), MissingSamples: t.missing, Disappeared: t.missing > 0,
	}
	var util, memUtil, memUsed, sm, memClock, temp, memTemp []float64
	throttled, withReasons := 0, 0
	reasons := map[string]bool{}
	for _, r := range t.readings {
		appendIf(&util, r.UtilizationGPUPct)
		appendIf(&memUtil, r.UtilizationMemoryPct)
		appendIf(&memUsed, r.MemoryUsedMiB)
		appendIf(&sm, r.SMClockMHz)
		appendIf(&memClock, r.MemoryClockMHz)
		appendIf(&temp, r.TemperatureC)
		appendIf(&memTemp, r.MemoryTemperatureC)
		if r.MemoryTotalMiB != nil {
			d.MemoryTotalMiB = r.MemoryTotalMiB
		}
		if d.Name == "" {
			d.Name = r.Name
		}
		if d.Driver == "" {
			d.Driver = r.DriverVersion
		}
		if r.ClockEventReasons != nil {
			withReasons++
			hit := false
			for _, tr := range throttleReasons {
				if *r.ClockEventReasons&tr.bit != 0 {
					reasons[tr.name] = true
					hit = true
				}
			}
			if hit {
				throttled++
			}
		}
	}
	d.UtilizationPctMean, d.UtilizationPctMax = meanOf(util), maxOf(util)
	d.MemoryUtilizationPctMean = meanOf(memUtil)
	d.MemoryUsedMiBMean, d.MemoryUsedMiBMax = meanOf(memUsed), maxOf(memUsed)
	d.SMClockMHzMean, d.MemoryClockMHzMean = meanOf(sm), meanOf(memClock)
	d.TemperatureCMax, d.MemoryTemperatureCMax = maxOf(temp), maxOf(memTemp)
	if withReasons > 0 {
		d.ThrottledFraction = num(float64(throttled) / float64(withReasons))
	}
	if len(reasons) > 0 {
		d.Throttled = true
		for _, tr := range throttleReasons {
			if reasons[tr.name] {
				d.ThrottleReasons = append(d.ThrottleReasons, tr.name)
			}
		}
	}

	pts, method := powerSeries(t)
	if len(pts) > 0 {
		var ws []float64
		for _, p := range pts {
			ws = append(ws, p.w)
		}
		d.PowerWMax = maxOf(ws)
		// A GPU that vanished, or appeared late, is not extended to
		// the window's edge it was absent from.
		j, covered := integrate(pts, start, end, inFirst, inLast)
		d.EnergyJ, d.EnergyMethod, d.CoveredS = j, method, covered.Seconds()
		if covered > 0 {
			d.PowerWMean = num(j / covered.Seconds())
		}
	}

	counterEnergy(t, &d)
	return d
}

// counterEnergy fills the energy counter's delta between the first and last
// readings that carry it.
func counterEnergy(t *gpuTrack, d *GPUDeviceStats) {
	first, last := -1, -1
	for i, r := range t.readings {
		if r.EnergyMJ == nil {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 || last == first {
		return
	}
	a, b := *t.readings[first].EnergyMJ, *t.readings[last].EnergyMJ
	if b < a {
		// The counter restarts when the driver reloads: the delta means
		// nothing, as vLLM's GpuEnergyMeter also concludes.
		d.CounterReset = true
		return
	}
	d.CounterEnergyJ = num(float64(b-a) / 1000)
	d.CounterSpanS = num(t.times[last].Sub(t.times[first]).Seconds())
}

type powerPoint struct {
	t time.Time
	w float64
}

// powerSeries picks the power field to integrate: power.draw.instant when
// the GPU reports it (at least twice, or in its only sample), else
// power.draw, which on Ampere and newer is a one-second average.
func powerSeries(t *gpuTrack) ([]powerPoint, string) {
	var inst, avg []powerPoint
	for i, r := range t.readings {
		if r.PowerInstantW != nil && !math.IsNaN(*r.PowerInstantW) {
			inst = append(inst, powerPoint{t.times[i], *r.PowerInstantW})
		}
		if r.PowerW != nil && !math.IsNaN(*r.PowerW) {
			avg = append(avg, powerPoint{t.times[i], *r.PowerW})
		}
	}
	switch {
	case len(inst) >= 2 || (len(inst) == 1 && len(t.readings) == 1):
		return inst, MethodPowerInstant
	case len(avg) > 0:
		return avg, MethodPowerAverage
	case len(inst) > 0:
		return inst, MethodPowerInstant
	}
	return nil, ""
}

// integrate returns the energy in joules of power that varies linearly
// between the points, over [start, end]. Before the first point and after
// the last, power holds at that point's value when holdStart or holdEnd
// says so; otherwise the integral starts at the first point or stops at the
// last. Points outside the window still shape the line inside it, which is
// how the window is clipped: the closing sample lands just after end.
func integrate(pts []powerPoint, start, end time.Time, holdStart, holdEnd bool) (joules float64, covered time.Duration) {
	if len(pts) == 0 || !end.After(start) {
		return 0, 0
	}
	pts = slices.Clone(pts)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].t.Before(pts[j].t) })
	a, b := start, end
	if !holdStart && pts[0].t.After(a) {
		a = pts[0].t
	}
	if last := pts[len(pts)-1].t; !holdEnd && last.Before(b) {
		b = last
	}
	if !b.After(a) {
		return 0, 0
	}
	at := func(t time.Time) float64 {
		if !t.After(pts[0].t) {
			return pts[0].w
		}
		for i := 1; i < len(pts); i++ {
			if t.After(pts[i].t) {
				continue
			}
			p, q := pts[i-1], pts[i]
			span := q.t.Sub(p.t)
			if span <= 0 {
				return q.w
			}
			return p.w + (q.w-p.w)*float64(t.Sub(p.t))/float64(span)
		}
		return pts[len(pts)-1].w
	}
	edges := []time.Time{a}
	for _, p := range pts {
		if p.t.After(a) && p.t.Before(b) {
			edges = append(edges, p.t)
		}
	}
	edges = append(edges, b)
	for i := 1; i < len(edges); i++ {
		x0, x1 := edges[i-1], edges[i]
		joules += (at(x0) + at(x1)) / 2 * x1.Sub(x0).Seconds()
	}
	return joules, b.Sub(a)
}

func meanOf(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	return num(sumOf(xs) / float64(len(xs)))
}

func maxOf(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	return num(slices.Max(xs))
}
