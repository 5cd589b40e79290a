package runpod

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/benchform/benchform/internal/jsonerror"
	"github.com/benchform/benchform/internal/safetext"
)

// API is the transport to RunPod that the provider uses. Client implements
// it over REST v2; a GraphQL or REST v1 implementation could stand in if v2
// misbehaves.
type API interface {
	// CreatePod rents a pod. An error that is not an *APIError with a 4xx
	// status may hide a pod that was created all the same.
	CreatePod(ctx context.Context, req CreatePodRequest) (Pod, error)
	// GetPod returns one pod; a pod that does not exist is ErrNotFound.
	GetPod(ctx context.Context, id string) (Pod, error)
	// ListPods returns every pod of the account; REST v2 takes no filter.
	ListPods(ctx context.Context) ([]Pod, error)
	// UpdatePod changes the fields set in req; the container restarts.
	UpdatePod(ctx context.Context, id string, req UpdatePodRequest) (Pod, error)
	// PodAction starts, stops or restarts a pod.
	PodAction(ctx context.Context, id, action string) error
	// DeletePod terminates a pod; one that does not exist is no error.
	DeletePod(ctx context.Context, id string) error
	// GPUTypes returns the GPU catalog with prices per GPU per hour.
	GPUTypes(ctx context.Context) ([]GPUType, error)
	// PodLogs returns the last tail lines of the pod's container log.
	PodLogs(ctx context.Context, id string, tail int) ([]string, error)
}

// ErrNotFound is matched (errors.Is) by an APIError with status 404.
var ErrNotFound = errors.New("not found")

// APIError is a response of RunPod that is not a success.
type APIError struct {
	// Endpoint is the method and path, such as "GET /v2/pods/abc".
	Endpoint string
	Status   int
	// Detail is RunPod's explanation, with its per-field errors; Hint
	// says what the user can do about it.
	Detail string
	Hint   string
}

