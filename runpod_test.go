package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/providers/runpod"
	"github.com/benchform/benchform/providers/runpod/runpodtest"
	"github.com/benchform/benchform/providers/simulated"
	"github.com/benchform/benchform/state"
)

// Secrets the RunPod tests plant, which must never be written anywhere.
const (
	testRunpodKey = "rp_test_key_0123456789abcdef"
	testHFToken   = "hf_secret_token_9876543210"
)

// fastRunpod shortens the provider's polls and backoffs, which are paced
// for the real service, to what a fake needs.
func fastRunpod(s *runpod.Settings) {
	s.PollInterval = 20 * time.Millisecond
	s.Sleep = func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(d / 100)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runpodConfig declares one pod with servers on it and a scenario against
// one of them; runpodHCL renders it.
const runpodConfig = `
pod "gpu" {
  gpu_type = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"]
  env      = { HF_TOKEN = env("HF_TOKEN") }
  ttl      = "{{.TTL}}"
}
{{range .Servers}}
server "{{.}}" {
  engine = "vllm"
  pod    = pod.gpu
  model  = "Qwen/Qwen2.5-7B-Instruct"
}
{{end}}
scenario "chat" {
  server     = server.{{index .Servers 0}}
  max_tokens = 8

  dataset {
    kind         = "synthetic"
    input_tokens = 16
  }

  load {
    concurrency = [2]
    requests    = 6
  }
}
`

// runpodSetup is what runpodConfig varies: the pod's ttl and the servers
// placed on it, the first of which the scenario runs against.
type runpodSetup struct {
	TTL     string
	Servers []string
}

var defaultRunpod = runpodSetup{TTL: "3h", Servers: []string{"vllm"}}

func runpodHCL(t *testing.T, s runpodSetup) string {
	t.Helper()
	return render(t, runpodConfig, s)
}

// fakeRunpod starts a fake RunPod whose pods run the simulator behind the
// proxy, serving the model with the key benchform put in the pod's env.
func fakeRunpod(t *testing.T) *runpodtest.Server {
	t.Helper()
	var mu sync.Mutex
	var servers []*simulated.Server
	fake := fakeRunpodWith(t, func(pod runpodtest.Pod, port int) http.Handler {
		m := simulated.DefaultModel()
		m.ServedModel, m.TTFT, m.ITL = "Qwen/Qwen2.5-7B-Instruct", time.Millisecond, time.Millisecond
		m.APIKey = pod.Env["VLLM_API_KEY"]
		srv, err := simulated.NewServer(m)
		if err != nil {
			t.Error(err)
			return nil
		}
		mu.Lock()
		servers = append(servers, srv)
		mu.Unlock()
		return srv.Handler()
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range servers {
			s.Close()
		}
	})
	return fake
}

// fakeRunpodWith starts a fake RunPod whose pods' ports answer with
// upstream, and points the environment at it.
func fakeRunpodWith(t *testing.T, upstream func(pod runpodtest.Pod, port int) http.Handler) *runpodtest.Server {
	t.Helper()
	fake := runpodtest.New(runpodtest.Options{
		APIKey:       testRunpodKey,
		RuntimeAfter: 50 * time.Millisecond,
		Upstream:     upstream,
	})
	t.Cleanup(fake.Close)
	t.Setenv("RUNPOD_API_KEY", testRunpodKey)
	t.Setenv("RUNPOD_REST_URL", fake.URL())
	t.Setenv("RUNPOD_PROXY_URL", fake.ProxyURL())
	t.Setenv("HF_TOKEN", testHFToken)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	old := tuneRunpod
	tuneRunpod = fastRunpod
	t.Cleanup(func() { tuneRunpod = old })
	return fake
}

// assertNoSecrets checks that neither planted secret reached the state
// file, its write-ahead log, or any output.
func assertNoSecrets(t *testing.T, dir string, outputs ...string) {
	t.Helper()
	for _, secret := range []string{testRunpodKey, testHFToken} {
		for i, out := range outputs {
			if strings.Contains(out, secret) {
				t.Errorf("output %d contains a secret", i)
			}
		}
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), secret) {
				t.Errorf("%s contains a secret", path)
			}
			return nil
		})
	}
}

