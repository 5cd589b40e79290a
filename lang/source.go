package lang

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxSourceBytes bounds a configuration or variables file. Configurations
// are kilobytes; data belongs in dataset files. The bound keeps what a
// stray file costs to read, lex and diagnose small.
const MaxSourceBytes = 1 << 20

// maxNesting bounds how deep brackets, quotes, template interpolations and
// unary operators nest. hcl's parser recurses once per level, and a file
// of a hundred thousand '[' or '!' exhausts the stack, which kills the
// process; a configuration nests a few levels.
const maxNesting = 256

// ReadSource reads an HCL file for parsing. A file that is not text (not
// UTF-8, or holding NUL), that is larger than MaxSourceBytes, or that
// nests deeper than any configuration would, is one diagnostic and is not
// parsed: the parser would report every byte of it, or recurse until the
// stack runs out.
func ReadSource(path string) ([]byte, hcl.Diagnostics) {
	f, err := os.Open(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read file", Detail: err.Error() + "."}}
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSourceBytes+1))
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read file", Detail: err.Error() + "."}}
	}
	if off := notText(src); off >= 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Not a text file",
			Detail: fmt.Sprintf("%s is not a text file: at %s its byte is 0x%02x, which UTF-8 text does not hold. Configuration files are UTF-8 text.",
				path, place(src, off), src[off]),
		}}
	}
	if len(src) > MaxSourceBytes {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "File too large",
			Detail: fmt.Sprintf("%s is larger than %d MiB, which no configuration needs. Keep prompts and other data in dataset files (kind = \"jsonl\" or \"sharegpt\").",
				path, MaxSourceBytes>>20),
		}}
	}
	if off, ok := nestsTooDeep(src, path); !ok {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Nested too deeply",
			Detail:   fmt.Sprintf("At %s:%s, brackets, quotes and operators nest more than %d deep, past what benchform parses.", path, place(src, off), maxNesting),
		}}
	}
	return src, nil
}

// notText returns the offset of the first byte that is NUL or not UTF-8,
// or -1. A cut at the read bound may split the last rune; that is not a
// fault of the file.
func notText(src []byte) int {
	for i := 0; i < len(src); {
		if src[i] == 0 {
			return i
		}
		if src[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			if len(src) > MaxSourceBytes && !utf8.FullRune(src[i:]) {
				return -1
			}
			return i
		}
		i += size
	}
	return -1
}

// nestsTooDeep finds where the nesting of src first passes maxNesting.
// It follows hcl's own tokens, so brackets in strings, heredocs and
// comments do not count.
func nestsTooDeep(src []byte, path string) (int, bool) {
	tokens, _ := hclsyntax.LexConfig(src, path, hcl.InitialPos)
	depth, unary := 0, 0
	for _, tok := range tokens {
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			unary = 0
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1, 0)
			unary = 0
		case hclsyntax.TokenBang, hclsyntax.TokenMinus:
			unary++
		default:
			unary = 0
		}
		if depth+unary > maxNesting {
			return tok.Range.Start.Byte, false
		}
	}
	return 0, true
}

// place is the line and column of the byte at off, as path:line:column
// writes them.
func place(src []byte, off int) string {
	line := bytes.Count(src[:off], []byte("\n")) + 1
	col := utf8.RuneCount(src[bytes.LastIndexByte(src[:off], '\n')+1:off]) + 1
	return fmt.Sprintf("%d:%d", line, col)
}
