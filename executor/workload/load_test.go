package workload

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSchedule(t *testing.T) {
	const n = 4000
	tests := []struct {
		name        string
		load        Load
		wantCV      float64 // coefficient of variation of the gaps
		cvTolerance float64
	}{
		{"constant", Load{Rate: 50, Arrival: ArrivalConstant}, 0, 1e-4},
		{"poisson", Load{Rate: 50, Arrival: ArrivalPoisson, Seed: 1}, 1, 0.06},
		{"default is poisson", Load{Rate: 50, Seed: 2}, 1, 0.06},
		{"gamma, bursty", Load{Rate: 50, Arrival: ArrivalGamma, Burstiness: 0.25, Seed: 3}, 2, 0.15},
		{"gamma, regular", Load{Rate: 50, Arrival: ArrivalGamma, Burstiness: 4, Seed: 4}, 0.5, 0.04},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offs := schedule(n, tt.load)
			// vLLM rescales the sums so the last request lands at n/rate.
			if got, want := offs[n-1], time.Duration(float64(n)/tt.load.Rate*float64(time.Second)); absDur(got-want) > time.Microsecond {
				t.Errorf("last offset = %v, want %v", got, want)
			}
			var gaps []float64
			prev := time.Duration(0)
			for i, o := range offs {
				if o < prev {
					t.Fatalf("offset %d goes back in time", i)
				}
				gaps = append(gaps, (o - prev).Seconds())
				prev = o
			}
			mean, sd := meanStd(gaps)
			if cv := sd / mean; math.Abs(cv-tt.wantCV) > tt.cvTolerance {
				t.Errorf("coefficient of variation = %.3f, want %.3f ± %.3f", cv, tt.wantCV, tt.cvTolerance)
			}
			if diff := cmp.Diff(offs, schedule(n, tt.load)); diff != "" {
				t.Errorf("the same seed gave another schedule")
			}
		})
	}
	if inf := schedule(5, Load{Rate: math.Inf(1)}); !cmp.Equal(inf, make([]time.Duration, 5)) {
		t.Errorf("an infinite rate schedules %v, want everything at 0", inf)
	}
	a, b := schedule(100, Load{Rate: 10, Seed: 1}), schedule(100, Load{Rate: 10, Seed: 2})
	if cmp.Equal(a, b) {
		t.Errorf("different seeds gave the same schedule")
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func meanStd(xs []float64) (float64, float64) {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)))
}

