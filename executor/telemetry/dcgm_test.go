package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func serveText(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDCGMFixture(t *testing.T) {
	srv := serveText(t, string(readFixture(t, "dcgm-metrics.txt")))
	fields := append([]string{"name", "pci.bus_id", "driver_version", "memory.total"}, GPUFields...)
	fields = append(fields, EnergyField)
	out, err := DCGM{URL: srv.URL}.Query(context.Background(), fields)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseNvidiaSMI(out, fields)
	if err != nil {
		t.Fatalf("ParseNvidiaSMI of DCGM output: %v\n%s", err, out)
	}
	want := []GPUReading{
		{
			UUID: "GPU-5a1f3c2e-0b7d-4e8a-9c61-2f4d8e7b1a90", Index: new(0), Name: "NVIDIA H100 80GB HBM3",
			PCIBusID: "00000000:18:00.0", DriverVersion: "580.159.04",
			UtilizationGPUPct: new(97.0), UtilizationMemoryPct: new(41.0), MemoryUsedMiB: new(73876.0),
			PowerW: new(612.457), TemperatureC: new(61.0), MemoryTemperatureC: new(52.0),
			SMClockMHz: new(1755.0), MemoryClockMHz: new(2619.0), EnergyMJ: new(uint64(918273645123)),
		},
		{
			// Memory temperature is DCGM's not-supported sentinel.
			UUID: "GPU-9d2b6e41-7c3a-4f15-b8e2-6a0c5d9f3b27", Index: new(1), Name: "NVIDIA H100 80GB HBM3",
			PCIBusID: "00000000:2A:00.0", DriverVersion: "580.159.04",
			UtilizationGPUPct: new(0.0), UtilizationMemoryPct: new(0.0), MemoryUsedMiB: new(0.0),
			PowerW: new(121.835), TemperatureC: new(38.0),
			SMClockMHz: new(1980.0), MemoryClockMHz: new(2619.0), EnergyMJ: new(uint64(402115778901)),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readings (-want +got):\n%s", diff)
	}
}

func TestDCGMOptionalFamilies(t *testing.T) {
	// The older exporter layout: every HELP/TYPE first, spaces after
	// commas, no pci_bus_id; plus families outside the default counters.
	srv := serveText(t, `# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_USED{gpu="0", UUID="GPU-x", device="nvidia0"} 1000
DCGM_FI_DEV_FB_FREE{gpu="0", UUID="GPU-x", device="nvidia0"} 80079
DCGM_FI_DEV_FB_RESERVED{gpu="0", UUID="GPU-x", device="nvidia0"} 480
DCGM_FI_DEV_POWER_USAGE_INSTANT{gpu="0", UUID="GPU-x", device="nvidia0"} 700.5
DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0", UUID="GPU-x", device="nvidia0"} 68
DCGM_FI_DEV_GPU_UTIL{gpu="0", UUID="GPU-x", device="nvidia0", GPU_I_ID="1"} 5
`)
	fields := []string{"uuid", "index", "pci.bus_id", "memory.total", "power.draw.instant", "clocks_event_reasons.active", "utilization.gpu", "timestamp"}
	out, err := DCGM{URL: srv.URL}.Query(context.Background(), fields)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("GPU-x, 0, [N/A], 81559, 700.5, 0x0000000000000044, [N/A], [N/A]\n", string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestDCGMProbe(t *testing.T) {
	srv := serveText(t, string(readFixture(t, "dcgm-metrics.txt")))
	g := NewGPUSampler(DCGM{URL: srv.URL}, time.Hour)
	snap, err := g.Idle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// DCGM has nothing for the timestamp's clock, pstate or maximum
	// clocks in nvidia-smi's sense; the probe drops what it rejects.
	if !slices.Contains(snap.Fields, EnergyField) || !slices.Contains(snap.Fields, "power.draw") {
		t.Errorf("fields %v lack the energy counter or power", snap.Fields)
	}
	if len(snap.GPUs) != 2 || snap.GPUs[0].EnergyMJ == nil {
		t.Errorf("idle snapshot = %+v, want two GPUs with energy", snap.GPUs)
	}
	if _, err := (DCGM{URL: srv.URL}).Query(context.Background(), []string{"pstate"}); err == nil || !invalidField.MatchString(err.Error()) {
		t.Errorf("unknown field error = %v, want nvidia-smi's wording", err)
	}
}
