package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/benchform/benchform/internal/jsonerror"
)

// API selects the OpenAI endpoint a request is sent to.
type API string

// APIs a request can use.
const (
	// APIChat posts to /v1/chat/completions with one user message.
	APIChat API = "chat"
	// APICompletions posts to /v1/completions with a plain prompt.
	APICompletions API = "completions"
)

// Target is the server a request goes to.
type Target struct {
	// BaseURL is the server's root without /v1, e.g. http://127.0.0.1:8000.
	BaseURL string
	// APIKey, when set, is sent as a bearer token. It never appears in a
	// Record.
	APIKey string
	// Model is sent as the request's model field.
	Model string
}

// Prompt is one input from a dataset.
type Prompt struct {
	// Text is sent as the user message (chat) or the prompt (completions).
	// A chat prompt with Messages sends those instead; a completions
	// request then sends their contents joined by newlines.
	Text string
	// Messages is a whole conversation, for chat datasets that have one.
	Messages []Message
	// InputTokens is the dataset's planned prompt length, reported when the
	// server sends no usage.prompt_tokens.
	InputTokens int
	// OutputTokens is the length the dataset asks of the answer; it becomes
	// the request's max_tokens. Zero leaves the scenario's max_tokens.
	OutputTokens int
}

// Message is one turn of a chat conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one streaming completion to send.
type Request struct {
	API    API
	Prompt Prompt
	// MaxTokens is sent in Options.TokenLimit's fields (chat) or as
	// max_tokens (completions). It never stands in for the output token
	// count.
	MaxTokens int
	// ID is sent as X-Request-Id and copied to the Record.
	ID string
	Options
}

// Options are request settings some servers honour and others reject.
type Options struct {
	// ContinuousUsage asks for a running usage count on every chunk
	// (stream_options.continuous_usage_stats, which vLLM and SGLang honour),
	// so that a chunk carrying several tokens is attributed exactly.
	ContinuousUsage bool
	// IgnoreEOS asks the server to generate max_tokens whatever the model
	// says (vLLM and SGLang's ignore_eos).
	IgnoreEOS bool
	// ExtraBody is a JSON object whose fields are added to every request
	// body, overriding benchform's own.
	ExtraBody json.RawMessage
	// TokenLimit names the fields a chat request carries its output limit
	// in, each with the same value: "max_completion_tokens" (the default
	// when empty) and "max_tokens". Completions requests always use
	// max_tokens.
	TokenLimit []string
	// Timeouts bound each request; a request past one fails with a reason
	// that names it.
	Timeouts Timeouts
}

// Timeouts bound a request; zero leaves a bound off.
type Timeouts struct {
	// Connect bounds opening a connection.
	Connect time.Duration
	// FirstByte bounds the wait for the response's headers once the
	// request is sent: queueing and, for servers that send headers with
	// the first token, prefill.
	FirstByte time.Duration
	// Idle bounds the silence of a stream: before its first event once
	// the headers arrived, and between two events.
	Idle time.Duration
	// Request bounds the whole request.
	Request time.Duration
}

// TokenSource says where a Record's OutputTokens came from.
type TokenSource string

// Token sources.
const (
	// TokenSourceUsage is the server's usage.completion_tokens.
	TokenSourceUsage TokenSource = "usage"
	// TokenSourceChunks is the number of token events, used when the server
	// reported no usage; it undercounts when a chunk carries several tokens.
	TokenSourceChunks TokenSource = "chunks"
)

