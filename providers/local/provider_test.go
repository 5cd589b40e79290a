//go:build linux

package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// killOnCleanup kills what a test started, whatever the test did to it.
func killOnCleanup(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid to clean up")
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	})
}

func readPIDFile(t *testing.T, path string) int {
	t.Helper()
	var b []byte
	var err error
	// The child writes the file as it starts; Create may have returned
	// before, when the start itself failed.
	for range 100 {
		if b, err = os.ReadFile(path); err == nil && len(b) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pid file %s: %q: %v", path, b, err)
	}
	return pid
}

var nameSeq struct {
	sync.Mutex
	n int
}

func uniqueName(t *testing.T) string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return fmt.Sprintf("benchform-server-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), nameSeq.n)
}

// create starts a server and arranges for it to be killed after the test.
func create(t *testing.T, p *Provider, cfg cty.Value) providers.State {
	t.Helper()
	st, err := p.Create(testContext(t), providers.CreateRequest{
		Addr: "server.vllm", Kind: providers.KindServer, Name: uniqueName(t), Config: cfg,
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	killOnCleanup(t, parsePID(st.ID))
	return st
}

// waitGone waits for a process to stop existing (a zombie counts as gone).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		if !inspect(pid).alive() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still runs", pid)
}

// TestCreateConnect starts each engine through its own command line and
// sends it a request.
func TestCreateConnect(t *testing.T) {
	for _, engine := range []string{"vllm", "sglang"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			p := newProvider(t, dir, 0)
			argvFile := filepath.Join(t.TempDir(), "argv.json")
			args := []string{"--max-model-len", "4096", "--chat-template", `{{ 'quoted' }} "double" $HOME; echo no-shell`}
			cfg := serverValue(t, engine, map[string]cty.Value{
				"api_key":           cty.StringVal(testKey),
				"served_model_name": cty.StringVal("chat-model"),
				"args":              stringList(args),
			}, map[string]string{fakeArgvFile: argvFile, fakeLoad: "150ms"})

			var mu sync.Mutex
			var progress []string
			name := uniqueName(t)
			st, err := p.Create(testContext(t), providers.CreateRequest{
				Addr: "server." + engine, Kind: providers.KindServer, Name: name, Config: cfg,
				Progress: func(msg string) { mu.Lock(); progress = append(progress, msg); mu.Unlock() },
			})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			pid := parsePID(st.ID)
			killOnCleanup(t, pid)

			// The engine got its arguments one by one, as built.
			c, err := decodeServer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			port := attrInt(st.Attrs, "port")
			want, _ := command(c, port)
			var got []string
			b, err := os.ReadFile(argvFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[1:], got); diff != "" {
				t.Errorf("argv received (-want +got):\n%s", diff)
			}

			logFile := filepath.Join(dir, name+".log")
			info := inspect(pid)
			wantAttrs := cty.ObjectVal(map[string]cty.Value{
				"pid":        cty.NumberIntVal(int64(pid)),
				"command":    stringList(redactArgv(want, testKey)),
				"log_file":   cty.StringVal(logFile),
				"endpoint":   cty.StringVal(fmt.Sprintf("http://127.0.0.1:%d", port)),
				"model":      cty.StringVal("chat-model"),
				"port":       cty.NumberIntVal(int64(port)),
				"started_at": cty.StringVal("2026-03-01T12:00:00Z"),
				"start_time": cty.StringVal(info.start),
			})
			if !st.Attrs.RawEquals(wantAttrs) {
				t.Errorf("Attrs:\n got %#v\nwant %#v", st.Attrs, wantAttrs)
			}
			if st.Name != name || info.start == "" || !info.alive() {
				t.Errorf("State %q/%q, process %+v", st.ID, st.Name, info)
			}
			if strings.Contains(attrsJSON(t, st.Attrs), testKey) {
				t.Errorf("the API key is in State.Attrs")
			}
			rec, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil || strings.Contains(string(rec), testKey) {
				t.Errorf("process record: %v, or it holds the API key", err)
			}
			logText, err := os.ReadFile(logFile)
			if err != nil || !strings.Contains(string(logText), "==> benchform 2026-03-01T12:00:00Z: ") || !strings.Contains(string(logText), "fake engine: "+engine+" serving chat-model") {
				t.Errorf("log file: %v\n%s", err, logText)
			}
			mu.Lock()
			if len(progress) == 0 || !strings.HasPrefix(progress[0], fmt.Sprintf("process %d: ", pid)) {
				t.Errorf("progress = %q, want lines about process %d", progress, pid)
			}
			mu.Unlock()

			ep, err := p.Connect(testContext(t), providers.ConnectRequest{Addr: "server." + engine, State: st, Config: cfg})
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if diff := cmp.Diff(providers.Endpoint{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port), APIKey: testKey, Model: "chat-model"}, ep, cmpEndpoint); diff != "" {
				t.Errorf("Endpoint (-want +got):\n%s", diff)
			}
			if code, body := chat(t, ep); code != http.StatusOK || !strings.Contains(body, `"model":"chat-model"`) {
				t.Errorf("chat completion: %d %s", code, body)
			}
			if code, _ := chat(t, providers.Endpoint{BaseURL: ep.BaseURL, Model: ep.Model}); code != http.StatusUnauthorized {
				t.Errorf("chat completion without the key: %d, want 401", code)
			}
		})
	}
}

