package simulated

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testClient bounds every request a test makes.
var testClient = &http.Client{Timeout: 10 * time.Second}

func startServer(t testing.TB, m Model) (*Server, string) {
	t.Helper()
	s, err := NewServer(m)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, url
}

func fastModel() Model {
	m := DefaultModel()
	m.TTFT = time.Millisecond
	m.ITL = time.Millisecond
	return m
}

// post sends body as JSON, with header pairs, under ctx.
func post(t testing.TB, ctx context.Context, url string, body any, header ...string) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

// event is one SSE message and when the client finished reading it.
type event struct {
	at   time.Time
	data string
}

// readEvents reads SSE messages until EOF, at most limit of them.
func readEvents(t testing.TB, r io.Reader, limit int) []event {
	t.Helper()
	var out []event
	br := bufio.NewReader(r)
	var data strings.Builder
	for len(out) < limit {
		line, err := br.ReadString('\n')
		if err != nil {
			if err != io.EOF {
				t.Errorf("reading stream: %v", err)
			}
			return out
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if data.Len() > 0 {
				out = append(out, event{at: time.Now(), data: data.String()})
				data.Reset()
			}
		case strings.HasPrefix(line, "data: "):
			data.WriteString(strings.TrimPrefix(line, "data: "))
		default:
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return out
}

// chunkJSON is a streamed chunk as a client decodes it.
type chunkJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta *struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Text         *string         `json:"text"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageJSON `json:"usage"`
}

var oneWord = regexp.MustCompile(`^ [a-z]+$`)

// summarize turns an event into a line that names what a client looks at,
// with any single output word written as "word".
func summarize(t *testing.T, data string) string {
	t.Helper()
	if data == "[DONE]" {
		return data
	}
	var c chunkJSON
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("chunk %q: %v", data, err)
	}
	var parts []string
	parts = append(parts, c.Object)
	text := func(s string) string {
		if oneWord.MatchString(s) {
			return "word"
		}
		return fmt.Sprintf("%q", s)
	}
	if len(c.Choices) == 0 {
		parts = append(parts, "choices=[]")
	}
	for _, ch := range c.Choices {
		if ch.Delta != nil && ch.Delta.Role != nil {
			parts = append(parts, "role="+*ch.Delta.Role)
		}
		if ch.Delta != nil && ch.Delta.Content != nil {
			parts = append(parts, "content="+text(*ch.Delta.Content))
		}
		if ch.Text != nil {
			parts = append(parts, "text="+text(*ch.Text))
		}
		if string(ch.Logprobs) != "null" {
			parts = append(parts, "logprobs="+string(ch.Logprobs))
		}
		finish := "null"
		if ch.FinishReason != nil {
			finish = *ch.FinishReason
		}
		parts = append(parts, "finish="+finish)
	}
	if c.Usage != nil {
		parts = append(parts, fmt.Sprintf("usage=%d/%d/%d", c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens))
	}
	return strings.Join(parts, " ")
}

func TestStream(t *testing.T) {
	m := fastModel()
	m.ServedModel = "sim-model"
	m.DefaultMaxTokens = 2
	_, url := startServer(t, m)

	const chunk = "chat.completion.chunk"
	const role = chunk + ` role=assistant content="" finish=null`
	const tok = chunk + " content=word finish=null"
	const last = chunk + " content=word finish=length"
	const text = "text_completion text=word finish=null"
	const textLast = "text_completion text=word finish=length"
	tests := []struct {
		name  string
		path  string
		body  map[string]any
		reqID string // X-Request-Id sent
		want  []string
	}{
		{
			name: "chat without usage",
			path: "/v1/chat/completions",
			body: map[string]any{"model": "sim-model", "messages": []map[string]string{{"role": "user", "content": "say three words"}}, "max_tokens": 3, "stream": true},
			want: []string{role, tok, tok, last, "[DONE]"},
		},
		{
			name: "chat with usage",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "user", "content": "say three words"}}, "max_tokens": 3, "stream": true,
				"stream_options": map[string]bool{"include_usage": true}},
			want: []string{role, tok, tok, last, chunk + " choices=[] usage=3/3/6", "[DONE]"},
		},
		{
			name: "chat with continuous usage",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}}, "max_tokens": 2, "stream": true,
				"stream_options": map[string]bool{"include_usage": true, "continuous_usage_stats": true}},
			want: []string{role + " usage=3/0/3", tok + " usage=3/1/4", last + " usage=3/2/5", chunk + " choices=[] usage=3/2/5", "[DONE]"},
		},
		{
			name: "continuous usage needs include_usage",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": 1, "stream": true,
				"stream_options": map[string]bool{"continuous_usage_stats": true}},
			want: []string{role, last, "[DONE]"},
		},
		{
			name: "max_completion_tokens wins",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": 5, "max_completion_tokens": 1, "stream": true},
			want: []string{role, last, "[DONE]"},
		},
		{
			name: "chat default max tokens",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}, "stream": true},
			want: []string{role, tok, last, "[DONE]"},
		},
		{
			name: "chat content parts",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]string{{"type": "text", "text": "two words"}}}}, "max_tokens": 1, "stream": true,
				"stream_options": map[string]bool{"include_usage": true}},
			want: []string{role, last, chunk + " choices=[] usage=2/1/3", "[DONE]"},
		},
		{
			name: "completions without usage",
			path: "/v1/completions",
			body: map[string]any{"model": "sim-model", "prompt": "one two three four", "max_tokens": 3, "stream": true},
			want: []string{text, text, textLast, "[DONE]"},
		},
		{
			name: "completions with usage",
			path: "/v1/completions",
			body: map[string]any{"prompt": []string{"one two", "ignored prompt"}, "max_tokens": 2, "stream": true,
				"stream_options": map[string]bool{"include_usage": true}},
			want: []string{text, textLast, "text_completion choices=[] usage=2/2/4", "[DONE]"},
		},
		{
			name: "completions token ids with continuous usage",
			path: "/v1/completions",
			body: map[string]any{"prompt": []int{1, 2, 3, 4, 5}, "max_tokens": 2, "stream": true,
				"stream_options": map[string]bool{"include_usage": true, "continuous_usage_stats": true}},
			want: []string{text + " usage=5/1/6", textLast + " usage=5/2/7", "text_completion choices=[] usage=5/2/7", "[DONE]"},
		},
		{
			name:  "request id header",
			path:  "/v1/completions",
			body:  map[string]any{"prompt": "x", "max_tokens": 1, "stream": true},
			reqID: "bench-7",
			want:  []string{textLast, "[DONE]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.reqID != "" {
				header = []string{"X-Request-Id", tt.reqID}
			}
			resp := post(t, context.Background(), url+tt.path, tt.body, header...)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if got, want := resp.Header.Get("Content-Type"), "text/event-stream; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			events := readEvents(t, resp.Body, 100)
			var got []string
			ids := map[string]bool{}
			for _, e := range events {
				got = append(got, summarize(t, e.data))
				if e.data != "[DONE]" {
					var c chunkJSON
					_ = json.Unmarshal([]byte(e.data), &c)
					ids[c.ID] = true
					if c.Model != "sim-model" {
						t.Errorf("chunk model = %q, want sim-model", c.Model)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			if len(ids) != 1 {
				t.Errorf("chunk ids = %v, want one id for the whole stream", ids)
			}
			prefix := "cmpl-"
			if strings.Contains(tt.path, "chat") {
				prefix = "chatcmpl-"
			}
			for id := range ids {
				if !strings.HasPrefix(id, prefix) || (tt.reqID != "" && id != prefix+tt.reqID) {
					t.Errorf("id = %q, want prefix %q and request id %q", id, prefix, tt.reqID)
				}
			}
		})
	}
}

// streamChat streams the answer to a one-word chat request of maxTokens,
// with usage, as request r1, and returns the whole body.
func streamChat(t *testing.T, url string, maxTokens int) []byte {
	t.Helper()
	resp := post(t, context.Background(), url+"/v1/chat/completions",
		map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": maxTokens, "stream": true,
			"stream_options": map[string]bool{"include_usage": true}},
		"X-Request-Id", "r1")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestStreamReasoning pins the bytes of a reasoning model's chat stream as
// each imitated engine sends them, every word written as " w": the thinking
// first in the engine's reasoning field, then the answer, and the final
// usage counting the thinking where the engine does.
func TestStreamReasoning(t *testing.T) {
	tests := []struct {
		name, engine string
		maxTokens    int
		want         []string // the choices or usage of each event after the role chunk
	}{
		{
			name: "vLLM: delta.reasoning, counted in the completion details", engine: MetricsVLLM, maxTokens: 3,
			want: []string{
				`{"index":0,"delta":{"reasoning":" w"},"logprobs":null,"finish_reason":null}]`,
				`{"index":0,"delta":{"reasoning":" w"},"logprobs":null,"finish_reason":null}]`,
				`{"index":0,"delta":{"content":" w"},"logprobs":null,"finish_reason":"length"}]`,
				`],"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4,"completion_tokens_details":{"reasoning_tokens":2}}`,
			},
		},
		{
			name: "llama.cpp: delta.reasoning_content, not counted apart", engine: MetricsLlamaCpp, maxTokens: 3,
			want: []string{
				`{"index":0,"delta":{"reasoning_content":" w"},"logprobs":null,"finish_reason":null}]`,
				`{"index":0,"delta":{"reasoning_content":" w"},"logprobs":null,"finish_reason":null}]`,
				`{"index":0,"delta":{"content":" w"},"logprobs":null,"finish_reason":"length"}]`,
				`],"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}`,
			},
		},
		{
			name: "a limit within the thinking: no answer", engine: MetricsVLLM, maxTokens: 2,
			want: []string{
				`{"index":0,"delta":{"reasoning":" w"},"logprobs":null,"finish_reason":null}]`,
				`{"index":0,"delta":{"reasoning":" w"},"logprobs":null,"finish_reason":"length"}]`,
				`],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"completion_tokens_details":{"reasoning_tokens":2}}`,
			},
		},
	}
	word := regexp.MustCompile(`":" [a-z]+"`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fastModel()
			m.Metrics, m.ReasoningTokens = tt.engine, 2
			_, url := startServer(t, m)
			body := streamChat(t, url, tt.maxTokens)
			events := strings.Split(strings.TrimSuffix(word.ReplaceAllString(string(body), `":" w"`), "\n\n"), "\n\n")
			if len(events) < 2 || events[len(events)-1] != "data: [DONE]" || !strings.Contains(events[0], `"delta":{"role":"assistant","content":""}`) {
				t.Fatalf("not a role chunk, events and [DONE]:\n%s", body)
			}
			var got []string
			for _, e := range events[1 : len(events)-1] {
				_, choices, _ := strings.Cut(e, `"choices":[`)
				got = append(got, strings.TrimSuffix(choices, "}"))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompleteReasoning checks a reasoning model's answer when it does not
// stream: the thinking in the message beside the answer, and counted.
func TestCompleteReasoning(t *testing.T) {
	m := fastModel()
	m.ReasoningTokens = 2
	_, url := startServer(t, m)
	resp := post(t, context.Background(), url+"/v1/chat/completions",
		map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}, "max_tokens": 5})
	defer resp.Body.Close()
	var got struct {
		Choices []struct {
			Message struct{ Content, Reasoning string }
		}
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
			Details          struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got.Choices) != 1 {
		t.Fatalf("response: %+v, %v", got, err)
	}
	msg := got.Choices[0].Message
	if n, k := len(strings.Fields(msg.Reasoning)), len(strings.Fields(msg.Content)); n != 2 || k != 3 {
		t.Errorf("%d words of reasoning and %d of answer, want 2 and 3: %+v", n, k, msg)
	}
	if got.Usage.CompletionTokens != 5 || got.Usage.Details.ReasoningTokens != 2 {
		t.Errorf("usage %+v, want 5 completion tokens of which 2 reasoning", got.Usage)
	}
}

