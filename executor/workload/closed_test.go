package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// loadServer streams a short completion after a pause and remembers what
// it served: the most requests it had in flight, and each request's prompt
// and handling interval by X-Request-Id.
type loadServer struct {
	pause time.Duration

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	seen        map[string]served
}

type served struct {
	prompt     string
	start, end time.Time
}

func (s *loadServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var body struct{ Prompt string }
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	script(http.StatusOK, []act{
		{sleep: s.pause, write: complToken("a")},
		{sleep: s.pause / 2, write: complToken("b") + usageChunk(len(body.Prompt), 2) + done},
	})(w, r)
	s.mu.Lock()
	s.inFlight--
	if s.seen == nil {
		s.seen = map[string]served{}
	}
	s.seen[r.Header.Get("X-Request-Id")] = served{prompt: body.Prompt, start: start, end: time.Now()}
	s.mu.Unlock()
}

// closedLoop is a closed loop's settings, for tests that need nothing
// else of a Step.
type closedLoop struct{ Concurrency, Requests, Warmup int }

// runClosed runs a closed loop through Run.
func runClosed(ctx context.Context, c *Client, t Target, api API, prompts []Prompt, maxTokens int, idPrefix string, load closedLoop, emit func(Record)) (Window, error) {
	return Run(ctx, c, t, Step{
		API:       api,
		Prompts:   prompts,
		MaxTokens: maxTokens,
		IDPrefix:  idPrefix,
		Load:      Load{Concurrency: load.Concurrency, Requests: load.Requests, Warmup: load.Warmup},
	}, emit)
}

func TestRunClosed(t *testing.T) {
	prompts := []Prompt{{Text: "p0", InputTokens: 1}, {Text: "p1", InputTokens: 1}, {Text: "p2", InputTokens: 1}}
	tests := []struct {
		name string
		load closedLoop
	}{
		{"one worker", closedLoop{Concurrency: 1, Requests: 5}},
		{"four workers with warm-up", closedLoop{Concurrency: 4, Requests: 20, Warmup: 3}},
		{"more workers than requests", closedLoop{Concurrency: 8, Requests: 3, Warmup: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := &loadServer{pause: 20 * time.Millisecond}
			srv := newServer(t, ls)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			// Not safe for concurrent use on purpose: the race detector
			// checks that calls are serialized.
			var recs []Record
			begin := time.Now()
			win, err := runClosed(ctx, NewClient(tt.load.Concurrency), target(srv), APICompletions, prompts, 2, "run", tt.load, func(r Record) {
				recs = append(recs, r)
			})
			if err != nil {
				t.Fatalf("runClosed() error: %v", err)
			}

			total := tt.load.Warmup + tt.load.Requests
			if len(recs) != total {
				t.Fatalf("emitted %d records, want %d", len(recs), total)
			}
			slices.SortFunc(recs, func(a, b Record) int { return a.Seq - b.Seq })
			ls.mu.Lock()
			defer ls.mu.Unlock()
			var lastWarmupEnd, firstMeasuredStart time.Time
			for i, r := range recs {
				warm := i < tt.load.Warmup
				wantPrompt := prompts[0].Text
				if !warm {
					wantPrompt = prompts[(i-tt.load.Warmup)%len(prompts)].Text
				}
				got := []any{r.Seq, r.ID, r.Warmup, r.Err, r.OutputTokens, ls.seen[r.ID].prompt}
				want := []any{i, fmt.Sprintf("run-%d", i), warm, "", 2, wantPrompt}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("record %d: Seq, ID, Warmup, Err, OutputTokens, prompt mismatch (-want +got):\n%s", i, diff)
				}
				if r.Start < 0 || r.Start > time.Since(begin) || r.TTFT < ls.pause {
					t.Errorf("record %d: Start %v, TTFT %v out of range", i, r.Start, r.TTFT)
				}
				sv := ls.seen[r.ID]
				if warm && sv.end.After(lastWarmupEnd) {
					lastWarmupEnd = sv.end
				}
				if !warm && (firstMeasuredStart.IsZero() || sv.start.Before(firstMeasuredStart)) {
					firstMeasuredStart = sv.start
				}
			}
			if tt.load.Warmup > 0 && !lastWarmupEnd.Before(firstMeasuredStart) {
				t.Errorf("warm-up ended at %v, after the measured window started at %v", lastWarmupEnd, firstMeasuredStart)
			}
			if !lastWarmupEnd.IsZero() && win.Start.Before(lastWarmupEnd) {
				t.Errorf("window starts before the warm-up ended")
			}
			if win.Duration <= 0 || win.Duration > time.Since(win.Start) {
				t.Errorf("window duration %v out of range", win.Duration)
			}
			if want := min(tt.load.Concurrency, max(tt.load.Warmup, tt.load.Requests)); ls.maxInFlight != want {
				t.Errorf("server saw at most %d requests in flight, want %d", ls.maxInFlight, want)
			}
		})
	}
}

