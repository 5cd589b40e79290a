package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestIntegrate(t *testing.T) {
	// Power 100 W at 1 s, 300 W at 3 s, 300 W at 6 s, 200 W at 9 s and
	// 400 W at 11 s, after the window [0, 10 s]:
	//   [0, 1] held at 100 W:            100 J
	//   [1, 3] (100+300)/2 · 2 s:         400 J
	//   [3, 6] 300 · 3 s:                 900 J
	//   [6, 9] (300+200)/2 · 3 s:         750 J
	//   [9, 10] (200+300)/2 · 1 s:        250 J, as 300 W is the line at 10 s
	pts := []powerPoint{{sec(6), 300}, {sec(1), 100}, {sec(3), 300}, {sec(9), 200}, {sec(11), 400}}
	tests := []struct {
		name               string
		pts                []powerPoint
		start, end         time.Time
		holdStart, holdEnd bool
		wantJ              float64
		wantCovered        time.Duration
	}{
		{"clipped to the window", pts, sec(0), sec(10), true, true, 2400, 10 * time.Second},
		{"not held at the start", pts, sec(0), sec(10), false, true, 2300, 9 * time.Second},
		// A GPU last seen at 3 s: [0, 1] 100 J + [1, 3] 400 J.
		{"stops at the last point", []powerPoint{{sec(1), 100}, {sec(3), 300}}, sec(0), sec(10), true, false, 500, 3 * time.Second},
		{"single point held", []powerPoint{{sec(5), 250}}, sec(0), sec(4), true, true, 1000, 4 * time.Second},
		{"single point not held", []powerPoint{{sec(5), 250}}, sec(0), sec(10), false, false, 0, 0},
		{"window inside one segment", pts, sec(4), sec(5), true, true, 300, time.Second},
		{"no points", nil, sec(0), sec(10), true, true, 0, 0},
		{"empty window", pts, sec(5), sec(5), true, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, covered := integrate(tt.pts, tt.start, tt.end, tt.holdStart, tt.holdEnd)
			if diff := cmp.Diff(tt.wantJ, j, approx); diff != "" || covered != tt.wantCovered {
				t.Errorf("integrate = %v J over %v, want %v J over %v", j, covered, tt.wantJ, tt.wantCovered)
			}
		})
	}
}

func reading(uuid string, index int) GPUReading {
	return GPUReading{UUID: uuid, Index: new(index)}
}