// Record is what one request observed. Durations are measured on the
// monotonic clock from the request's send instant, which is taken
// immediately before the request is handed to the HTTP transport; a failed
// request keeps the timings it reached.
type Record struct {
	// ID is the request's X-Request-Id.
	ID string
	// Seq is the order in which the schedule released the request within its
	// step, warm-up first.
	Seq int
	// Warmup marks requests sent before the measured window.
	Warmup bool
	// Start is the send instant relative to the step's start.
	Start time.Duration
	// QueueTime runs from when the schedule meant the request to go to its
	// send instant: time spent waiting for a free slot under a concurrency
	// cap plus the client's own lag, which TTFT and E2EL exclude.
	QueueTime time.Duration
	// Lag is the part of QueueTime the client itself caused: from when the
	// request was both due and had a slot to its send instant. A large lag
	// means the client, not the server, limited the load.
	Lag time.Duration
	// TTFT is the first token event's arrival; zero when none arrived. A
	// token event is one whose choices carry output: a chat stream's
	// role-only opening chunk and an empty closing one are not. Reasoning
	// is output.
	TTFT time.Duration
	// TTFC is the first answer event's arrival: the first token event that
	// carries content (or tool calls) rather than reasoning alone; zero
	// when no answer arrived. Without reasoning it is TTFT.
	TTFC time.Duration
	// E2EL is the last token event's arrival. The usage chunk and [DONE]
	// do not extend it.
	E2EL time.Duration
	// Gaps holds the time between successive token events (vLLM's ITL), one
	// entry per event after the first, not per token.
	Gaps []time.Duration
	// ChunkTokens holds, when the server reported a running usage count on
	// every token event, how many tokens each event carried (the role-only
	// first chat event carries none); nil when that is not known.
	ChunkTokens []uint32
	// TokenEvents is the number of token events.
	TokenEvents int
	// UsageTokens is the server's final usage.completion_tokens, zero when
	// it sent none.
	UsageTokens int
	// UsageReasoningTokens is how many of UsageTokens the server counted
	// as reasoning, zero when it did not say.
	UsageReasoningTokens int
	// MaxTokens is the output limit the request was sent with.
	MaxTokens int
	// PromptTokens is usage.prompt_tokens when the server sent it, else the
	// prompt's planned length.
	PromptTokens int
	// OutputTokens is usage.completion_tokens when non-zero, else the
	// number of token events; see TokenSource.
	OutputTokens int
	// TokenSource says where OutputTokens came from.
	TokenSource TokenSource
	// ReasoningTokens and AnswerTokens split the output between the
	// model's thinking and its answer; a request without reasoning has
	// all of its output tokens as answer.
	ReasoningTokens int
	AnswerTokens    int
	// ReasoningSource says where the split came from: TokenSourceUsage,
	// the server's count of reasoning tokens, the answer being the rest;
	// TokenSourceChunks, the token events of each kind (with the running
	// usage count each carried, where every event carried one), an event
	// carrying both kinds counting toward both. Empty when there was no
	// reasoning.
	ReasoningSource TokenSource
	// HTTPStatus is zero when no response arrived.
	HTTPStatus int
	// Err is empty for a successful request: a 2xx response that streamed
	// at least one token event and ended with [DONE].
	Err string
}

// OK reports whether the request succeeded.
func (r Record) OK() bool { return r.Err == "" }

// NoAnswer reports whether the request succeeded with reasoning and no
// answer, which is what a reasoning model does when its thinking uses up
// max_tokens.
func (r Record) NoAnswer() bool { return r.OK() && r.ReasoningTokens > 0 && r.TTFC == 0 }

// TPOT returns (E2EL−TTFT)/(OutputTokens−1), vLLM's time per output token
// excluding the first. It is defined only when OutputTokens > 1.
func (r Record) TPOT() (time.Duration, bool) {
	if r.OutputTokens <= 1 {
		return 0, false
	}
	return divRound(r.E2EL-r.TTFT, r.OutputTokens-1), true
}

