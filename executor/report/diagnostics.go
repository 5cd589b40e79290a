package report

import (
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/hcl/v2"
)

// Diagnostics writes diagnostics sorted by file and position, each headed
// by its file:line:column (hcl's own text names the line only), with the
// source snippet where the file is known. Diagnostics without a place come
// first.
func Diagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint) error {
	sorted := make(hcl.Diagnostics, len(diags))
	copy(sorted, diags)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].Subject, sorted[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		default:
			return a.Start.Column < b.Start.Column
		}
	})
	if files == nil {
		files = map[string]*hcl.File{}
	}
	tw := hcl.NewDiagnosticTextWriter(w, files, width, false)
	for _, d := range sorted {
		if d.Subject != nil {
			if _, err := fmt.Fprintf(w, "%s:%d:%d:\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column); err != nil {
				return err
			}
		}
		if err := tw.WriteDiagnostic(d); err != nil {
			return err
		}
	}
	return nil
}