// TestRunpodFaults runs apply → results → destroy against a fake RunPod
// under each fault, and checks that no pod is left and none was made twice.
func TestRunpodFaults(t *testing.T) {
	tests := []struct {
		name      string
		faults    runpodtest.Faults
		wantPods  int // pods created in all, terminated ones included
		afterPlan func(t *testing.T, fake *runpodtest.Server, dir string)
	}{
		{name: "no fault", wantPods: 1},
		{name: "500s and 429s", faults: runpodtest.Faults{Share500: 0.2, Share429: 0.1}, wantPods: 1},
		{name: "create succeeds but answers 500", faults: runpodtest.Faults{CreateOK500: 1}, wantPods: 1},
		{name: "create answers 500 without creating", faults: runpodtest.Faults{Create500: 1}, wantPods: 1},
		{name: "no capacity for the first GPU type", faults: runpodtest.Faults{NoCapacity: []string{"NVIDIA H100 80GB HBM3"}}, wantPods: 1},
		{name: "slow answers and lagging lists", faults: runpodtest.Faults{Latency: 20 * time.Millisecond, ListLag: 100 * time.Millisecond, CreateOK500: 1}, wantPods: 1},
		{
			name:     "pod terminated behind benchform's back",
			wantPods: 2,
			afterPlan: func(t *testing.T, fake *runpodtest.Server, dir string) {
				fake.Terminate(fake.Pods()[0].ID)
				code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
				if code != exitOK || !strings.Contains(out, "pod.gpu will be created: terminated outside benchform") {
					t.Errorf("apply after the pod was terminated: %d\n%s\n%s", code, out, errOut)
				}
			},
		},
		{
			name:     "pod stopped behind benchform's back",
			wantPods: 1,
			afterPlan: func(t *testing.T, fake *runpodtest.Server, dir string) {
				fake.Stop(fake.Pods()[0].ID)
				code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
				if code != exitOK || !strings.Contains(out, "pod.gpu will be updated in place: stopped outside benchform") {
					t.Errorf("apply after the pod was stopped: %d\n%s\n%s", code, out, errOut)
				}
			},
		},
		{
			// A RunPod pod runs one container, so a second server on it
			// would never start: the configuration is refused before
			// anything changes, rather than waited on while it bills.
			name:     "a second server placed on the pod",
			wantPods: 1,
			afterPlan: func(t *testing.T, fake *runpodtest.Server, dir string) {
				writeConfig(t, dir, runpodHCL(t, runpodSetup{TTL: "3h", Servers: []string{"vllm", "vllm_b"}}))
				code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
				if code != exitError || !strings.Contains(errOut, "One server per pod") || !strings.Contains(errOut, `server "vllm_b"`) {
					t.Errorf("apply with two servers on one pod: %d\n%s\n%s", code, out, errOut)
				}
				if n := len(fake.AllPods()); n != 1 {
					t.Errorf("%d pods after the refused apply, want the first one only", n)
				}
				writeConfig(t, dir, runpodHCL(t, defaultRunpod))
			},
		},
		{
			// A new server placed on a pod past its ttl is not created, and
			// the pod is destroyed all the same.
			name:     "a new server placed on a pod past its ttl",
			wantPods: 2,
			afterPlan: func(t *testing.T, fake *runpodtest.Server, dir string) {
				writeConfig(t, dir, runpodHCL(t, runpodSetup{TTL: "1ms", Servers: []string{"vllm_b"}}))
				code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
				if code != exitOK || !strings.Contains(out, "pod.gpu will be destroyed: it has run for") || !strings.Contains(out, "server.vllm_b is not created") {
					t.Errorf("apply past the ttl: %d\n%s\n%s", code, out, errOut)
				}
				if live := fake.Pods(); len(live) != 0 {
					t.Fatalf("%d pods still billing after the apply that found the pod past its ttl", len(live))
				}
				writeConfig(t, dir, runpodHCL(t, defaultRunpod))
				if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
					t.Errorf("apply with the ttl restored: %d\n%s\n%s", code, out, errOut)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeRunpod(t)
			fake.SetFaults(tt.faults)
			dir := configDir(t, runpodHCL(t, defaultRunpod))
			code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
			if code != exitOK {
				t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(out, "scenario.chat — run #1, completed") || !strings.Contains(out, "Pods this plan creates cost") {
				t.Errorf("apply output:\n%s", out)
			}
			outputs := []string{out, errOut}
			if tt.afterPlan != nil {
				fake.SetFaults(runpodtest.Faults{})
				tt.afterPlan(t, fake, dir)
			}
			code, out, errOut = benchform(t, "plan", dir)
			if code != exitOK || !strings.Contains(out, "Pods billing now:") || !strings.Contains(out, "ttl 3h00m") {
				t.Errorf("plan after apply: %d\n%s\n%s", code, out, errOut)
			}
			outputs = append(outputs, out, errOut)
			code, out, errOut = benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json", "-detailed")
			if code != exitOK || !strings.Contains(out, `"completed": 6`) {
				t.Errorf("results: %d %s\n%s", code, errOut, out)
			}
			fake.SetFaults(tt.faults)
			code, out, errOut = benchform(t, "destroy", "-auto-approve", dir)
			if code != exitOK {
				t.Fatalf("destroy: %d\n%s\n%s", code, out, errOut)
			}
			outputs = append(outputs, out, errOut)
			if live := fake.Pods(); len(live) != 0 {
				t.Errorf("%d pods left running after destroy: %+v", len(live), live)
			}
			if all := fake.AllPods(); len(all) != tt.wantPods {
				t.Errorf("%d pods were created, want %d", len(all), tt.wantPods)
			}
			assertNoSecrets(t, dir, outputs...)
		})
	}
}

// TestRunpodKilledApply kills an apply at each phase of its work (as the
// pod is created, once it is, while its server is awaited, while the
// scenario runs), then applies again and destroys: every time, no pod is
// left and none was created twice.
func TestRunpodKilledApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, marker := range []string{"pod.gpu: Creating...", "pod.gpu: Creation complete", "server.vllm: Creating...", "scenario.chat: Running..."} {
		delay := time.Duration(rng.IntN(30)) * time.Millisecond
		t.Run(fmt.Sprintf("killed %s after %q", delay, marker), func(t *testing.T) {
			fake := fakeRunpod(t)
			dir := configDir(t, runpodHCL(t, defaultRunpod))
			cmd := process(t, "apply", "-auto-approve", dir)
			cmd.Env = append(cmd.Env, "BENCHFORM_TEST_FAST_RUNPOD=1")
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() bool { return strings.Contains(out.String(), marker) })
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			code, aout, errOut := benchform(t, "apply", "-auto-approve", dir)
			if code != exitOK {
				t.Fatalf("apply after the kill: %d\n%s\n%s\nkilled process:\n%s", code, aout, errOut, out.String())
			}
			if code, dout, errOut := benchform(t, "destroy", "-auto-approve", dir); code != exitOK {
				t.Fatalf("destroy: %d\n%s\n%s", code, dout, errOut)
			}
			if live := fake.Pods(); len(live) != 0 {
				t.Errorf("%d pods left running", len(live))
			}
			if all := fake.AllPods(); len(all) != 1 {
				t.Errorf("%d pods were created, want 1 (the killed apply's, adopted or reused)\nkilled process:\n%s\napply:\n%s", len(all), out.String(), aout)
			}
			store, err := state.Open(filepath.Join(dir, "benchform.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if rows, _ := store.Resources(); len(rows) != 0 {
				t.Errorf("state still holds %d resources", len(rows))
			}
			assertNoSecrets(t, dir, out.String(), aout, errOut)
		})
	}
}

