package lang

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader: whatever the input, Load
// must not panic, and every error must say where it is.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/invalid/*.hcl")
	seeds = append(seeds, "../examples/quickstart/main.hcl", "../testdata/valid/everything/main.hcl", "../testdata/invalid/many/main.hcl")
	for _, path := range seeds {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(dir, LoadOptions{Environ: []string{}, AllowUnset: true})
		if cfg == nil {
			t.Fatal("Load returned no configuration")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Errorf("diagnostic without a summary: %#v", d)
			}
		}
		if diags.HasErrors() {
			return
		}
		// A configuration that loads can be evaluated with nothing known.
		for _, a := range cfg.Resources() {
			cfg.Decode(a, NewScope())
		}
		for name := range cfg.Outputs {
			cfg.EvalOutput(name, NewScope())
		}
	})
}
