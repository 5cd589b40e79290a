package state

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestResourceRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		put  Resource
	}{
		{"pod with everything", Resource{Address: "pod.h100", Kind: "pod", Provider: "runpod", ProviderID: "p-123",
			Name: "benchform-pod.h100-7f", Status: StatusReady, Attributes: []byte(`{"gpu_type":"NVIDIA H100 80GB HBM3","cost_per_hr":2.99}`),
			ConfigHash: "c0ffee", Dependencies: []string{"server.a", "server.b"}, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}},
		{"creating, provider id not yet known", Resource{Address: "pod.a100", Kind: "pod", Provider: "runpod",
			Name: "benchform-pod.a100-01", Status: StatusCreating, CreatedAt: t0, UpdatedAt: t0}},
		{"scenario without provider", Resource{Address: "scenario.chat", Kind: "scenario", Status: StatusTainted,
			Dependencies: []string{"server.vllm"}, CreatedAt: t0, UpdatedAt: t0}},
		{"times in another zone", Resource{Address: "server.vllm", Kind: "server", Provider: "local", Status: StatusDeleting,
			CreatedAt: t0.In(time.FixedZone("CET", 3600)), UpdatedAt: t0.In(time.FixedZone("CET", 3600))}},
	}
	s := newStore(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutResource(tt.put); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Resource(tt.put.Address)
			if err != nil || !ok {
				t.Fatalf("Resource(%q) = _, %v, %v", tt.put.Address, ok, err)
			}
			if diff := cmp.Diff(tt.put, got); diff != "" {
				t.Errorf("Resource(%q) (-want +got):\n%s", tt.put.Address, diff)
			}
			if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
				t.Errorf("times not in UTC: %v, %v", got.CreatedAt, got.UpdatedAt)
			}
		})
	}
	got, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"pod.a100", "pod.h100", "scenario.chat", "server.vllm"}
	var gotOrder []string
	for _, r := range got {
		gotOrder = append(gotOrder, r.Address)
	}
	if diff := cmp.Diff(wantOrder, gotOrder); diff != "" {
		t.Errorf("Resources() order (-want +got):\n%s", diff)
	}
	if _, ok, err := s.Resource("pod.missing"); ok || err != nil {
		t.Errorf("Resource(missing) = _, %v, %v; want false, nil", ok, err)
	}
}

func TestPutResourceTimes(t *testing.T) {
	s := newStore(t)
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	r := Resource{Address: "pod.a", Kind: "pod", Status: StatusCreating, CreatedAt: t1, UpdatedAt: t1}
	if err := s.PutResource(r); err != nil {
		t.Fatal(err)
	}
	// A later put with other times keeps the first CreatedAt.
	r.Status, r.CreatedAt, r.UpdatedAt = StatusReady, t2, t2
	if err := s.PutResource(r); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Resource("pod.a")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(t1) || !got.UpdatedAt.Equal(t2) || got.Status != StatusReady {
		t.Errorf("got CreatedAt %v, UpdatedAt %v, Status %s; want %v, %v, ready", got.CreatedAt, got.UpdatedAt, got.Status, t1, t2)
	}

	// Zero times become the current time.
	before := time.Now()
	if err := s.PutResource(Resource{Address: "pod.b", Kind: "pod", Status: StatusCreating}); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.Resource("pod.b")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Before(before.Add(-time.Second)) || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Errorf("zero times filled as CreatedAt %v, UpdatedAt %v", got.CreatedAt, got.UpdatedAt)
	}
}

func TestPutResourceRefuses(t *testing.T) {
	s := newStore(t)
	if err := s.PutResource(Resource{Address: "pod.a", Kind: "pod", Name: "benchform-pod.a-1", Status: StatusReady}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    Resource
		want string
	}{
		{"empty address", Resource{Kind: "pod", Status: StatusReady}, "state: put resource: empty address"},
		{"empty kind", Resource{Address: "pod.b", Status: StatusReady}, "state: put resource pod.b: empty kind"},
		{"unknown status", Resource{Address: "pod.b", Kind: "pod", Status: "running"}, `state: put resource pod.b: unknown status "running"`},
		{"name of another address", Resource{Address: "pod.b", Kind: "pod", Name: "benchform-pod.a-1", Status: StatusCreating},
			`state: put resource pod.b: name "benchform-pod.a-1" is already used by pod.a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutResource(tt.r)
			if got := fmt.Sprint(err); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
	rs, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Errorf("refused puts left rows: %v", rs)
	}
}

func TestDeleteResource(t *testing.T) {
	s := newStore(t)
	if err := s.PutResource(Resource{Address: "pod.a", Kind: "pod", Status: StatusDeleting}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"pod.a", "pod.a", "pod.never"} {
		if err := s.DeleteResource(addr); err != nil {
			t.Errorf("DeleteResource(%q) = %v", addr, err)
		}
	}
	if _, ok, _ := s.Resource("pod.a"); ok {
		t.Error("pod.a still there")
	}
}

func TestPutResourceConcurrent(t *testing.T) {
	const goroutines, puts = 32, 8
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*puts)
	for g := range goroutines {
		wg.Go(func() {
			for i := range puts {
				r := Resource{Address: fmt.Sprintf("pod.g%02d", g), Kind: "pod", Status: StatusUpdating,
					Attributes: fmt.Appendf(nil, `{"put":%d}`, i)}
				if i == puts-1 {
					r.Status = StatusReady
				}
				errs <- s.PutResource(r)
			}
		})
	}
	// Readers at the same time must neither fail nor see torn rows.
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Resources(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	rs, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != goroutines {
		t.Errorf("got %d resources, want %d", len(rs), goroutines)
	}
	for _, r := range rs {
		if r.Status != StatusReady || string(r.Attributes) != fmt.Sprintf(`{"put":%d}`, puts-1) {
			t.Errorf("%s: last put lost: %s %s", r.Address, r.Status, r.Attributes)
		}
	}
	if serial, _ := s.Serial(); serial != goroutines*puts {
		t.Errorf("Serial() = %d, want %d", serial, goroutines*puts)
	}
}