// TestInterruptTwoStage interrupts an apply that waits for a server on a
// rented pod. The first Ctrl-C stops no effect half-way: the wait for the
// server goes on, so that the pod is recorded as made. The second abandons
// it, and the process exits at once; the pod is still in state, and
// destroy terminates it.
func TestInterruptTwoStage(t *testing.T) {
	fake := fakeRunpodWith(t, func(runpodtest.Pod, int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "loading", http.StatusServiceUnavailable)
		})
	})
	dir := configDir(t, runpodHCL(t, defaultRunpod))
	apply := process(t, "apply", "-auto-approve", dir)
	apply.Env = append(apply.Env, "BENCHFORM_TEST_FAST_RUNPOD=1")
	var out syncBuffer
	apply.Stdout, apply.Stderr = &out, &out
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	defer apply.Process.Kill()
	done := make(chan error, 1)
	go func() { done <- apply.Wait() }()
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(out.String(), "/health answered 503") })

	apply.Process.Signal(syscall.SIGINT)
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "Interrupt received") })
	select {
	case err := <-done:
		t.Fatalf("apply exited (%v) on the first Ctrl-C, before its wait for the server ended:\n%s", err, out.String())
	case <-time.After(500 * time.Millisecond):
	}

	apply.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if exitCode(err) != exitError || !strings.Contains(out.String(), "Second interrupt: abandoning cleanup") {
			t.Errorf("after the second Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("apply did not stop after the second Ctrl-C:\n%s", out.String())
	}
	if live := fake.Pods(); len(live) != 1 {
		t.Fatalf("%d pods after the interrupted apply, want the one it rented", len(live))
	}
	if code, dout, errOut := benchform(t, "destroy", "-auto-approve", dir); code != exitOK || len(fake.Pods()) != 0 {
		t.Errorf("destroy after the interrupt: %d, %d pods left\n%s\n%s", code, len(fake.Pods()), dout, errOut)
	}
}

