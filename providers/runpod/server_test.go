package runpod

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/runpod/runpodtest"
)

// serverOn is the server block's Config for the pod in st, with the pod's
// env as the executor passes it.
func serverOn(st providers.State, set map[string]cty.Value) cty.Value {
	if set == nil {
		set = map[string]cty.Value{}
	}
	set["pod"] = cty.ObjectVal(map[string]cty.Value{
		"id":        cty.StringVal(st.ID),
		"env":       cty.MapVal(map[string]cty.Value{"HF_TOKEN": cty.StringVal(testHFToken)}),
		"gpu_count": cty.NumberIntVal(1),
	})
	return serverConfigValue(st.ID, set)
}

var podWithToken = map[string]cty.Value{"env": cty.MapVal(map[string]cty.Value{"HF_TOKEN": cty.StringVal(testHFToken)})}

func TestServerReadiness(t *testing.T) {
	var healthCalls atomic.Int32
	// /health answers 503 twice (weights loading), then 200.
	health := func() int {
		if healthCalls.Add(1) <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	h := newHarness(t, runpodtest.Options{RuntimeAfter: 40 * time.Second, Upstream: engineUpstream(health)})
	st := h.createPod(podConfigValue(podWithToken))
	var progress progressLog
	start := h.clock.Now()
	got, err := h.p.Create(testCtx(t), providers.CreateRequest{Addr: "server.vllm", Kind: providers.KindServer, Name: "benchform-server-vllm-1", Config: serverOn(st, nil), Progress: progress.add})
	if err != nil {
		t.Fatalf("Create: %v\nprogress:\n%s", err, progress.String())
	}
	want := providers.State{ID: st.ID, Name: "benchform-server-vllm-1", Attrs: cty.ObjectVal(map[string]cty.Value{
		"id": cty.StringVal(st.ID), "endpoint": cty.StringVal(h.fake.URL() + "/proxy/" + st.ID + "-8000"), "model": cty.StringVal(testModel),
	})}
	if got.ID != want.ID || got.Name != want.Name || !got.Attrs.RawEquals(want.Attrs) {
		t.Errorf("State = %#v, want %#v", got, want)
	}
	// Runtime null for 40s at a 5s poll, then two 503s, then ready.
	wantProgress := []string{
		"pod " + st.ID + ": RUNNING, container not running yet, 0s",
		"pod " + st.ID + ": RUNNING, container not running yet, 5s",
		"pod " + st.ID + ": RUNNING, /health answered 503, 40s",
		"pod " + st.ID + ": RUNNING, /health answered 503, 45s",
		"pod " + st.ID + ": ready, " + testModel + " listed, 50s",
	}
	lines := strings.Split(progress.String(), "\n")
	if diff := cmp.Diff(wantProgress, []string{lines[0], lines[1], lines[len(lines)-3], lines[len(lines)-2], lines[len(lines)-1]}); diff != "" {
		t.Errorf("progress (-want +got):\n%s\nall:\n%s", diff, progress.String())
	}
	if elapsed := h.clock.Now().Sub(start); elapsed != 50*time.Second {
		t.Errorf("waited %s of fake time", elapsed)
	}
	assertNoSecrets(t, "State.Attrs", mustJSON(t, got.Attrs))

	// Read: exists while its pod does.
	for _, tc := range []struct {
		change     func()
		wantExists bool
		wantDrift  string
	}{
		{func() {}, true, ""},
		{func() { h.fake.Stop(st.ID) }, true, "its pod was stopped outside benchform"},
		{func() { h.fake.Terminate(st.ID) }, false, "its pod was terminated outside benchform"},
	} {
		tc.change()
		resp, err := h.p.Read(testCtx(t), providers.ReadRequest{Kind: providers.KindServer, Prior: got})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Exists != tc.wantExists || resp.Drift != tc.wantDrift {
			t.Errorf("Read: %v %q, want %v %q", resp.Exists, resp.Drift, tc.wantExists, tc.wantDrift)
		}
	}
}

func TestServerReadinessFailures(t *testing.T) {
	tests := []struct {
		name     string
		opts     runpodtest.Options
		set      map[string]cty.Value
		during   func(h *harness, id string)
		wantErr  []string
		maxWait  time.Duration
		minWait  time.Duration
		sglang   bool
		wrongKey bool
	}{
		{
			name: "container fails: fail fast with the log's tail",
			during: func(h *harness, id string) {
				key, _ := h.p.serverKey(podName)
				h.fake.Fail(id, "Loading model weights", "server_args=ServerArgs(api_key='"+key+"', hf_token='"+testHFToken+"')",
					"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
			},
			wantErr: []string{
				"runpod: server on pod ", ": the container stopped (status ERROR) after 0s",
				"last lines of the container log:\n  start container 1: " + engineNamed("vllm").Launch.Image + "\n  Loading model weights\n  server_args=ServerArgs(api_key='[redacted]', hf_token='[redacted]')\n  torch.OutOfMemoryError: CUDA out of memory",
			},
			maxWait: 0,
		},
		{
			name:    "nothing ever listens: ready_timeout",
			opts:    runpodtest.Options{Upstream: func(runpodtest.Pod, int) http.Handler { return nil }},
			set:     map[string]cty.Value{"ready_timeout": cty.StringVal("2m")},
			wantErr: []string{"not ready after 2m0s (ready_timeout); last: /health answered 502", "last lines of the container log:"},
			minWait: 2 * time.Minute, maxWait: 2 * time.Minute,
		},
		{
			name:    "runtime never comes: ready_timeout",
			opts:    runpodtest.Options{RuntimeAfter: time.Hour},
			set:     map[string]cty.Value{"ready_timeout": cty.StringVal("90s")},
			wantErr: []string{"not ready after 1m30s (ready_timeout); last: container not running yet"},
			minWait: 90 * time.Second, maxWait: 90 * time.Second,
		},
		{
			name:     "the server refuses the key",
			wrongKey: true,
			wantErr:  []string{"the server refuses the API key (/v1/models answered 401)"},
			maxWait:  time.Minute,
		},
		{
			name:    "pod terminated while waiting",
			during:  func(h *harness, id string) { h.fake.Terminate(id) },
			wantErr: []string{": the pod no longer exists"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			st := h.createPod(podConfigValue(podWithToken))
			if tt.during != nil {
				tt.during(h, st.ID)
			}
			set := tt.set
			if tt.wrongKey {
				set = map[string]cty.Value{"api_key": cty.StringVal("not-the-key-the-pod-has")}
			}
			start := h.clock.Now()
			_, err := h.p.Create(testCtx(t), providers.CreateRequest{Kind: providers.KindServer, Name: "s", Config: serverOn(st, set)})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			key, _ := h.p.serverKey(podName)
			assertNoSecrets(t, "error", err.Error(), key)
			if waited := h.clock.Now().Sub(start); waited < tt.minWait || waited > tt.maxWait+time.Minute {
				t.Errorf("waited %s", waited)
			}
		})
	}
}

func TestServerKeyIsStable(t *testing.T) {
	dir := t.TempDir()
	keyOf := func(dir, name string) string {
		t.Helper()
		p := New(Settings{APIKey: "k", SecretDir: dir})
		k, err := p.serverKey(name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := keyOf(dir, podName)
	if b := keyOf(dir, podName); b != a {
		t.Errorf("another provider on the same machine derived %q, want %q", b, a)
	}
	if b := keyOf(dir, "benchform-pod-gpu-ffffffff"); b == a {
		t.Error("two pods share a key")
	}
	if b := keyOf(t.TempDir(), podName); b == a {
		t.Error("two machines share a key")
	}
	info, err := os.Stat(filepath.Join(dir, secretFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("secret mode = %04o, want 0600", info.Mode().Perm())
	}
	if err := os.Chmod(filepath.Join(dir, secretFile), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Settings{APIKey: "k", SecretDir: dir}).serverKey(podName)
	if err == nil || !strings.Contains(err.Error(), "is readable by others (mode 0644): chmod 600 it") {
		t.Errorf("error = %v", err)
	}
}

// TestConnectEndToEnd creates a pod and its server, reconnects from a new
// provider (a later benchform process) and streams a completion through
// the proxy with the derived key.
func TestConnectEndToEnd(t *testing.T) {
	for _, engine := range []string{"vllm", "sglang"} {
		t.Run(engine, func(t *testing.T) {
			h := newHarness(t, runpodtest.Options{})
			server := map[string]cty.Value{"engine": cty.StringVal(engine), "served_model_name": cty.StringVal("qwen")}
			st := h.createPod(podConfigValue(map[string]cty.Value{"server": serverArgs(server)}))
			sst, err := h.p.Create(testCtx(t), providers.CreateRequest{Kind: providers.KindServer, Name: "s", Config: serverOn(st, server)})
			if err != nil {
				t.Fatal(err)
			}
			later := New(h.s)
			ep, err := later.Connect(testCtx(t), providers.ConnectRequest{Addr: "server.x", State: sst, Config: serverOn(st, server)})
			if err != nil {
				t.Fatal(err)
			}
			port := map[string]string{"vllm": "8000", "sglang": "30000"}[engine]
			if ep.BaseURL != h.fake.URL()+"/proxy/"+st.ID+"-"+port || ep.Model != "qwen" || !strings.HasPrefix(ep.APIKey, "bf-") {
				t.Errorf("endpoint = %+v", ep)
			}
			pod := h.fake.Pods()[0]
			if l := parseLaunch(pod); l.key != ep.APIKey {
				t.Errorf("the pod's key differs from Connect's")
			}
			body, _ := json.Marshal(map[string]any{"model": "qwen", "messages": []map[string]string{{"role": "user", "content": "hello there"}}, "max_tokens": 3, "stream": true})
			for _, key := range []string{ep.APIKey, ""} {
				req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, ep.BaseURL+"/v1/chat/completions", bytes.NewReader(body))
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := http.StatusOK
				if key == "" {
					want = http.StatusUnauthorized
				}
				if resp.StatusCode != want {
					t.Errorf("with key %v: status %d, want %d: %s", key != "", resp.StatusCode, want, out)
				}
				if key != "" && !strings.Contains(string(out), "data: [DONE]") {
					t.Errorf("stream = %s", out)
				}
			}
		})
	}
}

func TestUpdatedServerWaitsForTheNewContainer(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	ctx := testCtx(t)
	st := h.createPod(podConfigValue(nil))
	sst, err := h.p.Create(ctx, providers.CreateRequest{Kind: providers.KindServer, Name: "s", Config: serverOn(st, nil)})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Minute)
	newModel := map[string]cty.Value{"model": cty.StringVal("meta-llama/Llama-3.1-8B-Instruct")}
	if _, err := h.p.Update(ctx, providers.UpdateRequest{Kind: providers.KindPod, Prior: st, Config: podConfigValue(map[string]cty.Value{"server": serverArgs(newModel)})}); err != nil {
		t.Fatal(err)
	}
	start := h.clock.Now()
	got, err := h.p.Update(ctx, providers.UpdateRequest{Kind: providers.KindServer, Prior: sst, Config: serverOn(st, newModel)})
	if err != nil {
		t.Fatal(err)
	}
	if attrString(got.Attrs, "model") != "meta-llama/Llama-3.1-8B-Instruct" {
		t.Errorf("model = %q", attrString(got.Attrs, "model"))
	}
	// The restarted container's runtime comes after RuntimeAfter (30s).
	if waited := h.clock.Now().Sub(start); waited < 30*time.Second {
		t.Errorf("waited only %s for the restarted container", waited)
	}
}