// Error says what failed, with RunPod's detail and what to do about it.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("runpod: %s: %d %s", e.Endpoint, e.Status, http.StatusText(e.Status))
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	if e.Detail != "" {
		msg += " (" + safetext.Line(e.Detail) + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// definite reports whether err proves that a request had no effect: RunPod
// answered it with a client error. After any other error a create may have
// created a pod.
func definite(err error) bool {
	var ae *APIError
	var ns *notSentError
	return errors.As(err, &ns) || (errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500)
}

// notSentError is a failure before a request left: nothing happened.
type notSentError struct{ msg string }

func (e *notSentError) Error() string { return e.msg }

// Client talks to RunPod's REST v2 API. It is safe for concurrent use.
type Client struct {
	s Settings

	mu sync.Mutex
	// notBefore holds requests back when a rate-limit window is spent, so
	// that parallel pods share the wait instead of each earning a 429.
	notBefore time.Time
}

var _ API = (*Client)(nil)

// NewClient returns a client for s, with defaults for its zero fields.
func NewClient(s Settings) *Client {
	return &Client{s: s.withDefaults()}
}

// Longest waits the client accepts from RunPod's rate limiting; a longer
// one (an hour or day window spent) is reported instead of slept through.
const maxRateLimitWait = 2 * time.Minute

// Retry backoff: doubling from backoffBase up to backoffCap, each wait
// drawn from its upper half so retries of parallel callers spread out.
const (
	backoffBase = time.Second
	backoffCap  = 30 * time.Second
)

// CreatePod implements API. It retries only 429s, which RunPod answers
// before doing anything: a 5xx or a lost connection may hide a created pod,
// and only the caller can look for it by name before trying again.
func (c *Client) CreatePod(ctx context.Context, req CreatePodRequest) (Pod, error) {
	var p Pod
	err := c.call(ctx, http.MethodPost, "/v2/pods", req, &p, false)
	if err == nil && p.ID == "" {
		err = fmt.Errorf("runpod: POST /v2/pods: field id: missing from the created pod")
	}
	return p, err
}

// GetPod implements API.
func (c *Client) GetPod(ctx context.Context, id string) (Pod, error) {
	var p Pod
	if id == "" {
		return p, fmt.Errorf("runpod: get pod: no pod id")
	}
	err := c.call(ctx, http.MethodGet, "/v2/pods/"+url.PathEscape(id), nil, &p, true)
	if err == nil && p.ID == "" {
		err = fmt.Errorf("runpod: GET /v2/pods/%s: field id: missing", url.PathEscape(id))
	}
	return p, err
}

// ListPods implements API.
func (c *Client) ListPods(ctx context.Context) ([]Pod, error) {
	var body struct {
		Pods []Pod `json:"pods"`
	}
	if err := c.call(ctx, http.MethodGet, "/v2/pods", nil, &body, true); err != nil {
		return nil, err
	}
	return body.Pods, nil
}

// UpdatePod implements API.
func (c *Client) UpdatePod(ctx context.Context, id string, req UpdatePodRequest) (Pod, error) {
	var p Pod
	err := c.call(ctx, http.MethodPatch, "/v2/pods/"+url.PathEscape(id), req, &p, true)
	return p, err
}

// PodAction implements API. Repeating an action is harmless (RunPod
// answers 409 when it no longer applies), so it is retried like a read.
func (c *Client) PodAction(ctx context.Context, id, action string) error {
	body := map[string]string{"action": action}
	return c.call(ctx, http.MethodPost, "/v2/pods/"+url.PathEscape(id)+"/action", body, nil, true)
}

// DeletePod implements API: terminate, after which a pod no longer bills.
func (c *Client) DeletePod(ctx context.Context, id string) error {
	err := c.call(ctx, http.MethodDelete, "/v2/pods/"+url.PathEscape(id), nil, nil, true)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// GPUTypes implements API.
func (c *Client) GPUTypes(ctx context.Context) ([]GPUType, error) {
	var body struct {
		GPUs []GPUType `json:"gpus"`
	}
	if err := c.call(ctx, http.MethodGet, "/v2/catalog/gpus", nil, &body, true); err != nil {
		return nil, err
	}
	return body.GPUs, nil
}

// PodLogs implements API. RunPod streams the log as server-sent events,
// one {"ts","source","line"} object per event.
func (c *Client) PodLogs(ctx context.Context, id string, tail int) ([]string, error) {
	path := "/v2/pods/" + url.PathEscape(id) + "/logs?source=container&tail=" + strconv.Itoa(tail)
	var raw []byte
	if err := c.call(ctx, http.MethodGet, path, nil, &raw, true); err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var ev struct {
			Line string `json:"line"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
			return lines, fmt.Errorf("runpod: GET %s: field line: event is not a log line object", strings.SplitN(path, "?", 2)[0])
		}
		lines = append(lines, ev.Line)
	}
	return lines, nil
}

// call sends one request, retrying what is worth retrying, and decodes a
// success into out (a *[]byte takes the raw body). idempotent requests
// are retried after 5xx answers and transport errors too.
func (c *Client) call(ctx context.Context, method, path string, in, out any, idempotent bool) error {
	endpoint := method + " " + strings.SplitN(path, "?", 2)[0]
	if c.s.APIKey == "" {
		return &notSentError{fmt.Sprintf("runpod: %s: no API key: set RUNPOD_API_KEY, or api_key in the provider \"runpod\" block", endpoint)}
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return &notSentError{fmt.Sprintf("runpod: %s: encode request: %v", endpoint, err)}
		}
	}
	for attempt := 1; ; attempt++ {
		if err := c.pace(ctx); err != nil {
			return err
		}
		status, hdr, data, err := c.send(ctx, method, path, body)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("runpod: %s: %w", endpoint, ctx.Err())
			}
			err = fmt.Errorf("runpod: %s: %s", endpoint, c.redact(err.Error()))
			if !idempotent || attempt >= c.s.MaxAttempts {
				return err
			}
			if err := c.s.Sleep(ctx, c.backoff(attempt)); err != nil {
				return fmt.Errorf("runpod: %s: %w", endpoint, err)
			}
			continue
		}
		c.noteRateLimit(hdr)
		switch {
		case status >= 200 && status < 300:
			return c.decode(endpoint, data, out)
		case status == http.StatusTooManyRequests:
			wait, ok := c.retryAfter(hdr)
			if !ok {
				wait = c.backoff(attempt)
			}
			if wait > maxRateLimitWait || attempt >= c.s.MaxAttempts {
				e := c.apiError(endpoint, status, data)
				e.Hint = fmt.Sprintf("rate limited; RunPod asks to wait %s, try again later", wait.Round(time.Second))
				return e
			}
			// Every request of this client waits, not only this one: the
			// limit is per key.
			c.holdUntil(c.s.Now().Add(wait))
		case status >= 500:
			if !idempotent || attempt >= c.s.MaxAttempts {
				return c.apiError(endpoint, status, data)
			}
			if err := c.s.Sleep(ctx, c.backoff(attempt)); err != nil {
				return fmt.Errorf("runpod: %s: %w", endpoint, err)
			}
		default:
			return c.apiError(endpoint, status, data)
		}
	}
}

// send makes one request. The error of a failed round trip drops the URL,
// which url.Error repeats.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.s.RESTURL+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.s.APIKey)
	req.Header.Set("User-Agent", c.s.UserAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.s.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %v", err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func (c *Client) decode(endpoint string, data []byte, out any) error {
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("runpod: %s: response does not match the API: %s", endpoint, c.redact(jsonerror.Describe(err)))
	}
	return nil
}

// apiError reads RunPod's problem document (or the older shapes: error,
// message) and adds what the user can do for the statuses that stop
// everything.
func (c *Client) apiError(endpoint string, status int, data []byte) *APIError {
	e := &APIError{Endpoint: endpoint, Status: status, Detail: c.redact(problemDetail(data))}
	switch status {
	case http.StatusUnauthorized:
		e.Hint = "the API key was refused; set a valid key in RUNPOD_API_KEY or api_key in the provider \"runpod\" block"
	case http.StatusPaymentRequired:
		e.Hint = "the account's balance is too low; add credit (RunPod wants at least an hour of the pod's price) and apply again"
	case http.StatusForbidden:
		e.Hint = "access denied: the API key lacks permission for this (a restricted key needs read and write access to pods), or the request was blocked"
	case http.StatusGone:
		e.Hint = fmt.Sprintf("this RunPod API has been retired; benchform uses REST v2 at %s: update benchform, or check rest_url and RUNPOD_REST_URL", c.s.RESTURL)
	}
	return e
}

// problemDetail extracts a short explanation from an error body, never the
// raw body, which may be an HTML page or echo the request.
func problemDetail(data []byte) string {
	var p struct {
		Title   string `json:"title"`
		Detail  string `json:"detail"`
		Errors  []any  `json:"errors"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &p) != nil {
		if bytes.Contains(data, []byte("1010")) {
			return "Cloudflare error 1010: the client was blocked by its signature"
		}
		return ""
	}
	parts := []string{}
	for _, s := range []string{p.Detail, p.Error, p.Message} {
		if s != "" {
			parts = append(parts, s)
			break
		}
	}
	if len(parts) == 0 && p.Title != "" {
		parts = append(parts, p.Title)
	}
	for _, e := range p.Errors {
		switch v := e.(type) {
		case string:
			parts = append(parts, v)
		case map[string]any:
			if m, ok := v["message"].(string); ok {
				if loc, ok := v["location"].(string); ok {
					m = loc + ": " + m
				}
				parts = append(parts, m)
			}
		}
	}
	s := strings.Join(parts, "; ")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// redact removes the API key from text that came from elsewhere.
func (c *Client) redact(s string) string {
	if c.s.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.s.APIKey, "[redacted]")
}

// backoff is the wait before the attempt after the given one.
func (c *Client) backoff(attempt int) time.Duration {
	d := backoffBase << min(attempt-1, 10)
	if d > backoffCap {
		d = backoffCap
	}
	return d/2 + time.Duration(c.s.Jitter()*float64(d/2))
}

// retryAfter reads how long a 429 asks to wait: Retry-After in seconds
// (or as a date), else the reset of a spent RateLimit window.
func (c *Client) retryAfter(h http.Header) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(c.s.Now()), 0), true
		}
	}
	if d, ok := spentWindow(h.Get("RateLimit")); ok {
		return d, true
	}
	return 0, false
}