// TokenSourcesDisagree reports whether the server's final usage count and
// the client's own count disagree: the sum of per-event counts when every
// event carried one, else the number of token events, of which a closing
// chunk with an empty text may carry no token.
func (r Record) TokenSourcesDisagree() bool {
	if r.UsageTokens == 0 || r.UsageRejected() != "" {
		return false // one source only, or one not believed
	}
	if r.ChunkTokens != nil {
		sum := 0
		for _, n := range r.ChunkTokens {
			sum += int(n)
		}
		return sum != r.UsageTokens
	}
	matches := func(n int) bool { return n == r.TokenEvents || n == r.TokenEvents-1 }
	return !matches(r.UsageTokens) && !(r.UsageReasoningTokens > 0 && matches(r.UsageTokens-r.UsageReasoningTokens))
}

func divRound(d time.Duration, n int) time.Duration {
	return time.Duration(math.Round(float64(d) / float64(n)))
}

// Fixed Record.Err values. A request whose caller's context ended is cut
// off: stopped by the caller (an interrupt), not failed by the server.
const (
	errCancelled = CutOffPrefix + "interrupted"
	errDeadline  = CutOffPrefix + "deadline exceeded"
	errNoDone    = "stream ended before [DONE]"
	errNoToken   = "no token received"
	// A server that does not stream reasoning text, as OpenAI's, sends no
	// token event at all when reasoning uses up the limit.
	errOnlyReasoning = errNoToken + "; the server counted reasoning tokens only: the reasoning may have used up max_tokens"
)

// Record.Err prefixes of requests a bound ended.
const (
	// TimeoutPrefix begins the reason of a request that a timeout ended.
	TimeoutPrefix = "timeout: "
	// CutOffPrefix begins the reason of a request still running when its
	// step's duration and drain had passed, or when the run was
	// interrupted.
	CutOffPrefix = "cut off: "
)

// stop is why a request's context was cancelled: a timeout or the end of
// its step, each with the reason its Record reports.
type stop struct{ reason string }

// StopCause is a cause for cancelling a step's context
// (context.WithCancelCause) that ends the step early on purpose: its
// requests in flight are cut off with the reason, as at the end of a
// step's drain, rather than failed.
func StopCause(reason string) error { return &stop{reason: CutOffPrefix + reason} }

func (s *stop) Error() string { return s.reason }

// idleStop is the idle timeout's cause; the reason is worded by the read
// loop, which knows how many events had come.
type idleStop struct{ after time.Duration }

func (s *idleStop) Error() string { return fmt.Sprintf("no event for %s", s.after) }

// IsCutOff reports whether a Record's request was cut off at the end of
// its step rather than failed by the server.
func IsCutOff(err string) bool { return strings.HasPrefix(err, CutOffPrefix) }

// drainTimeout bounds the wait for the end of a response body after
// [DONE]: reading it to the end lets the connection be reused, but a server
// that holds the stream open must not hold the worker.
const drainTimeout = 250 * time.Millisecond

// Client sends streaming requests over one shared keep-alive transport. It
// is safe for concurrent use.
type Client struct {
	hc     *http.Client
	timing Timing
}

// NewClient returns a Client that opens at most maxConns connections per
// host and keeps them for reuse; maxConns ≤ 0 means no limit. maxConns
// should be at least the concurrency it serves: a request waiting for a
// connection waits after its send instant, so the wait shows up in TTFT.
// Proxies from the environment are not used, HTTP/2 is not negotiated (one
// stream per connection, as vLLM's client), compression is off so SSE bytes
// arrive as the server flushes them, and there is no overall timeout:
// contexts bound requests.
func NewClient(maxConns int) *Client {
	return newClient(maxConns, TimingRead)
}

// Timing says when a stream's event happened.
type Timing string

// Timings.
const (
	// TimingRead stamps an event when the read that completed it
	// returned: when this process saw it.
	TimingRead Timing = "read"
	// TimingKernel stamps an event with the wall-clock time the kernel
	// received the last segment of the read that completed it
	// (SO_TIMESTAMPNS, Linux): when its last byte reached the host,
	// whenever the reading goroutine got to run. Durations between such
	// stamps, and from the send instant, are read on the wall clock.
	TimingKernel Timing = "kernel"
)

