package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// compareConfig is a jittered simulator measured five times in a row at
// one load: each repeat draws its own delays from its own prompts, so the
// repeats spread while two applies of one configuration draw the same.
const compareConfig = `
server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft   = "20ms"
    itl    = "{{.ITL}}"
    jitter = 0.3
    seed   = 3
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = {{.MaxTokens}}
  dataset {
    kind         = "synthetic"
    input_tokens = 16
    seed         = 3
  }
  load {
    concurrency = [4]
    requests    = 12
    repeat      = 5
  }
}
`

type compareSetup struct {
	ITL       string
	MaxTokens int
}

// applyCompare applies compareConfig with each setup in turn in one
// directory, running the scenario again when nothing else changed, and
// returns the directory and its state.
func applyCompare(t *testing.T, setups ...compareSetup) (dir, db string) {
	t.Helper()
	dir = t.TempDir()
	for _, s := range setups {
		applyCompareIn(t, dir, s)
	}
	return dir, filepath.Join(dir, "benchform.db")
}

func applyCompareIn(t *testing.T, dir string, s compareSetup) {
	t.Helper()
	writeConfig(t, dir, render(t, compareConfig, s))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", "-replace", "scenario.chat", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
}

// changeOf reads the change column of a row of compare's table, in
// percent.
func changeOf(t *testing.T, row string) float64 {
	t.Helper()
	m := regexp.MustCompile(`│ (-?[0-9.]+)% +│`).FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("no change in %q", row)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// compareRows returns the rows of compare's table of changes, by metric.
func compareRows(out string) map[string]string {
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "noise") && !strings.Contains(line, "significant") && !strings.Contains(line, "no interval") {
			continue
		}
		for _, metric := range []string{"TTFT p50 ms", "ITL p50 ms", "TPOT p50 ms", "E2EL p50 ms", "req/s", "out tok/s"} {
			if strings.Contains(line, "│ "+metric+" ") {
				rows[metric] = line
			}
		}
	}
	return rows
}

// TestCompareNoise runs one configuration twice, then with the
// simulator's ITL raised by 10 %: compare calls the first pair's changes
// noise and the second's ITL change significant, while TTFT, which the
// change did not touch, stays within noise.
func TestCompareNoise(t *testing.T) {
	t.Parallel()
	dir, db := applyCompare(t, compareSetup{ITL: "40ms", MaxTokens: 8}, compareSetup{ITL: "40ms", MaxTokens: 8})

	code, out, errOut := benchform(t, "compare", "-state", db)
	if code != exitOK {
		t.Fatalf("compare: %d\n%s\n%s", code, out, errOut)
	}
	rows := compareRows(out)
	if len(rows) < 4 {
		t.Fatalf("compare shows %d metrics:\n%s", len(rows), out)
	}
	for metric, row := range rows {
		if !strings.Contains(row, "within noise") {
			t.Errorf("two runs of one configuration: %s is not within noise:\n%s", metric, out)
		}
	}
	if !strings.Contains(out, "The manifests of runs #1 and #2 agree") {
		t.Errorf("compare does not say the manifests agree:\n%s", out)
	}

	applyCompareIn(t, dir, compareSetup{ITL: "44ms", MaxTokens: 8})
	code, out, errOut = benchform(t, "compare", "-state", db, "-baseline", "2")
	if code != exitOK {
		t.Fatalf("compare -baseline 2: %d\n%s\n%s", code, out, errOut)
	}
	rows = compareRows(out)
	if row := rows["ITL p50 ms"]; !strings.Contains(row, "significant") {
		t.Errorf("ITL raised by 10 %% is not a significant change: %q\n%s", row, out)
	}
	// TPOT averages a request's gaps, so the timer ticks that round
	// each sleep of the simulator's cancel out of it: its change is the
	// 10 % the ITL was raised by.
	row := rows["TPOT p50 ms"]
	if change := changeOf(t, row); !strings.Contains(row, "significant") || change < 7 || change > 13 {
		t.Errorf("TPOT is not a significant change of about 10 %% (7 to 13): %q\n%s", row, out)
	}
	if row := rows["TTFT p50 ms"]; !strings.Contains(row, "within noise") {
		t.Errorf("TTFT, which did not change, is not within noise: %q\n%s", row, out)
	}
	if !strings.Contains(out, "Comparing run #2 (scenario.chat) with run #3") {
		t.Errorf("compare -baseline 2 does not compare run 2 with the latest:\n%s", out)
	}
	// The simulator's settings are its arguments: the manifests say
	// what changed, which does not make another experiment.
	if !strings.Contains(out, "server.sim.args") || !strings.Contains(out, "-itl 44ms -jitter 0.3 -seed 3 -ttft 20ms") {
		t.Errorf("compare does not show the changed ITL in the manifests:\n%s", out)
	}
}