var cmpEndpoint = cmp.Comparer(func(a, b providers.Endpoint) bool {
	return a.BaseURL == b.BaseURL && a.APIKey == b.APIKey && a.Model == b.Model && (a.Release == nil) == (b.Release == nil)
})

func chat(t *testing.T, ep providers.Endpoint) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello there"}],"max_tokens":4}`, ep.Model)
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, ep.BaseURL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if ep.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+ep.APIKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCreateFails covers the ways a start goes wrong: each must leave no
// process running and no record behind, and say why without the key.
func TestCreateFails(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		timeout string
		want    []string // substrings of the error
	}{
		{
			name: "exits while loading",
			mode: "exit",
			want: []string{"local: vllm exited before it was ready (it exited: exit status 3); last lines of ", "CUDA out of memory", "'api_key': \"(sensitive)\""},
		},
		{
			name:    "never healthy",
			mode:    "unhealthy",
			timeout: "400ms",
			want:    []string{"local: vllm not ready after 400ms (last check: /health answered 503); it was stopped; last lines of ", "fake engine: vllm serving"},
		},
		{
			name: "serves another model",
			mode: "wrong-model",
			want: []string{`local: vllm is up but does not serve model "Qwen/Qwen2.5-0.5B-Instruct"; it serves "some/other-model"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := newProvider(t, dir, 0)
			pidFile := filepath.Join(t.TempDir(), "pid")
			set := map[string]cty.Value{"api_key": cty.StringVal(testKey)}
			if tt.timeout != "" {
				set["ready_timeout"] = cty.StringVal(tt.timeout)
			}
			cfg := serverValue(t, "vllm", set, map[string]string{fakeMode: tt.mode, fakePIDFile: pidFile, "HF_TOKEN": "hf_secret_token_value"})
			name := uniqueName(t)
			began := time.Now()
			st, err := p.Create(testContext(t), providers.CreateRequest{Addr: "server.vllm", Kind: providers.KindServer, Name: name, Config: cfg})
			pid := readPIDFile(t, pidFile)
			killOnCleanup(t, pid)
			if err == nil {
				t.Fatalf("Create succeeded: %+v", st)
			}
			if elapsed := time.Since(began); elapsed > 10*time.Second {
				t.Errorf("Create took %s", elapsed)
			}
			msg := err.Error()
			t.Logf("error:\n%s", msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, testKey) {
				t.Errorf("the API key is in the error:\n%s", msg)
			}
			if info := inspect(pid); info.alive() {
				t.Errorf("process %d still runs after a failed create", pid)
			}
			if _, err := os.Stat(filepath.Join(dir, name+".json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("process record left behind: %v", err)
			}
			resp, err := p.Read(testContext(t), providers.ReadRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: providers.State{Name: name}})
			if err != nil || resp.Exists {
				t.Errorf("Read after a failed create: %+v, %v", resp, err)
			}
		})
	}
}

func TestCreateRefusesPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := newProvider(t, "", 0)
	cfg := serverValue(t, "vllm", map[string]cty.Value{"port": cty.NumberIntVal(int64(port))}, map[string]string{fakePIDFile: pidFile})
	_, err = p.Create(testContext(t), providers.CreateRequest{Addr: "server.vllm", Kind: providers.KindServer, Name: uniqueName(t), Config: cfg})
	want := fmt.Sprintf("local: port %d on 127.0.0.1 is in use; stop what listens there or set another port", port)
	if err == nil || err.Error() != want {
		t.Errorf("Create: %v, want %q", err, want)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an engine was started: %v", err)
	}
}

func TestCreateMissingExecutable(t *testing.T) {
	p := newProvider(t, "", 0)
	cfg := serverValue(t, "sglang", map[string]cty.Value{"executable": cty.StringVal("benchform-no-such-python")}, nil)
	_, err := p.Create(testContext(t), providers.CreateRequest{Addr: "server.sglang", Kind: providers.KindServer, Name: uniqueName(t), Config: cfg})
	if err == nil || !strings.Contains(err.Error(), `local: start sglang: exec: "benchform-no-such-python": executable file not found in $PATH`) {
		t.Errorf("Create: %v", err)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := newProvider(t, dir, 0)
	ctx := testContext(t)
	st := create(t, p, serverValue(t, "vllm", nil, nil))
	pid := parsePID(st.ID)
	read := func(p *Provider, prior providers.State) providers.ReadResponse {
		t.Helper()
		resp, err := p.Read(ctx, providers.ReadRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: prior})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		return resp
	}

	if resp := read(p, st); !resp.Exists || resp.Drift != "" || !cmp.Equal(resp.State, st, cmpState) {
		t.Errorf("Read of a live server: %+v", resp)
	}

	// An apply killed during the create stored the name only.
	if resp := read(p, providers.State{Name: st.Name}); !resp.Exists || resp.State.ID != st.ID || attrString(resp.State.Attrs, "start_time") == "" {
		t.Errorf("Read by name: %+v", resp)
	}

	// State as the executor stores it keeps only the attributes the server
	// block declares; the record supplies the start time, and without the
	// record the environment identifies the process.
	stored := providers.State{ID: st.ID, Name: st.Name, Attrs: cty.ObjectVal(map[string]cty.Value{
		"endpoint": st.Attrs.GetAttr("endpoint"), "model": st.Attrs.GetAttr("model"), "port": st.Attrs.GetAttr("port"), "id": cty.StringVal(st.ID),
	})}
	if resp := read(p, stored); !resp.Exists {
		t.Errorf("Read of stored attributes: %+v", resp)
	}
	if resp := read(newProvider(t, "", 0), stored); !resp.Exists {
		t.Errorf("Read of stored attributes without the record: %+v", resp)
	}

	// The same pid with another start time is another process: the
	// server is gone, and deleting it must leave that process alone.
	reused := providers.State{ID: st.ID, Name: st.Name, Attrs: merge(st.Attrs, cty.ObjectVal(map[string]cty.Value{"start_time": cty.StringVal("1")}))}
	other := newProvider(t, "", 0) // no record: the state is all it knows
	resp := read(other, reused)
	wantDrift := fmt.Sprintf("the process exited; pid %d now belongs to another process (see %s)", pid, filepath.Join(dir, st.Name+".log"))
	if resp.Exists || resp.Drift != wantDrift {
		t.Errorf("Read of a reused pid: %+v, want drift %q", resp, wantDrift)
	}
	if err := other.Delete(ctx, providers.DeleteRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: reused}); err != nil {
		t.Errorf("Delete of a reused pid: %v", err)
	}
	if !inspect(pid).alive() {
		t.Fatalf("Delete of a reused pid stopped the process")
	}

	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	resp = read(p, st)
	wantDrift = fmt.Sprintf("the process exited (see %s)", filepath.Join(dir, st.Name+".log"))
	if resp.Exists || resp.Drift != wantDrift {
		t.Errorf("Read of a killed server: %+v, want drift %q", resp, wantDrift)
	}
	if _, err := p.Connect(ctx, providers.ConnectRequest{Addr: "server.vllm", State: st, Config: serverValue(t, "vllm", nil, nil)}); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("Connect to a killed server: %v", err)
	}
}

var cmpState = cmp.Comparer(func(a, b providers.State) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Attrs.RawEquals(b.Attrs)
})

func TestUpdateRestarts(t *testing.T) {
	dir := t.TempDir()
	p := newProvider(t, dir, 0)
	ctx := testContext(t)
	argvFile := filepath.Join(t.TempDir(), "argv.json")
	env := map[string]string{fakeArgvFile: argvFile}
	st := create(t, p, serverValue(t, "vllm", map[string]cty.Value{"args": stringList([]string{"--max-model-len", "2048"})}, env))
	oldPID := parsePID(st.ID)

	cfg := serverValue(t, "vllm", map[string]cty.Value{"args": stringList([]string{"--max-model-len", "8192"}), "served_model_name": cty.StringVal("renamed")}, env)
	got, err := p.Update(ctx, providers.UpdateRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: st, Config: cfg})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	newPID := parsePID(got.ID)
	killOnCleanup(t, newPID)
	if newPID == oldPID || got.Name != st.Name {
		t.Errorf("Update returned %s/%s, was %s/%s", got.ID, got.Name, st.ID, st.Name)
	}
	if inspect(oldPID).alive() {
		t.Errorf("the old process %d still runs", oldPID)
	}
	if a, b := attrInt(got.Attrs, "port"), attrInt(st.Attrs, "port"); a != b {
		t.Errorf("port changed from %d to %d; a free port is kept", b, a)
	}
	var argv []string
	b, _ := os.ReadFile(argvFile)
	if err := json.Unmarshal(b, &argv); err != nil || !strings.Contains(strings.Join(argv, " "), "--max-model-len 8192") {
		t.Errorf("new argv %q (%v)", argv, err)
	}
	ep, err := p.Connect(ctx, providers.ConnectRequest{Addr: "server.vllm", State: got, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := chat(t, ep); code != http.StatusOK || ep.Model != "renamed" {
		t.Errorf("after update: %d %s (model %q)", code, body, ep.Model)
	}
	logText, _ := os.ReadFile(filepath.Join(dir, st.Name+".log"))
	if n := strings.Count(string(logText), "==> benchform "); n != 2 {
		t.Errorf("log holds %d starts, want 2 (appended)", n)
	}

	// An update interrupted after the restart left state with the old
	// pid; the record knows the new one.
	resp, err := p.Read(ctx, providers.ReadRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: st})
	if err != nil || !resp.Exists || resp.State.ID != got.ID {
		t.Errorf("Read with the pre-update state: %+v, %v", resp, err)
	}
}

func TestDelete(t *testing.T) {
	t.Run("SIGTERM reaches the workers", func(t *testing.T) {
		dir := t.TempDir()
		// A grace period far longer than the server takes to exit tells
		// SIGTERM's work from SIGKILL's.
		p := newProvider(t, dir, 30*time.Second)
		workerFile := filepath.Join(t.TempDir(), "worker")
		st := create(t, p, serverValue(t, "vllm", nil, map[string]string{fakeMode: "worker", fakeWorkerPID: workerFile}))
		pid, worker := parsePID(st.ID), readPIDFile(t, workerFile)
		killOnCleanup(t, worker)
		if !inspect(worker).alive() {
			t.Fatalf("worker %d does not run", worker)
		}
		began := time.Now()
		req := providers.DeleteRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: st}
		if err := p.Delete(testContext(t), req); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if elapsed := time.Since(began); elapsed > 15*time.Second {
			t.Errorf("Delete took %s; the server exits on SIGTERM", elapsed)
		}
		if inspect(pid).alive() || inspect(worker).alive() {
			t.Errorf("server %d or worker %d still runs", pid, worker)
		}
		if _, err := os.Stat(filepath.Join(dir, st.Name+".json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("record left: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, st.Name+".log")); err != nil {
			t.Errorf("the log is kept: %v", err)
		}
		if err := p.Delete(testContext(t), req); err != nil {
			t.Errorf("Delete of a server already gone: %v", err)
		}
		resp, err := p.Read(testContext(t), providers.ReadRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: st})
		if err != nil || resp.Exists {
			t.Errorf("Read after Delete: %+v, %v", resp, err)
		}
	})
	t.Run("SIGKILL after the grace period", func(t *testing.T) {
		const grace = 300 * time.Millisecond
		p := newProvider(t, "", grace)
		st := create(t, p, serverValue(t, "vllm", nil, map[string]string{fakeMode: "ignore-term"}))
		pid := parsePID(st.ID)
		began := time.Now()
		if err := p.Delete(testContext(t), providers.DeleteRequest{Addr: "server.vllm", Kind: providers.KindServer, Prior: st}); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if elapsed := time.Since(began); elapsed < grace || elapsed > grace+killWait {
			t.Errorf("Delete took %s, want the grace period %s and a little", elapsed, grace)
		}
		if inspect(pid).alive() {
			t.Errorf("process %d still runs", pid)
		}
	})
}

// TestOutlivesProvider shows that nothing but state and the state
// directory is needed to find and stop a server: a later benchform process
// is a new Provider.
func TestOutlivesProvider(t *testing.T) {
	dir := t.TempDir()
	cfg := serverValue(t, "sglang", map[string]cty.Value{"api_key": cty.StringVal(testKey)}, nil)
	st := create(t, newProvider(t, dir, 0), cfg)
	pid := parsePID(st.ID)

	later := newProvider(t, dir, 0)
	ctx := testContext(t)
	resp, err := later.Read(ctx, providers.ReadRequest{Addr: "server.sglang", Kind: providers.KindServer, Prior: st})
	if err != nil || !resp.Exists {
		t.Fatalf("Read: %+v, %v", resp, err)
	}
	ep, err := later.Connect(ctx, providers.ConnectRequest{Addr: "server.sglang", State: st, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := chat(t, ep); code != http.StatusOK {
		t.Errorf("chat completion: %d %s", code, body)
	}
	if err := later.Delete(ctx, providers.DeleteRequest{Addr: "server.sglang", Kind: providers.KindServer, Prior: st}); err != nil {
		t.Fatal(err)
	}
	if inspect(pid).alive() {
		t.Errorf("process %d still runs", pid)
	}
}

func TestPod(t *testing.T) {
	p := newProvider(t, "", 0)
	ctx := testContext(t)
	cfg := cty.ObjectVal(map[string]cty.Value{"provider": cty.StringVal("local"), "server": cty.NullVal(cty.DynamicPseudoType)})
	st, err := p.Create(ctx, providers.CreateRequest{Addr: "pod.local", Kind: providers.KindPod, Name: "benchform-pod-local-1", Config: cfg})
	want := providers.State{ID: "local", Name: "benchform-pod-local-1", Attrs: cty.EmptyObjectVal}
	if err != nil || !cmp.Equal(st, want, cmpState) {
		t.Errorf("Create: %+v, %v", st, err)
	}
	for _, prior := range []providers.State{st, {Name: "benchform-pod-local-1"}} {
		resp, err := p.Read(ctx, providers.ReadRequest{Addr: "pod.local", Kind: providers.KindPod, Prior: prior})
		if err != nil || !resp.Exists || !cmp.Equal(resp.State, want, cmpState) {
			t.Errorf("Read(%+v): %+v, %v", prior, resp, err)
		}
	}
	if st, err := p.Update(ctx, providers.UpdateRequest{Addr: "pod.local", Kind: providers.KindPod, Prior: st, Config: cfg}); err != nil || !cmp.Equal(st, want, cmpState) {
		t.Errorf("Update: %+v, %v", st, err)
	}
	if err := p.Delete(ctx, providers.DeleteRequest{Addr: "pod.local", Kind: providers.KindPod, Prior: st}); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := p.Connect(ctx, providers.ConnectRequest{Addr: "pod.local", State: st}); !errors.Is(err, providers.ErrNotSupported) {
		t.Errorf("Connect to a pod: %v", err)
	}
}

func TestQueryGPU(t *testing.T) {
	p := New(Settings{StateDir: t.TempDir(), NvidiaSMI: testExecutable(t)})
	ctx := testContext(t)
	req := providers.GPURequest{Addr: "server.vllm", Fields: []string{"utilization.gpu", "memory.used", "power.draw"}}

	t.Setenv("GORACE", "atexit_sleep_ms=0")
	t.Setenv(fakeSMIEnv, "ok")
	out, err := p.QueryGPU(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("87, 40211, 301.52\n3, 1024, 61.20\n", string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	t.Setenv(fakeSMIEnv, "fail")
	_, err = p.QueryGPU(ctx, req)
	want := "local: nvidia-smi: exit status 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}

	if _, err := p.QueryGPU(ctx, providers.GPURequest{Fields: []string{"memory.used,power.draw"}}); err == nil {
		t.Errorf("a field with a comma was accepted")
	}
	missing := New(Settings{StateDir: t.TempDir(), NvidiaSMI: filepath.Join(t.TempDir(), "nvidia-smi")})
	if _, err := missing.QueryGPU(ctx, req); err == nil || !strings.HasPrefix(err.Error(), "local: nvidia-smi: ") {
		t.Errorf("missing nvidia-smi: %v", err)
	}
}

func TestCreateCancelled(t *testing.T) {
	dir := t.TempDir()
	p := newProvider(t, dir, 0)
	pidFile := filepath.Join(t.TempDir(), "pid")
	cfg := serverValue(t, "vllm", nil, map[string]string{fakeLoad: "1m", fakePIDFile: pidFile})
	ctx, cancel := context.WithTimeout(testContext(t), 500*time.Millisecond)
	defer cancel()
	name := uniqueName(t)
	_, err := p.Create(ctx, providers.CreateRequest{Addr: "server.vllm", Kind: providers.KindServer, Name: name, Config: cfg})
	pid := readPIDFile(t, pidFile)
	killOnCleanup(t, pid)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "; it was stopped; last lines of ") {
		t.Errorf("Create: %v, want the context's error, wrapped", err)
	}
	if inspect(pid).alive() {
		t.Errorf("process %d still runs", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, name+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("process record left behind: %v", err)
	}
}