// NewTimedClient is NewClient with the event times of timing; kernel
// timing is refused where this build cannot read it.
func NewTimedClient(maxConns int, timing Timing) (*Client, error) {
	if timing == TimingKernel && !KernelTimingAvailable() {
		return nil, errors.New("the kernel's receive times cannot be read here: they need Linux, and a socket that accepts SO_TIMESTAMPNS")
	}
	if timing != TimingKernel && timing != TimingRead {
		return nil, fmt.Errorf("unknown timing %q", timing)
	}
	return newClient(maxConns, timing), nil
}

func newClient(maxConns int, timing Timing) *Client {
	idle := maxConns
	if maxConns <= 0 {
		maxConns, idle = 0, 1024
	}
	d := dial
	if timing == TimingKernel {
		d = DialKernelStamped
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         d,
		MaxConnsPerHost:     maxConns,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{hc: &http.Client{Transport: tr}, timing: timing}
}

// connectTimeout carries a request's connect timeout to dial.
type connectTimeout struct{}

// dial opens a connection within the connect timeout of the request that
// needs it (30 s when it sets none).
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialer(ctx).DialContext(ctx, network, addr)
}

// DialKernelStamped dials, as the Client does with kernel timing, a TCP
// connection whose reads carry the kernel's receive time: it is a
// KernelStamped.
func DialKernelStamped(ctx context.Context, network, addr string) (net.Conn, error) {
	return kernelDial(ctx, dialer(ctx), network, addr)
}

func dialer(ctx context.Context) *net.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if t, ok := ctx.Value(connectTimeout{}).(time.Duration); ok && t > 0 {
		d.Timeout = t
	}
	return d
}

// KernelStamped is a connection that knows when the kernel received the
// bytes of its latest read: ReceivedNano, in Unix nanoseconds, 0 before
// any.
type KernelStamped interface{ ReceivedNano() int64 }

// Timing is how the Client stamps events.
func (c *Client) Timing() Timing { return c.timing }

// CloseIdleConnections closes the connections the Client keeps for reuse.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Do sends r to t and reads the stream to its end. It never returns an
// error: failures are in Record.Err. Seq, Warmup and Start are left zero for
// the schedule to fill; QueueTime is the client's own preparation time.
func (c *Client) Do(ctx context.Context, t Target, r Request) Record {
	now := time.Now()
	rec, _ := c.do(ctx, t, r, now, now)
	return rec
}

type chatBody struct {
	Model               string        `json:"model"`
	Messages            []Message     `json:"messages"`
	MaxCompletionTokens *int          `json:"max_completion_tokens,omitempty"`
	MaxTokens           *int          `json:"max_tokens,omitempty"`
	Stream              bool          `json:"stream"`
	StreamOptions       streamOptions `json:"stream_options"`
	IgnoreEOS           bool          `json:"ignore_eos,omitempty"`
}

type completionsBody struct {
	Model         string        `json:"model"`
	Prompt        string        `json:"prompt"`
	MaxTokens     int           `json:"max_tokens"`
	Stream        bool          `json:"stream"`
	StreamOptions streamOptions `json:"stream_options"`
	IgnoreEOS     bool          `json:"ignore_eos,omitempty"`
}

type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats,omitempty"`
}