// TestStreamBytes pins the exact bytes of a short chat stream, as clients
// written against vLLM parse them.
func TestStreamBytes(t *testing.T) {
	_, url := startServer(t, fastModel())
	body := streamChat(t, url, 1)
	created := regexp.MustCompile(`"created":(\d+)`).FindSubmatch(body)
	if created == nil {
		t.Fatalf("no created in %s", body)
	}
	word := regexp.MustCompile(`"content":"( [a-z]+)"`).FindSubmatch(body)
	if word == nil {
		t.Fatalf("no content word in %s", body)
	}
	head := `data: {"id":"chatcmpl-r1","object":"chat.completion.chunk","created":` + string(created[1]) + `,"model":"simulated","choices":[`
	want := head + `{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		head + `{"index":0,"delta":{"content":"` + string(word[1]) + `"},"logprobs":null,"finish_reason":"length"}]}` + "\n\n" +
		head + `],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}` + "\n\n" +
		"data: [DONE]\n\n"
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("stream bytes mismatch (-want +got):\n%s", diff)
	}
}

func TestNonStreaming(t *testing.T) {
	m := fastModel()
	m.ITL = 2 * time.Millisecond
	_, url := startServer(t, m)
	type want struct {
		object, role string
		words        int
		usage        usageJSON
	}
	tests := []struct {
		name string
		path string
		body map[string]any
		want want
	}{
		{
			name: "chat",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "user", "content": "a b c"}}, "max_tokens": 4},
			want: want{object: "chat.completion", role: "assistant", words: 4, usage: usageJSON{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}},
		},
		{
			name: "chat stream false",
			path: "/v1/chat/completions",
			body: map[string]any{"messages": []map[string]string{{"role": "user", "content": "a"}}, "max_completion_tokens": 2, "stream": false},
			want: want{object: "chat.completion", role: "assistant", words: 2, usage: usageJSON{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		},
		{
			name: "completions",
			path: "/v1/completions",
			body: map[string]any{"prompt": "a b", "max_tokens": 5},
			want: want{object: "text_completion", words: 5, usage: usageJSON{PromptTokens: 2, CompletionTokens: 5, TotalTokens: 7}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp := post(t, context.Background(), url+tt.path, tt.body)
			defer resp.Body.Close()
			elapsed := time.Since(start)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			var got struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Model   string `json:"model"`
				Choices []struct {
					Message *struct {
						Role    string `json:"role"`
						Content string `json:"content"`
					} `json:"message"`
					Text         *string `json:"text"`
					FinishReason string  `json:"finish_reason"`
				} `json:"choices"`
				Usage usageJSON `json:"usage"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if len(got.Choices) != 1 {
				t.Fatalf("choices = %d, want 1", len(got.Choices))
			}
			c := got.Choices[0]
			text, role := "", ""
			if c.Message != nil {
				text, role = c.Message.Content, c.Message.Role
			}
			if c.Text != nil {
				text = *c.Text
			}
			gotSummary := want{object: got.Object, role: role, words: len(strings.Fields(text)), usage: got.Usage}
			if diff := cmp.Diff(tt.want, gotSummary, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			if c.FinishReason != "length" || got.Model != "simulated" || got.ID == "" {
				t.Errorf("finish_reason, model, id = %q, %q, %q; want length, simulated, non-empty", c.FinishReason, got.Model, got.ID)
			}
			// The whole answer waits for the last token, as a stream would.
			if min := m.TTFT + time.Duration(tt.want.words-1)*m.ITL; elapsed < min {
				t.Errorf("answered after %v, want at least %v", elapsed, min)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	m := fastModel()
	m.MaxModelLen = 16
	_, url := startServer(t, m)
	keyed := fastModel()
	keyed.APIKey = "sekrit"
	_, keyedURL := startServer(t, keyed)

	chat := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`
	tests := []struct {
		name       string
		base       string
		method     string
		path       string
		body       string
		auth       string
		wantStatus int
		wantType   string // OpenAI error type; empty for a success
		wantMsg    string // substring of the message
	}{
		{name: "unknown model", method: "POST", path: "/v1/chat/completions",
			body: `{"model":"x","messages":[{"role":"user","content":"hi"}]}`, wantStatus: 404, wantType: "NotFoundError", wantMsg: "The model `x` does not exist."},
		{name: "unknown model completions", method: "POST", path: "/v1/completions",
			body: `{"model":"x","prompt":"hi"}`, wantStatus: 404, wantType: "NotFoundError", wantMsg: "The model `x` does not exist."},
		{name: "malformed json", method: "POST", path: "/v1/chat/completions", body: `{"messages":`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "invalid JSON body"},
		{name: "missing messages", method: "POST", path: "/v1/chat/completions", body: `{"max_tokens":3}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "messages"},
		{name: "empty messages", method: "POST", path: "/v1/chat/completions", body: `{"messages":[]}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "messages"},
		{name: "bad content", method: "POST", path: "/v1/chat/completions", body: `{"messages":[{"role":"user","content":3}]}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "messages[0].content"},
		{name: "missing prompt", method: "POST", path: "/v1/completions", body: `{"max_tokens":3}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "prompt"},
		{name: "bad prompt", method: "POST", path: "/v1/completions", body: `{"prompt":{"a":1}}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "prompt"},
		{name: "zero max_tokens", method: "POST", path: "/v1/completions", body: `{"prompt":"a","max_tokens":0}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "max_tokens must be at least 1, got 0"},
		{name: "wrong type", method: "POST", path: "/v1/completions", body: `{"prompt":"a","max_tokens":"7"}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "invalid JSON body"},
		{name: "context too long", method: "POST", path: "/v1/completions", body: `{"prompt":"a b c","max_tokens":14}`, wantStatus: 400, wantType: "BadRequestError", wantMsg: "maximum context length is 16 tokens. However, you requested 17 tokens"},
		{name: "chat wrong method", method: "GET", path: "/v1/chat/completions", wantStatus: 405, wantType: "MethodNotAllowed"},
		{name: "models wrong method", method: "POST", path: "/v1/models", body: `{}`, wantStatus: 405, wantType: "MethodNotAllowed"},
		{name: "unknown path", method: "GET", path: "/v2/nothing", wantStatus: 404, wantType: "NotFoundError"},
		{name: "no key", base: keyedURL, method: "POST", path: "/v1/chat/completions", body: chat, wantStatus: 401, wantType: "AuthenticationError", wantMsg: "Unauthorized"},
		{name: "wrong key", base: keyedURL, method: "POST", path: "/v1/chat/completions", body: chat, auth: "Bearer nope", wantStatus: 401, wantType: "AuthenticationError"},
		{name: "key without bearer", base: keyedURL, method: "GET", path: "/v1/models", auth: "sekrit", wantStatus: 401, wantType: "AuthenticationError"},
		{name: "right key", base: keyedURL, method: "POST", path: "/v1/chat/completions", body: chat, auth: "Bearer sekrit", wantStatus: 200},
		{name: "models with key", base: keyedURL, method: "GET", path: "/v1/models", auth: "Bearer sekrit", wantStatus: 200},
		{name: "health needs no key", base: keyedURL, method: "GET", path: "/health", wantStatus: 200},
		{name: "metrics need no key", base: keyedURL, method: "GET", path: "/metrics", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := url
			if tt.base != "" {
				base = tt.base
			}
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantType == "" {
				return
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    int     `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if e.Error.Type != tt.wantType || e.Error.Code != tt.wantStatus || e.Error.Param != nil || !strings.Contains(e.Error.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want type %q, code %d, null param, message containing %q", e.Error, tt.wantType, tt.wantStatus, tt.wantMsg)
			}
			if strings.Contains(string(body), "sekrit") {
				t.Errorf("error body quotes the API key: %s", body)
			}
		})
	}
}

func TestInfoRoutes(t *testing.T) {
	m := fastModel()
	m.ServedModel = "org/model-7b"
	m.MaxModelLen = 4096
	_, url := startServer(t, m)
	tests := []struct {
		path string
		want string // body with created replaced by 0
	}{
		{path: "/health", want: ""},
		{path: "/version", want: `{"version":"simulated"}`},
		{path: "/v1/models", want: `{"object":"list","data":[{"id":"org/model-7b","object":"model","created":0,"owned_by":"benchform","root":"org/model-7b","max_model_len":4096}]}`},
	}
	created := regexp.MustCompile(`"created":\d+`)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := testClient.Get(url + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			got := created.ReplaceAllString(string(b), `"created":0`)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// streamTimes streams one completions request and returns when each token
// event arrived, relative to sending the request. It does not stop the
// test, so goroutines may call it.
func streamTimes(t *testing.T, url string, body map[string]any) ([]time.Duration, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := testClient.Post(url+"/v1/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var out []time.Duration
	for _, e := range readEvents(t, resp.Body, 10000) {
		if e.data != "[DONE]" {
			out = append(out, e.at.Sub(start))
		}
	}
	return out, nil
}

func tokenTimes(t *testing.T, url string, body map[string]any) []time.Duration {
	t.Helper()
	times, err := streamTimes(t, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return times
}

// goTokenTimes is tokenTimes for a goroutine: failures are reported, not
// fatal.
func goTokenTimes(t *testing.T, url string, body map[string]any) []time.Duration {
	times, err := streamTimes(t, url, body)
	if err != nil {
		t.Error(err)
	}
	return times
}

// expectedOffsets replays the timing model for body on a server with no
// other running sequence: when each token is due after the slot is taken.
func expectedOffsets(t *testing.T, m Model, body map[string]any) []time.Duration {
	t.Helper()
	b, _ := json.Marshal(body)
	j, bad := parseJob(bytes.NewReader(b), apiCompletions, m.withDefaults())
	if bad != nil {
		t.Fatal(bad)
	}
	d := newDraws(m.Seed, j.contentHash, m.Jitter)
	due := d.delay(m.TTFT + m.PrefillPerToken*time.Duration(j.promptTokens))
	out := []time.Duration{due}
	for range j.maxTokens - 1 {
		due += d.delay(m.ITL)
		out = append(out, due)
	}
	return out
}

// retryTiming runs a wall-clock check with its durations scaled by 1, 3 and
// 9, and passes when one run finds no problem. Lower bounds (a token is
// never early) hold whatever the load and fail the test from within check;
// upper bounds, which check returns as problems, do not when the machine
// stalls for a moment, and a longer run makes the same stall matter less.
// Only the last run's problems are reported; with -short, for a machine
// too busy for any scale, they are logged instead.
func retryTiming(t *testing.T, check func(scale time.Duration) []string) {
	t.Helper()
	var problems []string
	for _, scale := range []time.Duration{1, 3, 9} {
		if problems = check(scale); len(problems) == 0 {
			return
		}
		t.Logf("at scale %d: %s", scale, strings.Join(problems, "; "))
		if testing.Short() {
			t.Log("-short: upper bounds of wall-clock timings are not checked")
			return
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// onTime returns the fraction of got within tolerance of want.
func onTime(got, want []time.Duration, tolerance time.Duration) float64 {
	n := 0
	for i := range min(len(got), len(want)) {
		if (got[i] - want[i]).Abs() <= tolerance {
			n++
		}
	}
	return float64(n) / float64(max(len(want), 1))
}

func TestDeterministicSchedule(t *testing.T) {
	const tokens = 16
	body := map[string]any{"prompt": "the same prompt", "max_tokens": tokens, "stream": true}
	other := map[string]any{"prompt": "another prompt", "max_tokens": tokens, "stream": true}
	retryTiming(t, func(scale time.Duration) []string {
		// A run matches a schedule when three quarters of its tokens come
		// within the tolerance, which a short stall of the machine cannot
		// spoil. The second seed is one whose schedule is more than twice
		// the tolerance away from the first's on three quarters of the
		// tokens, so no run can match both.
		const quorum = 0.75
		tolerance := 8 * time.Millisecond * scale
		base := Model{TTFT: 10 * time.Millisecond * scale, ITL: 10 * time.Millisecond * scale, Jitter: 1, MaxNumSeqs: 8}
		seed1 := base
		seed1.Seed = 1
		want1 := expectedOffsets(t, seed1, body)
		var seed2 Model
		var want2 []time.Duration
		for s := int64(2); s < 100 && want2 == nil; s++ {
			seed2 = base
			seed2.Seed = s
			if w := expectedOffsets(t, seed2, body); onTime(w, want1, 2*tolerance) <= 1-quorum {
				want2 = w
			}
		}
		if want2 == nil {
			t.Fatalf("no seed gives a schedule far enough from seed 1's")
		}

		_, url1 := startServer(t, seed1)
		_, url2 := startServer(t, seed2)
		alone := tokenTimes(t, url1, body)
		// The same request again, now arriving after another one.
		var wg sync.WaitGroup
		wg.Go(func() { goTokenTimes(t, url1, other) })
		time.Sleep(3 * time.Millisecond)
		after := tokenTimes(t, url1, body)
		wg.Wait()
		reseeded := tokenTimes(t, url2, body)

		var problems []string
		for _, c := range []struct {
			name      string
			got, want []time.Duration
		}{
			{"seed 1 alone", alone, want1},
			{"seed 1 after another request", after, want1},
			{"seed 2", reseeded, want2},
		} {
			if len(c.got) != len(c.want) {
				t.Errorf("%s: %d tokens, want %d", c.name, len(c.got), len(c.want))
				continue
			}
			for i := range c.got {
				// Tokens are never early: the server sleeps until each is
				// due. This holds under any load.
				if c.got[i] < c.want[i] {
					t.Errorf("%s: token %d at %v, before it was due at %v", c.name, i, c.got[i], c.want[i])
				}
			}
			if f := onTime(c.got, c.want, tolerance); f < quorum {
				problems = append(problems, fmt.Sprintf("%s: token times %v, want %v (±%v), %.0f%% on time", c.name, c.got, c.want, tolerance, 100*f))
			}
		}
		return problems
	})
}

func TestQueueing(t *testing.T) {
	const n, tokens = 4, 40
	retryTiming(t, func(scale time.Duration) []string {
		m := Model{TTFT: 2 * time.Millisecond * scale, ITL: 2 * time.Millisecond * scale, MaxNumSeqs: 2}
		_, url := startServer(t, m)
		minDecode := time.Duration(tokens-1) * m.ITL

		done := make(chan struct{})
		maxWaiting := make(chan float64, 1)
		go func() {
			// Scrape /metrics as a telemetry sampler would, bounded by count.
			var peak float64
			defer func() { maxWaiting <- peak }()
			for range 1000 {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
				fams, err := scrapeErr(url)
				if err != nil {
					t.Error(err)
					return
				}
				peak = max(peak, value(fams, "vllm:num_requests_waiting", nil))
			}
		}()

		ttfts := make([]time.Duration, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				got := goTokenTimes(t, url, map[string]any{"prompt": fmt.Sprintf("request %d", i), "max_tokens": tokens, "stream": true})
				if len(got) > 0 {
					ttfts[i] = got[0]
				}
			})
		}
		wg.Wait()
		close(done)
		peak := <-maxWaiting

		var problems []string
		slices.Sort(ttfts)
		for i, ttft := range ttfts {
			if queued := i >= m.MaxNumSeqs; queued && ttft < minDecode {
				problems = append(problems, fmt.Sprintf("TTFT of queued request %d = %v, want at least %v (waiting for a slot)", i, ttft, minDecode))
			} else if !queued && ttft >= minDecode {
				problems = append(problems, fmt.Sprintf("TTFT of running request %d = %v, want less than %v", i, ttft, minDecode))
			}
		}
		if peak <= 0 {
			problems = append(problems, "vllm:num_requests_waiting never rose above 0")
		}
		fams := scrape(t, url)
		if got := histogramCount(fams, "vllm:request_queue_time_seconds"); got != n {
			t.Errorf("queue time observations = %v, want %d", got, n)
		}
		// Each queued request waited for a first-wave request to finish,
		// less the little by which it arrived later.
		if got, least := histogramSum(fams, "vllm:request_queue_time_seconds"), 2*(minDecode/2).Seconds(); got < least {
			problems = append(problems, fmt.Sprintf("total queue time = %vs, want at least %vs", got, least))
		}
		if got := value(fams, "vllm:num_requests_waiting", nil); got != 0 {
			t.Errorf("num_requests_waiting after the run = %v, want 0", got)
		}
		return problems
	})
}

func TestITLPerSeq(t *testing.T) {
	const tokens, together = 10, 3
	body := func(i int) map[string]any {
		return map[string]any{"prompt": fmt.Sprintf("p%d", i), "max_tokens": tokens, "stream": true}
	}
	retryTiming(t, func(scale time.Duration) []string {
		// A long TTFT lets all three requests take their slots before any
		// of them decodes, so each sees the other two from its first gap.
		m := Model{TTFT: 20 * time.Millisecond * scale, ITL: time.Millisecond * scale, ITLPerSeq: 4 * time.Millisecond * scale, MaxNumSeqs: 8}
		_, url := startServer(t, m)
		last := func(times []time.Duration) time.Duration {
			if len(times) != tokens {
				t.Errorf("got %d tokens, want %d", len(times), tokens)
				return 0
			}
			return times[len(times)-1]
		}

		alone := last(tokenTimes(t, url, body(0)))
		ends := make([]time.Duration, together)
		var wg sync.WaitGroup
		for i := range together {
			wg.Go(func() { ends[i] = last(goTokenTimes(t, url, body(i+1))) })
		}
		wg.Wait()

		// Alone: TTFT and 9 gaps of 1ms, 29ms. Together: the gaps grow to
		// 1ms + 2×4ms while the others run; the last one comes no earlier
		// than 20ms + 9×9ms = 101ms, whatever the load.
		var problems []string
		if want := m.TTFT + 9*m.ITL; alone < want || alone > want+m.TTFT {
			problems = append(problems, fmt.Sprintf("last token alone at %v, want about %v", alone, want))
		}
		for i, end := range ends {
			if least := m.TTFT + 9*(m.ITL+2*m.ITLPerSeq); end < least {
				problems = append(problems, fmt.Sprintf("last token of request %d among %d at %v, want at least %v (ITL grows with the batch)", i, together, end, least))
			}
		}
		return problems
	})
}

func TestDisconnectFreesSlot(t *testing.T) {
	m := Model{TTFT: time.Millisecond, ITL: 5 * time.Millisecond, MaxNumSeqs: 1}
	s, url := startServer(t, m)

	// A long stream holds the only slot; a second request queues behind it.
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	respA := post(t, ctxA, url+"/v1/completions", map[string]any{"prompt": "long", "max_tokens": 2000, "stream": true})
	defer respA.Body.Close()
	if first := readEvents(t, respA.Body, 1); len(first) != 1 {
		t.Fatalf("no first event from the long stream")
	}

	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	queued := make(chan struct{})
	go func() {
		defer close(queued)
		req, _ := http.NewRequestWithContext(ctxB, http.MethodPost, url+"/v1/completions", strings.NewReader(`{"prompt":"queued","max_tokens":5}`))
		if resp, err := testClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, "a queued request", func() bool { return s.sched.waiting.Load() == 1 })
	cancelB()
	<-queued
	waitFor(t, "the queue to empty", func() bool { return s.sched.waiting.Load() == 0 })

	cancelA()
	start := time.Now()
	resp := post(t, context.Background(), url+"/v1/completions", map[string]any{"prompt": "next", "max_tokens": 2})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("request after the disconnect took %v; the slot was not freed", took)
	}

	fams := scrape(t, url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vllm:request_success_total", map[string]string{"finished_reason": "abort"}, 2},
		{"vllm:request_success_total", map[string]string{"finished_reason": "length"}, 1},
		{"vllm:num_requests_running", nil, 0},
		{"vllm:num_requests_waiting", nil, 0},
		{"vllm:kv_cache_usage_perc", nil, 0},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Aborted requests are not in the per-request histograms.
	if got := histogramCount(fams, "vllm:e2e_request_latency_seconds"); got != 1 {
		t.Errorf("e2e observations = %v, want 1", got)
	}
}

func TestCloseCancelsStreams(t *testing.T) {
	s, err := NewServer(Model{TTFT: time.Millisecond, ITL: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, context.Background(), url+"/v1/completions", map[string]any{"prompt": "x", "max_tokens": 5000, "stream": true})
	defer resp.Body.Close()
	if first := readEvents(t, resp.Body, 1); len(first) != 1 {
		t.Fatalf("no first event")
	}
	// A non-streaming request in flight gets an error, not an empty 200.
	status := make(chan int, 1)
	go func() {
		r, err := testClient.Post(url+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"y","max_tokens":5000}`))
		if err != nil {
			status <- 0
			return
		}
		r.Body.Close()
		status <- r.StatusCode
	}()
	waitFor(t, "both requests to run", func() bool { return s.sched.running.Load() == 2 })

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v, want it to cancel the stream at once", took)
	}
	if got := <-status; got != http.StatusServiceUnavailable {
		t.Errorf("in-flight non-streaming request got status %d, want 503", got)
	}
	if rest := readEvents(t, resp.Body, 10000); len(rest) > 0 && rest[len(rest)-1].data == "[DONE]" {
		t.Errorf("cancelled stream ended with [DONE]")
	}
	if _, err := testClient.Get(url + "/health"); err == nil {
		t.Errorf("server still answers after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Start("127.0.0.1:0"); err == nil {
		t.Errorf("Start after Close succeeded")
	}
}

