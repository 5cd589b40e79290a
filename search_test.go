package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benchform/benchform/executor"
)

// searchConfig is a simulator whose capacity is known: max_num_seqs
// requests run at once and the rest queue. Within it a request's TTFT is
// the simulator's 20 ms (±10 %), 28 ms under the objective of 50 ms; a
// request past it waits for a slot about a whole 80 ms request, so the
// objective is met at max_num_seqs concurrent requests and missed by many
// one above. The margins hold on a busy machine under the race detector.
const searchConfig = `
server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft         = "20ms"
    itl          = "4ms"
    jitter       = 0.1
    max_num_seqs = {{.Capacity}}
    seed         = {{.Seed}}
  }
}

scenario "capacity" {
  server     = server.sim
  max_tokens = 16
  dataset {
    kind    = "prompts"
    prompts = ["hello"]
  }
  load {
    search {
      from       = {{.From}}
      max        = 64
      attainment = 0.9
    }
    requests = 48
  }
  slo {
    ttft = "50ms"
  }
}
`

type searchSetup struct{ Capacity, Seed, From int }

// searchOf applies a search configuration and returns its one step list
// and search result, as results -format json gives them.
func searchOf(t *testing.T, s searchSetup) ([]executor.StepSummary, executor.SearchResult, string) {
	t.Helper()
	dir := configDir(t, render(t, searchConfig, s))
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	_, js, _ := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json")
	var runs []struct {
		Steps    []executor.StepSummary  `json:"steps"`
		Searches []executor.SearchResult `json:"searches"`
	}
	if err := json.Unmarshal([]byte(js), &runs); err != nil || len(runs) != 1 || len(runs[0].Searches) != 1 {
		t.Fatalf("results: %v\n%s", err, js)
	}
	return runs[0].Steps, runs[0].Searches[0], out
}

// TestSearchFindsSimulatorCapacity searches the simulator's known
// capacity with jitter on, for several seeds: the answer is exact (a
// tolerance of 10 % is one request at this size) within a bounded number
// of probes, and names TTFT as the objective that bound it.
func TestSearchFindsSimulatorCapacity(t *testing.T) {
	t.Parallel()
	for seed := 1; seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Parallel()
			steps, r, out := searchOf(t, searchSetup{Capacity: 6, Seed: seed, From: 2})
			if r.Passing == nil || *r.Passing != 6 || r.Failing == nil || *r.Failing != 7 || r.Binding != "ttft" {
				t.Errorf("search: passing %v, failing %v, bound by %q; want 6, 7 and ttft\n%s", r.Passing, r.Failing, r.Binding, out)
			}
			if r.Probes > 10 || len(steps) != r.Probes {
				t.Errorf("%d probes, %d steps; want at most 10, one step each", r.Probes, len(steps))
			}
			if s, ok := (executor.StoredRun{Steps: steps}).Step(r.Step); !ok || s.Concurrency != 6 || s.Probe == nil || s.Probe.Verdict != "pass" {
				t.Errorf("the capacity's step %d: %+v", r.Step, s)
			}
			if !strings.Contains(out, "Search of server.sim over concurrency (90 % of requests within every objective): 6 passes, 7 fails, bound by ttft") {
				t.Errorf("apply does not say what the search found:\n%s", out)
			}
		})
	}
}

// TestSearchStopsOnOverload starts a search far past capacity: the first
// probe stops as soon as it can no longer pass, and the search says no
// load passed.
func TestSearchStopsOnOverload(t *testing.T) {
	t.Parallel()
	began := time.Now()
	steps, r, _ := searchOf(t, searchSetup{Capacity: 2, Seed: 1, From: 32})
	if r.Passing != nil || r.Failing == nil || *r.Failing != 32 || r.Probes != 1 || r.Note != "no load from 32 passed" {
		t.Errorf("search %+v", r)
	}
	if len(steps) != 1 || steps[0].Probe == nil || steps[0].Probe.Stopped == "" || steps[0].CutOff == 0 || steps[0].Completed+steps[0].Failed >= 48 {
		t.Errorf("the probe at 32 ran to its end: %+v", steps)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("an overloaded search took %s", took)
	}
}

// matrixConfig compares three simulated servers of known capacity and
// price, searched under one objective. Each serves 16 tokens per 80 ms
// request per slot, so its throughput at capacity is proportional to its
// slots: 1,600, 1,200 and 600 tokens/s; at $4, $1.50 and $1.20 an hour that
// is about $0.69, $0.35 and $0.56 per million output tokens: "medium"
// wins, though "fast" has the capacity. Within capacity a TTFT is 20 ms
// (±10 %), 28 ms below the objective, room for a busy machine; a request
// past it waits for a slot about a whole request. At this attainment a
// search may land a slot above, which keeps the order.
const matrixConfig = `
locals {
  matrix = {
    fast   = { slots = 8, price = 4 }
    medium = { slots = 6, price = 1.5 }
    slow   = { slots = 3, price = 1.2 }
  }
}

server "sim" {
  for_each       = local.matrix
  engine         = "simulated"
  model          = "tiny"
  price_per_hour = each.value.price
  simulate {
    ttft         = "20ms"
    itl          = "4ms"
    jitter       = 0.1
    max_num_seqs = each.value.slots
    seed         = 1
  }
}

scenario "capacity" {
  server     = values(server.sim)
  max_tokens = 16
  dataset {
    kind    = "prompts"
    prompts = ["hello"]
  }
  load {
    search {
      from       = 2
      max        = 32
      attainment = 0.85
    }
    requests = 32
  }
  slo {
    ttft = "50ms"
  }
}
`

// TestDecisionOfAMatrix searches a for_each matrix of simulators and
// checks the decision: every capacity found, and the cheapest per million
// tokens at capacity ranked first.
func TestDecisionOfAMatrix(t *testing.T) {
	t.Parallel()
	dir := configDir(t, matrixConfig)
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	_, js, _ := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-decision", "-format", "json")
	var ds []executor.Decision
	if err := json.Unmarshal([]byte(js), &ds); err != nil || len(ds) != 3 {
		t.Fatalf("decision: %v\n%s", err, js)
	}
	want := []struct {
		server   string
		capacity float64
	}{{`server.sim["medium"]`, 6}, {`server.sim["slow"]`, 3}, {`server.sim["fast"]`, 8}}
	for i, w := range want {
		d := ds[i]
		if d.Server != w.server || d.Rank != i+1 || d.Capacity == nil || *d.Capacity < w.capacity || *d.Capacity > w.capacity+1 || d.Basis != "search" || d.USDPerMillionOutput == nil {
			t.Errorf("rank %d: %s at %s ($%s/M), want %s at %g or one more", i+1, d.Server, pointer(d.Capacity), pointer(d.USDPerMillionOutput), w.server, w.capacity)
		}
	}
	if !ds[0].Best || ds[1].Best {
		t.Errorf("best: %v, %v", ds[0].Best, ds[1].Best)
	}
	if !strings.Contains(out, "│ 1 best │ server.sim[\"medium\"] │") {
		t.Errorf("apply's decision table does not rank medium first:\n%s", out)
	}
}

func pointer(f *float64) string {
	if f == nil {
		return "none"
	}
	return fmt.Sprint(*f)
}