// TestCompareDifferentExperiments: runs with another max_tokens measure
// something else, and compare says so and refuses unless forced.
func TestCompareDifferentExperiments(t *testing.T) {
	t.Parallel()
	_, db := applyCompare(t, compareSetup{ITL: "1ms", MaxTokens: 4}, compareSetup{ITL: "1ms", MaxTokens: 8})

	code, out, errOut := benchform(t, "compare", "-state", db)
	if code != exitError || !strings.Contains(errOut, "runs #1 and #2 measured different experiments (load.max_tokens differ)") || !strings.Contains(errOut, "-force") {
		t.Errorf("compare of different experiments: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "load.max_tokens") || strings.Contains(out, "Comparing run") {
		t.Errorf("compare does not show the differing field alone:\n%s", out)
	}
	code, out, errOut = benchform(t, "compare", "-state", db, "-force", "1", "2")
	if code != exitOK || !strings.Contains(out, "Comparing run #1 (scenario.chat) with run #2") {
		t.Errorf("compare -force: %d\n%s\n%s", code, out, errOut)
	}
}

// TestCompareSingleRuns: without repeats there is no interval, and
// compare says that no change can be told from noise.
func TestCompareSingleRuns(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	db := filepath.Join(dir, "benchform.db")
	for range 2 {
		if code, out, errOut := benchform(t, "apply", "-auto-approve", "-replace", "scenario.chat", dir); code != exitOK {
			t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
		}
	}
	code, out, errOut := benchform(t, "compare", "-state", db, "-scenario", "chat")
	if code != exitOK || !strings.Contains(out, "no interval") || !strings.Contains(out, "cannot be told from noise") {
		t.Errorf("compare of single runs: %d\n%s\n%s", code, out, errOut)
	}
}

// TestManifestRoundTrip runs a scenario on a dataset file: the run's
// manifest, read back from state, names the file with its SHA-256, the
// server and model, the load, and this machine; show prints it.
func TestManifestRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := []byte("{\"prompt\": \"the quick brown fox\", \"output_tokens\": 3}\n{\"prompt\": \"jumps over the lazy dog\"}\n")
	if err := os.WriteFile(filepath.Join(dir, "prompts.jsonl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, `
server "sim" {
  engine = "simulated"
  model  = "tiny"
}

scenario "chat" {
  server     = server.sim
  max_tokens = 4
  dataset {
    kind = "jsonl"
    path = "prompts.jsonl"
  }
  load {
    concurrency = [2]
    requests    = 4
    warmup      = 1
  }
}
`)
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	db := filepath.Join(dir, "benchform.db")
	_, js, _ := benchform(t, "results", "-state", db, "-format", "json")
	var runs []struct {
		Manifest struct {
			Benchform struct{ Version, Go string }
			Client    struct{ CPUs int }
			Servers   []struct{ Server, Engine, Model, Provider, Version string }
			Dataset   struct{ Kind, Path, SHA256 string }
			Load      struct {
				MaxTokens   int `json:"max_tokens"`
				Concurrency []int
				Requests    int
				Warmup      int
			}
		}
	}
	if err := json.Unmarshal([]byte(js), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("results: %v\n%s", err, js)
	}
	m := runs[0].Manifest
	sum := sha256.Sum256(data)
	if m.Dataset.Kind != "jsonl" || m.Dataset.Path != "prompts.jsonl" || m.Dataset.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("dataset %+v, want prompts.jsonl with SHA-256 %x", m.Dataset, sum)
	}
	if len(m.Servers) != 1 || m.Servers[0].Server != "server.sim" || m.Servers[0].Engine != "simulated" || m.Servers[0].Model != "tiny" || m.Servers[0].Version != "simulated" {
		t.Errorf("servers %+v", m.Servers)
	}
	if m.Load.MaxTokens != 4 || len(m.Load.Concurrency) != 1 || m.Load.Concurrency[0] != 2 || m.Load.Requests != 4 || m.Load.Warmup != 1 {
		t.Errorf("load %+v", m.Load)
	}
	if m.Client.CPUs != runtime.NumCPU() || m.Benchform.Go != runtime.Version() || m.Benchform.Version != version {
		t.Errorf("benchform %+v, client %+v", m.Benchform, m.Client)
	}
	_, out, _ := benchform(t, "show", "-state", db)
	if !strings.Contains(out, "Manifest of run #1:") || !strings.Contains(out, hex.EncodeToString(sum[:])) {
		t.Errorf("show does not print the manifest:\n%s", out)
	}
}
