package executor

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// syntheticWords are short, frequent English words that common BPE
// tokenizers (Llama, Qwen, GPT) encode as a single token each when preceded
// by a space, so a prompt of n of them is close to n tokens without a
// tokenizer at hand.
var syntheticWords = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there one all we their been has when who will more no if
out so said what up its about into them than can only other new some could time these two may then do first
any my now such like our over man me even most made after also did many before must through back years where
much your way well down should because each just those people how too little state good very make world still
own see men work long get here between both life being under never day same another know while last might us
great old year off come since against go came right used take three`)

// DatasetNote says how a dataset's token counts were estimated, for the
// report.
func DatasetNote(spec lang.DatasetSpec) string {
	switch spec.Kind {
	case "synthetic":
		return fmt.Sprintf("synthetic prompts of %d words, estimated at one token per word", spec.Input.Fixed)
	default:
		return "inline prompts; input tokens from the server's usage report, else estimated at one token per word"
	}
}

// buildPrompts returns n prompts for a dataset, the same for the same
// settings and seed.
func buildPrompts(spec lang.DatasetSpec, n int) ([]workload.Prompt, error) {
	switch spec.Kind {
	case "prompts":
		if len(spec.Prompts) == 0 {
			return nil, fmt.Errorf("dataset has no prompts")
		}
		out := make([]workload.Prompt, len(spec.Prompts))
		for i, p := range spec.Prompts {
			out[i] = workload.Prompt{Text: p, InputTokens: len(strings.Fields(p))}
		}
		return out, nil
	case "synthetic":
		rng := rand.New(rand.NewPCG(uint64(spec.Seed), 0x62656e6368666f72))
		out := make([]workload.Prompt, n)
		for i := range out {
			var b strings.Builder
			for w := 0; w < spec.Input.Fixed; w++ {
				if w > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(syntheticWords[rng.IntN(len(syntheticWords))])
			}
			out[i] = workload.Prompt{Text: b.String(), InputTokens: spec.Input.Fixed}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported dataset kind %q", spec.Kind)
}
