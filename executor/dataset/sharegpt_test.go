package dataset

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/executor/workload"
)

// fixtureExchanges returns the sample file's first human turn and its
// reply, by conversation id, read independently of the code under test.
func fixtureExchanges(t *testing.T) map[string][2]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(datasets, "sharegpt.json"))
	if err != nil {
		t.Fatal(err)
	}
	var convs []struct {
		ID            string `json:"id"`
		Conversations []struct{ From, Value string }
	}
	if err := json.Unmarshal(b, &convs); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for _, c := range convs {
		for i, turn := range c.Conversations {
			if turn.From == "human" {
				if i+1 < len(c.Conversations) {
					out[c.ID] = [2]string{turn.Value, c.Conversations[i+1].Value}
				}
				break
			}
		}
	}
	return out
}

func TestLoadShareGPT(t *testing.T) {
	exchanges := fixtureExchanges(t)
	// c06 and c22 have prompts under 4 tokens, c07 a single turn, c28 a
	// prompt over 1,024 tokens, c33 a reply under 4 tokens.
	skipped := []string{"c06", "c07", "c22", "c28", "c33"}
	tests := []struct {
		name     string
		output   Length
		excluded []string
		wantOut  func(reply string) int
		note     string
	}{
		{
			name:     "reply lengths",
			excluded: skipped,
			wantOut:  EstimateTokens,
			note:     "ShareGPT sharegpt.json, all 28 usable of 33 conversations, first human turn as prompt, lengths estimated from text, output from the reply's length",
		},
		{
			name:     "fixed output",
			output:   Length{Fixed: 64},
			excluded: []string{"c06", "c07", "c22", "c28"}, // a short reply no longer matters
			wantOut:  func(string) int { return 64 },
			note:     "ShareGPT sharegpt.json, all 29 usable of 33 conversations, first human turn as prompt, lengths estimated from text, output 64 tokens",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []workload.Prompt
			for id, ex := range exchanges {
				if !slices.Contains(tt.excluded, id) {
					want = append(want, workload.Prompt{Text: ex[0], InputTokens: EstimateTokens(ex[0]), OutputTokens: tt.wantOut(ex[1])})
				}
			}
			s := mustLoad(t, Spec{Kind: "sharegpt", Path: "sharegpt.json", Dir: datasets, Output: tt.output, Seed: 1}, 100)
			byText := func(a, b workload.Prompt) int { return strings.Compare(a.Text, b.Text) }
			got := slices.SortedFunc(slices.Values(s.Prompts), byText)
			slices.SortFunc(want, byText)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("prompts, in any order (-want +got):\n%s", diff)
			}
			if s.Note != tt.note {
				t.Errorf("Note = %q, want %q", s.Note, tt.note)
			}
		})
	}
}

func TestShareGPTSkipsLeadingTurns(t *testing.T) {
	// c08 opens with the model greeting the user; the question after
	// it is the prompt.
	s := mustLoad(t, Spec{Kind: "sharegpt", Path: "sharegpt.json", Dir: datasets}, 100)
	want := "Help me plan a three day trip to Lisbon in early spring on a modest budget."
	if !slices.ContainsFunc(s.Prompts, func(p workload.Prompt) bool { return p.Text == want }) {
		t.Errorf("no prompt %q", want)
	}
}

func TestShareGPTShuffle(t *testing.T) {
	spec := Spec{Kind: "sharegpt", Path: "sharegpt.json", Dir: datasets, Seed: 7}
	all := mustLoad(t, spec, 100).Prompts
	if diff := cmp.Diff(all, mustLoad(t, spec, 100).Prompts); diff != "" {
		t.Errorf("same seed, different sample (-first +second):\n%s", diff)
	}
	// Like vLLM's shuffle-then-take, a smaller n gets the first prompts of
	// a larger one.
	five := mustLoad(t, spec, 5)
	if diff := cmp.Diff(all[:5], five.Prompts); diff != "" {
		t.Errorf("5 prompts are not the first 5 of all (-all +5):\n%s", diff)
	}
	if want := "ShareGPT sharegpt.json, 5 conversations sampled from 33, first human turn as prompt, lengths estimated from text, output from the reply's length"; five.Note != want {
		t.Errorf("Note = %q, want %q", five.Note, want)
	}
	spec.Seed = 8
	other := mustLoad(t, spec, 100).Prompts
	if cmp.Equal(all, other) {
		t.Errorf("seeds 7 and 8 gave the same order")
	}
	texts := func(ps []workload.Prompt) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Text
		}
		slices.Sort(out)
		return out
	}
	if diff := cmp.Diff(texts(all), texts(other)); diff != "" {
		t.Errorf("seeds 7 and 8 sampled different sets from a file smaller than n (-7 +8):\n%s", diff)
	}
	// The file order is not the sample order.
	first := fixtureExchanges(t)["c01"][0]
	same := 0
	for _, seed := range []int64{1, 2, 3, 4, 5, 6} {
		spec.Seed = seed
		if mustLoad(t, spec, 1).Prompts[0].Text == first {
			same++
		}
	}
	if same > 2 {
		t.Errorf("the file's first conversation came first for %d seeds of 6", same)
	}
}

