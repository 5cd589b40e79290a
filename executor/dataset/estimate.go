package dataset

import (
	"unicode"
	"unicode/utf8"
)

// EstimateTokens returns an estimate of how many tokens text encodes to, for
// text whose length no tokenizer has measured. It splits text the way the
// pre-tokenizers of cl100k (GPT-4), Llama-3 and Qwen2 do (a run of letters
// with the one space or mark before it, up to three digits, a run of
// punctuation, white space) and charges each piece by a table fitted to
// cl100k counts on about 40,000 tokens of English licences, release notes
// and documentation: a word of the synthetic vocabulary after a space is
// one token, as it is in those tokenizers; other words cost more with
// length, capitals and a mark before them; a Han, kana or Hangul character
// is one token. When fewer than about one word in eight is a common
// English word, the text is taken for another language in Latin script,
// whose words split into more tokens.
//
// Measured on text not used for fitting: English prose within 2% of the
// cl100k, Llama-3 and Qwen2 counts over a few paragraphs, and within 10%
// for nine sentences in ten; source code about 8% over; French, Spanish,
// Italian, Portuguese and German within about 10%. Qwen2 encodes every
// digit alone, so logs and tables of numbers count up to 25% more there.
// Russian, Chinese and Japanese can be 30% off, the tokenizers
// disagreeing among themselves by as much. Mistral's and Llama-2's 32k
// vocabularies give 10 to 20% more tokens than the estimate. Special and
// chat-template tokens are not counted. The empty text is 0 tokens; any
// other text at least 1.
func EstimateTokens(text string) int {
	var e estimate
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == '\'' && contraction(text[i+n:]) > 0:
			e.fixed += 1000
			i += n + contraction(text[i+n:])
		case unicode.IsLetter(r):
			i = e.letters(text, i, leadNone)
		case unicode.IsDigit(r):
			digits := 0
			for i < len(text) {
				d, dn := utf8.DecodeRuneInString(text[i:])
				if !unicode.IsDigit(d) {
					break
				}
				digits++
				i += dn
			}
			e.fixed += (digits + 2) / 3 * 1000
		case r != '\n' && r != '\r' && i+n < len(text) && isLetterAt(text, i+n):
			ld := leadMark
			if r == ' ' {
				ld = leadSpace
			}
			i = e.letters(text, i+n, ld)
		case unicode.IsSpace(r):
			i = e.whitespace(text, i)
		default:
			i = e.punctuation(text, i)
		}
	}
	return e.total(len(text) > 0)
}

// estimate accumulates thousandths of a token: pieces cost fractions, and
// the sum is rounded once.
type estimate struct {
	fixed int // pieces whose cost does not depend on the language
	// english and foreign are two prices for the words outside the
	// vocabulary; total blends them by how many words were common.
	english, foreign int
	words, known     int
}

// Costs in thousandths of a token, fitted to cl100k.
const (
	perKnownMarked   = 100 // a common word after a mark such as ( or -
	perLetterEnglish = 25  // each letter past the fourth of a lowercase word
	perLetterBare    = 170 // each letter past the third, with no space before the word
	perLetterCap     = 100 // each letter past the third of a capitalised word
	perLetterForeign = 250 // each letter past the third, in another language
	perLetterMarked  = 140 // each letter past the first, after a mark
	perLetterUpper   = 170 // each letter past the second of an upper-case word
	perLetterMixed   = 250 // each letter past the second of a mixed-case word
	perWide          = 1000
	perOtherScript   = 400
	perPunctLong     = 250 // each mark past the third in a run
)

// English prose has 55 to 80% of its words in the vocabulary, jargon-heavy
// logs and code 25 to 55%; French, Spanish, Italian, Portuguese or German
// below 10%. Between these shares the two prices are blended.
const (
	shareEnglish = 160 // thousandths
	shareForeign = 80
	minWords     = 8 // below this, a share says nothing and prose is assumed English
)

func (e *estimate) total(nonEmpty bool) int {
	foreignWeight := 0 // thousandths
	if e.words >= minWords {
		share := e.known * 1000 / e.words
		foreignWeight = min(max((shareEnglish-share)*1000/(shareEnglish-shareForeign), 0), 1000)
	}
	milli := e.fixed + (e.english*(1000-foreignWeight)+e.foreign*foreignWeight)/1000
	if nonEmpty && milli < 1000 {
		return 1
	}
	return (milli + 500) / 1000
}

type lead int

