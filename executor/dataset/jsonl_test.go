package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/executor/workload"
)

const datasets = "../../testdata/datasets"

func TestLoadJSONL(t *testing.T) {
	system := "You answer briefly and plainly."
	balancer := "What does a load balancer do?"
	kitten := []workload.Message{
		{Role: "user", Content: "Suggest a name for a grey kitten."},
		{Role: "assistant", Content: "How about Pebble?"},
		{Role: "user", Content: "Something longer, please."},
	}
	kittenText := "Suggest a name for a grey kitten.\nHow about Pebble?\nSomething longer, please."
	prompt := func(text string, out int) workload.Prompt {
		return workload.Prompt{Text: text, InputTokens: EstimateTokens(text), OutputTokens: out}
	}
	all := []workload.Prompt{
		prompt("List three ways to keep bread fresh for longer.", 64),
		prompt("Explain in two sentences why leap years exist.", 0),
		{
			Text:         system + "\n" + balancer,
			Messages:     []workload.Message{{Role: "system", Content: system}, {Role: "user", Content: balancer}},
			InputTokens:  EstimateTokens(system + "\n" + balancer),
			OutputTokens: 96,
		},
		prompt("Write a four-line poem about a train leaving a station at dawn.", 48),
		{Text: kittenText, Messages: kitten, InputTokens: EstimateTokens(kittenText)},
		prompt("Describe how a bicycle gear works to a ten-year-old.", 120),
	}
	withDefault := func(ps []workload.Prompt, out int) []workload.Prompt {
		ps = append([]workload.Prompt(nil), ps...)
		for i := range ps {
			if ps[i].OutputTokens == 0 {
				ps[i].OutputTokens = out
			}
		}
		return ps
	}
	tests := []struct {
		name string
		spec Spec
		n    int
		want []workload.Prompt
		note string
	}{
		{
			name: "whole file",
			spec: Spec{Kind: "jsonl", Path: "prompts.jsonl", Dir: datasets},
			n:    100,
			want: all,
			note: "prompts.jsonl, 6 records, input tokens estimated from text, output tokens from output_tokens where set",
		},
		{
			name: "first records",
			spec: Spec{Kind: "jsonl", Path: "prompts.jsonl", Dir: datasets},
			n:    3,
			want: all[:3],
			note: "prompts.jsonl, 3 records, input tokens estimated from text, output tokens from output_tokens where set",
		},
		{
			name: "default output",
			spec: Spec{Kind: "jsonl", Path: "prompts.jsonl", Dir: datasets, Output: Length{Fixed: 200}},
			n:    100,
			want: withDefault(all, 200),
			note: "prompts.jsonl, 6 records, input tokens estimated from text, output tokens from output_tokens, else 200 tokens",
		},
	}
	abs, err := filepath.Abs(filepath.Join(datasets, "prompts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		name string
		spec Spec
		n    int
		want []workload.Prompt
		note string
	}{
		name: "absolute path",
		spec: Spec{Kind: "jsonl", Path: abs, Dir: "/elsewhere"},
		n:    1,
		want: all[:1],
		note: abs + ", 1 record, input tokens estimated from text, output tokens from output_tokens where set",
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustLoad(t, tt.spec, tt.n)
			if diff := cmp.Diff(tt.want, s.Prompts); diff != "" {
				t.Errorf("prompts (-want +got):\n%s", diff)
			}
			if s.Note != tt.note {
				t.Errorf("Note = %q, want %q", s.Note, tt.note)
			}
		})
	}
}

