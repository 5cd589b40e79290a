package telemetry

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func FuzzParseMetrics(f *testing.F) {
	// Small seeds: every new input the fuzzer keeps is minimised first,
	// which takes long on the multi-kilobyte fixtures (parsed in full by
	// the unit tests).
	f.Add(readFixture(f, "vllm-metrics.txt"))
	for _, name := range []string{"sglang-metrics.txt", "dcgm-metrics.txt"} {
		f.Add(readFixture(f, name)[:1500])
	}
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} NaN\nh_count -1\n"))
	f.Add([]byte("a{b=\"c\",b=\"d\"} 1\n# TYPE a counter\n"))
	// A bucket bound repeated within one series once read as a restart.
	f.Add([]byte("c_total{l=\"1\"}10\nc_total{l=\"1\"}0"))
	f.Add([]byte("#TYPE h histogrAm\nh{le=\".02\"}0\nh{le=\".02\"}1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseMetrics(bytes.NewReader(in))
		if err != nil {
			return
		}
		// Everything downstream of a parse must cope with what parsed.
		_ = s.Info()
		sample := SampleOf(s)
		st := ServerWindow{Before: &s, After: &s, Samples: []ServerSample{sample}}.Stats()
		if st.Restarted {
			t.Errorf("a scrape compared with itself reads as a restart: %v", st.RestartEvidence)
		}
		// Stats go to state as JSON, which has no NaN or Inf.
		if _, err := json.Marshal(st); err != nil {
			t.Errorf("stats JSON: %v", err)
		}
		if _, err := json.Marshal(sample); err != nil {
			t.Errorf("sample JSON: %v", err)
		}
		for _, fam := range s.Families {
			if strings.HasSuffix(fam.Name, "_created") {
				t.Errorf("family %q kept", fam.Name)
			}
			for _, ser := range fam.Series {
				if ser.Hist != nil {
					_ = ser.Hist.Quantile(0.5)
				}
			}
		}
	})
}

func FuzzParseNvidiaSMI(f *testing.F) {
	f.Add([]byte("2026/11/22 23:46:55.386, GPU-a, 0, 92, 73876, 612.40, 598.20, 52, 0x0000000000000004\n"), 9)
	f.Add([]byte("garbage\n, , ,\n[N/A], [Not Supported], 1e309, -0, NaN, 0x, 18446744073709551616, ,\n"), 9)
	f.Add([]byte("uuid, power.draw [W]\r\nGPU-a, 1 W\r\n"), 2)
	f.Fuzz(func(t *testing.T, out []byte, n int) {
		fields := GPUFields
		if n >= 0 && n < len(fields) {
			fields = fields[:n]
		}
		readings, _ := ParseNvidiaSMI(out, append(fields, EnergyField))
		w := GPUWindow{Start: t0, End: t0.Add(time.Second)}
		for i := range 3 {
			w.Samples = append(w.Samples, GPUSample{Time: t0.Add(time.Duration(i) * 400 * time.Millisecond), GPUs: readings})
		}
		st := w.Stats()
		if _, err := json.Marshal(st); err != nil {
			t.Errorf("stats JSON: %v", err)
		}
		if _, err := json.Marshal(st.Efficiency(100, 10)); err != nil {
			t.Errorf("efficiency JSON: %v", err)
		}
		if _, err := json.Marshal(w); err != nil {
			t.Errorf("window JSON: %v", err)
		}
	})
}
