package dataset

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/benchform/benchform/executor/workload"
)

// Spec says where prompts come from. Its zero fields take their defaults.
type Spec struct {
	// Kind is "prompts", "jsonl", "sharegpt" or "synthetic".
	Kind string
	// Prompts are the texts of a "prompts" dataset.
	Prompts []string
	// Path is the file of a "jsonl" or "sharegpt" dataset, absolute or
	// relative to Dir.
	Path string
	// Dir is the configuration's directory.
	Dir string
	// Input is the prompt length of a "synthetic" dataset. Other kinds
	// ignore it and the prefix settings.
	Input Length
	// Output is the length asked of each answer that has none of its own:
	// every inline and synthetic prompt, and a "jsonl" record without
	// output_tokens. For "sharegpt" it replaces the length of the recorded
	// reply, as vLLM's --sharegpt-output-len does. The zero Length leaves
	// the scenario's max_tokens.
	Output Length
	// PrefixTokens starts every synthetic prompt with a shared prefix of
	// this many tokens, counted inside its Input length.
	PrefixTokens int
	// PrefixGroups is the number of distinct prefixes; prompt i gets prefix
	// i mod PrefixGroups. It defaults to 1 when PrefixTokens is set.
	PrefixGroups int
	// Seed fixes every random choice: lengths, words and the ShareGPT
	// sample.
	Seed int64
}

// Set is a loaded dataset.
type Set struct {
	// Prompts are in the order they are to be sent.
	Prompts []workload.Prompt
	// Note says in one phrase what the prompts are and how their token
	// counts were found, for the report.
	Note string
}

var kinds = []string{"prompts", "jsonl", "sharegpt", "synthetic"}

// Load returns up to n prompts for spec: n synthetic prompts, or the first
// n of a file or inline list (a ShareGPT file's first n after the seeded
// shuffle). A source with fewer returns what it has, for the caller to
// cycle. Errors name the setting or the file and line at fault.
func Load(spec Spec, n int) (Set, error) {
	if n < 1 {
		return Set{}, fmt.Errorf("load dataset: asked for %d prompts", n)
	}
	if err := spec.Output.Validate("output"); err != nil {
		return Set{}, err
	}
	switch spec.Kind {
	case "prompts":
		return loadPrompts(spec, n)
	case "jsonl":
		return loadJSONL(spec, n)
	case "sharegpt":
		return loadShareGPT(spec, n)
	case "synthetic":
		return loadSynthetic(spec, n)
	}
	return Set{}, fmt.Errorf("kind: unknown dataset kind %q; expected one of %s", spec.Kind, strings.Join(kinds, ", "))
}

func loadPrompts(spec Spec, n int) (Set, error) {
	if len(spec.Prompts) == 0 {
		return Set{}, fmt.Errorf("prompts: no prompts given")
	}
	for i, text := range spec.Prompts {
		if strings.TrimSpace(text) == "" {
			return Set{}, fmt.Errorf("prompts[%d]: empty prompt", i)
		}
	}
	out := make([]workload.Prompt, min(n, len(spec.Prompts)))
	for i, text := range spec.Prompts[:len(out)] {
		r := newRNG(spec.Seed, streamRecord, i)
		out[i] = workload.Prompt{
			Text:         text,
			InputTokens:  EstimateTokens(text),
			OutputTokens: spec.Output.draw(&r, 1),
		}
	}
	note := fmt.Sprintf("%d inline %s, input tokens estimated from text", len(spec.Prompts), plural(len(spec.Prompts), "prompt", "prompts"))
	return Set{Prompts: out, Note: note + outputNote(spec.Output, "")}, nil
}

// resolve returns the file a Spec names: Path itself when absolute, else
// Path under Dir.
func resolve(spec Spec) (string, error) {
	if spec.Path == "" {
		return "", fmt.Errorf("path: a %s dataset needs a file", spec.Kind)
	}
	if filepath.IsAbs(spec.Path) || spec.Dir == "" {
		return spec.Path, nil
	}
	return filepath.Join(spec.Dir, spec.Path), nil
}

// outputNote describes where output lengths come from; fromFile names the
// records' own field, if any.
func outputNote(out Length, fromFile string) string {
	switch {
	case out.IsZero() && fromFile == "":
		return ""
	case out.IsZero():
		return ", output tokens from " + fromFile + " where set"
	case fromFile == "":
		return ", output " + out.String()
	}
	return ", output tokens from " + fromFile + ", else " + out.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
