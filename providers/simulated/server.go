package simulated

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/benchform/benchform/engines"
)

// Server is a simulated vLLM server. Its Handler may be mounted anywhere;
// Start serves it on a listener of its own.
type Server struct {
	m       Model
	created int64 // Unix time listed as the model's creation

	sched   *scheduler
	steps   *stepClock   // the engine steps of a batched server; nil otherwise
	kvHeld  atomic.Int64 // KV tokens held by running sequences
	prefix  *prefixCache
	metrics recorder

	mux        *http.ServeMux
	handler    http.Handler
	modelsJSON []byte
	trace      *tracer // nil unless SetTrace was called

	// ctx is cancelled by Close; every generation watches it so that Close
	// ends streams at once instead of waiting for their last token.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	httpSrv *http.Server
	served  chan struct{} // closed when Serve returns
	active  sync.WaitGroup
}

// NewServer returns a server for m after checking it with Validate; zero
// fields take their defaults.
func NewServer(m Model) (*Server, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("simulated: %w", err)
	}
	m = m.withDefaults()
	s := &Server{
		m:       m,
		created: time.Now().Unix(),
		sched:   newScheduler(m.MaxNumSeqs),
		prefix:  newPrefixCache(prefixCacheEntries),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(m, s.sched, s.kvHeld.Load)
	if m.Schedule == ScheduleBatched {
		s.steps = newStepClock(time.Now(), m, func() int64 { return s.sched.running.Load() })
	}

	models, err := json.Marshal(modelList{
		Object: "list",
		Data: []modelCard{{
			ID: m.ServedModel, Object: "model", Created: s.created,
			OwnedBy: "benchform", Root: m.ServedModel, MaxModelLen: m.MaxModelLen,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("simulated: %w", err)
	}
	s.modelsJSON = models

	metricsHandler := promhttp.HandlerFor(s.metrics.registry(), promhttp.HandlerOpts{})
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/health", get(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	s.mux.HandleFunc("/version", get(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBytes(w, http.StatusOK, []byte(`{"version":"simulated"}`))
	}))
	s.mux.Handle("/metrics", get(metricsHandler.ServeHTTP))
	s.mux.HandleFunc("/v1/models", get(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBytes(w, http.StatusOK, s.modelsJSON)
	}))
	s.mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		s.serveGenerate(w, r, apiChat)
	})
	s.mux.HandleFunc("/v1/completions", func(w http.ResponseWriter, r *http.Request) {
		s.serveGenerate(w, r, apiCompletions)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFoundError", "Not Found")
	})
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s, nil
}

// Model returns the server's timing model with defaults filled in.
func (s *Server) Model() Model { return s.m }

// Handler returns the server's routes. Requests that arrive after Close are
// answered 503.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailableError", "server is shutting down")
		return
	}
	// Counted under mu so that Close, once it has set closed, waits for
	// every handler that got in before it.
	s.active.Add(1)
	s.mu.Unlock()
	defer s.active.Done()

	if s.m.APIKey != "" && strings.HasPrefix(r.URL.Path, "/v1/") && !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "AuthenticationError", "Unauthorized")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.m.APIKey)) == 1
}

// Start listens on addr (such as "127.0.0.1:0") and serves in the
// background until Close. It returns the base URL, without /v1.
func (s *Server) Start(addr string) (baseURL string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("simulated: start: server is closed")
	}
	if s.httpSrv != nil {
		return "", errors.New("simulated: start: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("simulated: start: %w", err)
	}
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Request contexts descend from s.ctx, so Close cancels them.
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		// The server runs inside the command-line tool; its output belongs
		// to the tool.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.served = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(ln)
	}(s.httpSrv, s.served)
	return "http://" + ln.Addr().String(), nil
}

// Close stops listening, cancels in-flight generations (counted as aborted)
// and waits for every handler to return. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, served := s.httpSrv, s.served
	s.mu.Unlock()

	s.cancel()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = srv.Shutdown(ctx); err != nil {
			err = errors.Join(err, srv.Close())
		}
		<-served
	}
	s.active.Wait()
	if s.trace != nil {
		err = errors.Join(err, s.trace.flush())
	}
	if err != nil {
		return fmt.Errorf("simulated: close: %w", err)
	}
	return nil
}