const (
	leadNone  lead = iota // start of text or line, or after a digit or a run of marks
	leadSpace             // one space, which the tokenizers fold into the word
	leadMark              // one punctuation mark or other character folded in
)

func isLetterAt(text string, i int) bool {
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r)
}

// contraction returns the length of s, t, re, ve, m, ll or d after an
// apostrophe, or 0.
func contraction(s string) int {
	lower := func(i int) byte {
		if i >= len(s) {
			return 0
		}
		return s[i] | 0x20
	}
	switch lower(0) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if lower(1) == 'e' {
			return 2
		}
	case 'l':
		if lower(1) == 'l' {
			return 2
		}
	}
	return 0
}

// letters charges the run of letters starting at i and returns its end.
func (e *estimate) letters(text string, i int, ld lead) int {
	var ascii, upper, wide, other int
	var lower [16]byte // the word in lowercase, for the vocabulary lookup
	firstUpper := false
	end := i
	for end < len(text) {
		r, n := utf8.DecodeRuneInString(text[end:])
		if !unicode.IsLetter(r) {
			break
		}
		switch {
		case r < utf8.RuneSelf:
			b := byte(r)
			if b >= 'A' && b <= 'Z' {
				if ascii == 0 {
					firstUpper = true
				}
				upper++
				b += 'a' - 'A'
			}
			if ascii < len(lower) {
				lower[ascii] = b
			}
			ascii++
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
			wide++
		default:
			other++
		}
		end += n
	}
	if ascii == 0 {
		e.fixed += max(wide*perWide+other*perOtherScript, 1000)
		return end
	}
	e.fixed += wide*perWide + other*perOtherScript
	inVocabulary := false
	if wide == 0 && other == 0 {
		e.words++
		if inVocabulary = ascii <= len(lower) && common[string(lower[:ascii])]; inVocabulary {
			e.known++ // in any case: INFO and The are English too
		}
	}
	isCommon := inVocabulary && (upper == 0 || upper == 1 && firstUpper)
	switch {
	case isCommon && ld == leadMark:
		e.fixed += 1000 + perKnownMarked
	case isCommon:
		e.fixed += 1000
	case upper == ascii && ascii > 1:
		e.fixed += 1000 + max(0, ascii-2)*perLetterUpper
	case upper > 1 || (upper == 1 && !firstUpper):
		e.fixed += 1000 + max(0, ascii-2)*perLetterMixed
	case ld == leadMark:
		e.fixed += 1000 + (ascii-1)*perLetterMarked
	default:
		per := perLetterEnglish
		over := ascii - 4
		switch {
		case upper == 1:
			per, over = perLetterCap, ascii-3
		case ld == leadNone:
			per, over = perLetterBare, ascii-3
		}
		e.english += 1000 + max(0, over)*per
		e.foreign += 1000 + max(0, ascii-3)*perLetterForeign
	}
	return end
}

// whitespace charges the run of white space at i and returns its end. As in
// the tokenizers, a run followed by a word or a mark leaves its last space
// to that piece.
func (e *estimate) whitespace(text string, i int) int {
	end := i
	last, lastN := rune(0), 0
	for end < len(text) {
		r, n := utf8.DecodeRuneInString(text[end:])
		if !unicode.IsSpace(r) {
			break
		}
		last, lastN = r, n
		end += n
	}
	e.fixed += 1000
	switch {
	case end == len(text) || last == '\n' || last == '\r':
		return end
	case end-lastN > i:
		// The run less its last character is one piece; the last one is
		// looked at again as the lead of what follows.
		return end - lastN
	case last == ' ':
		if next, _ := utf8.DecodeRuneInString(text[end:]); !unicode.IsDigit(next) {
			e.fixed -= 1000 // the space belongs to the marks that follow
			return e.punctuation(text, end)
		}
	}
	return end
}

// punctuation charges a run of characters that are neither letters, digits
// nor white space, with the newlines that follow it, and returns its end.
func (e *estimate) punctuation(text string, i int) int {
	marks := 0
	end := i
	for end < len(text) {
		r, n := utf8.DecodeRuneInString(text[end:])
		if unicode.IsSpace(r) || unicode.IsLetter(r) || unicode.IsDigit(r) {
			break
		}
		marks++
		end += n
	}
	for end < len(text) && (text[end] == '\n' || text[end] == '\r') {
		end++
	}
	e.fixed += 1000 + max(0, marks-3)*perPunctLong
	if marks == 0 && end == i {
		_, n := utf8.DecodeRuneInString(text[i:])
		end = i + n // never stall, whatever the input
	}
	return end
}
