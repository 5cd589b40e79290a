package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// DCGM reads GPU telemetry from a dcgm-exporter's Prometheus endpoint and
// answers queries in nvidia-smi's shape, so that samplers treat it like
// nvidia-smi. dcgm-exporter refreshes its values on its own collection
// interval (30 s by default, -c), so sampling it faster repeats values;
// its energy counter (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION, a default
// counter) is what makes it worth using.
type DCGM struct {
	// URL is the exporter's metrics URL, such as
	// http://node:9400/metrics.
	URL string
	// Client is the HTTP client; nil means a plain http.Client.
	Client *http.Client
}

var _ GPUSource = DCGM{}

// dcgmFields maps nvidia-smi fields to DCGM families. Not every family is
// in dcgm-exporter's default counters: POWER_USAGE_INSTANT, FB_TOTAL,
// FB_RESERVED, POWER_MGMT_LIMIT and the clock-event reasons need a custom
// counters file, and are used when present.
var dcgmFields = map[string][]string{
	"utilization.gpu":                {"DCGM_FI_DEV_GPU_UTIL"},
	"utilization.memory":             {"DCGM_FI_DEV_MEM_COPY_UTIL"},
	"memory.used":                    {"DCGM_FI_DEV_FB_USED"},
	"memory.free":                    {"DCGM_FI_DEV_FB_FREE"},
	"power.draw":                     {"DCGM_FI_DEV_POWER_USAGE"},
	"power.draw.instant":             {"DCGM_FI_DEV_POWER_USAGE_INSTANT"},
	"enforced.power.limit":           {"DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "DCGM_FI_DEV_POWER_MGMT_LIMIT"},
	"temperature.gpu":                {"DCGM_FI_DEV_GPU_TEMP"},
	"temperature.memory":             {"DCGM_FI_DEV_MEMORY_TEMP"},
	"clocks.sm":                      {"DCGM_FI_DEV_SM_CLOCK"},
	"clocks.mem":                     {"DCGM_FI_DEV_MEM_CLOCK"},
	"clocks_event_reasons.active":    {"DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"},
	"clocks_throttle_reasons.active": {"DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"},
	EnergyField:                      {"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"},
}

// dcgmGPU collects one GPU's labels and values.
type dcgmGPU struct {
	labels map[string]string
	values map[string]float64
}

// Query scrapes the exporter once and renders the requested fields per GPU,
// ordered by GPU index. Fields with no DCGM counterpart, and values DCGM
// marks blank, read [N/A]; timestamp is always [N/A], as the exporter does
// not say when it collected.
func (d DCGM) Query(ctx context.Context, fields []string) ([]byte, error) {
	client := d.Client
	if client == nil {
		client = &http.Client{}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("telemetry: dcgm: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("telemetry: dcgm: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("telemetry: dcgm: %s: status %s", d.URL, resp.Status)
	}
	sc, err := ParseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("telemetry: dcgm: %w", err)
	}
	return renderDCGM(sc, fields)
}

func renderDCGM(sc Scrape, fields []string) ([]byte, error) {
	for _, f := range fields {
		if _, ok := dcgmFields[f]; !ok && !dcgmLabelField(f) && f != "timestamp" && f != "memory.total" {
			// nvidia-smi's own wording, which the samplers' probe
			// recognises.
			return nil, fmt.Errorf("telemetry: dcgm: Field %q is not a valid field to query", f)
		}
	}
	gpus := map[string]*dcgmGPU{}
	for name, fam := range sc.Families {
		if !strings.HasPrefix(name, "DCGM_FI_") {
			continue
		}
		for _, s := range fam.Series {
			// MIG instances carry GPU_I_ID and would overwrite the
			// whole GPU's values.
			if s.Labels["GPU_I_ID"] != "" {
				continue
			}
			k := s.Labels["UUID"]
			if k == "" {
				k = "gpu " + s.Labels["gpu"]
			}
			g := gpus[k]
			if g == nil {
				g = &dcgmGPU{labels: s.Labels, values: map[string]float64{}}
				gpus[k] = g
			}
			if _, seen := g.values[name]; !seen && !dcgmBlank(s.Value) {
				g.values[name] = s.Value
			}
		}
	}
	keys := slices.SortedFunc(maps.Keys(gpus), func(a, b string) int {
		ia, errA := strconv.Atoi(gpus[a].labels["gpu"])
		ib, errB := strconv.Atoi(gpus[b].labels["gpu"])
		if errA == nil && errB == nil && ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	var b bytes.Buffer
	for _, k := range keys {
		g := gpus[k]
		cols := make([]string, len(fields))
		for i, f := range fields {
			cols[i] = g.field(f)
		}
		b.WriteString(strings.Join(cols, ", "))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func dcgmLabelField(f string) bool {
	switch f {
	case "uuid", "gpu_uuid", "index", "name", "gpu_name", "pci.bus_id", "gpu_bus_id", "driver_version":
		return true
	}
	return false
}

func (g *dcgmGPU) field(f string) string {
	const na = "[N/A]"
	label := func(names ...string) string {
		for _, n := range names {
			if v := g.labels[n]; v != "" {
				// A comma in a label would split the column.
				return strings.ReplaceAll(v, ",", " ")
			}
		}
		return na
	}
	switch f {
	case "uuid", "gpu_uuid":
		return label("UUID")
	case "index":
		return label("gpu")
	case "name", "gpu_name":
		return label("modelName")
	case "pci.bus_id", "gpu_bus_id":
		return label("pci_bus_id")
	case "driver_version":
		return label("DCGM_FI_DRIVER_VERSION")
	case "memory.total":
		// nvidia-smi's total is used + free + reserved.
		if v, ok := g.values["DCGM_FI_DEV_FB_TOTAL"]; ok {
			return formatValue(v)
		}
		u, okU := g.values["DCGM_FI_DEV_FB_USED"]
		fr, okF := g.values["DCGM_FI_DEV_FB_FREE"]
		r, okR := g.values["DCGM_FI_DEV_FB_RESERVED"]
		if okU && okF && okR {
			return formatValue(u + fr + r)
		}
		return na
	}
	for _, fam := range dcgmFields[f] {
		if v, ok := g.values[fam]; ok {
			if f == "clocks_event_reasons.active" || f == "clocks_throttle_reasons.active" {
				return fmt.Sprintf("0x%016x", uint64(v))
			}
			return formatValue(v)
		}
	}
	return na
}

func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e18 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// dcgmBlank reports DCGM's sentinels for a value it does not have:
// DCGM_INT64_BLANK (0x7ffffffffffffff0) and above for integer fields, and
// DCGM_FP64_BLANK (2^47) and the few values after it for float fields.
func dcgmBlank(v float64) bool {
	const fp64Blank = 140737488355328.0
	return math.IsNaN(v) || v >= 9.2233720368547758e18 || (v >= fp64Blank && v < fp64Blank+16)
}