func TestGPUWindowStats(t *testing.T) {
	a := func(instant, util, mem, sm, temp float64, reasons uint64, energy uint64) GPUReading {
		r := reading("GPU-a", 0)
		r.PowerInstantW, r.PowerW = new(instant), new(instant-5)
		r.UtilizationGPUPct, r.MemoryUsedMiB, r.MemoryTotalMiB = new(util), new(mem), new(81559.0)
		r.SMClockMHz, r.TemperatureC, r.ClockEventReasons = new(sm), new(temp), new(reasons)
		if energy > 0 {
			r.EnergyMJ = new(energy)
		}
		return r
	}
	// GPU b reports only power.draw and disappears after 3 s.
	b := func(power float64) GPUReading {
		r := reading("GPU-b", 1)
		r.PowerW, r.MemoryUsedMiB = new(power), new(500.0)
		return r
	}
	idleA := reading("GPU-a", 0)
	idleA.Name, idleA.PowerInstantW, idleA.PowerLimitW = "NVIDIA H100 80GB HBM3", new(70.0), new(700.0)
	w := GPUWindow{
		Start: sec(0), End: sec(10),
		Idle: &GPUSnapshot{GPUs: []GPUReading{idleA}},
		Samples: []GPUSample{
			{Time: sec(1), GPUs: []GPUReading{a(100, 10, 1000, 1980, 40, 0x1, 1_000_000), b(100)}},
			{Time: sec(3), GPUs: []GPUReading{a(300, 50, 2000, 1755, 60, 0x4, 0), b(300)}},
			{Time: sec(6), GPUs: []GPUReading{a(300, 90, 2000, 1500, 70, 0x44, 0)}},
			{Time: sec(9), GPUs: []GPUReading{a(200, 70, 2000, 1980, 65, 0, 0)}},
			{Time: sec(11), GPUs: []GPUReading{a(400, 30, 1000, 1980, 50, 0, 3_500_000)}},
		},
		FailedQueries: 2, MalformedLines: 1,
	}
	want := GPUStats{
		Start: sec(0), End: sec(10), DurationS: 10,
		Samples: 5, FailedQueries: 2, MalformedLines: 1,
		EnergyJ:            2900,
		EnergyMethod:       "mixed",
		PowerWMean:         new(240 + 500.0/3),
		PowerWMax:          new(600.0), // 300 + 300 at 3 s
		UtilizationPctMean: new(50.0),
		MemoryUsedMiBMax:   new(2500.0),
		Throttled:          true,
		GPUsDisappeared:    1,
		GPUs: []GPUDeviceStats{
			{
				UUID: "GPU-a", Index: new(0), Name: "NVIDIA H100 80GB HBM3",
				Samples: 5, CoveredS: 10,
				UtilizationPctMean: new(50.0), UtilizationPctMax: new(90.0),
				MemoryUsedMiBMean: new(1600.0), MemoryUsedMiBMax: new(2000.0), MemoryTotalMiB: new(81559.0),
				PowerWMean: new(240.0), PowerWMax: new(400.0),
				IdlePowerW: new(70.0), PowerLimitW: new(700.0),
				EnergyJ: 2400, EnergyMethod: MethodPowerInstant,
				CounterEnergyJ: new(2500.0), CounterSpanS: new(10.0),
				SMClockMHzMean: new(1839.0), TemperatureCMax: new(70.0),
				Throttled:         true,
				ThrottleReasons:   []string{"sw_power_cap", "hw_thermal_slowdown"},
				ThrottledFraction: new(0.4),
			},
			{
				UUID: "GPU-b", Index: new(1),
				Samples: 2, MissingSamples: 3, Disappeared: true, CoveredS: 3,
				MemoryUsedMiBMean: new(500.0), MemoryUsedMiBMax: new(500.0),
				PowerWMean: new(500.0 / 3), PowerWMax: new(300.0),
				EnergyJ: 500, EnergyMethod: MethodPowerAverage,
			},
		},
	}
	got := w.Stats()
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("stats JSON: %v", err)
	}
}

func TestGPUStatsCounterReset(t *testing.T) {
	r := func(e uint64) GPUReading {
		x := reading("GPU-a", 0)
		x.PowerInstantW, x.EnergyMJ = new(100.0), new(e)
		return x
	}
	w := GPUWindow{Start: sec(0), End: sec(2), Samples: []GPUSample{
		{Time: sec(0), GPUs: []GPUReading{r(5_000_000)}},
		{Time: sec(2), GPUs: []GPUReading{r(1_000)}},
	}}
	st := w.Stats()
	if g := st.GPUs[0]; !g.CounterReset || g.CounterEnergyJ != nil || st.CounterEnergyJ != nil {
		t.Errorf("CounterReset, CounterEnergyJ = %v, %v; want a reset and no counter energy", g.CounterReset, g.CounterEnergyJ)
	}
	if st.EnergyJ != 200 {
		t.Errorf("EnergyJ = %v, want 200 from integration", st.EnergyJ)
	}
}

