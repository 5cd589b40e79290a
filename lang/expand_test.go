package lang

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

// matrixConfig is a matrix as users write it: a RunPod pod per GPU, a
// server per engine on each, counted simulators, and scenarios comparing
// them in each way a server list can be written.
const matrixConfig = `
variable "gpus" {
  default = { h100 = "NVIDIA H100 80GB HBM3", a100 = "NVIDIA A100 80GB PCIe" }
}

pod "gpu" {
  for_each = var.gpus
  gpu_type = [each.value]
}

server "vllm" {
  for_each = var.gpus
  engine   = "vllm"
  pod      = pod.gpu[each.key]
  model    = "m-${each.key}"
}

server "sim" {
  count  = 3
  engine = "simulated"
  simulate {
    seed = count.index
  }
}

scenario "all" {
  server = concat(values(server.vllm), server.sim[*])
  dataset {
    kind    = "prompts"
    prompts = ["hi"]
  }
  load {
    concurrency = [1]
    requests    = 1
  }
}

scenario "one" {
  server = [server.vllm["h100"], server.sim[2]]
  dataset {
    kind    = "prompts"
    prompts = ["hi"]
  }
  load {
    concurrency = [1]
    requests    = 1
  }
}

scenario "each" {
  for_each = server.vllm
  server   = each.value
  dataset {
    kind    = "prompts"
    prompts = ["on ${each.key}"]
  }
  load {
    concurrency = [1]
    requests    = 1
  }
}

output "endpoints" {
  value = { for k, s in server.vllm : k => s.model }
}
`

func TestExpansion(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", matrixConfig)
	cfg, diags := Load(dir, LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	addr := func(s string) Addr {
		a, err := ParseAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	addrs := func(ss ...string) []Addr {
		var out []Addr
		for _, s := range ss {
			out = append(out, addr(s))
		}
		return out
	}
	want := addrs(`pod.gpu["a100"]`, `pod.gpu["h100"]`, "server.sim[0]", "server.sim[1]", "server.sim[2]",
		`server.vllm["a100"]`, `server.vllm["h100"]`, "scenario.all", `scenario.each["a100"]`, `scenario.each["h100"]`, "scenario.one")
	if diff := cmp.Diff(want, cfg.Resources()); diff != "" {
		t.Errorf("instances in dependency order (-want +got):\n%s", diff)
	}

	for _, key := range []string{"a100", "h100"} {
		s := cfg.Servers[addr(`server.vllm["`+key+`"]`)]
		if s.Pod == nil || *s.Pod != addr(`pod.gpu["`+key+`"]`) {
			t.Errorf("server.vllm[%q] runs on %v", key, s.Pod)
		}
		if diff := cmp.Diff(addrs(`pod.gpu["`+key+`"]`), cfg.DependsOn(s.Addr)); diff != "" {
			t.Errorf("server.vllm[%q] depends on (-want +got):\n%s", key, diff)
		}
		v, d := cfg.Decode(s.Addr, NewScope())
		if d.HasErrors() || v.GetAttr("model") != cty.StringVal("m-"+key) {
			t.Errorf("server.vllm[%q] decodes to %#v, %v", key, v, d)
		}
		p, d := cfg.Decode(addr(`pod.gpu["`+key+`"]`), NewScope())
		wantGPU := map[string]string{"h100": "NVIDIA H100 80GB HBM3", "a100": "NVIDIA A100 80GB PCIe"}[key]
		if d.HasErrors() || p.GetAttr("gpu_type").Index(cty.NumberIntVal(0)) != cty.StringVal(wantGPU) {
			t.Errorf("pod.gpu[%q] decodes to %#v, %v", key, p, d)
		}
	}
	for i := range 3 {
		v, d := cfg.Decode(addr("server.sim["+IntKey(i)+"]"), NewScope())
		if seed := v.GetAttr("simulate").GetAttr("seed"); d.HasErrors() || !seed.RawEquals(cty.NumberIntVal(int64(i))) {
			t.Errorf("server.sim[%d] seed %#v, %v", i, seed, d)
		}
	}

	for scenario, servers := range map[string][]Addr{
		"scenario.all":          addrs(`server.vllm["a100"]`, `server.vllm["h100"]`, "server.sim[0]", "server.sim[1]", "server.sim[2]"),
		"scenario.one":          addrs(`server.vllm["h100"]`, "server.sim[2]"),
		`scenario.each["a100"]`: addrs(`server.vllm["a100"]`),
		`scenario.each["h100"]`: addrs(`server.vllm["h100"]`),
	} {
		if diff := cmp.Diff(servers, cfg.Scenarios[addr(scenario)].Servers); diff != "" {
			t.Errorf("%s runs against (-want +got):\n%s", scenario, diff)
		}
	}
	// The scenario that runs on each server also counts them: it waits
	// for every one.
	if diff := cmp.Diff(addrs(`server.vllm["a100"]`, `server.vllm["h100"]`), cfg.DependsOn(addr(`scenario.each["h100"]`))); diff != "" {
		t.Errorf("scenario.each[\"h100\"] depends on (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(addrs("server.sim[2]", `server.vllm["h100"]`), cfg.DependsOn(addr("scenario.one"))); diff != "" {
		t.Errorf("scenario.one depends on (-want +got):\n%s", diff)
	}
	v, d := cfg.Decode(addr(`scenario.each["a100"]`), NewScope())
	if d.HasErrors() || v.GetAttr("dataset").GetAttr("prompts").Index(cty.NumberIntVal(0)) != cty.StringVal("on a100") {
		t.Errorf("scenario.each[\"a100\"] decodes to %#v, %v", v, d)
	}

	// Once planned, each instance is its own value, and a block is the
	// collection of its instances.
	s := NewScope()
	for _, key := range []string{"a100", "h100"} {
		a := addr(`server.vllm["` + key + `"]`)
		cv, _ := cfg.Decode(a, s)
		s.Set(a, cfg.Object(a, cv, cty.NilVal))
	}
	out, d := cfg.EvalOutput("endpoints", s)
	if d.HasErrors() || !out.RawEquals(cty.ObjectVal(map[string]cty.Value{"a100": cty.StringVal("m-a100"), "h100": cty.StringVal("m-h100")})) {
		t.Errorf("output = %#v, %v", out, d)
	}
}