// apiKind tells the two generation APIs apart.
type apiKind uint8

const (
	apiChat apiKind = iota + 1
	apiCompletions
)

// timings are the server-side instants of one generation.
type timings struct {
	arrival, slotStart, first, last time.Time
}

func (s *Server) serveGenerate(w http.ResponseWriter, r *http.Request, api apiKind) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	j, bad := parseJob(http.MaxBytesReader(w, r.Body, maxBodyBytes), api, s.m)
	if bad != nil {
		writeError(w, bad.status, bad.kind, bad.message)
		return
	}
	arrival := time.Now()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()

	prefix, object := "cmpl-", "text_completion"
	if api == apiChat {
		prefix, object = "chatcmpl-", "chat.completion"
	}
	requestID := r.Header.Get("X-Request-Id")
	if requestID == "" {
		requestID = fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	}
	id := prefix + requestID
	created := time.Now().Unix()

	if j.stream {
		if api == apiChat {
			object = "chat.completion.chunk"
		}
		st := newSSE(w, api, id, object, created, s.m.ServedModel, j, s.m.reasoning(), s.thinking(api, j))
		if s.trace != nil {
			st.trace, st.requestID = s.trace, requestID
		}
		// Headers go out at once, as vLLM's do, so a client sees 200 while
		// the request still waits for a slot.
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if err := st.flush(); err != nil {
			s.metrics.aborted()
			return
		}
		if err := s.generate(ctx, &j, arrival, st.token); err != nil {
			return
		}
		_ = st.finish()
		return
	}

	thinking := s.thinking(api, j)
	var reasoning []byte
	text := make([]byte, 0, 8*j.maxTokens)
	collect := func(i int, word []byte, last bool) error {
		if i < thinking {
			reasoning = append(reasoning, wordText(word)...)
		} else {
			text = append(text, wordText(word)...)
		}
		return nil
	}
	if err := s.generate(ctx, &j, arrival, collect); err != nil {
		if s.ctx.Err() != nil {
			// The client is still there; without this it would read an
			// empty 200.
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailableError", "request aborted: server is shutting down")
		}
		return
	}
	resp := completeResponse(api, id, object, created, s.m.ServedModel, string(text), j)
	if thinking > 0 {
		addReasoning(&resp, string(reasoning), thinking, s.m.reasoning())
	}
	writeJSON(w, http.StatusOK, resp)
}

// thinking is how many of a request's output tokens are reasoning: the
// model's ReasoningTokens, at most all of them, in a chat answer.
func (s *Server) thinking(api apiKind, j job) int {
	if api != apiChat {
		return 0
	}
	return min(s.m.ReasoningTokens, j.maxTokens)
}

// generate runs one request through the timing model: wait for a slot,
// then emit maxTokens tokens at their due times. Due times are absolute
// instants computed from the previous due time, not from when the previous
// token actually went out, so late wake-ups never accumulate into drift.
// One timer serves the whole request; there is no goroutine per token.
//
// Every figure recorded in /metrics is measured on the clock as it happened.
// A request that ends early (client gone, server closed) counts as
// finished_reason="abort" and keeps its token counts, but adds nothing to
// the per-request histograms, so their counts equal completed requests.
func (s *Server) generate(ctx context.Context, j *job, arrival time.Time, emit func(i int, word []byte, last bool) error) error {
	t := timings{arrival: arrival}
	if err := s.sched.acquire(ctx); err != nil {
		s.metrics.aborted()
		return err
	}
	t.slotStart = time.Now()
	held := int64(j.promptTokens)
	s.kvHeld.Add(held)
	released := false
	release := func() {
		if !released {
			released = true
			s.kvHeld.Add(-held)
			s.sched.release()
		}
	}
	defer release()

	p := float64(j.promptTokens)
	s.metrics.prefix(p, s.prefix.seen(j.promptHash))

	d := newDraws(s.m.Seed, j.contentHash, s.m.Jitter)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	due := t.slotStart.Add(d.delay(s.m.TTFT + s.m.PrefillPerToken*time.Duration(j.promptTokens)))
	for i := range j.maxTokens {
		switch {
		case s.steps != nil && i == 0:
			due = s.steps.after(due.Add(-1))
		case s.steps != nil:
			due = s.steps.after(due)
		case i > 0:
			// The batch is read as each token is scheduled, so a
			// sequence slows down and speeds up with its neighbours.
			others := max(0, s.sched.running.Load()-1)
			due = due.Add(d.delay(s.m.ITL + s.m.ITLPerSeq*time.Duration(others)))
		}
		if err := sleepUntil(ctx, timer, due); err != nil {
			s.metrics.aborted()
			return err
		}
		now := time.Now()
		if i == 0 {
			t.first = now
			s.metrics.firstToken(now.Sub(arrival), p)
		} else {
			s.metrics.nextToken(now.Sub(t.last))
		}
		t.last = now
		s.kvHeld.Add(1)
		held++
		if err := emit(i, wordAt(j.contentHash, i), i == j.maxTokens-1); err != nil {
			s.metrics.aborted()
			return err
		}
	}

	// The slot is free and the metrics final before the client reads the
	// end of the response, so a scrape right after it agrees with it.
	release()
	s.metrics.finished(t, p, float64(j.maxTokens), j.maxTokensGiven)
	return nil
}

