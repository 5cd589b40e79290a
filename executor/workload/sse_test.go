package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// readAll collects the data of every event in stream.
func readAll(r io.Reader, size int) ([]string, error) {
	sr := newSSEReader(r, size)
	var out []string
	for range 1 << 20 {
		data, _, err := sr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(data))
	}
	return out, errors.New("too many events")
}

// readers delivers a stream whole, one byte per read, and through a buffer
// smaller than its lines.
var deliveries = []struct {
	name string
	size int
	wrap func(io.Reader) io.Reader
}{
	{"whole", 4096, func(r io.Reader) io.Reader { return r }},
	{"one byte per read", 4096, iotest.OneByteReader},
	{"small buffer", 16, iotest.HalfReader},
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one event", "data: {\"a\":1}\n\n", []string{`{"a":1}`}},
		{"no space after colon", "data:{\"a\":1}\n\n", []string{`{"a":1}`}},
		{"only one space is stripped", "data:  x\n\n", []string{" x"}},
		{"several events in one piece", "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n", []string{"1", "2", "[DONE]"}},
		{"multi-line data is joined", "data: {\"a\":\ndata: 1}\n\n", []string{"{\"a\":\n1}"}},
		{"comments and other fields are ignored", ": ping\n\nevent: x\nid: 3\nretry: 10\ndata: 1\n: inside\n\n", []string{"1"}},
		{"CRLF", "data: 1\r\n\r\ndata: 2\r\n\r\n", []string{"1", "2"}},
		{"extra blank lines", "\n\n\ndata: 1\n\n\n\n", []string{"1"}},
		{"blank data is skipped", "data:\n\ndata: \n\ndata: 2\n\n", []string{"2"}},
		{"field without a colon", "data\ndata: x\n\n", []string{"\nx"}},
		{"leading BOM", "\xef\xbb\xbfdata: 1\n\n", []string{"1"}},
		{"unterminated JSON at the end is kept", "data: 1\n\ndata: {\"a\":2}", []string{"1", `{"a":2}`}},
		{"unterminated [DONE] at the end is kept", "data: 1\n\ndata: [DONE]\n", []string{"1", "[DONE]"}},
		{"unterminated partial JSON at the end is dropped", "data: 1\n\ndata: {\"a\":", []string{"1"}},
		{"long line", "data: " + strings.Repeat("x", 100) + "\n\n", []string{strings.Repeat("x", 100)}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		for _, d := range deliveries {
			t.Run(tt.name+"/"+d.name, func(t *testing.T) {
				got, err := readAll(d.wrap(strings.NewReader(tt.in)), d.size)
				if err != nil {
					t.Fatalf("next() error: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(refEvents(tt.in), got); diff != "" {
					t.Errorf("differs from the reference parser (-ref +got):\n%s", diff)
				}
			})
		}
	}
}

func TestSSEReaderTooLarge(t *testing.T) {
	in := "data: " + strings.Repeat("x", maxEventBytes+1) + "\n\n"
	_, err := readAll(strings.NewReader(in), 4096)
	if !errors.Is(err, errEventTooLarge) {
		t.Errorf("error = %v, want %v", err, errEventTooLarge)
	}
}

// refEvents is a plain, whole-input reading of the rules next implements.
func refEvents(in string) []string {
	in = strings.TrimPrefix(in, "\xef\xbb\xbf")
	lines := strings.Split(in, "\n")
	var (
		out  []string
		data []string
		has  bool
	)
	for i, l := range lines {
		eof := i == len(lines)-1
		l = strings.TrimSuffix(l, "\r")
		if l != "" && l[0] != ':' {
			name, value, found := strings.Cut(l, ":")
			if found {
				value = strings.TrimPrefix(value, " ")
			}
			if name == "data" {
				data = append(data, value)
				has = true
			}
		}
		if l != "" && !eof {
			continue
		}
		if !has {
			continue
		}
		has = false
		d := strings.Join(data, "\n")
		data = nil
		if eof && strings.TrimSpace(d) != "[DONE]" && !json.Valid([]byte(d)) {
			break
		}
		if strings.TrimSpace(d) == "" {
			continue
		}
		out = append(out, d)
	}
	return out
}

func TestDecodeChunk(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     chunk
		wantErr  bool
		wantFast bool // the allocation-free path decides
	}{
		{
			name:     "vLLM chat token",
			in:       chatToken("hé\"llo\\n")[6:],
			want:     chunk{choices: true, answerBytes: len(`"hé\"llo\\n"`)},
			wantFast: true,
		},
		{
			name:     "vLLM role-only chunk",
			in:       chatRole[6:],
			want:     chunk{choices: true, roleOnly: true},
			wantFast: true,
		},
		{
			name:     "llama.cpp role-only chunk, content null",
			in:       `{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-x","model":"m","object":"chat.completion.chunk"}`,
			want:     chunk{choices: true, roleOnly: true},
			wantFast: true,
		},
		{
			name:     "llm-d-inference-sim role-only chunk, no content",
			in:       `{"id":"chatcmpl-x","created":1,"model":"m","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}],"object":"chat.completion.chunk"}`,
			want:     chunk{choices: true, roleOnly: true},
			wantFast: true,
		},
		{
			name:     "TGI chunk: a role with every token",
			in:       `{"object":"chat.completion.chunk","id":"","created":1,"model":"m","system_fingerprint":"3.3.7","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}`,
			want:     chunk{choices: true, answerBytes: len(`"Hi"`)},
			wantFast: true,
		},
		{
			name:     "closing chunk with only its finish_reason",
			in:       `{"choices":[{"delta":{},"finish_reason":"stop","index":0}],"id":"x"}`,
			want:     chunk{choices: true, silent: true},
			wantFast: true,
		},
		{
			name:     "closing chunk of nulls",
			in:       `{"choices":[{"delta":{"content":null,"tool_calls":null},"finish_reason":"length","index":0}]}`,
			want:     chunk{choices: true, silent: true},
			wantFast: true,
		},
		{
			name:     "empty text without a role is a token that printed nothing",
			in:       `{"choices":[{"delta":{"content":""},"finish_reason":"stop","index":0}]}`,
			want:     chunk{choices: true},
			wantFast: true,
		},
		{
			name:     "reasoning is output",
			in:       `{"choices":[{"delta":{"role":"assistant","reasoning":"hmm","content":null}}]}`,
			want:     chunk{choices: true, reasoningBytes: len(`"hmm"`)},
			wantFast: true,
		},
		{
			name:     "SGLang and llama.cpp reasoning_content, content null",
			in:       `{"choices":[{"index":0,"delta":{"role":null,"content":null,"reasoning_content":" Let","tool_calls":null},"finish_reason":null}]}`,
			want:     chunk{choices: true, reasoningBytes: len(`" Let"`)},
			wantFast: true,
		},
		{
			name:     "vLLM 0.11.1 to 0.15: both reasoning fields with the same text are one reasoning",
			in:       `{"choices":[{"index":0,"delta":{"reasoning":" so","reasoning_content":" so"},"logprobs":null,"finish_reason":null}]}`,
			want:     chunk{choices: true, reasoningBytes: len(`" so"`)},
			wantFast: true,
		},
		{
			name:     "ollama's first chunk: a role, an empty content and reasoning",
			in:       `{"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Okay"},"finish_reason":null}]}`,
			want:     chunk{choices: true, reasoningBytes: len(`"Okay"`)},
			wantFast: true,
		},
		{
			name:     "a chunk carrying the end of the reasoning and the start of the answer",
			in:       `{"choices":[{"delta":{"reasoning":" done.","content":"The answer"}}]}`,
			want:     chunk{choices: true, reasoningBytes: len(`" done."`), answerBytes: len(`"The answer"`)},
			wantFast: true,
		},
		{
			name:     "empty reasoning beside content is an answer",
			in:       `{"choices":[{"delta":{"reasoning_content":"","content":"x"}}]}`,
			want:     chunk{choices: true, answerBytes: len(`"x"`)},
			wantFast: true,
		},
		{
			name: "a reasoning field spelled in capitals is not reasoning",
			in:   `{"choices":[{"delta":{"Reasoning":"x"}}]}`, want: chunk{choices: true, answerBytes: len(`"x"`)}, wantFast: true,
		},
		{
			name:     "a tool call is output",
			in:       `{"choices":[{"delta":{"role":"assistant","tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}`,
			want:     chunk{choices: true, answerBytes: len(`[{"index":0,"function":{"name":"f"}}]`)},
			wantFast: true,
		},
		{
			name:     "a role with empty values is still role-only",
			in:       `{"choices":[{"delta":{"role":"assistant","content":"","tool_calls":[ ],"x":{ }}}]}`,
			want:     chunk{choices: true, roleOnly: true},
			wantFast: true,
		},
		{
			name: "repeated delta member: the last wins",
			in:   `{"choices":[{"delta":{"content":"x","content":null}}]}`, want: chunk{choices: true, silent: true},
		},
		{
			name: "delta spelled in capitals",
			in:   `{"choices":[{"Delta":{}}]}`, want: chunk{choices: true, silent: true},
		},
		{
			name:     "vLLM completions token with logprobs",
			in:       `{"id":"c","choices":[{"index":0,"text":" a","logprobs":{"tokens":[" a"],"token_logprobs":[-0.5e-3],"top_logprobs":[{" a":-1.25E+2}]},"finish_reason":null}]}`,
			want:     chunk{choices: true},
			wantFast: true,
		},
		{
			name:     "usage chunk",
			in:       usageChunk(120, 64)[6:],
			want:     chunk{hasUsage: true, promptTokens: 120, completionTokens: 64},
			wantFast: true,
		},
		{
			name:     "usage with details",
			in:       `{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3},"total_tokens":7},"error":null}`,
			want:     chunk{hasUsage: true, promptTokens: 5, completionTokens: 2},
			wantFast: true,
		},
		{
			name:     "OpenAI and vLLM: reasoning tokens in the completion details",
			in:       `{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":300,"total_tokens":305,"completion_tokens_details":{"audio_tokens":0,"reasoning_tokens":256}}}`,
			want:     chunk{hasUsage: true, promptTokens: 5, completionTokens: 300, reasoningTokens: 256},
			wantFast: true,
		},
		{
			name:     "SGLang: reasoning tokens beside the completion tokens",
			in:       `{"choices":[],"usage":{"prompt_tokens":5,"total_tokens":305,"completion_tokens":300,"prompt_tokens_details":null,"reasoning_tokens":256,"completion_tokens_details":{"accepted_prediction_tokens":0}}}`,
			want:     chunk{hasUsage: true, promptTokens: 5, completionTokens: 300, reasoningTokens: 256},
			wantFast: true,
		},
		{
			name:     "the completion details win over SGLang's count",
			in:       `{"usage":{"completion_tokens":9,"reasoning_tokens":3,"completion_tokens_details":{"reasoning_tokens":4}}}`,
			want:     chunk{hasUsage: true, completionTokens: 9, reasoningTokens: 4},
			wantFast: true,
		},
		{
			name:     "null details",
			in:       `{"usage":{"completion_tokens":9,"completion_tokens_details":null,"reasoning_tokens":null}}`,
			want:     chunk{hasUsage: true, completionTokens: 9},
			wantFast: false,
		},
		{
			name: "an odd reasoning count costs the split, not the event",
			in:   `{"usage":{"completion_tokens":9,"reasoning_tokens":"4","completion_tokens_details":{"reasoning_tokens":1.5}}}`,
			want: chunk{hasUsage: true, completionTokens: 9},
		},
		{
			name: "details spelled in capitals",
			in:   `{"usage":{"completion_tokens":9,"Completion_Tokens_Details":{"Reasoning_Tokens":4}}}`,
			want: chunk{hasUsage: true, completionTokens: 9, reasoningTokens: 4},
		},
		{
			name:     "null choices and usage",
			in:       ` { "choices" : null , "usage" : null } `,
			want:     chunk{},
			wantFast: true,
		},
		{
			name:     "empty usage object",
			in:       `{"choices":[],"usage":{}}`,
			want:     chunk{hasUsage: true},
			wantFast: true,
		},
		{
			name: "choices of nulls still counts",
			in:   `{"choices":[null]}`, want: chunk{choices: true}, wantFast: true,
		},
		{
			name: "key matching only case-insensitively",
			in:   `{"Choices":[{}]}`, want: chunk{choices: true},
		},
		{
			name: "escaped key",
			in:   `{"\u0063hoices":[{}]}`, want: chunk{choices: true},
		},
		{
			name: "duplicate key: the last wins",
			in:   `{"choices":[{}],"choices":[]}`, want: chunk{},
		},
		{
			name: "error object",
			in:   `{"error":{"message":"boom","code":500}}`, want: chunk{hasErr: true, errMsg: "boom"},
		},
		{
			name: "error string",
			in:   `{"error":"bad"}`, want: chunk{hasErr: true, errMsg: "bad"},
		},
		{
			name: "large token count",
			in:   `{"choices":[],"usage":{"completion_tokens":1234567890123456}}`, want: chunk{hasUsage: true, completionTokens: 1234567890123456},
		},
		{
			name: "top-level null",
			in:   `null`, want: chunk{},
		},
		{
			name: "deep nesting",
			in:   `{"choices":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`, want: chunk{choices: true},
		},
		{name: "fractional token count", in: `{"usage":{"completion_tokens":1.5}}`, wantErr: true},
		{name: "choices of the wrong type", in: `{"choices":{}}`, wantErr: true},
		{name: "top-level array", in: `[1]`, wantErr: true},
		{name: "truncated", in: `{"choices":[{"text":"a"}]`, wantErr: true},
		{name: "trailing garbage", in: `{"choices":[]} x`, wantErr: true},
		{name: "leading zero", in: `{"x":01}`, wantErr: true},
		{name: "control character in a string", in: "{\"x\":\"a\tb\"}", wantErr: true},
		{name: "bad escape", in: `{"x":"\q"}`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got chunk
			err := decodeChunk([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeChunk() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(chunk{})); diff != "" {
					t.Errorf("decodeChunk() mismatch (-want +got):\n%s", diff)
				}
			}
			var fast chunk
			if gotFast := fastDecode([]byte(tt.in), &fast); gotFast != tt.wantFast {
				t.Errorf("fastDecode() = %v, want %v", gotFast, tt.wantFast)
			}
			checkDecode(t, []byte(tt.in))
		})
	}
}

