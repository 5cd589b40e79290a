package main

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// reportConfig measures a simulated server at two loads, closed and open,
// so that the reports carry both a concurrency and a request rate.
const reportConfig = `
server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft = "20ms"
    itl  = "2ms"
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = 16
  ignore_eos = true
  dataset {
    kind          = "synthetic"
    input_tokens  = { min = 8, max = 24 }
    seed          = 3
  }
  load {
    rate            = [{{.Rate}}]
    max_concurrency = 4
    requests        = 8
  }
}
`

// benchmarkReportSchema compiles the hand-written v0.2 schema under
// testdata, asserting formats (date-time) as well as structure.
func benchmarkReportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", "benchmark-report", "v0.2.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

func TestBenchmarkReportMatchesSchema(t *testing.T) {
	schema := benchmarkReportSchema(t)
	dir := configDir(t, render(t, reportConfig, struct{ Rate string }{"50"}))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	db := filepath.Join(dir, "benchform.db")
	code, out, errOut := benchform(t, "results", "-state", db, "-format", "benchmark-report")
	if code != exitOK {
		t.Fatalf("results: %d\n%s", code, errOut)
	}

	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("one step gave %d reports, want 1:\n%s", len(lines), out)
	}
	report, err := jsonschema.UnmarshalJSON(strings.NewReader(lines[0]))
	if err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, lines[0])
	}
	if err := schema.Validate(report); err != nil {
		t.Fatalf("report does not match the v0.2 schema: %v\n%s", err, lines[0])
	}

	var got struct {
		Scenario struct {
			Load struct {
				Standardized map[string]any `json:"standardized"`
			} `json:"load"`
			Stack []struct {
				Standardized map[string]any `json:"standardized"`
			} `json:"stack"`
		} `json:"scenario"`
		Results struct {
			RequestPerformance struct {
				Aggregate struct {
					Requests struct {
						Total int `json:"total"`
					} `json:"requests"`
					Latency map[string]struct {
						Units string `json:"units"`
					} `json:"latency"`
				} `json:"aggregate"`
			} `json:"request_performance"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	load := got.Scenario.Load.Standardized
	if load["rate_qps"] != 50.0 || load["concurrency"] != 4.0 || load["source"] != "random" {
		t.Errorf("load = %v, want rate_qps 50, concurrency 4 (the cap), source random", load)
	}
	wantISL := map[string]any{"distribution": "uniform", "value": 16.0, "min": 8.0, "max": 24.0}
	if isl, _ := load["input_seq_len"].(map[string]any); !equalJSON(isl, wantISL) {
		t.Errorf("input_seq_len = %v, want %v", isl, wantISL)
	}
	wantOSL := map[string]any{"distribution": "fixed", "value": 16.0}
	if osl, _ := load["output_seq_len"].(map[string]any); !equalJSON(osl, wantOSL) {
		t.Errorf("output_seq_len = %v, want %v (max_tokens with ignore_eos)", osl, wantOSL)
	}
	if n := len(got.Scenario.Stack); n != 1 || got.Scenario.Stack[0].Standardized["tool"] != "simulated" {
		t.Errorf("stack = %+v, want the simulated server alone", got.Scenario.Stack)
	}
	if total := got.Results.RequestPerformance.Aggregate.Requests.Total; total != 8 {
		t.Errorf("requests.total = %d, want 8", total)
	}
	wantUnits := map[string]string{"time_to_first_token": "s", "time_per_output_token": "s/token", "inter_token_latency": "s/token", "request_latency": "s"}
	for k, want := range wantUnits {
		if u := got.Results.RequestPerformance.Aggregate.Latency[k].Units; u != want {
			t.Errorf("latency.%s units = %q, want %q", k, u, want)
		}
	}
}

// TestBenchmarkReportPerStep checks that each step is a report of its own
// within one experiment, its stage the step's place in the run.
func TestBenchmarkReportPerStep(t *testing.T) {
	dir := configDir(t, render(t, reportConfig, struct{ Rate string }{"50, 100"}))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "benchmark-report")
	if code != exitOK {
		t.Fatalf("results: %d\n%s", code, errOut)
	}
	type report struct {
		Run struct {
			UID string `json:"uid"`
			EID string `json:"eid"`
		} `json:"run"`
		Scenario struct {
			Load struct {
				Standardized struct {
					Stage   int     `json:"stage"`
					RateQPS float64 `json:"rate_qps"`
				} `json:"standardized"`
			} `json:"load"`
		} `json:"scenario"`
	}
	var reports []report
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", len(reports)+1, err)
		}
		reports = append(reports, r)
	}
	if len(reports) != 2 {
		t.Fatalf("two steps gave %d reports, want 2:\n%s", len(reports), out)
	}
	for i, r := range reports {
		st := r.Scenario.Load.Standardized
		if want := []float64{50, 100}[i]; st.Stage != i || st.RateQPS != want {
			t.Errorf("report %d: stage %d, rate_qps %g; want stage %d, rate_qps %g", i, st.Stage, st.RateQPS, i, want)
		}
	}
	if reports[0].Run.UID == reports[1].Run.UID {
		t.Errorf("both reports have uid %s: each step needs its own", reports[0].Run.UID)
	}
	if reports[0].Run.EID != reports[1].Run.EID || reports[0].Run.EID == "" {
		t.Errorf("eids %q and %q: the steps of a run are one experiment", reports[0].Run.EID, reports[1].Run.EID)
	}
}

// TestBenchmarkReportSchemaRejects makes sure the schema the reports are
// held to can fail: each case breaks one rule of the format.
func TestBenchmarkReportSchemaRejects(t *testing.T) {
	schema := benchmarkReportSchema(t)
	valid := `{"version":"0.2","run":{"uid":"a"},"results":{"request_performance":{"aggregate":{"requests":{"total":1},"latency":{"time_to_first_token":{"units":"s","mean":0.1}}}}}}`
	cases := map[string]string{
		"latency in a throughput unit": `"units":"s","mean":0.1` + "\x00" + `"units":"tokens/s","mean":0.1`,
		"a key the format lacks":       `"uid":"a"` + "\x00" + `"uid":"a","run_number":1`,
		"statistics without a mean":    `"units":"s","mean":0.1` + "\x00" + `"units":"s","p50":0.1`,
		"another version":              `"version":"0.2"` + "\x00" + `"version":"0.1"`,
		"no total":                     `"total":1` + "\x00" + `"failures":0`,
	}
	check := func(doc string) error {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return schema.Validate(v)
	}
	if err := check(valid); err != nil {
		t.Fatalf("the valid document fails: %v", err)
	}
	for name, edit := range cases {
		from, to, _ := strings.Cut(edit, "\x00")
		if !strings.Contains(valid, from) {
			t.Fatalf("%s: %q is not in the valid document", name, from)
		}
		if check(strings.Replace(valid, from, to, 1)) == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

func TestBenchmarkReportRefusesDecision(t *testing.T) {
	code, _, errOut := benchform(t, "results", "-state", filepath.Join(t.TempDir(), "none.db"), "-format", "benchmark-report", "-decision")
	if code != exitError || !strings.Contains(errOut, "neither -decision nor -detailed") {
		t.Errorf("results -format benchmark-report -decision: %d %q", code, errOut)
	}
}

func equalJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
