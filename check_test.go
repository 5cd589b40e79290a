package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// checkConfig runs a simulator whose TTFT is 20 ms and checks its results:
// the TTFT bound is the template's, the capacity bound against a variable.
const checkConfig = `
variable "baseline_capacity" {
  default = 1
}

server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft = "20ms"
    itl  = "1ms"
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = 4
  dataset {
    kind         = "synthetic"
    input_tokens = 8
  }
  load {
    concurrency = [2]
    requests    = 6
    repeat      = {{.Repeat}}
  }
}

check "latency" {
  assert {
    condition     = scenario.chat.result["server.sim"]["concurrency=2"].p99_ttft_ms < {{.TTFTBound}}
    error_message = "TTFT p99 at 2 streams regressed past {{.TTFTBound}} ms"
  }
  assert {
    condition     = scenario.chat.result["server.sim"].capacity.requests_per_s >= 0.95 * var.baseline_capacity
    error_message = "capacity fell more than 5 % below the baseline"
  }
  assert {
    condition     = scenario.chat.manifest.load.max_tokens == 4 && scenario.chat.status == "completed"
    error_message = "the run is not the experiment this check is about"
  }
}
`

type checkSetup struct {
	Repeat    int
	TTFTBound string
}

// TestCheckFails: an assertion that does not hold fails apply with exit
// 1, a diagnostic at its condition with its message and the value read,
// and benchform check says the same of the stored run.
func TestCheckFails(t *testing.T) {
	t.Parallel()
	dir := configDir(t, render(t, checkConfig, checkSetup{Repeat: 1, TTFTBound: "5"}))
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitError {
		t.Fatalf("apply with a failing check: %d, want %d\n%s\n%s", code, exitError, out, errOut)
	}
	assertCheckFailed(t, out, errOut)

	db := filepath.Join(dir, "benchform.db")
	for _, args := range [][]string{{"check", "-dir", dir, "-state", db}, {"check", "-dir", dir, "-state", db, "1"}} {
		code, out, errOut = benchform(t, args...)
		if code != exitError {
			t.Fatalf("%s: %d, want %d\n%s\n%s", strings.Join(args, " "), code, exitError, out, errOut)
		}
		assertCheckFailed(t, out, errOut)
	}
	// The bound comes from a variable: a baseline above what ran fails
	// the capacity assertion too.
	code, out, errOut = benchform(t, "check", "-dir", dir, "-state", db, "-var", "baseline_capacity=1e9")
	if code != exitError || !strings.Contains(out, "1 of 3 assertions hold") || !strings.Contains(errOut, "capacity fell more than 5 % below the baseline") ||
		!strings.Contains(errOut, `"1e9" from var.baseline_capacity`) {
		t.Errorf("check with a high baseline: %d\n%s\n%s", code, out, errOut)
	}
}

func assertCheckFailed(t *testing.T, out, errOut string) {
	t.Helper()
	for _, want := range []string{
		`Error: Check "latency" failed`,
		"main.hcl line 31",
		`condition     = scenario.chat.result["server.sim"]["concurrency=2"].p99_ttft_ms < 5`,
		"TTFT p99 at 2 streams regressed past 5 ms",
		` from scenario.chat.result["server.sim"]["concurrency=2"].p99_ttft_ms`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the failure does not say %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "Checks: 2 of 3 assertions hold.") {
		t.Errorf("no summary of the checks:\n%s", out)
	}
}

// TestCheckHolds: with every assertion true apply succeeds, and a check
// can read the interval of a repeated step.
func TestCheckHolds(t *testing.T) {
	t.Parallel()
	config := render(t, checkConfig, checkSetup{Repeat: 2, TTFTBound: "10000"})
	config += `
check "interval" {
  assert {
    condition     = scenario.chat.result["server.sim"]["concurrency=2"].ci_high.mean_ttft_ms < 10000 && scenario.chat.result["server.sim"]["concurrency=2"].repeats == 2
    error_message = "the interval is not there"
  }
}
`
	dir := configDir(t, config)
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK || !strings.Contains(out, "Checks: 4 of 4 assertions hold.") {
		t.Fatalf("apply with checks that hold: %d\n%s\n%s", code, out, errOut)
	}
	// Applied again with nothing to change, apply still checks.
	code, out, errOut = benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK || !strings.Contains(out, "Checks: 4 of 4 assertions hold.") {
		t.Errorf("apply with no changes: %d\n%s\n%s", code, out, errOut)
	}
}

// TestCheckReferences: what a check names that the configuration rules
// out is an error at validate time, where it is written.
func TestCheckReferences(t *testing.T) {
	t.Parallel()
	base := render(t, checkConfig, checkSetup{Repeat: 1, TTFTBound: "5"})
	for _, tt := range []struct {
		name, condition, want string
	}{
		{"unknown step", `scenario.chat.result["server.sim"]["concurrency=3"].p99_ttft_ms < 5`,
			`scenario.chat runs no step "concurrency=3"; its steps: concurrency=2. Did you mean "concurrency=2"?`},
		{"unknown server", `scenario.chat.result["server.other"]["concurrency=2"].p99_ttft_ms < 5`,
			`scenario.chat does not run against server.other; its servers: server.sim.`},
		{"unknown scenario", `scenario.chta.result["server.sim"]["concurrency=2"].p99_ttft_ms < 5`,
			`The configuration declares no scenario named "chta". Did you mean "chat"?`},
		{"unknown attribute", `scenario.chat.results["server.sim"]["concurrency=2"].p99_ttft_ms < 5`,
			`A scenario has result, manifest, run, status for a check to read.`},
		{"a server", `server.sim.model == "tiny"`,
			`A check reads results: it can refer to scenario, var and local values, not to server`},
		{"undeclared variable", `var.nothing > 0`, `The configuration declares no input variable named "nothing".`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			config := base + `
check "extra" {
  assert {
    condition     = ` + tt.condition + `
    error_message = "x"
  }
}
`
			dir := configDir(t, config)
			code, _, errOut := benchform(t, "validate", dir)
			if code != exitError || !strings.Contains(strings.Join(strings.Fields(errOut), " "), tt.want) || !strings.Contains(errOut, "main.hcl line 46") {
				t.Errorf("validate: %d, want an error at line 46 saying %q:\n%s", code, tt.want, errOut)
			}
		})
	}
}

// TestCheckUnknownFigure: a figure a step does not have is only known
// when the results are, and is then an error at the condition.
func TestCheckUnknownFigure(t *testing.T) {
	t.Parallel()
	config := render(t, checkConfig, checkSetup{Repeat: 1, TTFTBound: "10000"}) + `
check "figure" {
  assert {
    condition     = scenario.chat.result["server.sim"]["concurrency=2"].p97_ttft_ms < 5
    error_message = "x"
  }
}
`
	dir := configDir(t, config)
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitError || !strings.Contains(errOut, `p97_ttft_ms`) || !strings.Contains(out, "Checks: 3 of 4 assertions hold.") {
		t.Errorf("apply with an unknown figure: %d\n%s\n%s", code, out, errOut)
	}
}
