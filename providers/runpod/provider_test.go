package runpod

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/runpod/runpodtest"
)

const podName = "benchform-pod-gpu-0a1b2c3d"

func TestCreatePod(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	cfg := podConfigValue(map[string]cty.Value{
		"gpu_count":         cty.NumberIntVal(2),
		"container_disk_gb": cty.NumberIntVal(80),
		"volume_gb":         cty.NumberIntVal(20),
		"env":               cty.MapVal(map[string]cty.Value{"HF_TOKEN": cty.StringVal(testHFToken)}),
		"data_center_ids":   cty.ListVal([]cty.Value{cty.StringVal("US-KS-2")}),
		"server": serverArgs(map[string]cty.Value{
			"served_model_name": cty.StringVal("qwen"),
			"args":              cty.ListVal([]cty.Value{cty.StringVal("--max-model-len"), cty.StringVal("8192")}),
		}),
	})
	st := h.createPod(cfg)

	pods := h.fake.Pods()
	if len(pods) != 1 {
		t.Fatalf("pods = %d, want 1", len(pods))
	}
	pod := pods[0]
	key, err := h.p.serverKey(podName)
	if err != nil {
		t.Fatal(err)
	}
	got := runpodtest.Pod{
		ID: pod.ID, Name: pod.Name, Image: pod.Image, Argv: pod.Argv, Env: pod.Env, Ports: pod.Ports,
		GPUID: pod.GPUID, GPUCount: pod.GPUCount, Cloud: pod.Cloud, DataCenterIDs: pod.DataCenterIDs, Disk: pod.Disk, VolumeGB: pod.VolumeGB,
	}
	want := runpodtest.Pod{
		ID: st.ID, Name: podName, Image: engineNamed("vllm").Launch.Image,
		Argv:  []string{testModel, "--host", "0.0.0.0", "--port", "8000", "--tensor-parallel-size", "2", "--served-model-name", "qwen", "--max-model-len", "8192"},
		Env:   map[string]string{"HF_TOKEN": testHFToken, "VLLM_API_KEY": key, "HF_HOME": "/workspace/hf"},
		Ports: []string{"8000/http"}, GPUID: "NVIDIA H100 80GB HBM3", GPUCount: 2, Cloud: "SECURE",
		DataCenterIDs: []string{"US-KS-2"}, Disk: 80, VolumeGB: 20,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod (-want +got):\n%s", diff)
	}
	if st.Name != podName {
		t.Errorf("Name = %q", st.Name)
	}
	wantAttrs := cty.ObjectVal(map[string]cty.Value{
		"id": cty.StringVal(pod.ID), "cost_per_hour": cty.NumberFloatVal(5.38), "gpu_type_selected": cty.StringVal("NVIDIA H100 80GB HBM3"),
		"image": cty.StringVal(engineNamed("vllm").Launch.Image), "args": cty.StringVal(testModel + " --host 0.0.0.0 --port 8000 --tensor-parallel-size 2 --served-model-name qwen --max-model-len 8192"),
		"ports": cty.ListVal([]cty.Value{cty.StringVal("8000/http")}), "created_at": cty.StringVal("2026-12-01T12:00:00Z"),
		"cloud_selected": cty.StringVal("SECURE"), "data_center_id": cty.StringVal("US-KS-2"),
	})
	if !st.Attrs.RawEquals(wantAttrs) {
		t.Errorf("Attrs = %#v\nwant    %#v", st.Attrs, wantAttrs)
	}
	assertNoSecrets(t, "State.Attrs", mustJSON(t, st.Attrs), key)
	if n := h.fake.Count(http.MethodGet, "/proxy/"); n != 0 {
		t.Errorf("Create probed the server %d times; it must return once the pod exists", n)
	}
}

func assertNoSecrets(t *testing.T, what, s string, more ...string) {
	t.Helper()
	for _, secret := range append([]string{testAPIKey, testHFToken}, more...) {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("%s holds a secret: %s", what, s)
		}
	}
}