func requestBody(model string, r Request) (path string, body []byte, err error) {
	opts := streamOptions{IncludeUsage: true, ContinuousUsageStats: r.ContinuousUsage}
	maxTokens := r.limit()
	switch r.API {
	case APIChat:
		messages := r.Prompt.Messages
		if len(messages) == 0 {
			messages = []Message{{Role: "user", Content: r.Prompt.Text}}
		}
		path = "/v1/chat/completions"
		cb := chatBody{
			Model:         model,
			Messages:      messages,
			Stream:        true,
			StreamOptions: opts,
			IgnoreEOS:     r.IgnoreEOS,
		}
		fields := r.TokenLimit
		if len(fields) == 0 {
			fields = []string{"max_completion_tokens"}
		}
		for _, f := range fields {
			switch f {
			case "max_completion_tokens":
				cb.MaxCompletionTokens = &maxTokens
			case "max_tokens":
				cb.MaxTokens = &maxTokens
			default:
				return "", nil, fmt.Errorf("unknown token-limit field %q", f)
			}
		}
		body, err = json.Marshal(cb)
	case APICompletions:
		text := r.Prompt.Text
		if text == "" && len(r.Prompt.Messages) > 0 {
			parts := make([]string, len(r.Prompt.Messages))
			for i, m := range r.Prompt.Messages {
				parts[i] = m.Content
			}
			text = strings.Join(parts, "\n")
		}
		path = "/v1/completions"
		body, err = json.Marshal(completionsBody{
			Model:         model,
			Prompt:        text,
			MaxTokens:     maxTokens,
			Stream:        true,
			StreamOptions: opts,
			IgnoreEOS:     r.IgnoreEOS,
		})
	default:
		return "", nil, fmt.Errorf("unknown api %q", r.API)
	}
	if err != nil || len(r.ExtraBody) == 0 {
		return path, body, err
	}
	body, err = mergeObjects(body, r.ExtraBody)
	return path, body, err
}

// limit is the output limit the request is sent with: the dataset's
// length for the prompt, else the scenario's max_tokens.
func (r Request) limit() int {
	if r.Prompt.OutputTokens > 0 {
		return r.Prompt.OutputTokens
	}
	return r.MaxTokens
}

// ExceedsLimit reports whether the request streamed more tokens than it
// asked for, by its count or by its token events, each of which carries
// at least one: the server ignored its limit.
func (r Record) ExceedsLimit() bool {
	return r.MaxTokens > 0 && max(r.OutputTokens, r.TokenEvents) > r.MaxTokens
}

// maxTokensPerEvent is how many tokens a token event may carry on
// average, without a running count on every event to say so, before the
// server's usage count is not believed. Engines send one token per event,
// or a few under speculative decoding or a stream interval.
const maxTokensPerEvent = 16

// UsageRejected says why the server's usage count is not believed, or ""
// when it is (or there is none). A count is rejected when it passes the
// request's max_tokens while the stream stayed within it, or, without a
// running count on every event to explain it, when it is more than
// maxTokensPerEvent tokens per token event or less than half a token per
// event, with or without the reasoning tokens the server counted (a server
// such as OpenAI's counts reasoning that it does not stream). The
// request's output tokens are then its token events.
func (r Record) UsageRejected() string {
	switch {
	case r.UsageTokens == 0:
		return ""
	case r.MaxTokens > 0 && r.UsageTokens > r.MaxTokens && r.TokenEvents <= r.MaxTokens:
		return fmt.Sprintf("usage rejected: %d > max_tokens %d", r.UsageTokens, r.MaxTokens)
	case r.ChunkTokens == nil && !r.fitsEvents(r.UsageTokens) && !(r.UsageReasoningTokens > 0 && r.fitsEvents(r.UsageTokens-r.UsageReasoningTokens)):
		return fmt.Sprintf("usage rejected: %d tokens in %d token events", r.UsageTokens, r.TokenEvents)
	}
	return ""
}

// fitsEvents reports whether n tokens could have streamed as the request's
// token events: at most maxTokensPerEvent and at least half a token each.
func (r Record) fitsEvents(n int) bool {
	return n <= maxTokensPerEvent*r.TokenEvents && r.TokenEvents <= 2*n+1
}

// mergeObjects adds the fields of extra to the JSON object base, replacing
// fields of the same name.
func mergeObjects(base, extra json.RawMessage) ([]byte, error) {
	var b, e map[string]json.RawMessage
	if err := json.Unmarshal(base, &b); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(extra, &e); err != nil {
		return nil, fmt.Errorf("extra body: %w", err)
	}
	for k, v := range e {
		b[k] = v
	}
	return json.Marshal(b)
}