func TestShareGPTErrors(t *testing.T) {
	ok := `{"conversations": [{"from": "human", "value": "Tell me about the history of tea."}, {"from": "gpt", "value": "Tea was first drunk in China."}]}`
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "sg.json: empty file; expected a JSON array of conversations"},
		{"object", "\n\n  {\"conversations\": []}", "sg.json:3: expected a JSON array of conversations"},
		{"not json", "hello", "sg.json:1: expected a JSON array of conversations"},
		{"element not object", "[" + ok + ",\n 5]", "sg.json:2: conversation 1: expected an object with a conversations list"},
		{"conversations a string", "[\n " + ok + ",\n " + ok + ",\n {\"id\": \"x\",\n  \"conversations\": \"hi\"}\n]", "sg.json:4: conversation 2: field conversations: expected a list of {from, value} with string values"},
		{"turn value a number", "[\n {\"conversations\": [{\"from\": \"human\", \"value\": 12}]}\n]", "sg.json:2: conversation 0: field conversations: expected a list of {from, value} with string values"},
		{"turns not objects", "[{\"conversations\": [\"hi\", \"hello\"]}]", "sg.json:1: conversation 0: field conversations: expected a list of {from, value} with string values"},
		{"syntax error inside", "[\n " + ok + ",\n {\"conversations\": [\n  {\"from\": \"human\", \"value\": \"hi\"}\n  {\"from\": \"gpt\", \"value\": \"hello\"}\n ]}\n]", "sg.json:5: conversation 1: invalid character '{' after array element"},
		{"missing comma between", "[\n " + ok + "\n " + ok + "\n]", "sg.json:3: conversation 1: expected comma after array element"},
		{"truncated", "[\n " + ok + ",\n {\"conversations\": [", "sg.json:3: conversation 1: unexpected end of file"},
		{"unclosed", "[\n " + ok + "\n", "sg.json:3: expected ] at the end of the array"},
		{"nothing usable", "[{\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}]}, {}, {\"conversations\": null}]",
			"sg.json: none of its 3 conversations is usable: each needs a human turn followed by a reply, within vLLM's length limits (prompt and reply of at least 4 tokens, prompt of at most 1024, both at most 2048)"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "sg.json"), []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Spec{Kind: "sharegpt", Path: "sg.json", Dir: dir}, 10)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load error = %v\nwant %q", err, tt.want)
			}
		})
	}
}

func TestFirstExchange(t *testing.T) {
	turn := func(from, value string) shareGPTTurn { return shareGPTTurn{From: from, Value: value} }
	tests := []struct {
		name          string
		turns         []shareGPTTurn
		prompt, reply string
		ok            bool
	}{
		{"pair", []shareGPTTurn{turn("human", "q"), turn("gpt", "a")}, "q", "a", true},
		{"user and assistant", []shareGPTTurn{turn("user", "q"), turn("assistant", "a"), turn("user", "q2")}, "q", "a", true},
		{"leading system", []shareGPTTurn{turn("system", "s"), turn("human", "q"), turn("chatgpt", "a")}, "q", "a", true},
		{"leading gpt", []shareGPTTurn{turn("gpt", "hi"), turn("human", "q"), turn("gpt", "a")}, "q", "a", true},
		{"one turn", []shareGPTTurn{turn("human", "q")}, "", "", false},
		{"two questions", []shareGPTTurn{turn("human", "q"), turn("human", "q2"), turn("gpt", "a")}, "", "", false},
		{"no human", []shareGPTTurn{turn("gpt", "a"), turn("gpt", "b")}, "", "", false},
		{"empty", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt, reply, ok := firstExchange(tt.turns)
			if prompt != tt.prompt || reply != tt.reply || ok != tt.ok {
				t.Errorf("firstExchange = %q, %q, %v; want %q, %q, %v", prompt, reply, ok, tt.prompt, tt.reply, tt.ok)
			}
		})
	}
}