func TestCreatePodFailures(t *testing.T) {
	twoGPUs := map[string]cty.Value{"gpu_type": cty.TupleVal([]cty.Value{cty.StringVal("NVIDIA H100 80GB HBM3"), cty.StringVal("NVIDIA H100 PCIe")})}
	tests := []struct {
		name     string
		faults   runpodtest.Faults
		set      map[string]cty.Value
		wantGPU  string // the type rented; "" when the create fails
		wantErr  string
		creates  int // POST /v2/pods made
		livePods int
	}{
		{name: "created but answered 500 is adopted", faults: runpodtest.Faults{CreateOK500: 1}, wantGPU: "NVIDIA H100 80GB HBM3", creates: 1, livePods: 1},
		{name: "adopted even when the list lags", faults: runpodtest.Faults{CreateOK500: 1, ListLag: 5 * time.Second}, wantGPU: "NVIDIA H100 80GB HBM3", creates: 1, livePods: 1},
		{name: "500 without a pod is tried again", faults: runpodtest.Faults{Create500: 1}, wantGPU: "NVIDIA H100 80GB HBM3", creates: 2, livePods: 1},
		{name: "a twin hidden by a long lag is ended", faults: runpodtest.Faults{CreateOK500: 1, ListLag: 20 * time.Second}, wantGPU: "NVIDIA H100 80GB HBM3", creates: 2, livePods: 1},
		{name: "every try answered 500", faults: runpodtest.Faults{Create500: 10}, wantErr: "runpod: create pod " + podName + ": runpod: POST /v2/pods: 500 Internal Server Error", creates: 3},
		{name: "capacity falls back to the next type", faults: runpodtest.Faults{NoCapacity: []string{"NVIDIA H100 80GB HBM3"}}, set: twoGPUs, wantGPU: "NVIDIA H100 PCIe", creates: 2, livePods: 1},
		{name: "no capacity anywhere", faults: runpodtest.Faults{RefuseFirst: 2}, set: twoGPUs, creates: 2,
			wantErr: `no GPU type could be rented: "NVIDIA H100 80GB HBM3": There are no longer any instances available with the requested specifications. Please refresh and try again.; "NVIDIA H100 PCIe": There are no longer any instances available`},
		{name: "402 stops", faults: runpodtest.Faults{Status: http.StatusPaymentRequired}, set: twoGPUs, creates: 1, wantErr: "402 Payment Required: the account's balance is too low"},
		{name: "401 stops", faults: runpodtest.Faults{Status: http.StatusUnauthorized}, set: twoGPUs, creates: 1, wantErr: "401 Unauthorized: the API key was refused"},
		{name: "410 stops", faults: runpodtest.Faults{Status: http.StatusGone}, creates: 1, wantErr: "410 Gone: this RunPod API has been retired"},
		{name: "500s and 429s everywhere else", faults: runpodtest.Faults{Share500: 0.3, Share429: 0.3}, wantGPU: "NVIDIA H100 80GB HBM3", livePods: 1, creates: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, runpodtest.Options{Seed: 7})
			h.fake.SetFaults(tt.faults)
			set := map[string]cty.Value{"env": cty.MapVal(map[string]cty.Value{"HF_TOKEN": cty.StringVal(testHFToken)})}
			for k, v := range tt.set {
				set[k] = v
			}
			st, err := h.p.Create(testCtx(t), providers.CreateRequest{Addr: "pod.gpu", Kind: providers.KindPod, Name: podName, Config: podConfigValue(set)})
			h.fake.SetFaults(runpodtest.Faults{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Create: %v", err)
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				assertNoSecrets(t, "error", err.Error())
			}
			if tt.creates >= 0 {
				if n := h.fake.Count(http.MethodPost, "/v2/pods"); n != tt.creates {
					t.Errorf("creates = %d, want %d", n, tt.creates)
				}
			}
			live := h.fake.Pods()
			if tt.name == "a twin hidden by a long lag is ended" {
				// The twin shows up only once the list catches up: Delete
				// finds it by name.
				if len(live) != 2 {
					t.Fatalf("live pods before the lag passed = %d, want 2", len(live))
				}
				h.clock.Advance(time.Minute)
				if err := h.p.Delete(testCtx(t), providers.DeleteRequest{Kind: providers.KindPod, Prior: st}); err != nil {
					t.Fatal(err)
				}
				if n := len(h.fake.Pods()); n != 0 {
					t.Errorf("live pods after Delete = %d, want 0", n)
				}
				return
			}
			if len(live) != tt.livePods {
				t.Fatalf("live pods = %d, want %d", len(live), tt.livePods)
			}
			if tt.wantGPU != "" {
				if st.ID != live[0].ID {
					t.Errorf("State.ID = %q, want the pod %q", st.ID, live[0].ID)
				}
				if got := attrString(st.Attrs, "gpu_type_selected"); got != tt.wantGPU {
					t.Errorf("gpu_type_selected = %q, want %q", got, tt.wantGPU)
				}
			}
		})
	}
}

