package dataset

import (
	"encoding/json"
	"os"
	"testing"
)

// The cl100k counts below were measured with tiktoken's cl100k_base
// encoding; Llama-3 and Qwen2 give the same counts for the English cases.
func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		cl100k int
		tol    float64 // allowed relative error
	}{
		{"empty", "", 0, 0},
		{"one letter", "a", 1, 0},
		{"two words", "hello world", 2, 0},
		{"sentence", "The ferry left the harbour twenty minutes late, which nobody minded, because the evening was warm and the water was the colour of weak tea.", 28, 0.05},
		{"technical prose", "Enzymes are proteins that speed up chemical reactions in living cells without being used up themselves. Each enzyme has an active site, a pocket whose shape and chemical properties match a particular substrate. When the substrate binds, the enzyme stabilises the transition state of the reaction, lowering the activation energy needed for it to proceed. Temperature and acidity strongly affect enzyme activity: too much heat unfolds the protein and destroys the active site, while the wrong pH changes the charges that hold the substrate in place.", 98, 0.05},
		{"chat with contraction", "So I finally tried the recipe you sent me last week, and honestly it turned out way better than I expected! The only thing I changed was the amount of garlic, because my partner can't stand it, and I swapped the cream for a bit of yogurt at the end.", 56, 0.05},
		{"python", "def top_words(path, n=10):\n    counts = Counter()\n    with open(path, encoding=\"utf-8\") as f:\n        for line in f:\n            for word in json.loads(line).get(\"text\", \"\").lower().split():\n                counts[word.strip(\".,;:!?\")] += 1\n    return counts.most_common(n)\n", 73, 0.15},
		{"spanish", "El tren salió de la estación a las siete y media, con un retraso de diez minutos que nadie pareció notar. Por la ventana pasaban campos de olivos, pueblos blancos y, de vez en cuando, un río estrecho que brillaba bajo el sol de la mañana.", 71, 0.15},
		{"numbers", "Order 4821 shipped on 2024-03-18 with 12 items totalling 1,299.50 EUR.", 27, 0.15},
		{"chinese", "光合作用是植物利用阳光、水和二氧化碳制造养分的过程。", 33, 0.35},
		{"white space", "   indented line\n\n\nthen a paragraph after blank lines\n", 12, 0.15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EstimateTokens(tt.text)
			if diff := float64(got - tt.cl100k); diff > tt.tol*float64(tt.cl100k) || -diff > tt.tol*float64(tt.cl100k) {
				t.Errorf("EstimateTokens = %d, cl100k counts %d; more than %.0f%% apart", got, tt.cl100k, 100*tt.tol)
			}
		})
	}
}

func TestEstimateTokensOddInput(t *testing.T) {
	for _, text := range []string{"\xff", "\xff\xfe\xfd", " ", "\n", "'", "'s", "...", " .", "\t\tx", "a\u0301", "Ω"} {
		if got := EstimateTokens(text); got < 1 {
			t.Errorf("EstimateTokens(%q) = %d, want at least 1", text, got)
		}
	}
}

// TestEstimateTokensCorpus checks the estimate over the whole sample
// ShareGPT file, whose cl100k count is 7,972 tokens (each turn encoded on
// its own).
func TestEstimateTokensCorpus(t *testing.T) {
	b, err := os.ReadFile("../../testdata/datasets/sharegpt.json")
	if err != nil {
		t.Fatal(err)
	}
	var convs []shareGPTEntry
	if err := json.Unmarshal(b, &convs); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, c := range convs {
		for _, turn := range c.Conversations {
			got += EstimateTokens(turn.Value)
		}
	}
	const cl100k = 7972
	if got < cl100k*95/100 || got > cl100k*105/100 {
		t.Errorf("estimate over the file = %d tokens, cl100k counts %d; more than 5%% apart", got, cl100k)
	}
}

func FuzzEstimateTokens(f *testing.F) {
	for _, s := range []string{"", "hello world", "can't", "  x", "1234567", "光合作用", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := EstimateTokens(s)
		if s == "" && got != 0 || s != "" && got < 1 {
			t.Errorf("EstimateTokens(%q) = %d", s, got)
		}
		if got > len(s)+1 {
			t.Errorf("EstimateTokens(%q) = %d, more than one token per byte", s, got)
		}
	})
}

func BenchmarkEstimateTokens(b *testing.B) {
	text := "Enzymes are proteins that speed up chemical reactions in living cells without being used up themselves. "
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		EstimateTokens(text)
	}
}