func TestJSONLDrawnOutputIsSeeded(t *testing.T) {
	spec := Spec{Kind: "jsonl", Path: "prompts.jsonl", Dir: datasets, Output: Length{Mean: 300, StdDev: 100}, Seed: 1}
	a, b := mustLoad(t, spec, 6), mustLoad(t, spec, 6)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different prompts (-first +second):\n%s", diff)
	}
	spec.Seed = 2
	c := mustLoad(t, spec, 6)
	// Records 1 and 4 have no output length of their own.
	if a.Prompts[1].OutputTokens == c.Prompts[1].OutputTokens && a.Prompts[4].OutputTokens == c.Prompts[4].OutputTokens {
		t.Errorf("seeds 1 and 2 drew the same output lengths %d and %d", a.Prompts[1].OutputTokens, a.Prompts[4].OutputTokens)
	}
	if a.Prompts[0].OutputTokens != 64 {
		t.Errorf("record 0 OutputTokens = %d, want its own 64", a.Prompts[0].OutputTokens)
	}
}

func TestJSONLErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"not json", "{\"prompt\": \"a\"}\nhello\n", "data.jsonl:2: invalid JSON: invalid character 'h' looking for beginning of value"},
		{"truncated", "{\"prompt\": \"a\"", "data.jsonl:1: invalid JSON: unexpected end of JSON input"},
		{"array", "[1, 2]", "data.jsonl:1: expected a JSON object"},
		{"number", "42", "data.jsonl:1: expected a JSON object"},
		{"neither", "\n\n{\"text\": \"hi\"}", "data.jsonl:3: expected a prompt or messages field"},
		{"both", "{\"prompt\": \"a\", \"messages\": []}", "data.jsonl:1: set prompt or messages, not both"},
		{"prompt not string", "{\"prompt\": 7}", "data.jsonl:1: field prompt: expected a string"},
		{"prompt null", "{\"prompt\": null}", "data.jsonl:1: field prompt: expected a string"},
		{"prompt empty", "{\"prompt\": \"  \"}", "data.jsonl:1: field prompt: empty"},
		{"messages string", "{\"prompt\": \"ok\"}\n{\"prompt\": \"ok\"}\n{\"messages\": \"hi\"}", "data.jsonl:3: field messages: expected a list of {role, content}"},
		{"messages of strings", "{\"messages\": [\"hi\"]}", "data.jsonl:1: field messages: expected a list of {role, content}"},
		{"messages null", "{\"messages\": null}", "data.jsonl:1: field messages: expected a list of {role, content}"},
		{"messages empty", "{\"messages\": []}", "data.jsonl:1: field messages: empty list"},
		{"message without content", "{\"messages\": [{\"role\": \"user\"}]}", "data.jsonl:1: field messages[0]: missing content"},
		{"message without role", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"content\": \"b\"}]}", "data.jsonl:1: field messages[1]: missing role"},
		{"content parts", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}", "data.jsonl:1: field messages[0].content: expected a string"},
		{"role empty", "{\"messages\": [{\"role\": \"\", \"content\": \"a\"}]}", "data.jsonl:1: field messages[0].role: empty"},
		{"output not number", "{\"prompt\": \"a\", \"output_tokens\": \"64\"}", "data.jsonl:1: field output_tokens: expected a number"},
		{"output fraction", "{\"prompt\": \"a\", \"output_tokens\": 6.5}", "data.jsonl:1: field output_tokens: expected a whole number from 1 to 16777216, got 6.5"},
		{"output zero", "{\"prompt\": \"a\", \"max_tokens\": 0}", "data.jsonl:1: field max_tokens: expected a whole number from 1 to 16777216, got 0"},
		{"output huge", "{\"prompt\": \"a\", \"max_tokens\": 1e300}", "data.jsonl:1: field max_tokens: expected a whole number from 1 to 16777216, got 1e300"},
		{"empty file", "", "data.jsonl: no records"},
		{"blank lines only", "\n  \n\t\n", "data.jsonl: no records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readJSONL(strings.NewReader(tt.data), "data.jsonl", 100, Length{}, 0)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestJSONLLines(t *testing.T) {
	// Windows line endings, no final newline, and a record longer than
	// bufio's default buffer.
	long := strings.Repeat("word ", 30000)
	data := "{\"prompt\": \"one\"}\r\n\r\n{\"prompt\": \"" + long + "\", \"output_tokens\": 5, \"max_tokens\": 9}\r\n{\"prompt\": \"three\"}"
	got, err := readJSONL(strings.NewReader(data), "data.jsonl", 10, Length{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []workload.Prompt{
		{Text: "one", InputTokens: 1},
		{Text: long, InputTokens: EstimateTokens(long), OutputTokens: 5},
		{Text: "three", InputTokens: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("prompts (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		n    int
		want string
	}{
		{"unknown kind", Spec{Kind: "csv"}, 1, `kind: unknown dataset kind "csv"; expected one of prompts, jsonl, sharegpt, synthetic`},
		{"no prompts asked", Spec{Kind: "prompts", Prompts: []string{"a"}}, 0, "load dataset: asked for 0 prompts"},
		{"no inline prompts", Spec{Kind: "prompts"}, 1, "prompts: no prompts given"},
		{"empty inline prompt", Spec{Kind: "prompts", Prompts: []string{"a", " "}}, 1, "prompts[1]: empty prompt"},
		{"bad output", Spec{Kind: "prompts", Prompts: []string{"a"}, Output: Length{Min: 5}}, 1, "output: max 0 is below min 5"},
		{"no path", Spec{Kind: "jsonl"}, 1, "path: a jsonl dataset needs a file"},
		{"no sharegpt path", Spec{Kind: "sharegpt"}, 1, "path: a sharegpt dataset needs a file"},
		{"missing file", Spec{Kind: "jsonl", Path: "nope.jsonl", Dir: "/nonexistent"}, 1, "jsonl: open /nonexistent/nope.jsonl: no such file or directory"},
		{"missing sharegpt file", Spec{Kind: "sharegpt", Path: "/nonexistent/sg.json"}, 1, "sharegpt: open /nonexistent/sg.json: no such file or directory"},
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

func TestLoadPrompts(t *testing.T) {
	spec := Spec{Kind: "prompts", Prompts: []string{"Say hello.", "Name three rivers in Europe."}, Output: Length{Fixed: 32}}
	tests := []struct {
		n    int
		want []workload.Prompt
	}{
		{1, []workload.Prompt{{Text: "Say hello.", InputTokens: 3, OutputTokens: 32}}},
		{5, []workload.Prompt{
			{Text: "Say hello.", InputTokens: 3, OutputTokens: 32},
			{Text: "Name three rivers in Europe.", InputTokens: 6, OutputTokens: 32},
		}},
	}
	for _, tt := range tests {
		s := mustLoad(t, spec, tt.n)
		if diff := cmp.Diff(tt.want, s.Prompts); diff != "" {
			t.Errorf("n=%d: prompts (-want +got):\n%s", tt.n, diff)
		}
		if want := "2 inline prompts, input tokens estimated from text, output 32 tokens"; s.Note != want {
			t.Errorf("Note = %q, want %q", s.Note, want)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(datasets, "prompts.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, line := range bytes.Split(b, []byte("\n")) {
		f.Add(line)
	}
	for _, s := range []string{
		"", "\n", "{}", "null", "[]", `{"prompt": null}`, `{"messages": [null]}`, `{"messages": [{}]}`,
		`{"prompt": "a", "output_tokens": -1}`, `{"prompt": "a", "max_tokens": 1e400}`, "{\"prompt\": \"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const n = 50
		got, err := readJSONL(bytes.NewReader(data), "fuzz.jsonl", n, Length{Min: 1, Max: 10}, 1)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.jsonl") {
				t.Errorf("error %q does not start with the file name", err)
			}
			return
		}
		if len(got) == 0 || len(got) > n {
			t.Fatalf("%d prompts, want 1 to %d", len(got), n)
		}
		for i, p := range got {
			if strings.TrimSpace(p.Text) == "" && len(p.Messages) == 0 {
				t.Errorf("prompt %d is empty", i)
			}
			if p.InputTokens < 0 || p.OutputTokens < 1 {
				t.Errorf("prompt %d: InputTokens %d, OutputTokens %d", i, p.InputTokens, p.OutputTokens)
			}
		}
	})
}