func TestDecodeChunkAllocs(t *testing.T) {
	in := []byte(chatToken("hello")[6:])
	var c chunk
	if n := testing.AllocsPerRun(100, func() { _ = decodeChunk(in, &c) }); n != 0 {
		t.Errorf("decodeChunk allocates %v times per typical chunk, want 0", n)
	}
}

func TestChunkDecoderAllocs(t *testing.T) {
	a, b := []byte(chatToken("hello")[6:]), []byte(chatToken("world")[6:])
	var d chunkDecoder
	var c chunk
	_ = d.decode(a, &c)
	if n := testing.AllocsPerRun(100, func() { _ = d.decode(b, &c); _ = d.decode(a, &c) }); n != 0 {
		t.Errorf("chunkDecoder allocates %v times per pair of typical chunks, want 0", n)
	}
}

// checkDecode asserts that whenever the fast path decides, encoding/json
// agrees with it.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	var fast chunk
	if !fastDecode(data, &fast) {
		return
	}
	if !json.Valid(data) {
		t.Fatalf("fast path accepted invalid JSON %q", data)
	}
	var slow chunk
	if err := slowDecode(data, &slow); err != nil {
		t.Fatalf("fast path accepted %q; encoding/json: %v", data, err)
	}
	if fast != slow {
		t.Fatalf("decode %q: fast path %+v, encoding/json %+v", data, fast, slow)
	}
}

