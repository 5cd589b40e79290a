package state

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// storeContract is what every backend of the state keeps: resources with
// their serial, outputs, runs and their steps, request records down to the
// last gap, telemetry samples, and the lock. Each backend's test runs it.
func storeContract(t *testing.T, s *Store) {
	t.Helper()
	serial := func() int64 {
		n, err := s.Serial()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	lineage, err := s.Lineage()
	if err != nil || len(lineage) != 32 {
		t.Fatalf("lineage %q, %v", lineage, err)
	}
	before := serial()
	pod := Resource{Address: "pod.gpu", Kind: "pod", Provider: "runpod", ProviderID: "p1", Name: "bf-1", Status: StatusReady,
		Attributes: []byte(`{"gpu":"H100","cost_per_hour":2.5}`), ConfigHash: "h", Dependencies: []string{"x"},
		CreatedAt: time.Unix(1_700_000_000, 123).UTC(), UpdatedAt: time.Unix(1_700_000_100, 456).UTC()}
	if err := s.PutResource(pod); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Resource("pod.gpu")
	if err != nil || !ok {
		t.Fatalf("resource: %v %v", ok, err)
	}
	if !sameJSON(t, got.Attributes, pod.Attributes) {
		t.Errorf("attributes %s, want %s", got.Attributes, pod.Attributes)
	}
	got.Attributes = pod.Attributes
	if !reflect.DeepEqual(got, pod) {
		t.Errorf("resource\n got %+v\nwant %+v", got, pod)
	}
	if serial() != before+1 {
		t.Errorf("serial %d after one put, was %d", serial(), before)
	}
	if err := s.PutResource(Resource{Address: "pod.other", Kind: "pod", Name: "bf-1", Status: StatusReady}); err == nil {
		t.Error("two resources took one name")
	}
	if err := s.SetOutputs(map[string][]byte{"endpoint": []byte(`"http://x"`)}); err != nil {
		t.Fatal(err)
	}
	if outs, err := s.Outputs(); err != nil || string(outs["endpoint"]) != `"http://x"` {
		t.Errorf("outputs %q, %v", outs, err)
	}

	run, err := s.BeginRun(Run{Scenario: "scenario.chat", Spec: []byte(`{"a":1}`), StartedAt: time.Unix(10, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.BeginRun(Run{Scenario: "scenario.chat"})
	if err != nil || second <= run {
		t.Fatalf("second run %d after %d: %v", second, run, err)
	}
	if err := s.PutStep(Step{RunID: run, Index: 0, Server: "server.a", Label: "concurrency=1", Status: RunCompleted, Summary: []byte(`{"p99_ttft_ms":12.5}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(run, RunCompleted, "", time.Unix(20, 0).UTC()); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(9_999_999, RunCompleted, "", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("finish a missing run: %v", err)
	}
	r, err := s.Run(run)
	if err != nil || r.Status != RunCompleted || !r.FinishedAt.Equal(time.Unix(20, 0)) || !sameJSON(t, r.Spec, []byte(`{"a":1}`)) {
		t.Errorf("run %+v, %v", r, err)
	}
	if latest, found, err := s.LatestRun("scenario.chat"); err != nil || !found || latest.ID != second {
		t.Errorf("latest run %+v %v %v", latest, found, err)
	}
	steps, err := s.Steps(run)
	if err != nil || len(steps) != 1 || !sameJSON(t, steps[0].Summary, []byte(`{"p99_ttft_ms":12.5}`)) {
		t.Errorf("steps %+v, %v", steps, err)
	}

	recs := []RequestRecord{
		{RunID: run, Step: 0, Seq: 0, RequestID: "a", Warmup: true, Start: time.Millisecond, TTFT: 40 * time.Millisecond, E2EL: time.Second,
			Gaps: []time.Duration{0, 1, 127, 128, time.Hour, math.MaxInt64}, ChunkTokens: []uint32{1, 2, 300},
			PromptTokens: 8, OutputTokens: 7, TokenSource: "usage", HTTPStatus: 200, TTFC: 90 * time.Millisecond, ReasoningTokens: 3, AnswerTokens: 4},
		{RunID: run, Step: 0, Seq: 1, RequestID: "b", HTTPStatus: 503, Error: "overloaded \x1b[2J"},
	}
	if err := s.InsertRecords(recs); err != nil {
		t.Fatal(err)
	}
	back, err := s.Records(run, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, recs) {
		t.Errorf("records\n got %+v\nwant %+v", back, recs)
	}
	if err := s.PutSamples(SampleSet{RunID: run, Step: -1, Kind: "gpu_idle:server.a", Data: []byte(`[{"w":1}]`)}); err != nil {
		t.Fatal(err)
	}
	if sets, err := s.Samples(run); err != nil || len(sets) != 1 || !sameJSON(t, sets[0].Data, []byte(`[{"w":1}]`)) {
		t.Errorf("samples %+v, %v", sets, err)
	}

	l, err := s.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	if holder, err := s.LockHolder(); err != nil || holder == nil || holder.ID != l.Info.ID {
		t.Errorf("holder %+v, %v", holder, err)
	}
	if err := l.Unlock(); err != nil {
		t.Error(err)
	}
	if holder, err := s.LockHolder(); err != nil || holder != nil {
		t.Errorf("holder after unlock %+v, %v", holder, err)
	}
}

// sameJSON compares JSON by value: PostgreSQL's jsonb keeps values, not
// their spelling.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Errorf("%s: %v", a, err)
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Errorf("%s: %v", b, err)
		return false
	}
	return reflect.DeepEqual(va, vb)
}
