package workload

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreTimes leaves out what varies from run to run, the per-event token
// accounting, which TestTokenAccounting checks on its own, and the split
// between reasoning and answer, which the reasoning tests check.
var ignoreTimes = cmpopts.IgnoreFields(Record{}, "QueueTime", "Lag", "TTFT", "E2EL", "Gaps", "ChunkTokens", "TokenEvents", "UsageTokens",
	"TTFC", "ReasoningTokens", "AnswerTokens", "ReasoningSource")

func TestDo(t *testing.T) {
	prompt := Prompt{Text: "hello", InputTokens: 11}
	tests := []struct {
		name     string
		api      API
		status   int
		body     []string
		want     Record
		wantGaps int // token events − 1 (or what arrived before a failure)
	}{
		{
			name: "chat role-only first chunk carries no token",
			api:  APIChat,
			body: []string{chatRole, chatToken("a"), chatToken("b"), chatToken("c"), usageChunk(7, 3), done},
			want: Record{ID: "r", PromptTokens: 7, OutputTokens: 3, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			// 3 token events; the role chunk starts nothing.
			wantGaps: 2,
		},
		{
			name: "llama.cpp's stream: role with a null content, tokens, an empty closing chunk",
			api:  APIChat,
			body: []string{
				`data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}` + "\n\n",
				chatToken("a"), chatToken("b"),
				`data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"object":"chat.completion.chunk"}` + "\n\n",
				usageChunk(7, 2), done,
			},
			want:     Record{ID: "r", PromptTokens: 7, OutputTokens: 2, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name: "llm-d-inference-sim's stream: role without content, tokens, no usage",
			api:  APIChat,
			body: []string{
				`data: {"id":"chatcmpl-x","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}],"object":"chat.completion.chunk"}` + "\n\n",
				chatToken("a"), chatToken("b"), chatToken("c"),
				`data: {"id":"chatcmpl-x","choices":[{"index":0,"finish_reason":"stop","delta":{}}],"object":"chat.completion.chunk"}` + "\n\n",
				done,
			},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 3, TokenSource: TokenSourceChunks, HTTPStatus: 200},
			wantGaps: 2,
		},
		{
			name:     "completions without usage counts chunks",
			api:      APICompletions,
			body:     []string{complToken("a"), complToken("b"), complToken("c"), done},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 3, TokenSource: TokenSourceChunks, HTTPStatus: 200},
			wantGaps: 2,
		},
		{
			name:     "empty-text chunks count",
			api:      APICompletions,
			body:     []string{complToken(""), complToken("x"), complToken(""), usageChunk(5, 3), done},
			want:     Record{ID: "r", PromptTokens: 5, OutputTokens: 3, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			wantGaps: 2,
		},
		{
			name:     "zero completion_tokens falls back to chunks",
			api:      APICompletions,
			body:     []string{complToken("a"), complToken("b"), usageChunk(0, 0), done},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 2, TokenSource: TokenSourceChunks, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name: "continuous usage: the last value wins",
			api:  APICompletions,
			body: []string{
				`data: {"choices":[{"text":"a"}],"usage":{"prompt_tokens":4,"completion_tokens":1}}` + "\n\n",
				`data: {"choices":[{"text":"bc"}],"usage":{"prompt_tokens":4,"completion_tokens":3}}` + "\n\n",
				done,
			},
			want:     Record{ID: "r", PromptTokens: 4, OutputTokens: 3, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name:     "several events in one write",
			api:      APIChat,
			body:     []string{chatRole + chatToken("a") + chatToken("b") + usageChunk(2, 2) + done},
			want:     Record{ID: "r", PromptTokens: 2, OutputTokens: 2, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name:     "data without a space, comments and other fields",
			api:      APICompletions,
			body:     []string{": ping\n\n", "event: message\nid: 1\n" + `data:{"choices":[{"text":"a"}]}` + "\n\n", ":keep-alive\n\n", `data:{"choices":[{"text":"b"}]}` + "\n\n", "data:[DONE]\n\n"},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 2, TokenSource: TokenSourceChunks, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name:     "CRLF line endings",
			api:      APICompletions,
			body:     []string{strings.ReplaceAll(complToken("a")+complToken("b")+usageChunk(3, 2)+done, "\n", "\r\n")},
			want:     Record{ID: "r", PromptTokens: 3, OutputTokens: 2, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name:     "[DONE] without a final blank line",
			api:      APICompletions,
			body:     []string{complToken("a"), "data: [DONE]"},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 1, TokenSource: TokenSourceChunks, HTTPStatus: 200},
			wantGaps: 0,
		},
		{
			name:     "usage in the last token chunk",
			api:      APICompletions,
			body:     []string{complToken("a"), `data: {"choices":[{"text":"b","finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":2}}` + "\n\n", done},
			want:     Record{ID: "r", PromptTokens: 9, OutputTokens: 2, TokenSource: TokenSourceUsage, HTTPStatus: 200},
			wantGaps: 1,
		},
		{
			name:     "missing [DONE] fails and keeps partial results",
			api:      APIChat,
			body:     []string{chatRole, chatToken("a")},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 1, TokenSource: TokenSourceChunks, HTTPStatus: 200, Err: "stream ended before [DONE]"},
			wantGaps: 0,
		},
		{
			name: "no token event",
			api:  APIChat,
			body: []string{usageChunk(5, 0), done},
			want: Record{ID: "r", PromptTokens: 5, OutputTokens: 0, TokenSource: TokenSourceChunks, HTTPStatus: 200, Err: "no token received"},
		},
		{
			name: "empty stream",
			api:  APIChat,
			want: Record{ID: "r", PromptTokens: 11, TokenSource: TokenSourceChunks, HTTPStatus: 200, Err: "stream ended before [DONE]"},
		},
		{
			name:     "malformed event",
			api:      APICompletions,
			body:     []string{complToken("a"), "data: {\"choices\":[{\"text\":\"b\"}]\n\n", done},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 1, TokenSource: TokenSourceChunks, HTTPStatus: 200, Err: `malformed event: JSON cut off (at byte 25): {"choices":[{"text":"b"}]`},
			wantGaps: 0,
		},
		{
			name:     "an event of the wrong shape",
			api:      APIChat,
			body:     []string{chatRole, chatToken("a"), `data: {"choices":"b"}` + "\n\n", done},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 1, TokenSource: TokenSourceChunks, HTTPStatus: 200, Err: `malformed event: field choices: got a JSON string, want an array: {"choices":"b"}`},
			wantGaps: 0,
		},
		{
			name:     "error reported in the stream",
			api:      APIChat,
			body:     []string{chatRole, chatToken("a"), `data: {"error":{"object":"error","message":"engine died","type":"InternalServerError","code":500}}` + "\n\n", done},
			want:     Record{ID: "r", PromptTokens: 11, OutputTokens: 1, TokenSource: TokenSourceChunks, HTTPStatus: 200, Err: "stream error: engine died"},
			wantGaps: 0,
		},
		{
			name:   "non-2xx with an OpenAI error body",
			api:    APIChat,
			status: http.StatusNotFound,
			body:   []string{`{"error":{"message":"The model ` + "`x`" + ` does not exist.","type":"NotFoundError","param":null,"code":404}}`},
			want:   Record{ID: "r", PromptTokens: 11, HTTPStatus: 404, Err: "HTTP 404: The model `x` does not exist."},
		},
		{
			name:   "non-2xx with vLLM's older error body",
			api:    APIChat,
			status: http.StatusBadRequest,
			body:   []string{`{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}`},
			want:   Record{ID: "r", PromptTokens: 11, HTTPStatus: 400, Err: "HTTP 400: max_tokens is too large"},
		},
		{
			name:   "non-2xx with a text body",
			api:    APIChat,
			status: http.StatusBadGateway,
			body:   []string{"upstream unavailable\n" + strings.Repeat("x", 300)},
			want:   Record{ID: "r", PromptTokens: 11, HTTPStatus: 502, Err: "HTTP 502: upstream unavailable\n" + strings.Repeat("x", 179) + "…"},
		},
		{
			name:   "non-2xx with no body",
			api:    APIChat,
			status: http.StatusServiceUnavailable,
			want:   Record{ID: "r", PromptTokens: 11, HTTPStatus: 503, Err: "HTTP 503: Service Unavailable"},
		},
	}
	c := NewClient(4)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			srv := newServer(t, script(status, writes(tt.body...)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := c.Do(ctx, target(srv), Request{API: tt.api, Prompt: prompt, MaxTokens: 16, ID: "r"})
			// Every request records the limit it was sent with.
			tt.want.MaxTokens = 16
			if diff := cmp.Diff(tt.want, got, ignoreTimes); diff != "" {
				t.Errorf("Do() mismatch (-want +got):\n%s", diff)
			}
			if len(got.Gaps) != tt.wantGaps {
				t.Errorf("len(Gaps) = %d, want %d", len(got.Gaps), tt.wantGaps)
			}
			tokenEvents := got.OutputTokens > 0 || len(got.Gaps) > 0
			if tokenEvents && got.TTFT <= 0 {
				t.Errorf("TTFT = %v, want > 0", got.TTFT)
			}
			if got.E2EL < got.TTFT {
				t.Errorf("E2EL %v < TTFT %v", got.E2EL, got.TTFT)
			}
			// Without reasoning, the answer is all of it.
			if got.TTFC != got.TTFT || got.ReasoningTokens != 0 || got.AnswerTokens != got.OutputTokens || got.ReasoningSource != "" {
				t.Errorf("a stream without reasoning: TTFC %v (TTFT %v), %d reasoning and %d answer tokens of %d, source %q",
					got.TTFC, got.TTFT, got.ReasoningTokens, got.AnswerTokens, got.OutputTokens, got.ReasoningSource)
			}
		})
	}
}

