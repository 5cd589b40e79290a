package telemetry

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// TestLocalNvidiaSMIHardware samples the real nvidia-smi of this machine.
// It runs only with BENCHFORM_GPU_TEST=1; BENCHFORM_GPU_PYTHON names a
// Python with pynvml to read the energy counter, and BENCHFORM_GPU_WINDOW
// the window's length (default 3s). Whatever loads the GPU meanwhile is up
// to the caller; the integrated energy must agree with the counter within
// 20 % either way.
func TestLocalNvidiaSMIHardware(t *testing.T) {
	if os.Getenv("BENCHFORM_GPU_TEST") == "" {
		t.Skip("set BENCHFORM_GPU_TEST=1 on a machine with an NVIDIA GPU")
	}
	window := 3 * time.Second
	if v := os.Getenv("BENCHFORM_GPU_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		window = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), window+time.Minute)
	defer cancel()
	g := NewGPUSampler(LocalNvidiaSMI{Python: os.Getenv("BENCHFORM_GPU_PYTHON")}, 0)
	snap, err := g.Idle(ctx)
	if err != nil {
		t.Fatalf("Idle: %v", err)
	}
	logJSON(t, "idle snapshot", snap)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(window)
	w := g.Stop()
	st := w.Stats()
	logJSON(t, "stats", st)
	var lat []float64
	for _, s := range w.Samples {
		lat = append(lat, s.QueryLatencyMS)
	}
	if len(lat) > 0 {
		t.Logf("query latency: mean %.1f ms, max %.1f ms over %d samples", *meanOf(lat), *maxOf(lat), len(lat))
	}
	if w.MalformedLines != 0 || w.FailedQueries != 0 {
		t.Errorf("malformed lines %d, failed queries %d: %v", w.MalformedLines, w.FailedQueries, w.Errors)
	}
	if want := int(window / DefaultGPUInterval / 2); len(w.Samples) < want {
		t.Errorf("%d samples, want at least %d", len(w.Samples), want)
	}
	for _, d := range st.GPUs {
		if d.EnergyJ <= 0 || d.CoveredS < window.Seconds()*0.9 {
			t.Errorf("GPU %s: %v J over %v s", d.UUID, d.EnergyJ, d.CoveredS)
		}
		if d.CounterEnergyJ != nil {
			if r := d.EnergyJ / *d.CounterEnergyJ; r < 0.8 || r > 1.2 {
				t.Errorf("GPU %s: integrated %v J against the counter's %v J", d.UUID, d.EnergyJ, *d.CounterEnergyJ)
			}
		}
	}
}

func logJSON(t *testing.T, what string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Errorf("%s JSON: %v", what, err)
		return
	}
	t.Logf("%s:\n%s", what, b)
}
