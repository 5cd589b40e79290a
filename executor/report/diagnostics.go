package report

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// MaxDiagnostics is how many diagnostics are shown; the rest are counted.
// A file that is not a configuration at all yields one per line, and
// rendering each costs a pass over the file: past the first screens they
// tell nothing more.
const MaxDiagnostics = 100

// Diagnostics writes diagnostics sorted by file and position, each headed
// by its file:line:column (hcl's own text names the line only), with the
// source snippet where the file is known. Diagnostics without a place come
// first. Past MaxDiagnostics, a line counts the rest.
func Diagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint) error {
	sorted := sortDiagnostics(diags)
	var rest hcl.Diagnostics
	if len(sorted) > MaxDiagnostics {
		sorted, rest = sorted[:MaxDiagnostics], sorted[MaxDiagnostics:]
	}
	tw := hcl.NewDiagnosticTextWriter(w, shownSource(files, sorted), width, false)
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
	if len(rest) > 0 {
		errs := len(rest.Errs())
		var counts []string
		if errs > 0 {
			counts = append(counts, fmt.Sprintf("%d more %s", errs, plural(errs, "error", "errors")))
		}
		if warns := len(rest) - errs; warns > 0 {
			counts = append(counts, fmt.Sprintf("%d more %s", warns, plural(warns, "warning", "warnings")))
		}
		if _, err := fmt.Fprintf(w, "…and %s, not shown.\n", strings.Join(counts, " and ")); err != nil {
			return err
		}
	}
	return nil
}

// sortDiagnostics returns diagnostics by file and position, those without
// a place first, leaving diags as they were.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
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
	return sorted
}

// shownSource cuts each file after the last line a shown diagnostic
// covers: hcl's writer scans a file from its start for every snippet, and
// what lies past the last one is never printed.
func shownSource(files map[string]*hcl.File, shown hcl.Diagnostics) map[string]*hcl.File {
	end := map[string]int{}
	for _, d := range shown {
		for _, r := range []*hcl.Range{d.Subject, d.Context} {
			if r != nil {
				end[r.Filename] = max(end[r.Filename], r.End.Byte)
			}
		}
	}
	out := make(map[string]*hcl.File, len(end))
	for name, e := range end {
		f := files[name]
		if f == nil || e >= len(f.Bytes) {
			out[name] = f
			continue
		}
		if i := bytes.IndexByte(f.Bytes[e:], '\n'); i >= 0 {
			e += i + 1
		} else {
			e = len(f.Bytes)
		}
		cut := *f
		cut.Bytes = f.Bytes[:e]
		out[name] = &cut
	}
	return out
}