// sleepUntil waits for the absolute instant due on timer, or returns at once
// when it has passed.
func sleepUntil(ctx context.Context, timer *time.Timer, due time.Time) error {
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	}
}

// sse writes one streamed response. Every chunk is assembled by appending
// bytes to one reused buffer around a precomputed head, as the token loop
// runs once per token.
type sse struct {
	w          http.ResponseWriter
	rc         *http.ResponseController
	api        apiKind
	head       []byte // `data: {"id":…,"object":…,"created":…,"model":…,"choices":[`
	buf        []byte
	prompt     int
	completion int // tokens a finished stream has sent: always max_tokens
	usage      bool
	continuous bool
	trace      *tracer
	requestID  string
	// thinking is how many tokens go out as reasoning, each opening with
	// thought, the start of a choice whose delta carries the engine's
	// reasoning field; thoughtCount goes into the final usage where the
	// engine counts them.
	thinking     int
	thought      []byte
	thoughtCount []byte
}

func newSSE(w http.ResponseWriter, api apiKind, id, object string, created int64, model string, j job, reasoning engines.Reasoning, thinking int) *sse {
	head := []byte(`data: {"id":`)
	head = appendJSONString(head, id)
	head = append(head, `,"object":`...)
	head = appendJSONString(head, object)
	head = append(head, `,"created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendJSONString(head, model)
	head = append(head, `,"choices":[`...)
	s := &sse{
		w: w, rc: http.NewResponseController(w), api: api, head: head,
		buf: make([]byte, 0, 2*len(head)+256), prompt: j.promptTokens, completion: j.maxTokens,
		usage: j.includeUsage, continuous: j.includeUsage && j.continuousUsage,
		thinking: thinking,
	}
	if thinking > 0 {
		s.thought = append(append([]byte(`{"index":0,"delta":{"`), reasoning.Field...), `":`...)
		switch reasoning.Usage {
		case engines.UsageDetails:
			s.thoughtCount = fmt.Appendf(nil, `,"completion_tokens_details":{"reasoning_tokens":%d}`, thinking)
		case engines.UsageTopLevel:
			s.thoughtCount = fmt.Appendf(nil, `,"reasoning_tokens":%d`, thinking)
		}
	}
	return s
}

func (s *sse) token(i int, word []byte, last bool) error {
	b := s.buf[:0]
	if i == 0 && s.api == apiChat {
		// vLLM sends the role-only delta when the first output exists,
		// right before it, so a client's TTFT stamps the first token.
		b = append(b, s.head...)
		b = append(b, `{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
		if s.continuous {
			b = appendUsage(b, s.prompt, 0, nil)
		}
		b = append(b, "}\n\n"...)
	}
	b = append(b, s.head...)
	if i < s.thinking {
		b = append(b, s.thought...)
		b = append(b, word...)
		b = append(b, `},"logprobs":null,"finish_reason":`...)
	} else if s.api == apiChat {
		b = append(b, `{"index":0,"delta":{"content":`...)
		b = append(b, word...)
		b = append(b, `},"logprobs":null,"finish_reason":`...)
	} else {
		b = append(b, `{"index":0,"text":`...)
		b = append(b, word...)
		b = append(b, `,"logprobs":null,"finish_reason":`...)
	}
	if last {
		b = append(b, `"length"}]`...)
	} else {
		b = append(b, `null}]`...)
	}
	if s.continuous {
		b = appendUsage(b, s.prompt, i+1, nil)
	}
	b = append(b, "}\n\n"...)
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	err := s.flush()
	if s.trace != nil && err == nil {
		s.trace.record(s.requestID, i, time.Now())
	}
	return err
}

// finish writes the usage chunk when asked for and the [DONE] marker.
func (s *sse) finish() error {
	b := s.buf[:0]
	if s.usage {
		b = append(b, s.head...)
		b = append(b, ']')
		b = appendUsage(b, s.prompt, s.completion, s.thoughtCount)
		b = append(b, "}\n\n"...)
	}
	b = append(b, "data: [DONE]\n\n"...)
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.flush()
}

func (s *sse) flush() error {
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// appendUsage appends a usage member; extra, members of its own, goes
// last in it.
func appendUsage(b []byte, prompt, completion int, extra []byte) []byte {
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+completion), 10)
	b = append(b, extra...)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// modelList is the body of GET /v1/models.
type modelList struct {
	Object string      `json:"object"`
	Data   []modelCard `json:"data"`
}

type modelCard struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Created     int64  `json:"created"`
	OwnedBy     string `json:"owned_by"`
	Root        string `json:"root"`
	MaxModelLen int    `json:"max_model_len"`
}

// usageJSON is OpenAI's token accounting.
type usageJSON struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// A reasoning model's thinking, where the imitated engine counts it.
	Details         *detailsJSON `json:"completion_tokens_details,omitempty"`
	ReasoningTokens *int         `json:"reasoning_tokens,omitempty"`
}

type detailsJSON struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

type messageJSON struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// A reasoning model's thinking, in the imitated engine's field.
	Reasoning        *string `json:"reasoning,omitempty"`
	ReasoningContent *string `json:"reasoning_content,omitempty"`
}

type choiceJSON struct {
	Index        int          `json:"index"`
	Message      *messageJSON `json:"message,omitempty"`
	Text         *string      `json:"text,omitempty"`
	Logprobs     *struct{}    `json:"logprobs"`
	FinishReason string       `json:"finish_reason"`
}

type completionJSON struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []choiceJSON `json:"choices"`
	Usage   usageJSON    `json:"usage"`
}