// noteRateLimit holds later requests back while a short window is spent.
func (c *Client) noteRateLimit(h http.Header) {
	d, ok := spentWindow(h.Get("RateLimit"))
	if !ok || d > maxRateLimitWait {
		return
	}
	c.holdUntil(c.s.Now().Add(d))
}

func (c *Client) holdUntil(t time.Time) {
	c.mu.Lock()
	if t.After(c.notBefore) {
		c.notBefore = t
	}
	c.mu.Unlock()
}

func (c *Client) pace(ctx context.Context) error {
	c.mu.Lock()
	wait := c.notBefore.Sub(c.s.Now())
	c.mu.Unlock()
	if wait <= 0 {
		return ctx.Err()
	}
	return c.s.Sleep(ctx, wait)
}

// spentWindow parses an IETF-draft RateLimit header
// (`"minute";r=0;t=12, "hour";r=2800;t=1812`) and returns the longest
// reset among windows with nothing remaining.
func spentWindow(v string) (time.Duration, bool) {
	var wait time.Duration
	found := false
	for _, item := range strings.Split(v, ",") {
		r, t := -1, -1
		for _, param := range strings.Split(item, ";")[1:] {
			k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				continue
			}
			switch k {
			case "r":
				r = n
			case "t":
				t = n
			}
		}
		if r == 0 && t >= 0 {
			found = true
			wait = max(wait, time.Duration(t)*time.Second)
		}
	}
	return wait, found
}

func randFloat() float64 { return rand.Float64() }