func TestReadPod(t *testing.T) {
	tests := []struct {
		name       string
		change     func(h *harness, id string)
		emptyID    bool
		listLag    time.Duration
		otherName  bool
		wantExists bool
		wantDrift  string
	}{
		{name: "running", wantExists: true},
		{name: "terminated outside", change: func(h *harness, id string) { h.fake.Terminate(id) }, wantDrift: "terminated outside benchform"},
		{name: "stopped outside", change: func(h *harness, id string) { h.fake.Stop(id) }, wantExists: true, wantDrift: "stopped outside benchform; it will be started"},
		{name: "container failed", change: func(h *harness, id string) { h.fake.Fail(id) }, wantExists: true, wantDrift: "its container failed (status ERROR); it will be started again"},
		{name: "interrupted create found by name", emptyID: true, wantExists: true},
		{name: "interrupted create found once the list catches up", emptyID: true, listLag: 3 * time.Second, wantExists: true},
		{name: "interrupted create that made nothing", emptyID: true, otherName: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, runpodtest.Options{})
			st := h.createPod(podConfigValue(nil))
			id := st.ID
			if tt.change != nil {
				tt.change(h, id)
			}
			prior := st
			if tt.emptyID {
				// What the executor stored before calling Create: the
				// configuration and the name.
				prior = providers.State{Name: st.Name, Attrs: priorAttrs("NVIDIA H100 80GB HBM3")}
				if tt.otherName {
					prior.Name = "benchform-pod-gpu-ffffffff"
				}
				// The pod was made at this very instant of the fake clock,
				// so a lag hides it from the first looks.
				h.fake.SetFaults(runpodtest.Faults{ListLag: tt.listLag})
			}
			resp, err := h.p.Read(testCtx(t), providers.ReadRequest{Addr: "pod.gpu", Kind: providers.KindPod, Prior: prior})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Exists != tt.wantExists || resp.Drift != tt.wantDrift {
				t.Errorf("Exists, Drift = %v, %q; want %v, %q", resp.Exists, resp.Drift, tt.wantExists, tt.wantDrift)
			}
			if tt.wantExists && resp.State.ID != id {
				t.Errorf("State.ID = %q (pod %q)", resp.State.ID, id)
			}
			if tt.emptyID && tt.wantExists {
				if got := attrString(resp.State.Attrs, "gpu_type_selected"); got != "NVIDIA H100 80GB HBM3" {
					t.Errorf("adopted gpu_type_selected = %q", got)
				}
			}
			if !tt.emptyID && tt.wantExists && !resp.State.Attrs.RawEquals(st.Attrs) {
				t.Errorf("a refresh that learnt nothing changed Attrs:\n%#v\n%#v", resp.State.Attrs, st.Attrs)
			}
		})
	}
}