func TestEfficiency(t *testing.T) {
	integrated := GPUStats{EnergyJ: 2900, EnergyMethod: "mixed"}
	counted := GPUStats{EnergyJ: 2900, EnergyMethod: MethodPowerInstant, CounterEnergyJ: new(3600.0)}
	tests := []struct {
		name             string
		s                GPUStats
		tokens, requests int
		want             Efficiency
	}{
		{
			name: "integrated", s: integrated, tokens: 29000, requests: 100,
			want: Efficiency{
				EnergyJ: 2900, EnergySource: "mixed",
				JPerOutputToken: new(0.1), OutputTokensPerJ: new(10.0),
				WhPer1000Requests: new(2900.0 / 3600 / 100 * 1000),
			},
		},
		{
			name: "counter preferred", s: counted, tokens: 36000, requests: 1000,
			want: Efficiency{
				EnergyJ: 3600, EnergySource: MethodCounter,
				JPerOutputToken: new(0.1), OutputTokensPerJ: new(10.0), WhPer1000Requests: new(1.0),
			},
		},
		{
			name: "zero counts", s: counted, tokens: 0, requests: 0,
			want: Efficiency{EnergyJ: 3600, EnergySource: MethodCounter, OutputTokensPerJ: new(0.0)},
		},
		{
			name: "no energy", s: GPUStats{}, tokens: 10, requests: 1,
			want: Efficiency{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.s.Efficiency(tt.tokens, tt.requests), approx); diff != "" {
				t.Errorf("Efficiency (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeTools are the fake nvidia-smi and Python of testdata, wired to a
// fresh state directory.
type fakeTools struct{ smi, python, state string }

func fakeSMI(t *testing.T) fakeTools {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake nvidia-smi is a shell script")
	}
	data, err := filepath.Abs(filepath.Join(testdata, "nvidia-smi"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	t.Setenv("FAKE_NVIDIA_SMI_DATA", data)
	t.Setenv("FAKE_NVIDIA_SMI_STATE", state)
	t.Setenv("FAKE_NVIDIA_SMI_INVALID", "")
	tools := fakeTools{state: state}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"fake-nvidia-smi.sh", &tools.smi}, {"fake-python.sh", &tools.python}} {
		// Copied so that the executable bit does not depend on how the
		// repository was checked out.
		b, err := os.ReadFile(filepath.Join(testdata, s.name))
		if err != nil {
			t.Fatal(err)
		}
		*s.dst = filepath.Join(state, s.name)
		if err := os.WriteFile(*s.dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return tools
}

func (f fakeTools) calls(t *testing.T) int {
	b, err := os.ReadFile(filepath.Join(f.state, "calls"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func TestGPUSamplerFakeNvidiaSMI(t *testing.T) {
	tools := fakeSMI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := NewGPUSampler(LocalNvidiaSMI{Path: tools.smi, Python: tools.python}, 5*time.Millisecond)

	// Calls 1 and 2 of the fake: the idle snapshot and the probe of the
	// sampled fields.
	snap, err := g.Idle(ctx)
	if err != nil {
		t.Fatalf("Idle: %v", err)
	}
	if diff := cmp.Diff(append(slices.Clone(GPUFields), EnergyField), snap.Fields); diff != "" {
		t.Errorf("probed fields (-want +got):\n%s", diff)
	}
	if len(snap.GPUs) != 2 {
		t.Fatalf("idle snapshot has %d GPUs, want 2", len(snap.GPUs))
	}
	idleA := snap.GPUs[0]
	if idleA.Name != "NVIDIA H100 80GB HBM3" || idleA.PowerLimitW == nil || *idleA.PowerLimitW != 700 ||
		idleA.EnergyMJ == nil || *idleA.EnergyMJ != 1_050_000 || idleA.PState != "P0" {
		t.Errorf("idle GPU 0 = %+v", idleA)
	}

	// Call 3 opens the window (two GPUs, a malformed line, GPU a
	// power-capped), call 4 still lists both, later calls only GPU a.
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tools.calls(t) < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	w := g.Stop()
	if w.MalformedLines != 1 || w.FailedQueries != 0 {
		t.Errorf("MalformedLines, FailedQueries = %d, %d; want 1, 0 (errors %v)", w.MalformedLines, w.FailedQueries, w.Errors)
	}
	if w.Idle == nil || len(w.Samples) < 4 {
		t.Fatalf("window has idle %v and %d samples, want the snapshot and at least 4", w.Idle, len(w.Samples))
	}
	st := w.Stats()
	if len(st.GPUs) != 2 {
		t.Fatalf("stats cover %d GPUs, want 2", len(st.GPUs))
	}
	a, b := st.GPUs[0], st.GPUs[1]
	// The fake Python's counter advances 50 J per call; calls 3 and 4
	// are the window's edges.
	if a.CounterEnergyJ == nil || *a.CounterEnergyJ != 50 {
		t.Errorf("GPU a counter energy = %v, want 50 J", a.CounterEnergyJ)
	}
	if !a.Throttled || !slices.Equal(a.ThrottleReasons, []string{"sw_power_cap"}) || a.Disappeared {
		t.Errorf("GPU a throttled %v %v, disappeared %v; want sw_power_cap and present", a.Throttled, a.ThrottleReasons, a.Disappeared)
	}
	if a.EnergyMethod != MethodPowerInstant || a.EnergyJ <= 0 || a.IdlePowerW == nil || *a.IdlePowerW != 74.35 {
		t.Errorf("GPU a energy %v J by %q, idle power %v", a.EnergyJ, a.EnergyMethod, a.IdlePowerW)
	}
	if b.UUID != "GPU-bbbb" || b.Samples != 2 || !b.Disappeared || b.MissingSamples != len(w.Samples)-2 {
		t.Errorf("GPU b = uuid %q, %d samples, disappeared %v, missing %d; want GPU-bbbb, 2, true, %d",
			b.UUID, b.Samples, b.Disappeared, b.MissingSamples, len(w.Samples)-2)
	}
	if b.MemoryTemperatureCMax != nil || b.UtilizationPctMax == nil || *b.UtilizationPctMax != 0 {
		t.Errorf("GPU b memory temperature %v (want absent), utilisation max %v (want 0)", b.MemoryTemperatureCMax, b.UtilizationPctMax)
	}
	if st.CounterEnergyJ != nil || st.GPUsDisappeared != 1 || !st.Throttled {
		t.Errorf("total counter energy %v (want absent: GPU b has none), disappeared %d, throttled %v", st.CounterEnergyJ, st.GPUsDisappeared, st.Throttled)
	}
	if _, err := json.Marshal(w); err != nil {
		t.Errorf("window JSON: %v", err)
	}
	if w := g.Stop(); len(w.Samples) != 0 {
		t.Error("Stop without Start returned samples")
	}
}

func TestGPUSamplerWithoutIdle(t *testing.T) {
	tools := fakeSMI(t)
	// An older driver: Start's probe swaps in the old spelling, which
	// keeps the canned columns in place.
	t.Setenv("FAKE_NVIDIA_SMI_INVALID", "clocks_event_reasons.active")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := NewGPUSampler(LocalNvidiaSMI{Path: tools.smi}, time.Hour)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	w := g.Stop()
	// Call 1 was the probe; call 2 opened the window, call 3 closed it.
	if len(w.Samples) != 2 || w.FailedQueries != 0 || w.MalformedLines != 1 || w.Idle != nil {
		t.Fatalf("samples %d, failed %d, malformed %d, idle %v; want 2, 0, 1, nil (errors %v)", len(w.Samples), w.FailedQueries, w.MalformedLines, w.Idle, w.Errors)
	}
	st := w.Stats()
	if a := st.GPUs[0]; !a.Throttled || a.CounterEnergyJ != nil {
		t.Errorf("GPU a throttled %v (want true, read through clocks_throttle_reasons.active), counter %v (want none without Python)", a.Throttled, a.CounterEnergyJ)
	}
}

// sourceFunc adapts a function to GPUSource.
type sourceFunc func(ctx context.Context, fields []string) ([]byte, error)

func (f sourceFunc) Query(ctx context.Context, fields []string) ([]byte, error) {
	return f(ctx, fields)
}

func TestGPUSamplerFailingSource(t *testing.T) {
	ctx := context.Background()
	broken := sourceFunc(func(context.Context, []string) ([]byte, error) { return nil, errors.New("pod gone") })
	if err := NewGPUSampler(broken, 0).Start(ctx); err == nil {
		t.Error("Start succeeded on a source that answers nothing")
	}
	if _, err := NewGPUSampler(broken, 0).Idle(ctx); err == nil {
		t.Error("Idle succeeded on a source that answers nothing")
	}

	// A source that answers the probe, then fails every query.
	var n atomic.Int64
	flaky := sourceFunc(func(_ context.Context, fields []string) ([]byte, error) {
		if n.Add(1) == 1 {
			return []byte(strings.Repeat("1, ", len(fields)-1) + "1\n"), nil
		}
		return nil, errors.New("exec: timeout")
	})
	g := NewGPUSampler(flaky, 5*time.Millisecond)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	w := g.Stop()
	if len(w.Samples) != 0 || w.FailedQueries < 4 || len(w.Errors) == 0 {
		t.Errorf("samples %d, failed %d, errors %v; want 0, at least 4, some", len(w.Samples), w.FailedQueries, w.Errors)
	}
	if st := w.Stats(); st.EnergyJ != 0 || len(st.GPUs) != 0 {
		t.Errorf("stats of an empty window = %+v", st)
	}
}