// waitFor polls cond for up to two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestTrace checks the flush trace: one line per token chunk, in order,
// keyed by the request's X-Request-Id, with increasing wall-clock times.
func TestTrace(t *testing.T) {
	m := DefaultModel()
	m.TTFT, m.ITL = time.Millisecond, time.Millisecond
	srv, err := NewServer(m)
	if err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	srv.SetTrace(&trace)
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixNano()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/completions", strings.NewReader(`{"model":"simulated","prompt":"a b","max_tokens":3,"stream":true}`))
	req.Header.Set("X-Request-Id", "req-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(trace.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("trace has %d lines, want 3:\n%s", len(lines), trace.String())
	}
	prev := before
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] != "req-1" || f[1] != strconv.Itoa(i) {
			t.Errorf("line %d = %q", i, line)
			continue
		}
		at, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || at < prev {
			t.Errorf("line %d: time %q not after %d", i, f[2], prev)
		}
		prev = at
	}
}

// TestSchedules sends a second stream 7 ms after a first and compares the
// instants their tokens were flushed: on independent clocks they stay 7 ms
// apart, on a batched server they flush at the same engine steps.
func TestSchedules(t *testing.T) {
	for _, tt := range []struct {
		schedule string
		apart    func(d time.Duration) bool
		want     string
	}{
		{ScheduleIndependent, func(d time.Duration) bool { return d > 4*time.Millisecond }, "more than 4 ms"},
		{ScheduleBatched, func(d time.Duration) bool { return d < 4*time.Millisecond }, "less than 4 ms"},
	} {
		t.Run(tt.schedule, func(t *testing.T) {
			m := DefaultModel()
			m.TTFT, m.ITL, m.Schedule = 10*time.Millisecond, 20*time.Millisecond, tt.schedule
			srv, err := NewServer(m)
			if err != nil {
				t.Fatal(err)
			}
			var trace bytes.Buffer
			srv.SetTrace(&trace)
			base, err := srv.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i, id := range []string{"a", "b"} {
				time.Sleep(time.Duration(i) * 7 * time.Millisecond)
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPost, base+"/v1/completions", strings.NewReader(`{"model":"simulated","prompt":"a b","max_tokens":5,"stream":true}`))
					req.Header.Set("X-Request-Id", id)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				})
			}
			wg.Wait()
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			flushes := map[string][]time.Time{}
			for _, line := range strings.Split(strings.TrimSpace(trace.String()), "\n") {
				f := strings.Split(line, "\t")
				ns, _ := strconv.ParseInt(f[2], 10, 64)
				flushes[f[0]] = append(flushes[f[0]], time.Unix(0, ns))
			}
			if len(flushes["a"]) != 5 || len(flushes["b"]) != 5 {
				t.Fatalf("trace:\n%s", trace.String())
			}
			for k, at := range flushes["b"] {
				nearest := time.Hour
				for _, other := range flushes["a"] {
					nearest = min(nearest, at.Sub(other).Abs())
				}
				if !tt.apart(nearest) {
					t.Errorf("b's token %d was flushed %s from the nearest of a's, want %s", k, nearest, tt.want)
				}
			}
		})
	}
}
