package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benchform/benchform/providers/simulated"
)

// startSimulated serves a simulated vLLM server on loopback.
func startSimulated(t *testing.T, m simulated.Model) string {
	t.Helper()
	srv, err := simulated.NewServer(m)
	if err != nil {
		t.Fatal(err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return base
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// complete sends one non-streaming completion and returns its usage.
func complete(ctx context.Context, base, key string, maxTokens int) (usage, error) {
	body, _ := json.Marshal(map[string]any{
		"model":      "simulated",
		"prompt":     strings.Repeat("word ", 200),
		"max_tokens": maxTokens,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/completions", bytes.NewReader(body))
	if err != nil {
		return usage{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return usage{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return usage{}, fmt.Errorf("status %s", resp.Status)
	}
	var out struct {
		Usage usage `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return usage{}, err
	}
	return out.Usage, nil
}

func TestServerSamplerSimulated(t *testing.T) {
	const key = "sk-test"
	base := startSimulated(t, simulated.Model{
		TTFT: 20 * time.Millisecond, ITL: 5 * time.Millisecond,
		MaxNumSeqs: 4, MaxModelLen: 1024, APIKey: key,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	s := NewServerSampler(base, key, 20*time.Millisecond, nil)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}

	// Eight requests of 40 tokens on four slots: two waves of ~220 ms,
	// so the batch is full and a queue forms while the sampler watches.
	const requests, maxTokens = 8, 40
	var wg sync.WaitGroup
	var prompt, generated atomic.Int64
	errs := make(chan error, requests)
	for range requests {
		wg.Go(func() {
			u, err := complete(ctx, base, key, maxTokens)
			if err != nil {
				errs <- err
				return
			}
			prompt.Add(int64(u.PromptTokens))
			generated.Add(int64(u.CompletionTokens))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	w, err := s.Stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st := w.Stats()
	if !st.Complete || st.Restarted || st.FailedScrapes != 0 {
		t.Fatalf("Complete, Restarted, FailedScrapes = %v, %v, %d; want true, false, 0 (errors %v)", st.Complete, st.Restarted, st.FailedScrapes, w.Errors)
	}
	if st.Samples < 5 {
		t.Errorf("Samples = %d, want at least 5 over ~450 ms at 20 ms", st.Samples)
	}
	tot := st.Total
	if tot.GenerationTokens == nil || int64(*tot.GenerationTokens) != generated.Load() {
		t.Errorf("generation tokens = %v, want %d as the responses reported", tot.GenerationTokens, generated.Load())
	}
	if tot.PromptTokens == nil || int64(*tot.PromptTokens) != prompt.Load() {
		t.Errorf("prompt tokens = %v, want %d", tot.PromptTokens, prompt.Load())
	}
	if ratio, flagged := TokenMismatch(int(*tot.GenerationTokens), int(generated.Load())); flagged {
		t.Errorf("TokenMismatch flagged ratio %v", ratio)
	}
	if tot.FinishedByReason["length"] != requests {
		t.Errorf("finished by reason = %v, want %d length", tot.FinishedByReason, requests)
	}
	if tot.Running == nil || tot.Running.Max <= 0 || tot.Running.Max > 4 {
		t.Errorf("running = %+v, want a peak in (0, 4]", tot.Running)
	}
	if tot.KVCacheUsage == nil || tot.KVCacheUsage.Max <= 0 {
		t.Errorf("KV cache usage = %+v, want a peak above 0", tot.KVCacheUsage)
	}
	if tot.TTFT == nil || tot.TTFT.Count != requests || tot.TTFT.Mean == nil || *tot.TTFT.Mean < 20 {
		t.Errorf("TTFT = %+v, want %d observations with a mean of at least 20 ms", tot.TTFT, requests)
	}
	if tot.ITL == nil || tot.E2E == nil || tot.Queue == nil || tot.Prefill == nil || tot.Decode == nil {
		t.Errorf("missing latency distributions: ITL %v, E2E %v, queue %v, prefill %v, decode %v", tot.ITL, tot.E2E, tot.Queue, tot.Prefill, tot.Decode)
	}
	if st.Info.KVCapacityTokens == nil || *st.Info.KVCapacityTokens != 4*1024 {
		t.Errorf("KV capacity = %v, want %d", st.Info.KVCapacityTokens, 4*1024)
	}
	// The samples are what state keeps; they must survive JSON.
	b, err := json.Marshal(w.Samples)
	if err != nil {
		t.Fatal(err)
	}
	var back []ServerSample
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(w.Samples) {
		t.Errorf("samples JSON round trip: %v, %d of %d", err, len(back), len(w.Samples))
	}
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("stats JSON: %v", err)
	}

	// The sampler is reusable for the next step.
	if err := s.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestServerSamplerFailingScrapes(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		// The before scrape and every other sample fail; the after
		// scrape (whatever its number) fails too once calls pass 6.
		n := calls.Add(1)
		if n == 1 || n%2 == 0 || n > 6 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "vllm:num_requests_running %d\nvllm:generation_tokens_total %d\n", n, 10*n)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := NewServerSampler(srv.URL, "", 5*time.Millisecond, srv.Client())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	w, err := s.Stop()
	if err == nil {
		t.Fatal("Stop reported no error though the before and after scrapes failed")
	}
	if w.Before != nil || w.After == nil || !w.AfterFromSample {
		t.Errorf("Before, After, AfterFromSample = %v, %v, %v; want nil, last sample, true", w.Before, w.After, w.AfterFromSample)
	}
	if len(w.Samples) != 2 { // calls 3 and 5
		t.Errorf("got %d samples, want 2", len(w.Samples))
	}
	if w.FailedScrapes < 3 || len(w.Errors) == 0 {
		t.Errorf("FailedScrapes = %d, errors %v; want at least 3", w.FailedScrapes, w.Errors)
	}
	st := w.Stats()
	if st.Complete || st.Total.Running == nil || st.Total.Running.Max != 5 {
		t.Errorf("Complete = %v, Running = %+v; want false and a peak of 5", st.Complete, st.Total.Running)
	}
	if _, err := s.Stop(); err == nil {
		t.Error("Stop without Start succeeded")
	}
}

func TestNewServerSamplerURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://h:8000", "http://h:8000/metrics"},
		{"http://h:8000/", "http://h:8000/metrics"},
		{"http://h:8000/metrics", "http://h:8000/metrics"},
		{"http://h:9400/custom", "http://h:9400/custom"},
	}
	for _, tt := range tests {
		if got := NewServerSampler(tt.in, "", 0, nil).url; got != tt.want {
			t.Errorf("NewServerSampler(%q).url = %q, want %q", tt.in, got, tt.want)
		}
	}
}