func TestUpdatePod(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	ctx := testCtx(t)
	cfg := podConfigValue(nil)
	st := h.createPod(cfg)
	update := func(cfg cty.Value) providers.State {
		t.Helper()
		got, err := h.p.Update(ctx, providers.UpdateRequest{Addr: "pod.gpu", Kind: providers.KindPod, Prior: st, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Nothing changed (only, say, ttl): no PATCH, no restart.
	update(podConfigValue(map[string]cty.Value{"ttl": cty.StringVal("3h")}))
	if n := h.fake.Count(http.MethodPatch, "/v2/pods/"); n != 0 {
		t.Errorf("PATCHes = %d for an unchanged container", n)
	}

	// New server args: one PATCH, the container restarts with them.
	got := update(podConfigValue(map[string]cty.Value{"server": serverArgs(map[string]cty.Value{
		"args": cty.ListVal([]cty.Value{cty.StringVal("--enable-prefix-caching")}),
	})}))
	pod := h.fake.Pods()[0]
	if n := h.fake.Count(http.MethodPatch, "/v2/pods/"); n != 1 {
		t.Errorf("PATCHes = %d, want 1", n)
	}
	if pod.Starts != 2 || pod.Argv[len(pod.Argv)-1] != "--enable-prefix-caching" {
		t.Errorf("after update: starts %d, argv %q", pod.Starts, pod.Argv)
	}
	if got.ID != st.ID || attrString(got.Attrs, "created_at") != attrString(st.Attrs, "created_at") ||
		!strings.HasSuffix(attrString(got.Attrs, "args"), "--enable-prefix-caching") {
		t.Errorf("updated state = %#v", got)
	}

	// Stopped outside benchform: Update starts it.
	h.fake.Stop(st.ID)
	update(cfg)
	pod = h.fake.Pods()[0]
	if pod.Status != "RUNNING" {
		t.Errorf("status after update of a stopped pod = %s", pod.Status)
	}
	if n := h.fake.Count(http.MethodPost, "/v2/pods/"+st.ID+"/action"); n != 1 {
		t.Errorf("actions = %d, want one start", n)
	}

	// Terminated outside: Update says so.
	h.fake.Terminate(st.ID)
	_, err := h.p.Update(ctx, providers.UpdateRequest{Kind: providers.KindPod, Prior: st, Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "it no longer exists; plan again") {
		t.Errorf("update of a terminated pod: %v", err)
	}
}

func TestDeletePod(t *testing.T) {
	tests := []struct {
		name   string
		before func(h *harness, st *providers.State)
	}{
		{name: "running"},
		{name: "stopped, which still bills", before: func(h *harness, st *providers.State) { h.fake.Stop(st.ID) }},
		{name: "already terminated", before: func(h *harness, st *providers.State) { h.fake.Terminate(st.ID) }},
		{name: "interrupted create, found by name", before: func(h *harness, st *providers.State) { st.ID = "" }},
		{name: "twins of the name go too", before: func(h *harness, st *providers.State) {
			h.fake.SetFaults(runpodtest.Faults{CreateOK500: 1, ListLag: time.Hour})
			if _, err := NewClient(h.s).CreatePod(context.Background(), CreatePodRequest{Name: st.Name, Image: "x", GPU: &GPURequest{ID: "NVIDIA L40S"}}); err == nil {
				panic("want the injected 500")
			}
			h.fake.SetFaults(runpodtest.Faults{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, runpodtest.Options{})
			st := h.createPod(podConfigValue(nil))
			if tt.before != nil {
				tt.before(h, &st)
			}
			if err := h.p.Delete(testCtx(t), providers.DeleteRequest{Addr: "pod.gpu", Kind: providers.KindPod, Prior: st}); err != nil {
				t.Fatal(err)
			}
			if live := h.fake.Pods(); len(live) != 0 {
				t.Errorf("live pods after Delete: %v", live)
			}
			// Deleting again is fine.
			if err := h.p.Delete(testCtx(t), providers.DeleteRequest{Addr: "pod.gpu", Kind: providers.KindPod, Prior: st}); err != nil {
				t.Errorf("second Delete: %v", err)
			}
		})
	}
}

// apiStub wraps an API and overrides some calls.
type apiStub struct {
	API
	create func(ctx context.Context, req CreatePodRequest) (Pod, error)
	del    func(ctx context.Context, id string) error
	get    func(ctx context.Context, id string) (Pod, error)
}

func (a apiStub) CreatePod(ctx context.Context, req CreatePodRequest) (Pod, error) {
	if a.create != nil {
		return a.create(ctx, req)
	}
	return a.API.CreatePod(ctx, req)
}

func (a apiStub) DeletePod(ctx context.Context, id string) error {
	if a.del != nil {
		return a.del(ctx, id)
	}
	return a.API.DeletePod(ctx, id)
}

func (a apiStub) GetPod(ctx context.Context, id string) (Pod, error) {
	if a.get != nil {
		return a.get(ctx, id)
	}
	return a.API.GetPod(ctx, id)
}

func TestDeleteReportsAPodThatStays(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	st := h.createPod(podConfigValue(nil))
	p := NewWithAPI(h.s, apiStub{API: NewClient(h.s), del: func(ctx context.Context, id string) error { return nil }})
	err := p.Delete(testCtx(t), providers.DeleteRequest{Kind: providers.KindPod, Prior: st})
	if err == nil || !strings.Contains(err.Error(), "RunPod still lists it (status RUNNING) after terminating it, and it may still bill") {
		t.Errorf("error = %v", err)
	}
}

func TestCreateErrorsHideSecrets(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	// A create whose error echoes what it was sent, as a careless API
	// might.
	p := NewWithAPI(h.s, apiStub{API: NewClient(h.s), create: func(ctx context.Context, req CreatePodRequest) (Pod, error) {
		return Pod{}, &APIError{Endpoint: "POST /v2/pods", Status: 422, Detail: "bad env " + req.Env["HF_TOKEN"] + " " + req.Env["VLLM_API_KEY"]}
	}})
	cfg := podConfigValue(map[string]cty.Value{"env": cty.MapVal(map[string]cty.Value{"HF_TOKEN": cty.StringVal(testHFToken)})})
	_, err := p.Create(testCtx(t), providers.CreateRequest{Kind: providers.KindPod, Name: podName, Config: cfg})
	if err == nil {
		t.Fatal("want an error")
	}
	key, _ := p.serverKey(podName)
	assertNoSecrets(t, "error", err.Error(), key)
	if !strings.Contains(err.Error(), "bad env [redacted] [redacted]") {
		t.Errorf("error = %v", err)
	}
}

func TestKindsOtherThanPodAndServer(t *testing.T) {
	p := New(Settings{APIKey: "k", SecretDir: t.TempDir()})
	if _, err := p.Plan(context.Background(), providers.PlanRequest{Kind: "scenario"}); err == nil {
		t.Error("Plan of a scenario succeeded")
	}
	if err := p.Delete(context.Background(), providers.DeleteRequest{Kind: providers.KindServer, Prior: providers.State{ID: "x"}}); err != nil {
		t.Errorf("Delete of a server: %v", err)
	}
}
