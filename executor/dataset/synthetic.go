package dataset

import (
	"fmt"
	"strings"

	"github.com/benchform/benchform/executor/workload"
)

// A prompt that repeats an earlier one is drawn again a few times, then
// stepped through the remaining word sequences in order, so that even
// one-word prompts stay distinct until all 1,024 are used. Only prompts of
// one or two words after the prefix ever get this far.
const (
	maxRedraws = 4
	maxSteps   = 1 << 16
)

// loadSynthetic makes n prompts of vocabulary words. Prompt i depends only
// on the seed, the spec and the prompts before it, so the first k of n
// prompts are the k prompts a smaller step gets.
func loadSynthetic(spec Spec, n int) (Set, error) {
	groups, err := checkSynthetic(spec)
	if err != nil {
		return Set{}, err
	}
	prefixes := make([]string, groups)
	seen := make(map[string]bool, n+groups)
	for g := range prefixes {
		r := newRNG(spec.Seed, streamPrefix, g)
		p, ok := distinct(&r, "", spec.PrefixTokens, seen)
		if !ok {
			return Set{}, fmt.Errorf("prefix_groups: cannot make %d distinct prefixes of %d %s",
				groups, spec.PrefixTokens, plural(spec.PrefixTokens, "token", "tokens"))
		}
		prefixes[g] = p
	}
	clear(seen) // a whole prompt cannot equal a prefix: it is longer
	out := make([]workload.Prompt, n)
	for i := range out {
		r := newRNG(spec.Seed, streamPrompt, i)
		in := spec.Input.draw(&r, spec.PrefixTokens+1)
		// Lengths come first, so that a redrawn prompt keeps them.
		outTokens := spec.Output.draw(&r, 1)
		prefix := ""
		if groups > 0 {
			prefix = prefixes[i%groups] + " "
		}
		text, ok := distinct(&r, prefix, in-spec.PrefixTokens, seen)
		if !ok {
			return Set{}, fmt.Errorf("input: cannot make %d distinct prompts: prompt %d has only %d %s after the prefix",
				n, i, in-spec.PrefixTokens, plural(in-spec.PrefixTokens, "token", "tokens"))
		}
		out[i] = workload.Prompt{Text: text, InputTokens: in, OutputTokens: outTokens}
	}
	return Set{Prompts: out, Note: syntheticNote(spec, groups)}, nil
}

// checkSynthetic validates the synthetic settings and returns the number
// of prefix groups.
func checkSynthetic(spec Spec) (groups int, err error) {
	if spec.Input.IsZero() {
		return 0, fmt.Errorf("input: a synthetic dataset needs an input length")
	}
	if err := spec.Input.Validate("input"); err != nil {
		return 0, err
	}
	switch {
	case spec.PrefixTokens < 0:
		return 0, fmt.Errorf("prefix_tokens: %d is negative", spec.PrefixTokens)
	case spec.PrefixGroups < 0:
		return 0, fmt.Errorf("prefix_groups: %d is negative", spec.PrefixGroups)
	case spec.PrefixGroups > 0 && spec.PrefixTokens == 0:
		return 0, fmt.Errorf("prefix_groups: set without prefix_tokens")
	case spec.PrefixTokens > 0 && spec.Input.smallest() <= spec.PrefixTokens:
		return 0, fmt.Errorf("prefix_tokens: a %d-token prefix leaves no room in an input of %s", spec.PrefixTokens, spec.Input)
	}
	groups = spec.PrefixGroups
	if spec.PrefixTokens > 0 && groups == 0 {
		groups = 1
	}
	return groups, nil
}

// distinct returns prefix followed by words vocabulary words that are not
// in seen, and adds the text to seen.
func distinct(r *rng, prefix string, words int, seen map[string]bool) (string, bool) {
	text := ""
	for range maxRedraws {
		text = appendWords(r, prefix, words)
		if !seen[text] {
			seen[text] = true
			return text, true
		}
	}
	idx := make([]int, words)
	for i, w := range strings.Split(text[len(prefix):], " ") {
		idx[i] = wordIndex[w]
	}
	for range maxSteps {
		// Count in base vocabSize, last word fastest.
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i] = (idx[i] + 1) % vocabSize
			if idx[i] != 0 {
				break
			}
		}
		var b strings.Builder
		b.WriteString(prefix)
		for i, k := range idx {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocabulary[k])
		}
		if text = b.String(); !seen[text] {
			seen[text] = true
			return text, true
		}
	}
	return "", false
}

// avgWordBytes sizes the builder: the vocabulary's mean word is 5.4 bytes,
// plus a space.
const avgWordBytes = 7

func appendWords(r *rng, prefix string, words int) string {
	var b strings.Builder
	b.Grow(len(prefix) + words*avgWordBytes)
	b.WriteString(prefix)
	for w := range words {
		if w > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[r.next()>>(64-vocabBits)])
	}
	return b.String()
}

func syntheticNote(spec Spec, groups int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "synthetic prompts, input %s", spec.Input)
	if groups > 0 {
		fmt.Fprintf(&b, " with %d shared %s of %d tokens", groups, plural(groups, "prefix", "prefixes"), spec.PrefixTokens)
	}
	b.WriteString(", estimated at one token per vocabulary word")
	b.WriteString(outputNote(spec.Output, ""))
	return b.String()
}
