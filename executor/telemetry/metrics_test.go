package telemetry

import (
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testdata is the repository's shared test data directory for this package.
var testdata = filepath.Join("..", "..", "testdata", "telemetry")

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseString(t testing.TB, s string) Scrape {
	t.Helper()
	sc, err := ParseMetrics(strings.NewReader(s))
	if err != nil {
		t.Fatalf("ParseMetrics: %v", err)
	}
	return sc
}

func familyNames(s Scrape) []string {
	return slices.Sorted(maps.Keys(s.Families))
}

func inf() float64 { return math.Inf(1) }

func TestParseMetricsVLLMFixture(t *testing.T) {
	sc, err := ParseMetrics(strings.NewReader(string(readFixture(t, "vllm-metrics.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{
		"vllm:generation_tokens_total",
		"vllm:num_requests_running",
		"vllm:request_success_total",
		"vllm:time_to_first_token_seconds",
	}
	if diff := cmp.Diff(wantNames, familyNames(sc)); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
	model := "meta-llama/Llama-3.1-8B-Instruct"
	// The doc truncated this histogram: no +Inf bucket and no _sum. The
	// +Inf bucket is restored from _count; the mean stays unknown.
	want := Family{
		Name: "vllm:time_to_first_token_seconds",
		Type: Histogram,
		Series: []Series{{
			Labels: map[string]string{"model_name": model},
			Value:  math.NaN(),
			Hist: &Hist{
				Count: 140,
				Buckets: []Bucket{
					{0.001, 0}, {0.005, 0}, {0.01, 0}, {0.02, 13}, {0.04, 97},
					{0.06, 123}, {0.08, 138}, {0.1, 140}, {inf(), 140},
				},
			},
		}},
	}
	if diff := cmp.Diff(want, sc.Families[want.Name], cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("TTFT family (-want +got):\n%s", diff)
	}
	success := sc.Families["vllm:request_success_total"]
	got := map[string]float64{}
	for _, s := range success.Series {
		got[s.Labels["finished_reason"]] = s.Value
	}
	if diff := cmp.Diff(map[string]float64{"stop": 1, "length": 131, "abort": 0}, got); diff != "" {
		t.Errorf("request_success by reason (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ServerInfo{Engine: "vllm", Model: model, Replicas: 1}, sc.Info()); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}

func TestParseMetricsSGLangFixture(t *testing.T) {
	sc, err := ParseMetrics(strings.NewReader(string(readFixture(t, "sglang-metrics.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sc.Families); n != 12 {
		t.Errorf("got %d families, want 12: %v", n, familyNames(sc))
	}
	gen := sc.Families["sglang:generation_tokens_total"]
	if gen.Type != Counter || len(gen.Series) != 1 || gen.Series[0].Value != 7.557572e+06 {
		t.Errorf("generation tokens = %+v, want one counter series of 7.557572e+06", gen)
	}
	ttft := sc.Families["sglang:time_to_first_token_seconds"].Series[0].Hist
	if ttft == nil || ttft.Count != 11008 || !ttft.HasSum || ttft.Sum != 2.3518979474117756e+06 || len(ttft.Buckets) != 21 {
		t.Errorf("TTFT histogram = %+v, want count 11008, sum 2.3518979474117756e+06, 21 buckets", ttft)
	}
	fn := sc.Families["sglang:func_latency_seconds"]
	if len(fn.Series) != 1 || fn.Series[0].Labels["name"] != "generate_request" || fn.Series[0].Hist.Count != 14007 {
		t.Errorf("func_latency = %+v, want one series name=generate_request of 14007", fn)
	}
	want := ServerInfo{Engine: "sglang", Model: "meta-llama/Llama-3.1-8B-Instruct", Replicas: 1}
	if diff := cmp.Diff(want, sc.Info()); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}

func TestParseMetricsTolerance(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantNames   []string
		wantSkipped []string
		check       func(t *testing.T, s Scrape)
	}{
		{
			name: "created families dropped",
			in: `# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 12.0
# HELP vllm:prompt_tokens_created Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_created gauge
vllm:prompt_tokens_created{engine="0",model_name="m"} 1.7539e+09
`,
			wantNames: []string{"vllm:prompt_tokens_total"},
		},
		{
			name:      "untyped, no trailing newline, NaN and Inf values",
			in:        "a:b:c 1\nx{l=\"v\"} NaN\ny +Inf",
			wantNames: []string{"a:b:c", "x", "y"},
			check: func(t *testing.T, s Scrape) {
				if !math.IsNaN(s.Families["x"].Series[0].Value) || !math.IsInf(s.Families["y"].Series[0].Value, 1) {
					t.Errorf("x, y = %v, %v; want NaN, +Inf", s.Families["x"].Series[0].Value, s.Families["y"].Series[0].Value)
				}
			},
		},
		{
			name: "bad lines skipped",
			in: `vllm:num_requests_running{engine="0"} 3
this is not a sample
vllm:num_requests_waiting{engine="0"} 1
`,
			wantNames:   []string{"vllm:num_requests_running", "vllm:num_requests_waiting"},
			wantSkipped: []string{"this is not a sample"},
		},
		{
			name: "labels in any order, histogram without _count",
			in: `# TYPE h histogram
h_bucket{model_name="m",le="1"} 2
h_bucket{le="+Inf",model_name="m"} 5
h_sum{model_name="m"} 7
`,
			wantNames: []string{"h"},
			check: func(t *testing.T, s Scrape) {
				want := &Hist{Count: 5, Sum: 7, HasSum: true, Buckets: []Bucket{{1, 2}, {inf(), 5}}}
				if diff := cmp.Diff(want, s.Families["h"].Series[0].Hist); diff != "" {
					t.Errorf("hist (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:      "empty",
			in:        "",
			wantNames: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parseString(t, tt.in)
			if diff := cmp.Diff(tt.wantNames, familyNames(s), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("families (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSkipped, s.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestParseMetricsGivesUp(t *testing.T) {
	var b strings.Builder
	for range maxSkippedLines + 1 {
		b.WriteString("not a sample line\n")
	}
	if _, err := ParseMetrics(strings.NewReader(b.String())); err == nil {
		t.Error("ParseMetrics accepted an exposition of nothing but bad lines")
	}
}

func TestFamilyLookup(t *testing.T) {
	s := parseString(t, `# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens 3
vllm:num_requests_running 1
`)
	tests := []struct {
		names []string
		want  string
		ok    bool
	}{
		{[]string{"vllm:prompt_tokens_total"}, "vllm:prompt_tokens", true},
		{[]string{"vllm:num_requests_running"}, "vllm:num_requests_running", true},
		{[]string{"sglang:num_running_reqs", "vllm:num_requests_running"}, "vllm:num_requests_running", true},
		{[]string{"vllm:kv_cache_usage_perc"}, "", false},
	}
	for _, tt := range tests {
		f, ok := s.Family(tt.names...)
		if f.Name != tt.want || ok != tt.ok {
			t.Errorf("Family(%v) = %q, %v; want %q, %v", tt.names, f.Name, ok, tt.want, tt.ok)
		}
	}
}