// TestRunpodErrorsOnTheAttribute plans configurations that only the RunPod
// provider can find wrong: its error names the attribute, and the
// diagnostic points at the line that sets it, in the pod's block or in the
// block of the server placed on it.
func TestRunpodErrorsOnTheAttribute(t *testing.T) {
	fakeRunpod(t)
	tests := []struct {
		name, config string
		line         int
		detail       string
	}{
		{"a pod's port", `
pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
  ports    = ["8000"]
}
`, 4, `ports: element 0 must be PORT/http or PORT/tcp`},
		{"a variable benchform sets, in the placed server's env", `
pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.gpu
  model  = "m"
  env    = { VLLM_API_KEY = "mine" }
}
`, 10, `server.env: VLLM_API_KEY cannot be set here`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := configDir(t, tt.config)
			code, out, errOut := benchform(t, "plan", dir)
			where := fmt.Sprintf("main.hcl:%d:", tt.line)
			if code != exitError || !strings.Contains(errOut, where) || !strings.Contains(strings.Join(strings.Fields(errOut), " "), tt.detail) {
				t.Errorf("plan: exit %d, want the error at %s saying %q\n%s\n%s", code, where, tt.detail, out, errOut)
			}
		})
	}
}

// TestRunpodOllama runs ollama on a rented pod: the container is ollama's
// image told where to listen, the model is pulled through the proxy once
// the server answers, and the scenario's limit goes in the one field
// ollama reads.
func TestRunpodOllama(t *testing.T) {
	fake := fakeRunpodWith(t, func(runpodtest.Pod, int) http.Handler { return ollamaLike() })
	dir := configDir(t, `
pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
  ttl      = "1h"
}

server "ollama" {
  engine = "ollama"
  pod    = pod.gpu
  model  = "tiny"
}

scenario "chat" {
  server     = server.ollama
  max_tokens = 8
  dataset {
    kind    = "prompts"
    prompts = ["hello"]
  }
  load {
    concurrency = [2]
    requests    = 4
  }
}
`)
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK || !strings.Contains(out+errOut, "pulling tiny: success") || strings.Contains(out, "streamed more tokens") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	pods := fake.Pods()
	if len(pods) != 1 || pods[0].Image != "ollama/ollama:0.32.15" || pods[0].Env["OLLAMA_HOST"] != "0.0.0.0:11434" {
		t.Errorf("pods: %+v", pods)
	}
	code, js, _ := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"), "-format", "json")
	if code != exitOK || !strings.Contains(js, `"total_output_tokens": 32`) {
		t.Errorf("results: %d\n%s", code, js)
	}
	// The manifest names where RunPod put the pod and what it ran.
	_, show, _ := benchform(t, "show", "-state", filepath.Join(dir, "benchform.db"))
	for _, want := range []string{"server.ollama.image        ollama/ollama:0.32.15", "server.ollama.gpu_type     NVIDIA H100 80GB HBM3",
		"server.ollama.cloud        SECURE", "server.ollama.data_center  US-KS-2", "server.ollama.pod          pod.gpu (runpod)"} {
		if !strings.Contains(show, want) {
			t.Errorf("show's manifest lacks %q:\n%s", want, show)
		}
	}
	if code, dout, derr := benchform(t, "destroy", "-auto-approve", dir); code != exitOK || len(fake.Pods()) != 0 {
		t.Errorf("destroy: %d\n%s\n%s", code, dout, derr)
	}
}

