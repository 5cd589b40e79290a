package lang

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite golden files")

// expectedErrors reads the "# ERROR: Summary" annotations of a file, keyed
// by line.
func expectedErrors(t *testing.T, path string) map[int][]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`#\s*ERROR:\s*(.+?)\s*$`)
	want := map[int][]string{}
	for i, line := range strings.Split(string(src), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			want[i+1] = append(want[i+1], m[1])
		}
	}
	return want
}

// loadFile loads one file as a configuration directory of its own.
func loadFile(t *testing.T, path string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if opts.Environ == nil {
		opts.Environ = []string{}
	}
	return Load(dir, opts)
}

// TestInvalidConfigurations loads every file of the catalogue of broken
// configurations and checks that exactly the annotated diagnostics come
// out, on the annotated lines.
func TestInvalidConfigurations(t *testing.T) {
	paths, err := filepath.Glob("../testdata/invalid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob("../testdata/invalid/*/main.hcl")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, dirs...)
	if len(paths) < 30 {
		t.Fatalf("found %d invalid configurations, want the whole catalogue", len(paths))
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		if name == "main" {
			name = filepath.Base(filepath.Dir(path))
		}
		t.Run(name, func(t *testing.T) {
			want := expectedErrors(t, path)
			if len(want) == 0 {
				t.Fatalf("%s has no ERROR annotation", path)
			}
			_, diags := loadFile(t, path, LoadOptions{})
			got := map[int][]string{}
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic %q has no source range", d.Summary)
					continue
				}
				got[d.Subject.Start.Line] = append(got[d.Subject.Start.Line], d.Summary)
			}
			for _, s := range got {
				sort.Strings(s)
			}
			for _, s := range want {
				sort.Strings(s)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("diagnostics by line (-want +got):\n%s\nall: %v", diff, diags)
			}
		})
	}
}

// TestValidConfigurations checks that the examples and the valid test
// configurations load without a diagnostic.
func TestValidConfigurations(t *testing.T) {
	dirs := []string{"../examples/quickstart", "../examples/endpoint", "../examples/runpod", "../examples/local-gpu", "../testdata/valid/everything"}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			_, diags := Load(dir, LoadOptions{Environ: []string{}, AllowUnset: true})
			if len(diags) > 0 {
				t.Errorf("unexpected diagnostics: %v", diags)
			}
		})
	}
}

// TestDiagnosticsGolden pins the full text users read for a file with many
// problems: all of them, together, each with file, line and snippet.
func TestDiagnosticsGolden(t *testing.T) {
	cfg, diags := Load("../testdata/invalid/many", LoadOptions{Environ: []string{}})
	var buf bytes.Buffer
	sort.SliceStable(diags, func(i, j int) bool {
		return diags[i].Subject.Start.Line < diags[j].Subject.Start.Line
	})
	w := hcl.NewDiagnosticTextWriter(&buf, cfg.Files(), 78, false)
	if err := w.WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	golden := "../testdata/invalid/many/diagnostics.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("diagnostics text (-want +got):\n%s", diff)
	}
}

func TestNoConfigurationFiles(t *testing.T) {
	_, diags := Load(t.TempDir(), LoadOptions{})
	if len(diags) != 1 || diags[0].Summary != "No configuration files" {
		t.Errorf("got %v, want one No configuration files diagnostic", diags)
	}
}

// TestDuplicateAcrossFiles checks that a duplicate in a second file says
// where the first one is.
func TestDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.hcl", "server \"sim\" {\n  engine = \"simulated\"\n}\n")
	write(t, dir, "b.hcl", "server \"sim\" {\n  engine = \"simulated\"\n}\n")
	_, diags := Load(dir, LoadOptions{Environ: []string{}})
	if len(diags) != 1 {
		t.Fatalf("got %v, want one diagnostic", diags)
	}
	d := diags[0]
	if d.Summary != "Duplicate server block" || !strings.Contains(d.Detail, "a.hcl:1") || !strings.HasSuffix(d.Subject.Filename, "b.hcl") {
		t.Errorf("got %s: %s at %s", d.Summary, d.Detail, d.Subject)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
