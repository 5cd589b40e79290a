package runpod

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/providers/runpod/runpodtest"
)

// scripted answers requests from a list, one entry per request; the last
// entry repeats.
type scripted struct {
	mu         sync.Mutex
	answers    []answer
	requests   int
	userAgents []string
}

type answer struct {
	status int
	header map[string]string
	body   string
	hangUp bool // close the connection without answering
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.answers[min(s.requests, len(s.answers)-1)]
	s.requests++
	s.userAgents = append(s.userAgents, r.Header.Get("User-Agent"))
	s.mu.Unlock()
	if a.hangUp {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (s *scripted) count() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, append([]string(nil), s.userAgents...)
}

const podJSON = `{"id":"abc123","name":"n","status":"RUNNING","runtime":null}`

func newScriptedClient(t *testing.T, answers ...answer) (*Client, *scripted, *[]time.Duration) {
	t.Helper()
	srv := &scripted{answers: answers}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	var mu sync.Mutex
	var sleeps []time.Duration
	c := NewClient(Settings{
		APIKey: testAPIKey, RESTURL: ts.URL,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
			return ctx.Err()
		},
		Jitter: func() float64 { return 0 },
		// A clock that stands still, so that waits computed from it are
		// exact.
		Now: func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) },
	})
	return c, srv, &sleeps
}

func TestClientRetryPolicy(t *testing.T) {
	ok := answer{status: 200, body: podJSON}
	created := answer{status: 201, body: podJSON}
	problem := func(status int, detail string) answer {
		return answer{status: status, header: map[string]string{"Content-Type": "application/problem+json"},
			body: `{"title":"x","status":` + strconv.Itoa(status) + `,"detail":"` + detail + `","errors":["$: additional properties 'imageName' not allowed"]}`}
	}
	tests := []struct {
		name      string
		create    bool // POST /v2/pods rather than GET /v2/pods/abc123
		answers   []answer
		requests  int
		sleeps    []time.Duration
		wantErr   string // substring; "" for success
		notFound  bool
		ambiguous bool // the error leaves in doubt whether a pod was created
	}{
		{name: "500 then 200", answers: []answer{problem(500, "boom"), ok}, requests: 2, sleeps: []time.Duration{500 * time.Millisecond}},
		{name: "502 503 504 then 200", answers: []answer{problem(502, ""), problem(503, ""), problem(504, ""), ok}, requests: 4,
			sleeps: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},
		{name: "5xx until attempts run out", answers: []answer{problem(503, "busy")}, requests: 6,
			sleeps: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, wantErr: "503 Service Unavailable", ambiguous: true},
		{name: "transport error then 200", answers: []answer{{hangUp: true}, ok}, requests: 2, sleeps: []time.Duration{500 * time.Millisecond}},
		{name: "429 waits Retry-After", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "7"}}, ok}, requests: 2, sleeps: []time.Duration{7 * time.Second}},
		{name: "429 waits for the spent RateLimit window", answers: []answer{{status: 429, header: map[string]string{"RateLimit": `"minute";r=0;t=12, "hour";r=2800;t=1812`}}, ok}, requests: 2, sleeps: []time.Duration{12 * time.Second}},
		{name: "429 for an hour is reported, not slept", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "3600"}}}, requests: 1, wantErr: "rate limited; RunPod asks to wait 1h0m0s"},
		{name: "422 is never retried", answers: []answer{problem(422, "Request validation failed.")}, requests: 1, wantErr: "422 Unprocessable Entity (Request validation failed.; $: additional properties 'imageName' not allowed)"},
		{name: "400 is never retried", answers: []answer{problem(400, "bad")}, requests: 1, wantErr: "400 Bad Request"},
		{name: "401 stops with what to do", answers: []answer{problem(401, "Invalid API key.")}, requests: 1, wantErr: "401 Unauthorized: the API key was refused; set a valid key in RUNPOD_API_KEY or api_key"},
		{name: "402 stops with what to do", answers: []answer{problem(402, "")}, requests: 1, wantErr: "402 Payment Required: the account's balance is too low; add credit"},
		{name: "403 stops with what to do", answers: []answer{{status: 403, body: "<html>error code: 1010</html>"}}, requests: 1, wantErr: "403 Forbidden: access denied: the API key lacks permission for this (a restricted key needs read and write access to pods), or the request was blocked (Cloudflare error 1010"},
		{name: "410 names the retirement", answers: []answer{problem(410, "")}, requests: 1, wantErr: "410 Gone: this RunPod API has been retired"},
		{name: "404 is ErrNotFound", answers: []answer{problem(404, "Pod not found.")}, requests: 1, wantErr: "404 Not Found", notFound: true},
		{name: "create answered 500 is not retried", create: true, answers: []answer{problem(500, ""), created}, requests: 1, wantErr: "runpod: POST /v2/pods: 500", ambiguous: true},
		{name: "create lost connection is not retried", create: true, answers: []answer{{hangUp: true}, created}, requests: 1, wantErr: "runpod: POST /v2/pods: ", ambiguous: true},
		{name: "create 429 is retried", create: true, answers: []answer{{status: 429, header: map[string]string{"Retry-After": "2"}}, created}, requests: 2, sleeps: []time.Duration{2 * time.Second}},
		{name: "create 400 is definite", create: true, answers: []answer{problem(400, noCapacityText)}, requests: 1, wantErr: "no longer any instances"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, sleeps := newScriptedClient(t, tt.answers...)
			var err error
			if tt.create {
				_, err = c.CreatePod(testCtx(t), CreatePodRequest{Name: "n", Image: "i", Env: map[string]string{"HF_TOKEN": testHFToken}})
			} else {
				_, err = c.GetPod(testCtx(t), "abc123")
			}
			requests, userAgents := srv.count()
			if requests != tt.requests {
				t.Errorf("requests = %d, want %d", requests, tt.requests)
			}
			if diff := cmp.Diff(tt.sleeps, *sleeps); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if err != nil {
				if got := errors.Is(err, ErrNotFound); got != tt.notFound {
					t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tt.notFound)
				}
				if got := !definite(err); got != tt.ambiguous {
					t.Errorf("ambiguous = %v, want %v", got, tt.ambiguous)
				}
				for _, secret := range []string{testAPIKey, testHFToken} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q contains a secret", err)
					}
				}
			}
			for _, ua := range userAgents {
				if ua != "benchform/"+Version {
					t.Errorf("User-Agent = %q", ua)
				}
			}
		})
	}
}