var readers = sync.Pool{New: func() any { return newSSEReader(nil, 16<<10) }}

// do sends one request. due is when the schedule meant it to go and ready
// when it was also free to (a slot was available); sent is its send
// instant, the origin of every duration in the Record.
func (c *Client) do(ctx context.Context, t Target, r Request, due, ready time.Time) (rec Record, sent time.Time) {
	rec.ID = r.ID
	rec.PromptTokens = r.Prompt.InputTokens
	rec.MaxTokens = r.limit()
	fail := func(msg string) (Record, time.Time) {
		rec.Err = msg
		return rec, sent
	}
	path, body, err := requestBody(t.Model, r)
	if err != nil {
		sent = time.Now()
		return fail(err.Error())
	}
	// A child context lets the drain after [DONE] be cut short, and a
	// timeout end the request with its reason, without touching the
	// caller's.
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	cancel := func() { cancelCause(nil) }
	to := r.Timeouts
	if to.Request > 0 {
		var cancelReq context.CancelFunc
		ctx, cancelReq = context.WithTimeoutCause(ctx, to.Request, &stop{TimeoutPrefix + fmt.Sprintf("the request took over %s", to.Request)})
		defer cancelReq()
	}
	if to.Connect > 0 {
		ctx = context.WithValue(ctx, connectTimeout{}, to.Connect)
	}
	// With kernel timing, the stream's reads are stamped by the connection
	// it gets.
	var rx KernelStamped
	if c.timing == TimingKernel {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			rx, _ = info.Conn.(KernelStamped)
		}})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(t.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		sent = time.Now()
		return fail(redactURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	if r.ID != "" {
		req.Header.Set("X-Request-Id", r.ID)
	}
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	// Everything the stream needs is ready before the clock starts.
	sr := readers.Get().(*sseReader)
	defer func() {
		sr.reset(nil)
		readers.Put(sr)
	}()
	gaps := sr.gaps[:0]
	defer func() { sr.gaps = gaps[:0] }()

	sent = time.Now()
	rec.QueueTime, rec.Lag = sent.Sub(due), sent.Sub(ready)
	var firstByte *time.Timer
	if to.FirstByte > 0 {
		firstByte = time.AfterFunc(to.FirstByte, func() {
			cancelCause(&stop{TimeoutPrefix + fmt.Sprintf("no response within %s", to.FirstByte)})
		})
	}
	resp, err := c.hc.Do(req)
	if firstByte != nil {
		firstByte.Stop()
	}
	if err != nil {
		if msg := ctxErr(ctx); msg != "" {
			return fail(msg)
		}
		var ne net.Error
		if to.Connect > 0 && errors.As(err, &ne) && ne.Timeout() {
			return fail(TimeoutPrefix + fmt.Sprintf("no connection within %s", to.Connect))
		}
		return fail(redactURLError(err))
	}
	defer resp.Body.Close()
	rec.HTTPStatus = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fail(httpError(resp.StatusCode, b))
	}

	sr.reset(resp.Body)
	sr.src.rx = rx
	if to.Idle > 0 {
		stopIdle := sr.src.watch(to.Idle, func() { cancelCause(&idleStop{to.Idle}) })
		defer stopIdle()
	}

	var (
		ch                 chunk
		events             int
		first, last        time.Time
		usagePrompt, usage int
		done               bool
		// Per-event token counts are known only while every token event
		// carries a running usage count.
		chunkTokens   = sr.tokens[:0]
		perEventKnown = true
		prevUsage     int
		anyEvent      bool // an event of any kind
		// The split between reasoning and answer, by events and by the
		// tokens of events where each carried a running count.
		firstAnswer                   time.Time
		reasoningEvents, answerEvents int
		reasoningTokens, answerTokens int
		usageReasoning                int
		thinking                      bool // the last token event carried reasoning alone
	)
	defer func() { sr.tokens = chunkTokens[:0] }()
	for {
		data, at, err := sr.next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			var idle *idleStop
			if errors.As(context.Cause(ctx), &idle) {
				rec.Err = TimeoutPrefix + fmt.Sprintf("no event for %s after %d token events", idle.after, events)
			} else if msg := ctxErr(ctx); msg != "" {
				rec.Err = msg
			} else if err != nil {
				rec.Err = "read stream: " + err.Error()
			} else if ct := resp.Header.Get("Content-Type"); !anyEvent && !isEventStream(ct) {
				rec.Err = fmt.Sprintf("not an event stream: Content-Type %q, and the body begins %q", ct, sr.src.head)
			} else {
				rec.Err = errNoDone
			}
			break
		}
		anyEvent = true
		if isDone(data) {
			done = true
			break
		}
		if err := sr.dec.decode(data, &ch); err != nil {
			rec.Err = "malformed event: " + jsonerror.Describe(err) + ": " + truncate(string(data), 200)
			break
		}
		// A token event has choices carrying output; a chat stream's
		// opening role-only chunk and an empty closing one carry none, so
		// they neither start the clock nor add a gap.
		if ch.choices && !ch.silent && !(ch.roleOnly && events == 0) {
			events++
			if events == 1 {
				first = at
			} else {
				gaps = append(gaps, at.Sub(last))
			}
			last = at
			reasoning, answer := ch.reasoningBytes > 0, ch.answerBytes > 0
			if !reasoning && !answer {
				// A token that printed nothing (an empty content)
				// continues what came before it.
				reasoning, answer = thinking, !thinking
			}
			thinking = reasoning && !answer
			if reasoning {
				reasoningEvents++
			}
			if answer {
				if answerEvents == 0 {
					firstAnswer = at
				}
				answerEvents++
			}
			if perEventKnown {
				if ch.hasUsage && ch.completionTokens >= prevUsage && ch.completionTokens-prevUsage <= math.MaxUint32 {
					n := ch.completionTokens - prevUsage
					chunkTokens = append(chunkTokens, uint32(n))
					prevUsage = ch.completionTokens
					r, a := splitTokens(n, reasoning, answer, ch.reasoningBytes, ch.answerBytes)
					reasoningTokens += r
					answerTokens += a
				} else {
					perEventKnown = false
				}
			}
		}
		if ch.hasUsage {
			// The last non-zero value wins, so continuous usage stats and a
			// final usage chunk agree.
			if ch.completionTokens > 0 {
				usage = ch.completionTokens
			}
			if ch.promptTokens > 0 {
				usagePrompt = ch.promptTokens
			}
			if ch.reasoningTokens > 0 {
				usageReasoning = ch.reasoningTokens
			}
		}
		if ch.hasErr {
			rec.Err = "stream error: " + ch.errMsg
			break
		}
	}

	if len(gaps) > 0 {
		// An exact-size copy: the pooled buffer keeps its capacity, and a
		// Record holds no more memory than its gaps.
		rec.Gaps = make([]time.Duration, len(gaps))
		copy(rec.Gaps, gaps)
	}
	if events > 0 {
		rec.TTFT = first.Sub(sent)
		rec.E2EL = last.Sub(sent)
	}
	if answerEvents > 0 {
		rec.TTFC = firstAnswer.Sub(sent)
	}
	if perEventKnown && events > 0 {
		rec.ChunkTokens = make([]uint32, len(chunkTokens))
		copy(rec.ChunkTokens, chunkTokens)
	}
	rec.TokenEvents, rec.UsageTokens, rec.UsageReasoningTokens = events, usage, usageReasoning
	if usagePrompt > 0 {
		rec.PromptTokens = usagePrompt
	}
	rec.OutputTokens, rec.TokenSource = events, TokenSourceChunks
	if rec.UsageRejected() != "" {
		// The running counts sum to the rejected total.
		rec.ChunkTokens = nil
	} else if usage > 0 {
		rec.OutputTokens, rec.TokenSource = usage, TokenSourceUsage
	}
	switch {
	// The server's count is believed where it believes its total and
	// leaves a token for an answer that streamed.
	case usageReasoning > 0 && rec.TokenSource == TokenSourceUsage && usageReasoning+min(answerEvents, 1) <= usage:
		rec.ReasoningTokens, rec.AnswerTokens, rec.ReasoningSource = usageReasoning, rec.OutputTokens-usageReasoning, TokenSourceUsage
	case reasoningEvents == 0:
		rec.AnswerTokens = rec.OutputTokens
	case rec.ChunkTokens != nil:
		rec.ReasoningTokens, rec.AnswerTokens, rec.ReasoningSource = reasoningTokens, answerTokens, TokenSourceChunks
	default:
		rec.ReasoningTokens, rec.AnswerTokens, rec.ReasoningSource = reasoningEvents, answerEvents, TokenSourceChunks
	}
	if done && events == 0 {
		rec.Err = errNoToken
		if usageReasoning > 0 {
			rec.Err = errOnlyReasoning
		}
	}
	if done {
		drain(resp.Body, cancel)
	}
	return rec, sent
}

