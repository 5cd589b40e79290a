package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GPUFields are the nvidia-smi --query-gpu fields sampled during a step, in
// this order. power.draw.instant gives the shape of the load (power.draw is a
// one-second average on Ampere and newer, which shifts energy half a second
// late); utilization.gpu only changes about every 200 ms. Fields a driver
// does not know are dropped by the sampler's probe: older drivers name
// clocks_event_reasons.active clocks_throttle_reasons.active, and older
// GPUs have no power.draw.instant.
var GPUFields = []string{
	"timestamp",
	"uuid",
	"index",
	"utilization.gpu",
	"utilization.memory",
	"memory.used",
	"memory.total",
	"power.draw.instant",
	"power.draw",
	"temperature.gpu",
	"temperature.memory",
	"clocks.sm",
	"clocks.mem",
	"clocks_event_reasons.active",
}

// GPUInfoFields are queried once, by GPUSampler.Idle: identity, limits and
// the idle values of the sampled quantities.
var GPUInfoFields = []string{
	"uuid",
	"index",
	"name",
	"pci.bus_id",
	"driver_version",
	"memory.total",
	"memory.used",
	"enforced.power.limit",
	"clocks.max.sm",
	"clocks.max.memory",
	"power.draw.instant",
	"power.draw",
	"utilization.gpu",
	"temperature.gpu",
	"clocks.sm",
	"clocks_event_reasons.active",
	"pstate",
}

// EnergyField is a pseudo-field for NVML's total energy counter, in
// millijoules since the driver was loaded. nvidia-smi has no such field;
// sources that can read the counter (DCGM, LocalNvidiaSMI with Python)
// answer it, the others print [N/A]. The sampler asks for it only at a
// window's edges, where one read each is all the counter needs.
const EnergyField = "total_energy_consumption"

// GPUReading is one GPU's line of a query. Values the GPU does not report
// ([N/A], [Not Supported]) or that were not queried are nil.
type GPUReading struct {
	UUID          string `json:"uuid,omitempty"`
	Index         *int   `json:"index,omitempty"`
	Name          string `json:"name,omitempty"`
	PCIBusID      string `json:"pci_bus_id,omitempty"`
	DriverVersion string `json:"driver_version,omitempty"`
	PState        string `json:"pstate,omitempty"`
	// SMITime is nvidia-smi's timestamp field, read in this machine's
	// time zone; the node's clock and zone may differ, so samplers stamp
	// readings with their own clock.
	SMITime time.Time `json:"smi_time,omitzero"`

	UtilizationGPUPct    *float64 `json:"util_gpu_pct,omitempty"`
	UtilizationMemoryPct *float64 `json:"util_mem_pct,omitempty"`
	MemoryUsedMiB        *float64 `json:"memory_used_mib,omitempty"`
	MemoryTotalMiB       *float64 `json:"memory_total_mib,omitempty"`
	// PowerW is power.draw: instantaneous before Ampere, a one-second
	// average from Ampere on.
	PowerW *float64 `json:"power_w,omitempty"`
	// PowerInstantW is power.draw.instant.
	PowerInstantW      *float64 `json:"power_instant_w,omitempty"`
	PowerAverageW      *float64 `json:"power_average_w,omitempty"`
	PowerLimitW        *float64 `json:"power_limit_w,omitempty"`
	TemperatureC       *float64 `json:"temperature_c,omitempty"`
	MemoryTemperatureC *float64 `json:"memory_temperature_c,omitempty"`
	SMClockMHz         *float64 `json:"sm_clock_mhz,omitempty"`
	MemoryClockMHz     *float64 `json:"memory_clock_mhz,omitempty"`
	MaxSMClockMHz      *float64 `json:"max_sm_clock_mhz,omitempty"`
	MaxMemoryClockMHz  *float64 `json:"max_memory_clock_mhz,omitempty"`
	// ClockEventReasons is the clocks_event_reasons.active bitmask (NVML's
	// nvmlClocksEventReason* bits).
	ClockEventReasons *uint64 `json:"clock_event_reasons,omitempty"`
	// EnergyMJ is the total energy counter (EnergyField).
	EnergyMJ *uint64 `json:"energy_mj,omitempty"`
	// Other holds fields this package does not interpret, by name.
	Other map[string]string `json:"other,omitempty"`
}