// TestOpenLoopKeepsItsSchedule sends at a fixed rate to a server far
// slower than the gap between requests: an open loop does not wait for
// answers, so requests pile up in flight, and every request is sent near
// its due time whatever the others do.
func TestOpenLoopKeepsItsSchedule(t *testing.T) {
	srv := &loadServer{pause: 400 * time.Millisecond}
	hs := newServer(t, srv)
	var mu sync.Mutex
	var recs []Record
	win, err := Run(context.Background(), NewClient(0), target(hs), Step{
		API: APICompletions, Prompts: []Prompt{{Text: "p"}}, MaxTokens: 2, IDPrefix: "o",
		Load: Load{Rate: 100, Arrival: ArrivalConstant, Requests: 20, Warmup: 2},
	}, func(r Record) {
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if win.Sent != 20 || win.TargetRate != 100 {
		t.Errorf("window = %+v, want 20 sent at a target of 100/s", win)
	}
	// The 20 requests are due over 200 ms and each takes 600 ms: a loop
	// waiting for answers would never have more than one in flight.
	if srv.maxInFlight < 5 {
		t.Errorf("at most %d requests overlapped; an open loop must not wait for answers", srv.maxInFlight)
	}
	if got := win.AchievedRate(); got <= 0 {
		t.Errorf("achieved rate = %v", got)
	}
	measured := 0
	for _, r := range recs {
		if !r.OK() {
			t.Errorf("request %s failed: %s", r.ID, r.Err)
		}
		if r.Lag < 0 || r.QueueTime < r.Lag {
			t.Errorf("request %s: lag %v, queue time %v", r.ID, r.Lag, r.QueueTime)
		}
		if !r.Warmup {
			measured++
		}
	}
	if measured != 20 {
		t.Errorf("%d measured records, want 20", measured)
	}
}

// TestOpenLoopCap checks that a concurrency cap holds and that the wait for
// a slot is reported as queue time, not as the client's lag.
func TestOpenLoopCap(t *testing.T) {
	srv := &loadServer{pause: 40 * time.Millisecond}
	hs := newServer(t, srv)
	var maxQueue time.Duration
	_, err := Run(context.Background(), NewClient(0), target(hs), Step{
		API: APICompletions, Prompts: []Prompt{{Text: "p"}}, MaxTokens: 2,
		Load: Load{Rate: math.Inf(1), MaxConcurrency: 2, Requests: 8},
	}, func(r Record) {
		maxQueue = max(maxQueue, r.QueueTime)
	})
	if err != nil {
		t.Fatal(err)
	}
	if srv.maxInFlight > 2 {
		t.Errorf("%d requests in flight, cap is 2", srv.maxInFlight)
	}
	// Eight requests two at a time, each about 60 ms: the last waits for
	// three rounds.
	if maxQueue < 100*time.Millisecond {
		t.Errorf("longest queue time %v, want the wait for a slot counted", maxQueue)
	}
}

func TestClosedLoopForADuration(t *testing.T) {
	srv := &loadServer{pause: 5 * time.Millisecond}
	hs := newServer(t, srv)
	const d = 300 * time.Millisecond
	var starts []time.Duration
	win, err := Run(context.Background(), NewClient(2), target(hs), Step{
		API: APICompletions, Prompts: []Prompt{{Text: "p"}}, MaxTokens: 2,
		Load: Load{Concurrency: 2, Duration: d},
	}, func(r Record) { starts = append(starts, r.Start) })
	if err != nil {
		t.Fatal(err)
	}
	if win.Sent < 2 || win.Sent != len(starts) {
		t.Errorf("sent %d requests, emitted %d", win.Sent, len(starts))
	}
	// No request starts after the duration, and the window lasts at least
	// as long.
	offset := win.Start.Sub(win.Origin)
	for _, s := range starts {
		if s-offset > d {
			t.Errorf("a request was sent %v into a %v step", s-offset, d)
		}
	}
	if win.Duration < d {
		t.Errorf("window of %v, shorter than the step's %v", win.Duration, d)
	}
}

func TestOpenLoopForADurationAndCancel(t *testing.T) {
	srv := &loadServer{pause: time.Millisecond}
	hs := newServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	emitted := 0
	win, err := Run(ctx, NewClient(0), target(hs), Step{
		API: APICompletions, Prompts: []Prompt{{Text: "p"}}, MaxTokens: 2,
		Load: Load{Rate: 100, Duration: time.Minute},
	}, func(Record) {
		if emitted++; emitted == 3 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("a step cut short by its context returned no error")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a cancelled one-minute step took %v", took)
	}
	if win.Sent < 3 || win.Sent > 6000 {
		t.Errorf("sent %d requests", win.Sent)
	}
}

// TestClosedLoopCancelledBetweenRequests cancels a closed loop from emit,
// between two requests: nothing is in flight, but requests are left, so
// the step is reported cut short.
func TestClosedLoopCancelledBetweenRequests(t *testing.T) {
	hs := newServer(t, &loadServer{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err := Run(ctx, NewClient(1), target(hs), Step{
		API: APICompletions, Prompts: []Prompt{{Text: "p"}}, MaxTokens: 2,
		Load: Load{Concurrency: 1, Requests: 1000},
	}, func(Record) {
		if n++; n == 3 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("a step stopped with requests left returned no error")
	}
}