var sseSeeds = []string{
	chatRole + chatToken("a") + usageChunk(3, 1) + done,
	strings.ReplaceAll(complToken("x")+done, "\n", "\r\n"),
	": ping\n\ndata:{\"choices\":[]}\n\ndata: [DONE]",
	"data: {\"a\":\ndata: 1}\n\nevent: e\ndata\n\n",
	"\xef\xbb\xbfdata: {\"error\":{\"message\":\"x\"}}\n\n",
	`data: {"Choices":[1],"usage":{"prompt_tokens":-0,"completion_tokens":2e1}}` + "\n\n",
}

func FuzzSSE(f *testing.F) {
	for _, s := range sseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := refEvents(string(in))
		for _, d := range deliveries {
			got, err := readAll(d.wrap(bytes.NewReader(in)), d.size)
			if err != nil {
				t.Fatalf("%s: next() error: %v", d.name, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: differs from the reference parser (-ref +got):\n%s", d.name, diff)
			}
		}
		for _, e := range want {
			checkDecode(t, []byte(e))
		}
		checkDecode(t, in)
	})
}

func FuzzDecodeChunk(f *testing.F) {
	for _, s := range sseSeeds {
		for _, l := range strings.Split(s, "\n") {
			if d, ok := strings.CutPrefix(l, "data: "); ok {
				f.Add([]byte(d))
			}
		}
	}
	f.Add([]byte(`{"choices":[{"delta":{"content":"\u00e9\ud83d\ude00"}}],"usage":{"completion_tokens":12}}`))
	f.Add([]byte(`{"choices":[{"delta":{"reasoning":" a","reasoning_content":" a","content":"b"}}],"usage":{"completion_tokens":3,"reasoning_tokens":1,"completion_tokens_details":{"reasoning_tokens":2}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecode(t, in)
		var c chunk
		_ = decodeChunk(in, &c)
	})
}

// FuzzChunkDecoder checks that an event decoded after others of its stream
// gives what it gives decoded alone, whatever the events before it.
func FuzzChunkDecoder(f *testing.F) {
	tok := func(s string) []byte { return []byte(strings.TrimSuffix(chatToken(s), "\n\n")[6:]) }
	f.Add(tok("a"), tok("b"))
	f.Add(tok("a"), []byte(strings.TrimSuffix(usageChunk(3, 1), "\n\n")[6:]))
	f.Add(tok("a"), append(tok("b"), '}'))
	f.Add(tok("a"), []byte(strings.Replace(string(tok("b")), `"choices":[`, `"choices":[],"choices":[`, 1)))
	f.Add(tok("a"), []byte(strings.Replace(string(tok("b")), `"choices":[`, `"Choices":[`, 1)))
	f.Add(tok("a"), []byte(strings.Replace(string(tok("b")), `"choices":[`, `"error":{"message":"x"},"choices":[`, 1)))
	f.Add([]byte(`{"id":1,"usage":null,"choices":[1]}`), []byte(`{"id":1,"usage":{"completion_tokens":2}}`))
	f.Add([]byte(`{"id":1,"choices":[1]}`), []byte(`{"id":1,`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var d chunkDecoder
		for i, in := range [][]byte{a, b, a, b, b} {
			var got, want chunk
			gotErr := d.decode(in, &got)
			wantErr := decodeChunk(in, &want)
			if (gotErr == nil) != (wantErr == nil) || got != want {
				t.Fatalf("event %d %q: after earlier events %+v, %v; alone %+v, %v", i, in, got, gotErr, want, wantErr)
			}
		}
	})
}

// stampedEvents delivers one event per read, each read stamped by the
// kernel at the given instant, as a kernelConn would.
type stampedEvents struct {
	eventReader
	stamps []int64
	last   int64
}

func (s *stampedEvents) Read(p []byte) (int, error) {
	if s.cur == "" && len(s.stamps) > 0 {
		s.last, s.stamps = s.stamps[0], s.stamps[1:]
	}
	return s.eventReader.Read(p)
}

func (s *stampedEvents) ReceivedNano() int64 { return s.last }

// TestKernelStampsNeverGoBack: a read the kernel stamped a little before
// the read that returned earlier bytes takes the earlier stamp, so that no
// gap between events is negative.
func TestKernelStampsNeverGoBack(t *testing.T) {
	src := &stampedEvents{
		eventReader: eventReader{events: []string{"data: 1\n\n", "data: 2\n\n", "data: 3\n\n", "data: 4\n\n"}},
		stamps:      []int64{1_000_000, 2_000_000, 1_984_296, 3_000_000},
	}
	r := newSSEReader(src, 4096)
	r.src.rx = src
	var got []int64
	for {
		_, at, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, at.UnixNano())
	}
	if want := []int64{1_000_000, 2_000_000, 2_000_000, 3_000_000}; !slices.Equal(got, want) {
		t.Errorf("event times %v, want %v", got, want)
	}
}
