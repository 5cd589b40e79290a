package dataset

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/executor/workload"
)

func synthetic(input Length) Spec {
	return Spec{Kind: "synthetic", Input: input, Seed: 1}
}

func mustLoad(t testing.TB, spec Spec, n int) Set {
	t.Helper()
	s, err := Load(spec, n)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestVocabulary(t *testing.T) {
	if len(vocabulary) != vocabSize || 1<<vocabBits != vocabSize {
		t.Fatalf("vocabulary has %d words, vocabSize %d, vocabBits %d", len(vocabulary), vocabSize, vocabBits)
	}
	word := regexp.MustCompile(`^[a-z]+$`)
	for i, w := range vocabulary {
		if !word.MatchString(w) {
			t.Errorf("word %d %q is not lowercase ASCII letters", i, w)
		}
		if i > 0 && vocabulary[i-1] >= w {
			t.Errorf("words %q and %q are out of order or repeated", vocabulary[i-1], w)
		}
	}
}

// TestSyntheticStable pins the output for one seed: synthetic prompts are
// part of a benchmark's definition, and a change here makes new results
// incomparable with old ones that used the same seed.
func TestSyntheticStable(t *testing.T) {
	s := mustLoad(t, Spec{Kind: "synthetic", Input: Length{Fixed: 12}, Output: Length{Min: 10, Max: 20}, Seed: 1}, 2)
	want := []workload.Prompt{
		{Text: "interface just looks sale images nor put will effect people store background", InputTokens: 12, OutputTokens: 12},
		{Text: "mean said please strong also analysis questions policy all five pick eyes", InputTokens: 12, OutputTokens: 18},
	}
	if diff := cmp.Diff(want, s.Prompts); diff != "" {
		t.Errorf("prompts for seed 1 changed (-want +got):\n%s", diff)
	}
}

func words(text string) []string { return strings.Split(text, " ") }

func TestSyntheticLengths(t *testing.T) {
	const n = 4000
	tests := []struct {
		name  string
		input Length
		check func(t *testing.T, lengths []int)
	}{
		{"fixed", Length{Fixed: 64}, func(t *testing.T, lengths []int) {
			for i, l := range lengths {
				if l != 64 {
					t.Fatalf("prompt %d has %d words, want 64", i, l)
				}
			}
		}},
		{"uniform", Length{Min: 5, Max: 40}, func(t *testing.T, lengths []int) {
			lo, hi := slices.Min(lengths), slices.Max(lengths)
			if lo != 5 || hi != 40 {
				t.Errorf("lengths span %d to %d, want exactly 5 to 40", lo, hi)
			}
		}},
		{"normal", Length{Mean: 100, StdDev: 20}, func(t *testing.T, lengths []int) {
			mean, sd := meanStdDev(lengths)
			// Standard errors: 20/√4000 ≈ 0.32 for the mean, 0.22 for
			// the standard deviation.
			if mean < 98.5 || mean > 101.5 || sd < 19 || sd > 21 {
				t.Errorf("mean %.2f, stddev %.2f; want 100 ± 1.5, 20 ± 1", mean, sd)
			}
		}},
		{"normal clipped", Length{Mean: 4, StdDev: 2}, func(t *testing.T, lengths []int) {
			if lo := slices.Min(lengths); lo != 1 {
				t.Errorf("shortest prompt has %d words, want 1", lo)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustLoad(t, synthetic(tt.input), n)
			if len(s.Prompts) != n {
				t.Fatalf("got %d prompts, want %d", len(s.Prompts), n)
			}
			lengths := make([]int, n)
			for i, p := range s.Prompts {
				lengths[i] = len(words(p.Text))
				if p.InputTokens != lengths[i] {
					t.Fatalf("prompt %d: InputTokens = %d, but it has %d words", i, p.InputTokens, lengths[i])
				}
				for _, w := range words(p.Text) {
					if !common[w] {
						t.Fatalf("prompt %d: word %q is not in the vocabulary", i, w)
					}
				}
			}
			tt.check(t, lengths)
		})
	}
}

func TestSyntheticOutput(t *testing.T) {
	tests := []struct {
		name   string
		output Length
		lo, hi int
	}{
		{"unset", Length{}, 0, 0},
		{"fixed", Length{Fixed: 128}, 128, 128},
		{"uniform", Length{Min: 50, Max: 60}, 50, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := synthetic(Length{Fixed: 8})
			spec.Output = tt.output
			for i, p := range mustLoad(t, spec, 200).Prompts {
				if p.OutputTokens < tt.lo || p.OutputTokens > tt.hi {
					t.Fatalf("prompt %d: OutputTokens = %d, want %d to %d", i, p.OutputTokens, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestSyntheticDeterminism(t *testing.T) {
	spec := Spec{Kind: "synthetic", Input: Length{Mean: 50, StdDev: 10}, Output: Length{Min: 1, Max: 100}, PrefixTokens: 8, PrefixGroups: 3, Seed: 42}
	a := mustLoad(t, spec, 300)
	b := mustLoad(t, spec, 300)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different prompts (-first +second):\n%s", diff)
	}
	// A smaller step gets the first prompts of a larger one.
	if diff := cmp.Diff(a.Prompts[:40], mustLoad(t, spec, 40).Prompts); diff != "" {
		t.Errorf("40 prompts are not the first 40 of 300 (-300 +40):\n%s", diff)
	}
	spec.Seed = 43
	c := mustLoad(t, spec, 300)
	for i := range c.Prompts {
		if c.Prompts[i].Text == a.Prompts[i].Text {
			t.Errorf("prompt %d is the same for seeds 42 and 43", i)
		}
	}
}

func TestSyntheticDistinct(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		n    int
	}{
		{"one word each", synthetic(Length{Fixed: 1}), vocabSize},
		{"two words each", synthetic(Length{Fixed: 2}), 5000},
		{"one word after a prefix", Spec{Kind: "synthetic", Input: Length{Fixed: 5}, PrefixTokens: 4, PrefixGroups: 2, Seed: 9}, 1800},
		{"long", synthetic(Length{Fixed: 200}), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]int{}
			for i, p := range mustLoad(t, tt.spec, tt.n).Prompts {
				if j, dup := seen[p.Text]; dup {
					t.Fatalf("prompts %d and %d are both %q", j, i, p.Text)
				}
				seen[p.Text] = i
			}
		})
	}
}

func TestSyntheticPrefixGroups(t *testing.T) {
	const (
		n      = 300
		prefix = 16
		groups = 4
	)
	spec := Spec{Kind: "synthetic", Input: Length{Min: 20, Max: 60}, PrefixTokens: prefix, PrefixGroups: groups, Seed: 5}
	s := mustLoad(t, spec, n)
	prefixes := make([]string, groups)
	for g := range prefixes {
		prefixes[g] = strings.Join(words(s.Prompts[g].Text)[:prefix], " ")
	}
	for g := range prefixes {
		for h := g + 1; h < groups; h++ {
			if prefixes[g] == prefixes[h] {
				t.Errorf("groups %d and %d have the same prefix", g, h)
			}
		}
	}
	for g := range groups {
		// The members of a group, assigned round-robin, share exactly the
		// prefix: all of it, and not the word after it.
		var members [][]string
		for i := g; i < n; i += groups {
			members = append(members, words(s.Prompts[i].Text))
		}
		shared := len(members[0])
		for _, m := range members[1:] {
			k := 0
			for k < len(m) && k < len(members[0]) && m[k] == members[0][k] {
				k++
			}
			shared = min(shared, k)
		}
		if shared != prefix {
			t.Errorf("group %d shares %d words, want %d", g, shared, prefix)
		}
		if got := strings.Join(members[0][:prefix], " "); got != prefixes[g] {
			t.Errorf("group %d starts with %q, want %q", g, got, prefixes[g])
		}
	}
	for i, p := range s.Prompts {
		if l := len(words(p.Text)); p.InputTokens != l || l < 20 || l > 60 {
			t.Errorf("prompt %d has %d words and InputTokens %d, want both equal, 20 to 60 with the prefix", i, l, p.InputTokens)
		}
	}
}

func TestSyntheticPrefixDefaultGroup(t *testing.T) {
	s := mustLoad(t, Spec{Kind: "synthetic", Input: Length{Fixed: 10}, PrefixTokens: 6, Seed: 3}, 20)
	want := strings.Join(words(s.Prompts[0].Text)[:6], " ")
	for i, p := range s.Prompts {
		if !strings.HasPrefix(p.Text, want+" ") {
			t.Errorf("prompt %d %q does not start with the shared prefix %q", i, p.Text, want)
		}
	}
}

func TestSyntheticErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		n    int
		want string
	}{
		{"no input", Spec{Kind: "synthetic"}, 1, "input: a synthetic dataset needs an input length"},
		{"bad input", synthetic(Length{Min: 9, Max: 3}), 1, "input: max 3 is below min 9"},
		{"bad output", Spec{Kind: "synthetic", Input: Length{Fixed: 5}, Output: Length{Fixed: 5, Min: 1, Max: 2}}, 1, "output: set one of a fixed length, min and max, or mean and stddev"},
		{"negative prefix", Spec{Kind: "synthetic", Input: Length{Fixed: 5}, PrefixTokens: -1}, 1, "prefix_tokens: -1 is negative"},
		{"negative groups", Spec{Kind: "synthetic", Input: Length{Fixed: 5}, PrefixTokens: 1, PrefixGroups: -2}, 1, "prefix_groups: -2 is negative"},
		{"groups without prefix", Spec{Kind: "synthetic", Input: Length{Fixed: 5}, PrefixGroups: 2}, 1, "prefix_groups: set without prefix_tokens"},
		{"prefix fills input", Spec{Kind: "synthetic", Input: Length{Fixed: 64}, PrefixTokens: 64}, 1, "prefix_tokens: a 64-token prefix leaves no room in an input of 64 tokens"},
		{"prefix over uniform min", Spec{Kind: "synthetic", Input: Length{Min: 10, Max: 100}, PrefixTokens: 20}, 1, "prefix_tokens: a 20-token prefix leaves no room in an input of 10-100 tokens (uniform)"},
		{"prefix over mean", Spec{Kind: "synthetic", Input: Length{Mean: 30, StdDev: 5}, PrefixTokens: 30}, 1, "prefix_tokens: a 30-token prefix leaves no room in an input of 30±5 tokens (normal)"},
		{"too many one-word prompts", synthetic(Length{Fixed: 1}), 1100, "input: cannot make 1100 distinct prompts: prompt 1024 has only 1 token after the prefix"},
		{"too many one-word prefixes", Spec{Kind: "synthetic", Input: Length{Fixed: 3}, PrefixTokens: 1, PrefixGroups: 1100}, 1, "prefix_groups: cannot make 1100 distinct prefixes of 1 token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.spec, tt.n)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSyntheticNote(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: "synthetic", Input: Length{Mean: 512, StdDev: 64}},
			"synthetic prompts, input 512±64 tokens (normal), estimated at one token per vocabulary word"},
		{Spec{Kind: "synthetic", Input: Length{Fixed: 1024}, PrefixTokens: 256, PrefixGroups: 4, Output: Length{Fixed: 128}},
			"synthetic prompts, input 1024 tokens with 4 shared prefixes of 256 tokens, estimated at one token per vocabulary word, output 128 tokens"},
		{Spec{Kind: "synthetic", Input: Length{Min: 100, Max: 200}, PrefixTokens: 50},
			"synthetic prompts, input 100-200 tokens (uniform) with 1 shared prefix of 50 tokens, estimated at one token per vocabulary word"},
	}
	for _, tt := range tests {
		if got := mustLoad(t, tt.spec, 1).Note; got != tt.want {
			t.Errorf("Note = %q, want %q", got, tt.want)
		}
	}
}

func BenchmarkSynthetic(b *testing.B) {
	const perOp = 64
	spec := Spec{Kind: "synthetic", Input: Length{Fixed: 1024}, Seed: 1}
	for b.Loop() {
		if _, err := Load(spec, perOp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/prompt")
}