// key identifies the GPU across samples: its UUID, else its index, else its
// line position (pos).
func (r GPUReading) key(pos int) string {
	switch {
	case r.UUID != "":
		return r.UUID
	case r.Index != nil:
		return "index " + strconv.Itoa(*r.Index)
	}
	return "line " + strconv.Itoa(pos)
}

// fieldSetters map nvidia-smi field names, aliases included, to the reading
// field they fill.
var fieldSetters = map[string]func(r *GPUReading, v string) error{}

func init() {
	str := func(set func(*GPUReading, string)) func(*GPUReading, string) error {
		return func(r *GPUReading, v string) error { set(r, v); return nil }
	}
	num := func(get func(*GPUReading) **float64) func(*GPUReading, string) error {
		return func(r *GPUReading, v string) error {
			f, err := parseNumber(v)
			if err != nil {
				return err
			}
			*get(r) = new(f)
			return nil
		}
	}
	reg := func(set func(*GPUReading, string) error, names ...string) {
		for _, n := range names {
			fieldSetters[n] = set
		}
	}
	reg(str(func(r *GPUReading, v string) { r.UUID = v }), "uuid", "gpu_uuid")
	reg(str(func(r *GPUReading, v string) { r.Name = v }), "name", "gpu_name")
	reg(str(func(r *GPUReading, v string) { r.PCIBusID = v }), "pci.bus_id", "gpu_bus_id")
	reg(str(func(r *GPUReading, v string) { r.DriverVersion = v }), "driver_version")
	reg(str(func(r *GPUReading, v string) { r.PState = v }), "pstate")
	reg(func(r *GPUReading, v string) error {
		i, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("index %q is not an integer", v)
		}
		r.Index = &i
		return nil
	}, "index")
	reg(func(r *GPUReading, v string) error {
		t, err := time.ParseInLocation("2006/01/02 15:04:05.000", v, time.Local)
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", v, err)
		}
		r.SMITime = t
		return nil
	}, "timestamp")
	reg(num(func(r *GPUReading) **float64 { return &r.UtilizationGPUPct }), "utilization.gpu")
	reg(num(func(r *GPUReading) **float64 { return &r.UtilizationMemoryPct }), "utilization.memory")
	reg(num(func(r *GPUReading) **float64 { return &r.MemoryUsedMiB }), "memory.used")
	reg(num(func(r *GPUReading) **float64 { return &r.MemoryTotalMiB }), "memory.total")
	reg(num(func(r *GPUReading) **float64 { return &r.PowerW }), "power.draw")
	reg(num(func(r *GPUReading) **float64 { return &r.PowerInstantW }), "power.draw.instant", "gpu.power.draw.instant")
	reg(num(func(r *GPUReading) **float64 { return &r.PowerAverageW }), "power.draw.average", "gpu.power.draw.average")
	reg(num(func(r *GPUReading) **float64 { return &r.PowerLimitW }), "enforced.power.limit", "gpu.power.current_limit")
	reg(num(func(r *GPUReading) **float64 { return &r.TemperatureC }), "temperature.gpu")
	reg(num(func(r *GPUReading) **float64 { return &r.MemoryTemperatureC }), "temperature.memory")
	reg(num(func(r *GPUReading) **float64 { return &r.SMClockMHz }), "clocks.sm", "clocks.current.sm")
	reg(num(func(r *GPUReading) **float64 { return &r.MemoryClockMHz }), "clocks.mem", "clocks.current.memory")
	reg(num(func(r *GPUReading) **float64 { return &r.MaxSMClockMHz }), "clocks.max.sm", "clocks.max_sm")
	reg(num(func(r *GPUReading) **float64 { return &r.MaxMemoryClockMHz }), "clocks.max.memory", "clocks.max.mem")
	reg(func(r *GPUReading, v string) error {
		u, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			return fmt.Errorf("clock event reasons %q: not a bitmask", v)
		}
		r.ClockEventReasons = &u
		return nil
	}, "clocks_event_reasons.active", "clocks_throttle_reasons.active")
	reg(func(r *GPUReading, v string) error {
		u, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
		if err != nil {
			return fmt.Errorf("energy %q: not a counter", v)
		}
		r.EnergyMJ = &u
		return nil
	}, EnergyField)
}

