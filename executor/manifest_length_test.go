package executor

import (
	"testing"

	"github.com/benchform/benchform/lang"
)

// TestParseLengthInvertsLengthString reads each kind of length back from
// the text a manifest stores.
func TestParseLengthInvertsLengthString(t *testing.T) {
	for _, l := range []lang.LengthSpec{
		{},
		{Fixed: 128},
		{Min: 64, Max: 256},
		{Mean: 512.5, StdDev: 32},
	} {
		text := lengthString(l)
		if got := parseLength(text); got != l {
			t.Errorf("parseLength(%q) = %+v, want %+v", text, got, l)
		}
	}
	if got := parseLength("about a page"); !got.IsZero() {
		t.Errorf("parseLength of text no manifest writes = %+v, want zero", got)
	}
}
