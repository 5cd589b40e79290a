package telemetry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestEngineFixtures reduces, for every engine with a fixture directory
// under testdata/telemetry/engines, a scrape before and after a step as
// that engine exposes them, with the after scrape as the step's one
// sample, and checks the figures want.json names. The expected figures
// are worked out by hand from the two files, so that a family mapped to
// the wrong quantity, or read the wrong way, shows.
func TestEngineFixtures(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(testdata, "engines", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no engine fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			before, after := parseFile(t, filepath.Join(dir, "before.txt")), parseFile(t, filepath.Join(dir, "after.txt"))
			st := ServerWindow{Before: &before, After: &after, Samples: []ServerSample{SampleOf(after)}}.Stats()
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			wb, err := os.ReadFile(filepath.Join(dir, "want.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(wb, &want); err != nil {
				t.Fatalf("want.json: %v", err)
			}
			for _, d := range subsetDiff("", want, got) {
				t.Error(d)
			}
		})
	}
}

// subsetDiff lists where got differs from want at the keys want has.
func subsetDiff(path string, want, got any) []string {
	if wm, ok := want.(map[string]any); ok {
		gm, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": missing or not an object"}
		}
		var out []string
		for k, wv := range wm {
			out = append(out, subsetDiff(path+"."+k, wv, gm[k])...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		b, _ := json.Marshal(got)
		return []string{path + ": got " + string(b) + ", want " + string(mustJSON(want))}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func parseFile(t *testing.T, path string) Scrape {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ParseMetrics(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