// maxReading bounds plausible values: no GPU quantity nvidia-smi reports
// comes near it, and keeping readings below it keeps every sum finite.
const maxReading = 1e15

// parseNumber reads a numeric value, tolerating a unit left in by a query
// without nounits ("122.10 W").
func parseNumber(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxReading {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return f, nil
}

// absent reports whether nvidia-smi printed a placeholder instead of a
// value: [N/A], [Not Supported], [Unknown Error], [GPU is lost] and kin.
func absent(v string) bool {
	return v == "" || v == "N/A" || (strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"))
}

// ParseNvidiaSMI reads the output of nvidia-smi --query-gpu=<fields>
// --format=csv,noheader,nounits: one reading per GPU line, columns mapped to
// fields by position (the header, when present, renames aliases and is
// skipped). Malformed lines and values are reported in the error, which
// joins one error per line, while every reading that could be read is
// returned: a bad line costs that line only.
func ParseNvidiaSMI(out []byte, fields []string) ([]GPUReading, error) {
	var readings []GPUReading
	var errs []error
	for n, raw := range strings.Split(string(out), "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" {
			continue
		}
		cols := strings.Split(line, ",")
		if len(cols) != len(fields) {
			errs = append(errs, fmt.Errorf("line %d: %d fields, want %d: %q", n+1, len(cols), len(fields), clip(line)))
			continue
		}
		if n == 0 && isHeader(cols, fields) {
			continue
		}
		var r GPUReading
		var bad []string
		for i, f := range fields {
			v := strings.TrimSpace(cols[i])
			if absent(v) {
				continue
			}
			set, ok := fieldSetters[f]
			if !ok {
				if r.Other == nil {
					r.Other = map[string]string{}
				}
				r.Other[f] = v
				continue
			}
			if err := set(&r, v); err != nil {
				bad = append(bad, f+": "+err.Error())
			}
		}
		if len(bad) > 0 {
			errs = append(errs, fmt.Errorf("line %d: %s", n+1, strings.Join(bad, "; ")))
		}
		readings = append(readings, r)
	}
	if len(errs) > 0 {
		return readings, fmt.Errorf("telemetry: parse nvidia-smi: %w", errors.Join(errs...))
	}
	return readings, nil
}

// isHeader recognises a csv header line, whose columns are field names with
// optional bracketed units.
func isHeader(cols, fields []string) bool {
	for i, c := range cols {
		name, _, _ := strings.Cut(strings.TrimSpace(c), " [")
		if name != fields[i] && fieldSetters[name] == nil {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// GPUSource answers nvidia-smi --query-gpu for the GPUs a server uses: the
// output of --format=csv,noheader,nounits for fields, in that order. An
// unknown field must fail with nvidia-smi's own message (`Field "x" is not a
// valid field to query.`) in the error, which is how samplers probe what a
// driver supports.
type GPUSource interface {
	Query(ctx context.Context, fields []string) ([]byte, error)
}

// CommandRunner runs argv and returns its standard output. An exit status
// other than zero is an error that includes what the command printed. A
// provider implements it to run commands on a pod.
type CommandRunner func(ctx context.Context, argv []string) ([]byte, error)

// LocalNvidiaSMI runs nvidia-smi on this machine.
type LocalNvidiaSMI struct {
	// Path is the executable; empty means "nvidia-smi" on PATH.
	Path string
	// Python, when set, is an interpreter with nvidia-ml-py (pynvml), used
	// to answer EnergyField from NVML's energy counter. Without it that
	// field reads [N/A].
	Python string
}

var _ GPUSource = LocalNvidiaSMI{}

// Query runs nvidia-smi for fields.
func (l LocalNvidiaSMI) Query(ctx context.Context, fields []string) ([]byte, error) {
	return QueryNvidiaSMI(ctx, runLocal, l.Path, l.Python, fields)
}

func runLocal(ctx context.Context, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A child that keeps the pipes open must not hold Query past the
	// context.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", argv[0], err, clip(msg))
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", argv[0], err)
	}
	return stdout.Bytes(), nil
}

// nvmlEnergyScript prints "uuid, millijoules" per GPU in NVML order (PCI
// bus order, as nvidia-smi's lines), [N/A] where the counter is not
// supported (before Volta).
const nvmlEnergyScript = `import pynvml as n
n.nvmlInit()
for i in range(n.nvmlDeviceGetCount()):
    h = n.nvmlDeviceGetHandleByIndex(i)
    u = n.nvmlDeviceGetUUID(h)
    u = u.decode() if isinstance(u, bytes) else u
    try:
        e = n.nvmlDeviceGetTotalEnergyConsumption(h)
    except n.NVMLError:
        e = "[N/A]"
    print(f"{u}, {e}")
`

// QueryNvidiaSMI runs nvidia-smi (path, default "nvidia-smi") through run
// for fields. EnergyField is answered by running nvmlEnergyScript with
// python when python is set, matched to nvidia-smi's lines by UUID when
// uuid is queried and by position otherwise; it reads [N/A] when python is
// empty or the script fails. A provider-backed GPUSource calls this with a
// runner that executes on the pod.
func QueryNvidiaSMI(ctx context.Context, run CommandRunner, path, python string, fields []string) ([]byte, error) {
	if path == "" {
		path = "nvidia-smi"
	}
	energyAt := slices.Index(fields, EnergyField)
	smiFields := slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == EnergyField })
	addedUUID := false
	if energyAt >= 0 && len(smiFields) == 0 {
		// nvidia-smi needs a field; uuid gives the line per GPU.
		smiFields, addedUUID = []string{"uuid"}, true
	}
	argv := []string{path, "--query-gpu=" + strings.Join(smiFields, ","), "--format=csv,noheader,nounits"}
	out, err := run(ctx, argv)
	if err != nil {
		return out, fmt.Errorf("telemetry: nvidia-smi: %w", err)
	}
	if energyAt < 0 {
		return out, nil
	}
	var energy map[string]string
	var energyByPos []string
	if python != "" {
		if eo, err := run(ctx, []string{python, "-c", nvmlEnergyScript}); err == nil {
			energy, energyByPos = parseEnergyLines(eo)
		}
	}
	uuidAt := slices.IndexFunc(smiFields, func(f string) bool { return f == "uuid" || f == "gpu_uuid" })
	var b bytes.Buffer
	pos := 0
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		cols := strings.Split(line, ",")
		if strings.TrimSpace(line) == "" || len(cols) != len(smiFields) {
			// Passed through for ParseNvidiaSMI to report.
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		v := "[N/A]"
		if uuidAt >= 0 {
			if e, ok := energy[cols[uuidAt]]; ok {
				v = e
			}
		} else if pos < len(energyByPos) {
			v = energyByPos[pos]
		}
		pos++
		if addedUUID {
			cols = cols[:0]
		}
		cols = slices.Insert(cols, min(energyAt, len(cols)), v)
		b.WriteString(strings.Join(cols, ", "))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func parseEnergyLines(out []byte) (byUUID map[string]string, byPos []string) {
	byUUID = map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		u, e, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		u, e = strings.TrimSpace(u), strings.TrimSpace(e)
		byUUID[u] = e
		byPos = append(byPos, e)
	}
	return byUUID, byPos
}

// invalidField matches nvidia-smi's complaint about a field it does not
// know.
var invalidField = regexp.MustCompile(`Field "([^"]+)" is not a valid field to query`)

// fieldFallbacks are older spellings to try when a driver rejects a field.
var fieldFallbacks = map[string]string{
	"clocks_event_reasons.active": "clocks_throttle_reasons.active",
}

// probe queries fields, dropping (or replacing with an older spelling)
// each one the source rejects, and returns the fields that worked with
// their output.
func probe(ctx context.Context, src GPUSource, fields []string) ([]string, []byte, error) {
	fields = slices.Clone(fields)
	for range len(fields) + len(fieldFallbacks) + 1 {
		out, err := src.Query(ctx, fields)
		if err == nil {
			return fields, out, nil
		}
		m := invalidField.FindStringSubmatch(err.Error() + "\n" + string(out))
		if m == nil {
			return fields, nil, err
		}
		i := slices.Index(fields, m[1])
		if i < 0 {
			return fields, nil, err
		}
		if alt, ok := fieldFallbacks[m[1]]; ok && !slices.Contains(fields, alt) {
			fields[i] = alt
		} else {
			fields = slices.Delete(fields, i, i+1)
		}
		if len(fields) == 0 {
			return nil, nil, err
		}
	}
	return fields, nil, errors.New("telemetry: probe gpu fields: too many rejected fields")
}