// TestRunpodExamplePlan plans examples/runpod with a second GPU type
// against the fake RunPod: a pod and a server per GPU type and engine,
// each with its price bound, and the matrix's total.
func TestRunpodExamplePlan(t *testing.T) {
	fakeRunpod(t)
	db := filepath.Join(t.TempDir(), "benchform.db")
	code, out, errOut := benchform(t, "plan", "-state", db, "-var", `gpus={h100=["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"], l40s=["NVIDIA L40S"]}`, "examples/runpod")
	if code != exitOK {
		t.Fatalf("plan: %d\n%s", code, errOut)
	}
	golden := "testdata/plan/runpod-matrix.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// afterUseConfig is a matrix of two GPU types on RunPod whose pods exist
// only while the scenario uses them.
const afterUseConfig = `
variable "gpus" {
  default = { h100 = ["NVIDIA H100 80GB HBM3"], l40s = ["NVIDIA L40S"] }
}

pod "gpu" {
  for_each          = var.gpus
  gpu_type          = each.value
  env               = { HF_TOKEN = env("HF_TOKEN") }
  ttl               = "3h"
  destroy_after_use = true
}

server "llm" {
  for_each = var.gpus
  engine   = "vllm"
  pod      = pod.gpu[each.key]
  model    = "Qwen/Qwen2.5-7B-Instruct"
}

scenario "chat" {
  server     = values(server.llm)
  max_tokens = 8

  dataset {
    kind         = "synthetic"
    input_tokens = 16
  }

  load {
    concurrency = [2]
    requests    = 6
  }
}
`

// TestRunpodMatrixDestroyedAfterUse applies a two-GPU matrix against the
// fake RunPod: the scenario runs its servers one after the other, the
// first pod is terminated as soon as the scenario is done with it, while
// the second still serves, no pod is left after apply, and the next plan,
// its scenario up to date, creates nothing.
func TestRunpodMatrixDestroyedAfterUse(t *testing.T) {
	fake := fakeRunpod(t)
	dir := configDir(t, afterUseConfig)
	// The h100 pod lives at most 20 minutes for its server to answer, then
	// 3 rounds of 2 requests of 30 minutes each: 110 minutes at $2.69;
	// the l40s pod waits for the h100 server's steps too, 200 minutes, cut
	// to its ttl of 3 hours at $0.86: $7.51 in all.
	code, out, errOut := benchform(t, "plan", dir)
	if code != exitOK || !strings.Contains(out, `# pod.gpu["h100"] will be created, then destroyed once scenario.chat has finished with it`) ||
		!strings.Contains(out, "Plan: 4 to add, 0 to change, 0 to destroy, 1 scenario to run; 4 destroyed after use.") ||
		!strings.Contains(out, "2 pods cost at most $7.51 before their ttl or destroy_after_use ends them") {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	pods := fake.AllPods()
	if len(pods) != 2 {
		t.Fatalf("%d pods created, want 2", len(pods))
	}
	store, err := state.OpenReadOnly(filepath.Join(dir, "benchform.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	steps, err := store.Steps(1)
	if err != nil || len(steps) != 2 {
		t.Fatalf("steps: %v, %v", steps, err)
	}
	byGPU := map[string]runpodtest.Pod{}
	for _, p := range pods {
		if p.Status != "TERMINATED" && p.TerminatedAt.IsZero() {
			t.Errorf("pod %s (%s) is left: %s", p.ID, p.GPUID, p.Status)
		}
		byGPU[p.GPUID] = p
	}
	// h100 comes first: its pod went while l40s still ran.
	first, second := byGPU["NVIDIA H100 80GB HBM3"], steps[1]
	if first.TerminatedAt.IsZero() || !first.TerminatedAt.Before(second.FinishedAt) {
		t.Errorf("the h100 pod was terminated at %s, the l40s step finished at %s: not as soon as it was done with", first.TerminatedAt, second.FinishedAt)
	}
	rows, _ := store.Resources()
	for _, r := range rows {
		if r.Kind != "scenario" {
			t.Errorf("state still holds %s", r.Address)
		}
	}
	code, out, _ = benchform(t, "plan", "-detailed-exitcode", dir)
	if code != exitOK || !strings.Contains(out, "not created: destroy_after_use") {
		t.Errorf("plan after apply: exit %d, want 0 (no changes):\n%s", code, out)
	}
	_, table, _ := benchform(t, "results", "-state", filepath.Join(dir, "benchform.db"))
	for _, gpu := range []string{"NVIDIA H100 80GB HBM3", "NVIDIA L40S"} {
		if !strings.Contains(table, gpu) {
			t.Errorf("the decision does not name %s:\n%s", gpu, table)
		}
	}
}
