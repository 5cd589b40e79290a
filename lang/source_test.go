package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadSourceCountsOnlyCode: brackets in strings, heredocs and
// comments nest nothing, and a file of them is read as it is.
func TestReadSourceCountsOnlyCode(t *testing.T) {
	deep := strings.Repeat("[", 1000)
	src := "a = \"" + deep + "\"\n" +
		"b = <<EOT\n" + deep + "\nEOT\n" +
		"# " + deep + "\n" +
		"/* " + deep + " */\n" +
		"c = " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n"
	path := filepath.Join(t.TempDir(), "main.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, diags := ReadSource(path)
	if diags.HasErrors() || string(got) != src {
		t.Errorf("ReadSource: %v", diags)
	}
}