func TestDoSendsRequest(t *testing.T) {
	type seen struct {
		method, path, ctype, auth, id string
		body                          map[string]any
	}
	tests := []struct {
		name   string
		api    API
		apiKey string
		want   seen
	}{
		{
			name:   "chat with key",
			api:    APIChat,
			apiKey: "sk-test",
			want: seen{
				method: "POST", path: "/v1/chat/completions", ctype: "application/json", auth: "Bearer sk-test", id: "run-7",
				body: map[string]any{
					"model":                 "m",
					"messages":              []any{map[string]any{"role": "user", "content": "say \"hi\""}},
					"max_completion_tokens": float64(32),
					"stream":                true,
					"stream_options":        map[string]any{"include_usage": true},
				},
			},
		},
		{
			name: "completions without key",
			api:  APICompletions,
			want: seen{
				method: "POST", path: "/v1/completions", ctype: "application/json", id: "run-7",
				body: map[string]any{
					"model":          "m",
					"prompt":         "say \"hi\"",
					"max_tokens":     float64(32),
					"stream":         true,
					"stream_options": map[string]any{"include_usage": true},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got seen
			)
			stream := script(http.StatusOK, writes(complToken("a"), done))
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = seen{method: r.Method, path: r.URL.Path, ctype: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization"), id: r.Header.Get("X-Request-Id")}
				if err := json.Unmarshal(b, &got.body); err != nil {
					t.Errorf("request body: %v", err)
				}
				mu.Unlock()
				stream(w, r)
			}))
			tg := target(srv)
			tg.BaseURL += "/"
			tg.APIKey = tt.apiKey
			rec := NewClient(1).Do(context.Background(), tg, Request{API: tt.api, Prompt: Prompt{Text: `say "hi"`}, MaxTokens: 32, ID: "run-7"})
			if !rec.OK() {
				t.Fatalf("Do() failed: %s", rec.Err)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(seen{})); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDoTransportError(t *testing.T) {
	srv := newServer(t, script(http.StatusOK, nil))
	base := strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1)
	srv.Close() // nothing listens any more
	got := NewClient(1).Do(context.Background(), Target{BaseURL: base, Model: "m"}, Request{API: APIChat, MaxTokens: 4, ID: "r"})
	if got.OK() || got.HTTPStatus != 0 {
		t.Fatalf("Do() = %+v, want a transport failure", got)
	}
	for _, secret := range []string{"hunter2", "alice", "***"} {
		if strings.Contains(got.Err, secret) {
			t.Errorf("Err %q contains %q", got.Err, secret)
		}
	}
	if !strings.Contains(got.Err, "/v1/chat/completions") {
		t.Errorf("Err %q does not name the URL", got.Err)
	}
}

func TestDoUnknownAPI(t *testing.T) {
	got := NewClient(1).Do(context.Background(), Target{BaseURL: "http://127.0.0.1:1"}, Request{API: "embeddings", ID: "r"})
	want := Record{ID: "r", Err: `unknown api "embeddings"`}
	if diff := cmp.Diff(want, got, ignoreTimes); diff != "" {
		t.Errorf("Do() mismatch (-want +got):\n%s", diff)
	}
}

// endless streams a token every 10 ms until the client leaves (at most 10 s).
var endless = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	for range 1000 {
		if _, err := io.WriteString(w, complToken("x")); err != nil {
			return
		}
		f.Flush()
		select {
		case <-time.After(10 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
})

func TestDoContextEnds(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr string
	}{
		{
			name: "cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: "cut off: interrupted",
		},
		{
			name: "deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			wantErr: "cut off: deadline exceeded",
		},
	}
	srv := newServer(t, endless)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			begin := time.Now()
			got := NewClient(1).Do(ctx, target(srv), Request{API: APICompletions, MaxTokens: 1000, ID: "r"})
			if took := time.Since(begin); took > 5*time.Second {
				t.Errorf("Do() took %v after its context ended", took)
			}
			if got.Err != tt.wantErr {
				t.Errorf("Err = %q, want %q", got.Err, tt.wantErr)
			}
			// Partial timings survive.
			if got.TTFT <= 0 || got.OutputTokens < 1 || got.E2EL < got.TTFT {
				t.Errorf("partial record lost its timings: %+v", got)
			}
		})
	}
}