// splitTokens divides the n tokens of a token event between reasoning and
// answer: all to the one it carried, or, for an event that carried both,
// in proportion to the bytes of each, at least one token each. A single
// token's text cannot be both; it goes to the answer, which the event
// ends with.
func splitTokens(n int, reasoning, answer bool, reasoningBytes, answerBytes int) (r, a int) {
	switch {
	case !answer:
		return n, 0
	case !reasoning || n < 2:
		return 0, n
	}
	r = int(math.Round(float64(n) * float64(reasoningBytes) / float64(reasoningBytes+answerBytes)))
	r = min(max(r, 1), n-1)
	return r, n - r
}

// drain reads what follows [DONE] so the transport can reuse the
// connection, giving up after drainTimeout.
func drain(body io.Reader, cancel context.CancelFunc) {
	t := time.AfterFunc(drainTimeout, cancel)
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	t.Stop()
}

// ctxErr is the reason of a request whose context ended: the timeout or
// the end of the step that stopped it, else the caller's cancellation.
func ctxErr(ctx context.Context) string {
	if ctx.Err() == nil {
		return ""
	}
	var st *stop
	if errors.As(context.Cause(ctx), &st) {
		return st.reason
	}
	if ctx.Err() == context.DeadlineExceeded {
		return errDeadline
	}
	return errCancelled
}

// isCtxFailure reports whether a Record failed because the caller's
// context ended, not a bound of its own.
func isCtxFailure(msg string) bool { return msg == errCancelled || msg == errDeadline }

// httpError formats a non-2xx response: the message of an OpenAI error body
// ({"error":{"message":…}}, or vLLM's older top-level "message"), else the
// body's first 200 bytes, else the status text.
func httpError(status int, body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		switch {
		case len(v.Error) > 0 && string(v.Error) != "null":
			msg = errorText(v.Error)
		case v.Message != "":
			msg = v.Message
		case len(v.Detail) > 0 && string(v.Detail) != "null":
			msg = errorText(v.Detail)
		}
	}
	if msg == "" {
		msg = truncate(strings.TrimSpace(string(body)), 200)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return fmt.Sprintf("HTTP %d: %s", status, msg)
}

// isEventStream reports whether a Content-Type is text/event-stream.
func isEventStream(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	return err == nil && t == "text/event-stream"
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence,
// marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// redactURLError formats a transport error with any user information
// removed from the URL it names.
func redactURLError(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err.Error()
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ue.Op + ": " + ue.Err.Error()
	}
	u.User = nil
	return fmt.Sprintf("%s %q: %v", ue.Op, u.String(), ue.Err)
}