func completeResponse(api apiKind, id, object string, created int64, model, text string, j job) completionJSON {
	c := choiceJSON{FinishReason: finishLength}
	if api == apiChat {
		c.Message = &messageJSON{Role: "assistant", Content: text}
	} else {
		c.Text = &text
	}
	return completionJSON{
		ID: id, Object: object, Created: created, Model: model,
		Choices: []choiceJSON{c},
		Usage: usageJSON{
			PromptTokens:     j.promptTokens,
			CompletionTokens: j.maxTokens,
			TotalTokens:      j.promptTokens + j.maxTokens,
		},
	}
}

// addReasoning puts a reasoning model's thinking in a chat response, in
// the message field and usage count of the imitated engine.
func addReasoning(c *completionJSON, text string, tokens int, r engines.Reasoning) {
	switch r.Field {
	case engines.ReasoningField:
		c.Choices[0].Message.Reasoning = &text
	case engines.ReasoningContentField:
		c.Choices[0].Message.ReasoningContent = &text
	}
	switch r.Usage {
	case engines.UsageDetails:
		c.Usage.Details = &detailsJSON{ReasoningTokens: tokens}
	case engines.UsageTopLevel:
		c.Usage.ReasoningTokens = &tokens
	}
}

// errorJSON is the OpenAI error shape vLLM answers with.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    int     `json:"code"`
}

func writeError(w http.ResponseWriter, status int, kind, message string) {
	writeJSON(w, status, errorJSON{Error: errorBody{Message: message, Type: kind, Code: status}})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Method Not Allowed")
}

// get restricts a handler to GET (and HEAD, which net/http answers without
// a body).
func get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, status, b)
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
