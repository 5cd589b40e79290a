package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// repeatConfig is a simulator whose TTFT is uniform between zero and twice
// its configured value, drawn per request from its seed and the request, run
// five times in a row at one load.
const repeatConfig = `
server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft   = "{{.TTFT}}ms"
    itl    = "{{.ITL}}"
    jitter = 1
    seed   = {{.Seed}}
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = {{.Tokens}}
  dataset {
    kind         = "synthetic"
    input_tokens = 8
    seed         = {{.Seed}}
  }
  load {
    concurrency = [4]
    requests    = {{.Requests}}
    repeat      = 5
  }
}
`

type repeatSetup struct {
	Seed, TTFT, Tokens, Requests int
	ITL                          string
}

// repeatedRun applies repeatConfig and returns the state's path and the
// JSON results of its run.
func repeatedRun(t *testing.T, s repeatSetup) (string, []map[string]any) {
	t.Helper()
	dir := configDir(t, render(t, repeatConfig, s))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	db := filepath.Join(dir, "benchform.db")
	_, js, _ := benchform(t, "results", "-state", db, "-format", "json")
	var runs []map[string]any
	if err := json.Unmarshal([]byte(js), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("results: %v\n%s", err, js)
	}
	return db, runs
}

// TestRepeatIntervalsCover runs 50 seeded trials of a step repeated five
// times and checks that the 95 % interval of the mean TTFT contains the
// simulator's configured mean in at least 90 % of them. The client's own
// cost, a fraction of a millisecond more on every TTFT, is kept small
// beside the intervals by a TTFT of 100 ms drawn from 0 to 200 ms.
func TestRepeatIntervalsCover(t *testing.T) {
	t.Parallel()
	const trials, ttft = 50, 100
	var covered atomic.Int32
	t.Run("trials", func(t *testing.T) {
		for seed := 1; seed <= trials; seed++ {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				_, runs := repeatedRun(t, repeatSetup{Seed: seed, TTFT: ttft, Tokens: 2, Requests: 8, ITL: "1ms"})
				reps, _ := runs[0]["repeats"].([]any)
				if len(reps) != 1 {
					t.Fatalf("repeats: %v", runs[0]["repeats"])
				}
				g := reps[0].(map[string]any)
				in := g["figures"].(map[string]any)["mean_ttft_ms"].(map[string]any)
				if g["repeats"] != float64(5) || in["n"] != float64(5) {
					t.Fatalf("group %v", g)
				}
				if lo, hi := in["ci_low"].(float64), in["ci_high"].(float64); lo <= ttft && ttft <= hi {
					covered.Add(1)
				} else {
					t.Logf("missed: %.1f ms, interval %.1f to %.1f", in["mean"], lo, hi)
				}
			})
		}
	})
	t.Logf("covered in %d of %d trials", covered.Load(), trials)
	if n := covered.Load(); n < trials*9/10 {
		t.Errorf("the interval covered the configured mean in %d of %d trials, want at least 90 %%", n, trials)
	}
}

// TestRepeatedTable checks the table of a repeated step: one row, each
// figure with its interval.
func TestRepeatedTable(t *testing.T) {
	t.Parallel()
	db, _ := repeatedRun(t, repeatSetup{Seed: 1, TTFT: 20, Tokens: 4, Requests: 8, ITL: "2ms"})
	_, out, _ := benchform(t, "results", "-state", db)
	if !strings.Contains(out, "4 ×5") || !strings.Contains(out, " ±") || !strings.Contains(out, "95 % interval over the repeats") {
		t.Errorf("the table does not show the repeats and intervals:\n%s", out)
	}
	_, csv, _ := benchform(t, "results", "-state", db, "-format", "csv")
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "mean_ttft_ms_ci_low") || !strings.Contains(lines[0], "repeats") {
		t.Errorf("CSV of a repeated step:\n%s", csv)
	}
}