func TestDoTiming(t *testing.T) {
	const (
		first = 80 * time.Millisecond
		gap   = 40 * time.Millisecond
		slack = 2 * time.Second // generous: the race detector and loaded machines
	)
	// The role-only chunk goes out a gap before the first token, as some
	// servers send it: the clock stops at the token.
	srv := newServer(t, script(http.StatusOK, []act{
		{sleep: first - gap, write: chatRole},
		{sleep: gap, write: chatToken("a")},
		{sleep: gap, write: chatToken("b")},
		{sleep: gap, write: chatToken("c")},
		{sleep: gap, write: usageChunk(3, 3)},
		{write: done},
	}))
	got := NewClient(1).Do(context.Background(), target(srv), Request{API: APIChat, MaxTokens: 3, ID: "r"})
	if !got.OK() {
		t.Fatalf("Do() failed: %s", got.Err)
	}
	if got.TTFT < first || got.TTFT > first+slack {
		t.Errorf("TTFT = %v, want in [%v, %v]", got.TTFT, first, first+slack)
	}
	if len(got.Gaps) != 2 {
		t.Fatalf("Gaps = %v, want 2 entries", got.Gaps)
	}
	// A gap can come out shorter than the server's pause when the client
	// was scheduled late for the event before it, so only the sum has a
	// hard lower bound.
	var sum time.Duration
	for i, g := range got.Gaps {
		if g <= 0 || g > gap+slack {
			t.Errorf("Gaps[%d] = %v, want in (0, %v]", i, g, gap+slack)
		}
		sum += g
	}
	if got.E2EL < first+2*gap {
		t.Errorf("E2EL = %v, want at least %v", got.E2EL, first+2*gap)
	}
	// E2EL ends at the last token event, not at the usage chunk sent a gap
	// later, and the gaps tile the time between first and last event.
	if got.E2EL != got.TTFT+sum {
		t.Errorf("E2EL = %v, want TTFT+ΣGaps = %v", got.E2EL, got.TTFT+sum)
	}
	if tpot, ok := got.TPOT(); !ok || tpot <= 0 || tpot > gap+slack {
		t.Errorf("TPOT = %v, %v; want in (0, %v] for 3 output tokens %v apart", tpot, ok, gap+slack, gap)
	}
}

