package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseNvidiaSMI(t *testing.T) {
	fields := []string{"timestamp", "uuid", "index", "utilization.gpu", "memory.used", "power.draw.instant", "power.draw", "temperature.memory", "clocks_event_reasons.active"}
	ts := time.Date(2026, 11, 22, 23, 46, 55, 386e6, time.Local)
	gpu0 := GPUReading{
		SMITime: ts, UUID: "GPU-a", Index: new(0), UtilizationGPUPct: new(92.0), MemoryUsedMiB: new(73876.0),
		PowerInstantW: new(612.4), PowerW: new(598.2), MemoryTemperatureC: new(52.0), ClockEventReasons: new(uint64(4)),
	}
	tests := []struct {
		name    string
		out     string
		fields  []string
		want    []GPUReading
		wantErr []string // substrings of the error, one per bad line
	}{
		{
			name:   "one GPU",
			out:    "2026/11/22 23:46:55.386, GPU-a, 0, 92, 73876, 612.40, 598.20, 52, 0x0000000000000004\n",
			fields: fields,
			want:   []GPUReading{gpu0},
		},
		{
			name:   "placeholders are absent values",
			out:    "2026/11/22 23:46:55.386, GPU-b, 1, [N/A], 0, [Not Supported], 121.50, [N/A], [Unknown Error]\n",
			fields: fields,
			want: []GPUReading{{
				SMITime: ts, UUID: "GPU-b", Index: new(1), MemoryUsedMiB: new(0.0), PowerW: new(121.5),
			}},
		},
		{
			name:    "malformed lines reported, the rest kept",
			out:     "2026/11/22 23:46:55.386, GPU-a, 0, 92, 73876, 612.40, 598.20, 52, 0x0000000000000004\nUnable to determine the device handle for GPU0000:2A:00.0: Unknown Error\n2026/11/22 23:46:55.386, GPU-c, 2, 1, 2\n",
			fields:  fields,
			want:    []GPUReading{gpu0},
			wantErr: []string{"line 2: 1 fields, want 9", "line 3: 5 fields, want 9"},
		},
		{
			name:    "bad value keeps the reading",
			out:     "2026/11/22 23:46:55.386, GPU-a, 0, ninety, 73876, 612.40, 598.20, 52, 0x0000000000000004\n",
			fields:  fields,
			want:    []GPUReading{{SMITime: ts, UUID: "GPU-a", Index: new(0), MemoryUsedMiB: new(73876.0), PowerInstantW: new(612.4), PowerW: new(598.2), MemoryTemperatureC: new(52.0), ClockEventReasons: new(uint64(4))}},
			wantErr: []string{`line 1: utilization.gpu: "ninety" is not a number`},
		},
		{
			name:   "header and units tolerated, CRLF, aliases",
			out:    "uuid, clocks.current.sm [MHz], power.draw [W], temperature.gpu\r\nGPU-a, 1980 MHz, 122.10 W, 35\r\n",
			fields: []string{"uuid", "clocks.sm", "power.draw", "temperature.gpu"},
			want:   []GPUReading{{UUID: "GPU-a", SMClockMHz: new(1980.0), PowerW: new(122.1), TemperatureC: new(35.0)}},
		},
		{
			name:   "uninterpreted fields kept by name, energy pseudo-field",
			out:    "GPU-a, P0, 81079, 2355989\n",
			fields: []string{"uuid", "pstate", "memory.free", EnergyField},
			want:   []GPUReading{{UUID: "GPU-a", PState: "P0", Other: map[string]string{"memory.free": "81079"}, EnergyMJ: new(uint64(2355989))}},
		},
		{
			name:   "empty output",
			out:    "",
			fields: fields,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNvidiaSMI([]byte(tt.out), tt.fields)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("readings (-want +got):\n%s", diff)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if n := countJoined(err); n != len(tt.wantErr) {
				t.Errorf("error joins %d problems, want %d", n, len(tt.wantErr))
			}
		})
	}
}

// fakeRunner answers commands from a table keyed by the program name.
type fakeRunner map[string]string

func (f fakeRunner) run(_ context.Context, argv []string) ([]byte, error) {
	out, ok := f[argv[0]]
	if !ok {
		return nil, errors.New(argv[0] + ": not found")
	}
	return []byte(out), nil
}

func TestQueryNvidiaSMIEnergy(t *testing.T) {
	smi := "GPU-a, 100.5\nGPU-b, 90.25\n"
	energy := "GPU-b, 2000\nGPU-a, 1000\n"
	tests := []struct {
		name   string
		runner fakeRunner
		python string
		fields []string
		want   string
	}{
		{
			name:   "merged by uuid",
			runner: fakeRunner{"nvidia-smi": smi, "python3": energy},
			python: "python3",
			fields: []string{"uuid", EnergyField, "power.draw"},
			want:   "GPU-a, 1000, 100.5\nGPU-b, 2000, 90.25\n",
		},
		{
			name:   "merged by position without uuid",
			runner: fakeRunner{"nvidia-smi": "100.5\n90.25\n", "python3": energy},
			python: "python3",
			fields: []string{"power.draw", EnergyField},
			want:   "100.5, 2000\n90.25, 1000\n",
		},
		{
			name:   "energy alone",
			runner: fakeRunner{"nvidia-smi": "GPU-a\nGPU-b\n", "python3": energy},
			python: "python3",
			fields: []string{EnergyField},
			want:   "1000\n2000\n",
		},
		{
			name:   "no python",
			runner: fakeRunner{"nvidia-smi": smi},
			fields: []string{"uuid", "power.draw", EnergyField},
			want:   "GPU-a, 100.5, [N/A]\nGPU-b, 90.25, [N/A]\n",
		},
		{
			name:   "python fails",
			runner: fakeRunner{"nvidia-smi": smi},
			python: "python3",
			fields: []string{"uuid", "power.draw", EnergyField},
			want:   "GPU-a, 100.5, [N/A]\nGPU-b, 90.25, [N/A]\n",
		},
		{
			name:   "without energy output passes through",
			runner: fakeRunner{"nvidia-smi": smi},
			fields: []string{"uuid", "power.draw"},
			want:   smi,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := QueryNvidiaSMI(context.Background(), tt.runner.run, "", tt.python, tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	dir := fakeSMI(t)
	tests := []struct {
		name    string
		invalid string
		fields  []string
		want    []string
		wantErr bool
	}{
		{"all valid", "", []string{"uuid", "power.draw.instant", "clocks_event_reasons.active"}, []string{"uuid", "power.draw.instant", "clocks_event_reasons.active"}, false},
		{"old driver", "power.draw.instant,clocks_event_reasons.active", []string{"uuid", "power.draw.instant", "clocks_event_reasons.active"}, []string{"uuid", "clocks_throttle_reasons.active"}, false},
		{"nothing valid", "uuid", []string{"uuid"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FAKE_NVIDIA_SMI_INVALID", tt.invalid)
			got, _, err := probe(context.Background(), LocalNvidiaSMI{Path: dir.smi}, tt.fields)
			if (err != nil) != tt.wantErr {
				t.Fatalf("probe error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			}
		})
	}
}
