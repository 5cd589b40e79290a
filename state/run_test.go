package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRuns(t *testing.T) {
	s := newStore(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	begin := func(r Run) Run {
		t.Helper()
		id, err := s.BeginRun(r)
		if err != nil {
			t.Fatal(err)
		}
		r.ID = id
		if r.Status == "" {
			r.Status = RunRunning
		}
		return r
	}
	chat1 := begin(Run{Scenario: "chat", SpecHash: "a", ServerIdentity: "vllm", Spec: []byte(`{"n":1}`), StartedAt: t0})
	long1 := begin(Run{Scenario: "long", SpecHash: "b", StartedAt: t0.Add(time.Minute)})
	chat2 := begin(Run{Scenario: "chat", SpecHash: "a", ServerIdentity: "sglang", StartedAt: t0.Add(2 * time.Minute)})

	if err := s.FinishRun(chat1.ID, RunCompleted, "", t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	chat1.Status, chat1.FinishedAt = RunCompleted, t0.Add(30*time.Second)
	if err := s.FinishRun(long1.ID, RunFailed, "server.vllm: connection refused", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	long1.Status, long1.Error, long1.FinishedAt = RunFailed, "server.vllm: connection refused", t0.Add(90*time.Second)

	tests := []struct {
		name     string
		scenario string
		want     []Run
	}{
		{"all, newest first", "", []Run{chat2, long1, chat1}},
		{"one scenario", "chat", []Run{chat2, chat1}},
		{"unknown scenario", "nope", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Runs(tt.scenario)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Runs(%q) (-want +got):\n%s", tt.scenario, diff)
			}
		})
	}

	got, err := s.Run(long1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(long1, got); diff != "" {
		t.Errorf("Run(%d) (-want +got):\n%s", long1.ID, diff)
	}
	latest, ok, err := s.LatestRun("chat")
	if err != nil || !ok {
		t.Fatalf("LatestRun = _, %v, %v", ok, err)
	}
	if diff := cmp.Diff(chat2, latest); diff != "" {
		t.Errorf("LatestRun(chat) (-want +got):\n%s", diff)
	}
	if _, ok, err := s.LatestRun("nope"); ok || err != nil {
		t.Errorf("LatestRun(nope) = _, %v, %v; want false, nil", ok, err)
	}
}

func TestRunErrors(t *testing.T) {
	s := newStore(t)
	id, err := s.BeginRun(Run{Scenario: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		do       func() error
		want     string
		notFound bool
	}{
		{"missing run", func() error { _, err := s.Run(99); return err }, "state: run 99: not found", true},
		{"finish missing run", func() error { return s.FinishRun(99, RunCompleted, "", time.Time{}) }, "state: finish run 99: not found", true},
		{"finish as running", func() error { return s.FinishRun(id, RunRunning, "", time.Time{}) }, `state: finish run 1: unknown status "running"`, false},
		{"begin without scenario", func() error { _, err := s.BeginRun(Run{}); return err }, "state: begin run: empty scenario", false},
		{"mark with unknown status", func() error { _, err := s.MarkUnfinishedRuns("gone", time.Time{}); return err },
			`state: mark unfinished runs gone: unknown status "gone"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if got := fmt.Sprint(err); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
			if got := errors.Is(err, ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tt.notFound)
			}
		})
	}
}

func TestMarkUnfinishedRuns(t *testing.T) {
	s := newStore(t)
	var ids []int64
	for range 4 {
		id, err := s.BeginRun(Run{Scenario: "chat"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.FinishRun(ids[0], RunCompleted, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ids[1], RunFailed, "boom", time.Time{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 5, 5, 5, 5, 5, time.UTC)
	n, err := s.MarkUnfinishedRuns(RunInterrupted, at)
	if err != nil || n != 2 {
		t.Fatalf("MarkUnfinishedRuns = %d, %v; want 2, nil", n, err)
	}
	want := map[int64]string{ids[0]: RunCompleted, ids[1]: RunFailed, ids[2]: RunInterrupted, ids[3]: RunInterrupted}
	got := map[int64]string{}
	for _, id := range ids {
		r, err := s.Run(id)
		if err != nil {
			t.Fatal(err)
		}
		got[id] = r.Status
		if r.Status == RunInterrupted && !r.FinishedAt.Equal(at) {
			t.Errorf("run %d FinishedAt = %v, want %v", id, r.FinishedAt, at)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n, err := s.MarkUnfinishedRuns(RunInterrupted, at); n != 0 || err != nil {
		t.Errorf("second MarkUnfinishedRuns = %d, %v; want 0, nil", n, err)
	}
}

func TestSteps(t *testing.T) {
	s := newStore(t)
	id, err := s.BeginRun(Run{Scenario: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	step := func(i int, status string) Step {
		return Step{RunID: id, Index: i, Server: "server.vllm", Label: fmt.Sprint("c=", 1<<i), Status: status,
			Summary: fmt.Appendf(nil, `{"i":%d}`, i), StartedAt: t0.Add(time.Duration(i) * time.Minute)}
	}
	puts := []Step{step(2, "running"), step(0, "completed"), step(1, "completed"), step(2, "completed")}
	for _, st := range puts {
		if err := s.PutStep(st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Steps(id)
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{step(0, "completed"), step(1, "completed"), step(2, "completed")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}

	err = s.PutStep(Step{RunID: 99, Index: 0})
	if err == nil || !strings.HasPrefix(err.Error(), "state: put step 0 of run 99: FOREIGN KEY constraint failed") {
		t.Errorf("step of a missing run: error = %v", err)
	}
}