func TestRecordTPOT(t *testing.T) {
	tests := []struct {
		name   string
		rec    Record
		want   time.Duration
		wantOK bool
	}{
		{"no tokens", Record{TTFT: time.Second, E2EL: time.Second}, 0, false},
		{"one token", Record{TTFT: time.Second, E2EL: time.Second, OutputTokens: 1}, 0, false},
		{"two tokens", Record{TTFT: 100 * time.Millisecond, E2EL: 300 * time.Millisecond, OutputTokens: 2}, 200 * time.Millisecond, true},
		{"rounds to the nearest ns", Record{TTFT: 0, E2EL: 10, OutputTokens: 4}, 3, true},
		{"rounds half up", Record{TTFT: 0, E2EL: 5, OutputTokens: 3}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.rec.TPOT()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("TPOT() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDoAfterDone(t *testing.T) {
	// A server that keeps the stream open after [DONE] must not hold the
	// request: the record is complete at [DONE].
	srv := newServer(t, script(http.StatusOK, []act{
		{write: complToken("a") + done},
		{sleep: 5 * time.Second, write: ": late\n\n"},
	}))
	begin := time.Now()
	got := NewClient(1).Do(context.Background(), target(srv), Request{API: APICompletions, MaxTokens: 1, ID: "r"})
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Do() took %v, want about drainTimeout (%v)", took, drainTimeout)
	}
	if !got.OK() || got.OutputTokens != 1 {
		t.Errorf("Do() = %+v, want one token and no error", got)
	}
}

func TestClientReusesConnections(t *testing.T) {
	var (
		mu    sync.Mutex
		conns int
	)
	// The pause after [DONE] sends the end of the body in a later packet,
	// so the client must read on past [DONE] to keep the connection.
	srv := httptest.NewUnstartedServer(script(http.StatusOK, append(writes(chatRole, chatToken("a"), usageChunk(1, 1), done), act{sleep: 5 * time.Millisecond})))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	const workers = 3
	_, err := runClosed(context.Background(), NewClient(workers), target(srv), APIChat, []Prompt{{Text: "p"}}, 2, "", closedLoop{Concurrency: workers, Requests: 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Every new connection would put a TCP handshake inside a TTFT.
	if conns > workers {
		t.Errorf("server accepted %d connections for %d workers", conns, workers)
	}
}

// TestTokenAccounting checks the token counts a Record keeps besides
// OutputTokens: the number of token events, the server's final usage, and
// per-event counts when every event carries a running usage.
func TestTokenAccounting(t *testing.T) {
	usageOn := func(text string, n int) string {
		return `data: {"choices":[{"index":0,"delta":{"content":"` + text + `"}}],"usage":{"prompt_tokens":3,"completion_tokens":` + strconv.Itoa(n) + "}}\n\n"
	}
	role := `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":{"prompt_tokens":3,"completion_tokens":0}}` + "\n\n"
	tests := []struct {
		name       string
		events     []string
		wantChunks []uint32
		wantEvents int
		wantUsage  int
		wantOutput int
		noLimit    bool // sent without max_tokens
	}{
		{
			name:       "running usage on every event, one chunk with three tokens",
			events:     []string{role, usageOn("a", 1), usageOn("b c d", 4), usageOn("e", 5), usageChunk(3, 5)},
			wantChunks: []uint32{1, 3, 1},
			wantEvents: 3,
			wantUsage:  5,
			wantOutput: 5,
		},
		{
			name:       "usage only at the end",
			events:     []string{chatToken("a"), chatToken("b"), usageChunk(3, 2)},
			wantEvents: 2,
			wantUsage:  2,
			wantOutput: 2,
		},
		{
			name:       "running usage missing on one event",
			events:     []string{usageOn("a", 1), chatToken("b"), usageChunk(3, 2)},
			wantEvents: 2,
			wantUsage:  2,
			wantOutput: 2,
		},
		{
			name:       "no usage at all",
			events:     []string{chatToken("a"), chatToken("b"), chatToken("c")},
			wantEvents: 3,
			wantOutput: 3,
		},
		{
			name:       "a running count past max_tokens is not believed, nor are its per-event counts",
			events:     []string{usageOn("a", 1), usageOn("b", 40), usageChunk(3, 40)},
			wantEvents: 2,
			wantUsage:  40,
			wantOutput: 2,
		},
		{
			name:       "a running count past 32 bits explains nothing",
			events:     []string{usageOn("a", 1), usageOn("b", 1_000_000_000_000), usageChunk(3, 1_000_000_000_000)},
			wantEvents: 2,
			wantUsage:  1_000_000_000_000,
			wantOutput: 2,
			noLimit:    true,
		},
	}
	c := NewClient(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, script(http.StatusOK, writes(append(tt.events, done)...)))
			limit := 8
			if tt.noLimit {
				limit = 0
			}
			got := c.Do(context.Background(), target(srv), Request{API: APIChat, Prompt: Prompt{Text: "x"}, MaxTokens: limit, ID: "r", Options: Options{ContinuousUsage: true}})
			if !got.OK() {
				t.Fatal(got.Err)
			}
			if diff := cmp.Diff(tt.wantChunks, got.ChunkTokens); diff != "" {
				t.Errorf("ChunkTokens (-want +got):\n%s", diff)
			}
			if got.TokenEvents != tt.wantEvents || got.UsageTokens != tt.wantUsage || got.OutputTokens != tt.wantOutput {
				t.Errorf("TokenEvents, UsageTokens, OutputTokens = %d, %d, %d; want %d, %d, %d", got.TokenEvents, got.UsageTokens, got.OutputTokens, tt.wantEvents, tt.wantUsage, tt.wantOutput)
			}
		})
	}
}

func TestRequestBodyOptions(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{
			name: "chat with messages, continuous usage, ignore_eos and an extra field overriding ours",
			req: Request{API: APIChat, MaxTokens: 8, Prompt: Prompt{Messages: []Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}}, OutputTokens: 5},
				Options: Options{ContinuousUsage: true, IgnoreEOS: true, ExtraBody: json.RawMessage(`{"temperature":0,"max_completion_tokens":7}`)}},
			want: `{"ignore_eos":true,"max_completion_tokens":7,"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"model":"m","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},"temperature":0}`,
		},
		{
			name: "chat limited in both fields, for an engine that honours only max_tokens",
			req:  Request{API: APIChat, MaxTokens: 48, Prompt: Prompt{Text: "u"}, Options: Options{TokenLimit: []string{"max_completion_tokens", "max_tokens"}}},
			want: `{"model":"m","messages":[{"role":"user","content":"u"}],"max_completion_tokens":48,"max_tokens":48,"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "chat limited in max_tokens only",
			req:  Request{API: APIChat, MaxTokens: 48, Prompt: Prompt{Text: "u"}, Options: Options{TokenLimit: []string{"max_tokens"}}},
			want: `{"model":"m","messages":[{"role":"user","content":"u"}],"max_tokens":48,"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "completions with the dataset's output length",
			req:  Request{API: APICompletions, MaxTokens: 8, Prompt: Prompt{Text: "p", OutputTokens: 3}},
			want: `{"model":"m","prompt":"p","max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body, err := requestBody("m", tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsageRejected(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"no usage", Record{TokenEvents: 4, MaxTokens: 16}, ""},
		{"agrees", Record{TokenEvents: 4, UsageTokens: 4, MaxTokens: 16}, ""},
		{"a closing chunk without a token", Record{TokenEvents: 5, UsageTokens: 4, MaxTokens: 16}, ""},
		{"multi-token chunks", Record{TokenEvents: 4, UsageTokens: 60, MaxTokens: 64}, ""},
		{"past max_tokens", Record{TokenEvents: 4, UsageTokens: 40, MaxTokens: 16}, "usage rejected: 40 > max_tokens 16"},
		{"past max_tokens with a running count", Record{TokenEvents: 4, UsageTokens: 40, MaxTokens: 16, ChunkTokens: []uint32{10, 10, 10, 10}},
			"usage rejected: 40 > max_tokens 16"},
		{"a server that ignored max_tokens, counted right", Record{TokenEvents: 40, UsageTokens: 40, MaxTokens: 16}, ""},
		{"too many per event", Record{TokenEvents: 4, UsageTokens: 1_000_000_000_000}, "usage rejected: 1000000000000 tokens in 4 token events"},
		{"a running count explains it", Record{TokenEvents: 2, UsageTokens: 100, ChunkTokens: []uint32{50, 50}}, ""},
		{"too few per event", Record{TokenEvents: 100_000, UsageTokens: 16, MaxTokens: 16}, "usage rejected: 16 tokens in 100000 token events"},
		{"reasoning counted and not streamed", Record{TokenEvents: 3, UsageTokens: 1003, UsageReasoningTokens: 1000, MaxTokens: 2048}, ""},
		{"reasoning counted and streamed", Record{TokenEvents: 1003, UsageTokens: 1003, UsageReasoningTokens: 1000, MaxTokens: 2048}, ""},
		{"too many per event even without the reasoning", Record{TokenEvents: 3, UsageTokens: 1003, UsageReasoningTokens: 900, MaxTokens: 2048},
			"usage rejected: 1003 tokens in 3 token events"},
	}
	for _, tt := range tests {
		if got := tt.rec.UsageRejected(); got != tt.want {
			t.Errorf("%s: UsageRejected() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTokenSourcesDisagreeWithReasoning(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want bool
	}{
		{"reasoning counted and not streamed", Record{TokenEvents: 3, UsageTokens: 43, UsageReasoningTokens: 40}, false},
		{"reasoning counted and streamed", Record{TokenEvents: 43, UsageTokens: 43, UsageReasoningTokens: 40}, false},
		{"neither", Record{TokenEvents: 10, UsageTokens: 43, UsageReasoningTokens: 40}, true},
	}
	for _, tt := range tests {
		if got := tt.rec.TokenSourcesDisagree(); got != tt.want {
			t.Errorf("%s: TokenSourcesDisagree() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// replay reads an SSE transcript of testdata/reasoning into writes of one
// event each, every one gap after the one before; blocks of comments only
// (the transcript's description) are left out.
func replay(t *testing.T, file string, gap time.Duration) []act {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reasoning", file))
	if err != nil {
		t.Fatal(err)
	}
	var out []act
	for _, block := range strings.Split(string(b), "\n\n") {
		block = strings.TrimSpace(block)
		comment := true
		for _, l := range strings.Split(block, "\n") {
			comment = comment && strings.HasPrefix(l, ":")
		}
		if block == "" || comment {
			continue
		}
		out = append(out, act{sleep: gap, write: block + "\n\n"})
	}
	return out
}

// split is what a Record says of a reasoning model's output.
type split struct {
	Output, Reasoning, Answer    int
	TokenSource, ReasoningSource TokenSource
	NoAnswer                     bool
}

// TestReasoningStreams replays reasoning streams of vLLM and SGLang into
// the client, an event every gap, and checks when the first token and the
// first answer token arrived, and how the output split between thinking
// and answer. The expected values are read off the transcripts: the
// places of events in them, and their texts and counts.
func TestReasoningStreams(t *testing.T) {
	const gap = 25 * time.Millisecond
	tests := []struct {
		file      string
		maxTokens int
		// firstToken and firstAnswer are the places, counting from 1, of
		// the first token event and the first answer event among the
		// transcript's events; 0 for none.
		firstToken, firstAnswer int
		want                    split
	}{
		{
			// 8 reasoning events, 4 content events; the server counts 8
			// of the 12 tokens as reasoning.
			file: "vllm.sse", maxTokens: 64, firstToken: 2, firstAnswer: 10,
			want: split{Output: 12, Reasoning: 8, Answer: 4, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceUsage},
		},
		{
			// The thinking stops at the limit: 6 tokens, all reasoning.
			file: "vllm-length.sse", maxTokens: 6, firstToken: 2,
			want: split{Output: 6, Reasoning: 6, Answer: 0, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceUsage, NoAnswer: true},
		},
		{
			// Events counted by kind: 5 with both reasoning fields, one
			// for each kind, one with both (counted toward both), 2 of
			// content; the server's 9 tokens are not split.
			file: "vllm-0.15.sse", maxTokens: 64, firstToken: 2, firstAnswer: 7,
			want: split{Output: 9, Reasoning: 6, Answer: 3, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceChunks},
		},
		{
			// 5 reasoning and 5 content events; the server counts 6 of its
			// 11 tokens as reasoning (the closing </think> among them).
			file: "sglang.sse", maxTokens: 64, firstToken: 2, firstAnswer: 7,
			want: split{Output: 11, Reasoning: 6, Answer: 5, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceUsage},
		},
		{
			// The running counts say 1, 2 and 1 reasoning tokens, then 3
			// for the event carrying " so." (6 bytes of JSON) and "Paris"
			// (7): round(3 × 6/13) = 1 reasoning, 2 answer; then 1 answer.
			// The server's reasoning_tokens of 0 is not a count.
			file: "sglang-continuous-usage.sse", maxTokens: 64, firstToken: 2, firstAnswer: 5,
			want: split{Output: 8, Reasoning: 5, Answer: 3, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceChunks},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, script(200, replay(t, tt.file, gap)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rec := NewClient(1).Do(ctx, target(srv), Request{API: APIChat, Prompt: Prompt{Text: "q"}, MaxTokens: tt.maxTokens, ID: "r"})
			if !rec.OK() {
				t.Fatalf("request failed: %s", rec.Err)
			}
			got := split{Output: rec.OutputTokens, Reasoning: rec.ReasoningTokens, Answer: rec.AnswerTokens,
				TokenSource: rec.TokenSource, ReasoningSource: rec.ReasoningSource, NoAnswer: rec.NoAnswer()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("split (-want +got):\n%s", diff)
			}
			// An event cannot arrive before it was written, nor, on a
			// machine that keeps up, a whole gap after.
			checkArrival(t, "TTFT", rec.TTFT, tt.firstToken, gap)
			checkArrival(t, "TTFC", rec.TTFC, tt.firstAnswer, gap)
		})
	}
}

// checkArrival checks that an event written at place×gap arrived then:
// not before, and within a gap, except under -short.
func checkArrival(t *testing.T, name string, got time.Duration, place int, gap time.Duration) {
	t.Helper()
	if place == 0 {
		if got != 0 {
			t.Errorf("%s = %v, want none", name, got)
		}
		return
	}
	written := time.Duration(place) * gap
	if got < written || !testing.Short() && got >= written+gap {
		t.Errorf("%s = %v, want the arrival of event %d, written at %v", name, got, place, written)
	}
}

func TestSplitTokens(t *testing.T) {
	tests := []struct {
		name                 string
		n                    int
		reasoning, answer    bool
		reasoningB, answerB  int
		wantReason, wantAnsw int
	}{
		{"reasoning alone", 3, true, false, 10, 0, 3, 0},
		{"answer alone", 3, false, true, 0, 10, 0, 3},
		{"both, by bytes", 10, true, true, 30, 10, 8, 2},
		{"both, rounded", 3, true, true, 6, 7, 1, 2},
		{"both, at least one token of reasoning", 4, true, true, 1, 99, 1, 3},
		{"both, at least one token of answer", 4, true, true, 99, 1, 3, 1},
		{"both in one token: the answer's", 1, true, true, 5, 5, 0, 1},
		{"no tokens", 0, true, true, 5, 5, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, a := splitTokens(tt.n, tt.reasoning, tt.answer, tt.reasoningB, tt.answerB)
			if r != tt.wantReason || a != tt.wantAnsw {
				t.Errorf("splitTokens(%d, %v, %v, %d, %d) = %d, %d; want %d, %d", tt.n, tt.reasoning, tt.answer, tt.reasoningB, tt.answerB, r, a, tt.wantReason, tt.wantAnsw)
			}
		})
	}
}

// TestReasoningEventKinds checks the kind of events that carry no text of
// their own, and a server that streams no reasoning text but counts it.
func TestReasoningEventKinds(t *testing.T) {
	delta := func(d string) string {
		return `data: {"choices":[{"index":0,"delta":` + d + `,"finish_reason":null}]}` + "\n\n"
	}
	tests := []struct {
		name string
		body []string
		want split
		// answerAt is the place of the first answer among the token
		// events (from 1), 0 for none.
		answerAt int
		wantErr  string
	}{
		{
			name: "an empty content after reasoning continues the reasoning",
			body: []string{chatRole, delta(`{"reasoning":"a"}`), delta(`{"content":""}`), delta(`{"reasoning":"b"}`), usageChunk(3, 3), done},
			want: split{Output: 3, Reasoning: 3, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceChunks, NoAnswer: true},
		},
		{
			name:     "an empty content after the answer began is answer",
			body:     []string{chatRole, delta(`{"reasoning":"a"}`), delta(`{"content":"b"}`), delta(`{"content":""}`), usageChunk(3, 3), done},
			want:     split{Output: 3, Reasoning: 1, Answer: 2, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceChunks},
			answerAt: 2,
		},
		{
			name:     "a tool call is an answer",
			body:     []string{chatRole, delta(`{"reasoning_content":"a"}`), delta(`{"tool_calls":[{"index":0,"function":{"name":"f"}}]}`), usageChunk(3, 2), done},
			want:     split{Output: 2, Reasoning: 1, Answer: 1, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceChunks},
			answerAt: 2,
		},
		{
			// OpenAI counts reasoning it does not stream: 50 tokens in 2
			// events are believed as 48 unseen and 2 seen.
			name: "reasoning counted but not streamed",
			body: []string{chatRole, chatToken("a"), chatToken("b"),
				`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":50,"completion_tokens_details":{"reasoning_tokens":48}}}` + "\n\n", done},
			want:     split{Output: 50, Reasoning: 48, Answer: 2, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceUsage},
			answerAt: 1,
		},
		{
			name: "a reasoning count that leaves no token for a streamed answer is not believed",
			body: []string{chatRole, delta(`{"reasoning":"a"}`), chatToken("b"),
				`data: {"choices":[],"usage":{"completion_tokens":2,"reasoning_tokens":2}}` + "\n\n", done},
			want:     split{Output: 2, Reasoning: 1, Answer: 1, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceChunks},
			answerAt: 2,
		},
		{
			name: "reasoning that used up the limit without streaming a token",
			body: []string{chatRole,
				`data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n",
				`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":64,"completion_tokens_details":{"reasoning_tokens":64}}}` + "\n\n", done},
			want:    split{Output: 64, Reasoning: 64, TokenSource: TokenSourceUsage, ReasoningSource: TokenSourceUsage},
			wantErr: "no token received; the server counted reasoning tokens only: the reasoning may have used up max_tokens",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, script(200, writes(tt.body...)))
			rec := NewClient(1).Do(context.Background(), target(srv), Request{API: APIChat, Prompt: Prompt{Text: "q"}, MaxTokens: 64, ID: "r"})
			if rec.Err != tt.wantErr {
				t.Fatalf("Err = %q, want %q", rec.Err, tt.wantErr)
			}
			got := split{Output: rec.OutputTokens, Reasoning: rec.ReasoningTokens, Answer: rec.AnswerTokens,
				TokenSource: rec.TokenSource, ReasoningSource: rec.ReasoningSource, NoAnswer: rec.NoAnswer()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("split (-want +got):\n%s", diff)
			}
			// Events written together arrive together, so the answer's
			// place shows as TTFC against the stream's gaps.
			var wantTTFC time.Duration
			if tt.answerAt > 0 {
				wantTTFC = rec.TTFT
				for _, g := range rec.Gaps[:tt.answerAt-1] {
					wantTTFC += g
				}
			}
			if rec.TTFC != wantTTFC {
				t.Errorf("TTFC = %v, want %v (token event %d)", rec.TTFC, wantTTFC, tt.answerAt)
			}
		})
	}
}
