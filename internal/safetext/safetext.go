// Package safetext makes text that came from outside — a server's error, a
// provider's message, a file's bytes — safe to show on a terminal: control
// characters and escape sequences become visible escapes, and lengths are
// capped with a marker. State keeps such text as received; only what is
// shown is cleaned.
package safetext

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Bounds of what a line or a text from outside may take on a terminal.
const (
	maxLineBytes = 2000
	maxTextBytes = 64 << 10
)

// Line makes a string safe to print as one line. A
// control character, which could move the cursor, clear the screen,
// retitle a window or forge a line, becomes a visible escape (\x1b, \r,
// \n); so does a byte that is not UTF-8. What passes maxLineBytes is cut,
// with a marker saying how much. State keeps the string as received; only
// what is printed is cleaned.
func Line(s string) string { return clean(s, false, maxLineBytes) }

// Text is Line for a text of several lines: newlines and tabs stay.
func Text(s string) string { return clean(s, true, maxTextBytes) }

// clean escapes what a terminal would act on; limit 0 cuts nothing.
func clean(s string, lines bool, limit int) string {
	if find(s, lines) < 0 && (limit == 0 || len(s) <= limit) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if limit > 0 && b.Len() >= limit {
			fmt.Fprintf(&b, "… (%d more bytes)", len(s)-i)
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case lines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case reorders(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// reorders reports the line separators and bidirectional overrides, which
// break or reorder what a terminal shows.
func reorders(r rune) bool {
	return r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// Find returns the index of the first byte of s that a terminal would act
// on rather than show — a control character other than newline and tab, a
// rune that reorders or breaks lines, a byte that is not UTF-8 — or -1
// when there is none.
func Find(s string) int { return find(s, true) }

func find(s string, lines bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f || lines && (c == '\n' || c == '\t') {
			i++
			continue
		}
		if c < 0x80 {
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || r < 0xa0 || reorders(r) {
			return i
		}
		i += size
	}
	return -1
}

// NewWriter returns a writer that passes to w what a terminal shows as
// text (newlines and tabs included) and escapes the rest as Text does,
// uncapped. The command line writes everything through one, so that no
// string a server or a file supplied can act on the terminal, whichever
// path it took; strings that could forge a line are cleaned with Line
// before they get here. A rune split across two writes is held until its
// end arrives.
func NewWriter(w io.Writer) io.Writer { return &safeWriter{w: w} }

type safeWriter struct {
	mu      sync.Mutex
	w       io.Writer
	pending []byte // the start of a rune whose end is in the next write
}

func (s *safeWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := p
	if len(s.pending) > 0 {
		buf = append(s.pending, p...)
		s.pending = nil
	}
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	s.pending = append(s.pending, buf[cut:]...)
	if _, err := io.WriteString(s.w, clean(string(buf[:cut]), true, 0)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// EscapeJSON escapes, as \uXXXX, the runes of encoded JSON that a terminal
// acts on. Outside strings JSON is ASCII, so each such rune is in a string,
// where the escape means the same rune.
func EscapeJSON(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); {
		if b[i] < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= 0x80 && r < 0xa0) || reorders(r) {
			out = append(out, b[last:i]...)
			out = fmt.Appendf(out, `\u%04x`, r)
			last = i + size
		}
		i += size
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