func TestRunClosedCancel(t *testing.T) {
	const workers = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once every worker's request has streamed a token, however
	// slow the machine: the records must then carry a TTFT.
	var streaming atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, complToken("x"))
		w.(http.Flusher).Flush()
		if streaming.Add(1) == workers {
			time.AfterFunc(100*time.Millisecond, cancel)
		}
		endless(w, r)
	}))

	var recs []Record
	begin := time.Now()
	win, err := runClosed(ctx, NewClient(workers), target(srv), APICompletions, []Prompt{{Text: "p"}}, 1000, "x", closedLoop{Concurrency: workers, Requests: 100}, func(r Record) {
		recs = append(recs, r)
	})
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("runClosed() took %v after cancellation", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("runClosed() error = %v, want %v", err, context.Canceled)
	}
	if win.Start.IsZero() || win.Duration < 100*time.Millisecond {
		t.Errorf("window = %+v, want the part before cancellation", win)
	}
	// The requests in flight are reported as cancelled with their partial
	// timings, and none started after.
	if len(recs) != workers {
		t.Fatalf("emitted %d records, want %d", len(recs), workers)
	}
	for _, r := range recs {
		if r.Err != "cut off: interrupted" || r.Seq >= workers || r.TTFT <= 0 {
			t.Errorf("record %+v, want a request cut off with a TTFT", r)
		}
	}
}

func TestRunClosedCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, err := runClosed(ctx, NewClient(1), Target{BaseURL: "http://127.0.0.1:1"}, APIChat, []Prompt{{Text: "p"}}, 1, "", closedLoop{Concurrency: 1, Requests: 1, Warmup: 1}, func(Record) { calls++ })
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Errorf("runClosed() = %v with %d records, want %v and none", err, calls, context.Canceled)
	}
}

func TestRunValidates(t *testing.T) {
	prompts := []Prompt{{Text: "p"}}
	ok := Step{API: APIChat, Prompts: prompts, MaxTokens: 1, Load: Load{Concurrency: 1, Requests: 1}}
	with := func(f func(*Step)) Step {
		s := ok
		f(&s)
		return s
	}
	inf := math.Inf(1)
	tests := []struct {
		name   string
		client *Client
		step   Step
		want   string
	}{
		{"nil client", nil, ok, "workload: nil client"},
		{"neither concurrency nor rate", NewClient(1), with(func(s *Step) { s.Load = Load{Requests: 1} }), "workload: a step needs a concurrency or a rate above zero"},
		{"both concurrency and rate", NewClient(1), with(func(s *Step) { s.Load.Rate = 2 }), "workload: a step has either a concurrency or a rate, not both"},
		{"zero requests", NewClient(1), with(func(s *Step) { s.Load.Requests = 0 }), "workload: a step needs a number of requests or a duration"},
		{"requests and duration", NewClient(1), with(func(s *Step) { s.Load.Duration = time.Second }), "workload: a step has either a number of requests or a duration, not both"},
		{"infinite rate for a duration", NewClient(1), with(func(s *Step) { s.Load = Load{Rate: inf, Duration: time.Second} }), "workload: an infinite rate sends everything at once, so it needs a number of requests, not a duration"},
		{"gamma without burstiness", NewClient(1), with(func(s *Step) { s.Load = Load{Rate: 1, Requests: 1, Arrival: ArrivalGamma} }), "workload: gamma arrivals need a burstiness above zero, got 0"},
		{"unknown arrival", NewClient(1), with(func(s *Step) { s.Load = Load{Rate: 1, Requests: 1, Arrival: "bursty"} }), `workload: unknown arrival "bursty"`},
		{"negative warm-up", NewClient(1), with(func(s *Step) { s.Load.Warmup = -1 }), "workload: warm-up requests must not be negative, got -1"},
		{"no prompts", NewClient(1), with(func(s *Step) { s.Prompts = nil }), "workload: no prompts"},
		{"zero max tokens", NewClient(1), with(func(s *Step) { s.MaxTokens = 0 }), "workload: max tokens must be at least 1, got 0"},
		{"unknown api", NewClient(1), with(func(s *Step) { s.API = "embeddings" }), `workload: unknown api "embeddings"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.client, Target{BaseURL: "http://127.0.0.1:1"}, tt.step, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Run() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRunClosedIDWithoutPrefix(t *testing.T) {
	srv := newServer(t, &loadServer{})
	var ids []string
	_, err := runClosed(context.Background(), NewClient(1), target(srv), APICompletions, []Prompt{{Text: "p"}}, 2, "", closedLoop{Concurrency: 1, Requests: 2}, func(r Record) {
		ids = append(ids, r.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0", "1"}, ids); diff != "" {
		t.Errorf("IDs mismatch (-want +got):\n%s", diff)
	}
}
