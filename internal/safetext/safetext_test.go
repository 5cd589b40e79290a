package safetext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTP 500: overloaded", "HTTP 500: overloaded"},
		{"naïve — ok", "naïve — ok"},
		{"\x1b]0;TITLE\x07\x1b[2J\r\nfake line", `\x1b]0;TITLE\x07\x1b[2J\r\nfake line`},
		{"tab\there", `tab\there`},
		{"del\x7f c1\u009b2J", `del\x7f c1\x9b2J`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`},
		{"rtl \u202egnp.exe sep\u2028x", `rtl \u202egnp.exe sep\u2028x`},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTextKeepsLines(t *testing.T) {
	if got, want := Text("a\n\tb\r\x1b[1m"), "a\n\tb\\r\\x1b[1m"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func TestLineIsCapped(t *testing.T) {
	got := Line(strings.Repeat("é", 3000)) // 6000 bytes
	if !strings.HasSuffix(got, "… (4000 more bytes)") || len(got) > maxLineBytes+40 || !utf8.ValidString(got) {
		t.Errorf("Line of 6000 bytes: %d bytes ending %q", len(got), got[len(got)-40:])
	}
}

// TestWriterJoinsSplitRunes writes a text one byte at a time: runes cut
// across writes arrive whole, and controls arrive escaped.
func TestWriterJoinsSplitRunes(t *testing.T) {
	in := "ok → é\x1b[2J\n日本\r"
	var out bytes.Buffer
	w := NewWriter(&out)
	for i := 0; i < len(in); i++ {
		if n, err := w.Write([]byte{in[i]}); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := out.String(), "ok → é\\x1b[2J\n日本\\r"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func TestEscapeJSONIsExact(t *testing.T) {
	in := "del\x7f c1\u009b rtl\u202e ok é"
	b, _ := json.Marshal(in)
	esc := EscapeJSON(b)
	if i := Find(string(esc)); i >= 0 {
		t.Errorf("escaped JSON %q still has %q at %d", esc, esc[i:], i)
	}
	var back string
	if err := json.Unmarshal(esc, &back); err != nil || back != in {
		t.Errorf("escaped JSON %s decodes to %q, %v; want %q", esc, back, err, in)
	}
}

func TestFind(t *testing.T) {
	for s, want := range map[string]int{"plain\n\ttext": -1, "é\x1b": 2, "a\u0085": 1, "ab\xff": 2, "x\u2066": 1} {
		if got := Find(s); got != want {
			t.Errorf("Find(%q) = %d, want %d", s, got, want)
		}
	}
}
