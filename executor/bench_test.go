package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// generatedConfig declares n resources: servers, every other one referring
// to the one before it through a local, and one scenario per ten servers.
func generatedConfig(n int) string {
	var b strings.Builder
	b.WriteString("variable \"model\" {\n  default = \"m\"\n}\n\nlocals {\n  suffix = \"-x\"\n}\n\n")
	servers := n * 9 / 10
	for i := 0; i < servers; i++ {
		model := "var.model"
		if i%2 == 1 {
			model = fmt.Sprintf("\"${server.s%d.model}${local.suffix}\"", i-1)
		}
		fmt.Fprintf(&b, "server \"s%d\" {\n  engine = \"simulated\"\n  model  = %s\n  simulate {\n    ttft = \"%dms\"\n  }\n}\n\n", i, model, i%50)
	}
	for i := 0; i < n-servers; i++ {
		fmt.Fprintf(&b, "scenario \"c%d\" {\n  server = [server.s%d, server.s%d]\n  dataset {\n    kind = \"synthetic\"\n  }\n  load {\n    concurrency = [1, 8]\n    requests    = 10\n  }\n}\n\n", i, i*9, i*9+1)
	}
	return b.String()
}

// BenchmarkPlan1000 plans a configuration of 1,000 resources against an
// empty state and against a state where every server exists, which adds a
// refresh of each through its provider. The target is well under a second.
func BenchmarkPlan1000(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(generatedConfig(1000)), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	for _, applied := range []bool{false, true} {
		name := "empty-state"
		if applied {
			name = "servers-in-state"
		}
		b.Run(name, func(b *testing.B) {
			store, err := state.Open(filepath.Join(b.TempDir(), "benchform.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			fake := &fakeProvider{failOn: map[string]error{}, gone: map[string]bool{}}
			opts := Options{Config: cfg, State: store, Providers: map[string]providers.Provider{"simulated": fake}}
			if applied {
				targets := make([]lang.Addr, 0, len(cfg.Servers))
				for addr := range cfg.Servers {
					targets = append(targets, addr)
				}
				o := opts
				o.Targets = targets
				ex := New(o)
				p, diags := ex.Plan(context.Background())
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if _, diags := ex.Apply(context.Background(), p); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
			ex := New(opts)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, diags := ex.Plan(context.Background())
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if len(p.Changes) != 1000 {
					b.Fatalf("plan has %d changes, want 1000", len(p.Changes))
				}
			}
		})
	}
}

// BenchmarkLoad1000 loads and checks the same configuration.
func BenchmarkLoad1000(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(generatedConfig(1000)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, diags := lang.Load(dir, lang.LoadOptions{Environ: []string{}}); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