const noCapacityText = "There are no longer any instances available with the requested specifications. Please refresh and try again."

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name    string
		answer  answer
		call    func(c *Client) error
		wantErr string
	}{
		{
			name:   "a field of the wrong type is named",
			answer: answer{status: 200, body: `{"id":"abc123","runtime":{"ports":"8000"}}`},
			call: func(c *Client) error {
				_, err := c.GetPod(context.Background(), "abc123")
				return err
			},
			wantErr: "runpod: GET /v2/pods/abc123: response does not match the API: field runtime.ports: got a JSON string, want an array",
		},
		{
			name:   "a pod without id",
			answer: answer{status: 200, body: `{"name":"x"}`},
			call: func(c *Client) error {
				_, err := c.GetPod(context.Background(), "abc123")
				return err
			},
			wantErr: "runpod: GET /v2/pods/abc123: field id: missing",
		},
		{
			name:   "not JSON",
			answer: answer{status: 200, body: `<html>`},
			call: func(c *Client) error {
				_, err := c.ListPods(context.Background())
				return err
			},
			wantErr: "runpod: GET /v2/pods: response does not match the API: not JSON (at byte 1)",
		},
		{
			name:   "the key echoed by the server is hidden",
			answer: answer{status: 400, body: `{"detail":"bad key ` + testAPIKey + `"}`},
			call: func(c *Client) error {
				_, err := c.ListPods(context.Background())
				return err
			},
			wantErr: "runpod: GET /v2/pods: 400 Bad Request (bad key [redacted])",
		},
		{
			name:   "delete of a pod that is gone succeeds",
			answer: answer{status: 404, body: `{"detail":"Pod not found."}`},
			call: func(c *Client) error {
				return c.DeletePod(context.Background(), "abc123")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newScriptedClient(t, tt.answer)
			err := tt.call(c)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestClientNeedsKey(t *testing.T) {
	c := NewClient(Settings{RESTURL: "http://127.0.0.1:1"})
	_, err := c.ListPods(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no API key: set RUNPOD_API_KEY") {
		t.Fatalf("error = %v", err)
	}
}

func TestClientSlowAnswers(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	h.fake.SetFaults(runpodtest.Faults{Latency: 300 * time.Millisecond})
	s := h.s
	s.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
	s.MaxAttempts = 3
	_, err := NewClient(s).ListPods(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "runpod: GET /v2/pods: ") || !strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Errorf("error = %v", err)
	}
	if strings.Contains(err.Error(), h.fake.URL()) {
		t.Errorf("error repeats the URL: %v", err)
	}
	if n := h.clock.Slept(); n != 2250*time.Millisecond { // 0.75s and 1.5s at the harness's jitter
		t.Errorf("backed off %s in all", n)
	}
}

func TestClientPacesOnSpentWindow(t *testing.T) {
	c, srv, sleeps := newScriptedClient(t,
		answer{status: 200, body: `{"pods":[]}`, header: map[string]string{"RateLimit": `"minute";r=0;t=9`}},
		answer{status: 200, body: `{"pods":[]}`})
	for i := 0; i < 2; i++ {
		if _, err := c.ListPods(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := srv.count(); n != 2 {
		t.Errorf("requests = %d", n)
	}
	if diff := cmp.Diff([]time.Duration{9 * time.Second}, *sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestClientAgainstFake(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	c := NewClient(h.s)
	ctx := testCtx(t)

	gpus, err := c.GPUTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := findGPU(gpus, "NVIDIA H100 80GB HBM3"); !ok || g.Price.Secure != 2.69 || g.MemoryGB != 80 {
		t.Errorf("catalog entry = %+v, %v", g, ok)
	}

	pod, err := c.CreatePod(ctx, CreatePodRequest{Name: "x", Image: "img", GPU: &GPURequest{ID: "NVIDIA L40S", Count: 1}, Ports: []string{"8000/http"}})
	if err != nil {
		t.Fatal(err)
	}
	h.fake.Log(pod.ID, "line one", "line two", "line three")
	lines, err := c.PodLogs(ctx, pod.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"line two", "line three"}, lines); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}

	// The fake, like RunPod, refuses unknown fields of a create.
	type extra struct {
		CreatePodRequest
		ImageName string `json:"imageName"`
	}
	err = c.call(ctx, http.MethodPost, "/v2/pods", extra{CreatePodRequest{Name: "x", Image: "i", GPU: &GPURequest{ID: "NVIDIA L40S"}}, "i"}, nil, false)
	if err == nil || !strings.Contains(err.Error(), "422 Unprocessable Entity (Request validation failed.; $: additional properties 'imageName' not allowed)") {
		t.Errorf("unknown field: error = %v", err)
	}

	// Go's default User-Agent is refused as Cloudflare refuses it.
	s := h.s
	s.UserAgent = "Go-http-client/1.1"
	_, err = NewClient(s).ListPods(ctx)
	if err == nil || !strings.Contains(err.Error(), "Cloudflare error 1010") {
		t.Errorf("default User-Agent: error = %v", err)
	}
}
