package runpod

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/runpod/runpodtest"
	"github.com/benchform/benchform/providers/simulated"
)

const (
	testAPIKey  = "rpa_TESTKEY_0123456789abcdefghij"
	testHFToken = "hf_SECRETTOKEN_abcdefghijklmnop"
	testModel   = "Qwen/Qwen2.5-7B-Instruct"
)

// harness is a fake RunPod with a provider pointed at it, on a shared fake
// clock.
type harness struct {
	t     *testing.T
	clock *runpodtest.Clock
	fake  *runpodtest.Server
	p     *Provider
	s     Settings
}

func newHarness(t *testing.T, opts runpodtest.Options) *harness {
	t.Helper()
	clock := runpodtest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	opts.Now = clock.Now
	opts.APIKey = testAPIKey
	if opts.Upstream == nil {
		opts.Upstream = engineUpstream(nil)
	}
	fake := runpodtest.New(opts)
	t.Cleanup(fake.Close)
	s := Settings{
		APIKey:    testAPIKey,
		RESTURL:   fake.URL(),
		ProxyURL:  fake.ProxyURL(),
		SecretDir: t.TempDir(),
		Sleep:     clock.Sleep,
		Now:       clock.Now,
		Jitter:    func() float64 { return 0.5 },
	}
	return &harness{t: t, clock: clock, fake: fake, p: New(s), s: s}
}

// ctx bounds every test in real time.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// engineUpstream starts what a pod's command would: a simulated server
// for the model and key the container was given, and a fake GPU sidecar.
// health, when set, answers /health first.
func engineUpstream(health func() int) func(pod runpodtest.Pod, port int) http.Handler {
	return func(pod runpodtest.Pod, port int) http.Handler {
		l := parseLaunch(pod)
		if port == l.gpuPort && l.gpuPort != 0 {
			return sidecarFake(l.key)
		}
		if port != l.port {
			return nil
		}
		m := simulated.DefaultModel()
		m.ServedModel, m.APIKey = l.served, l.key
		srv, err := simulated.NewServer(m)
		if err != nil {
			panic(err)
		}
		inner := srv.Handler()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" && health != nil {
				if code := health(); code != http.StatusOK {
					w.WriteHeader(code)
					return
				}
			}
			inner.ServeHTTP(w, r)
		})
	}
}

// launch is what a container's command line says.
type launch struct {
	model, served, key string
	port, gpuPort      int
	argv               []string // the engine's own argv, after any shell
}

// parseLaunch reads a pod's argv as the container would run it: vLLM's
// ENTRYPOINT takes the words directly; SGLang's go through bash -c, whose
// script is split once more, with the one variable it uses expanded.
func parseLaunch(pod runpodtest.Pod) launch {
	var l launch
	argv := pod.Argv
	if len(argv) == 3 && argv[0] == "bash" && argv[1] == "-c" {
		script := strings.ReplaceAll(argv[2], `"$BENCHFORM_API_KEY"`, shellQuote(pod.Env["BENCHFORM_API_KEY"]))
		_, after, _ := strings.Cut(script, " & exec ")
		words, err := runpodtest.SplitArgs(after)
		if err != nil {
			panic(err)
		}
		l.argv = words
		l.key = pod.Env["BENCHFORM_API_KEY"]
		l.gpuPort = atoi(pod.Env["BENCHFORM_GPU_PORT"])
	} else {
		l.argv = argv
		l.key = pod.Env["VLLM_API_KEY"]
		if len(argv) > 0 {
			l.model = argv[0]
		}
	}
	for i := 0; i+1 < len(l.argv); i++ {
		switch l.argv[i] {
		case "--model-path":
			l.model = l.argv[i+1]
		case "--served-model-name":
			l.served = l.argv[i+1]
		case "--port":
			l.port = atoi(l.argv[i+1])
		case "--api-key":
			l.key = l.argv[i+1]
		}
	}
	if l.served == "" {
		l.served = l.model
	}
	return l
}

// sidecarFake answers as the GPU sidecar does, for two GPUs.
func sidecarFake(key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fields := strings.Split(r.URL.Query().Get("fields"), ",")
		var lines []string
		for i := 0; i < 2; i++ {
			vals := make([]string, len(fields))
			for j, f := range fields {
				switch f {
				case "index":
					vals[j] = string(rune('0' + i))
				case "power.draw":
					vals[j] = "312.50"
				case "bogus":
					w.Header().Set("X-Exit-Status", "2")
					_, _ = w.Write([]byte("Field \"bogus\" is not a valid field to query.\n"))
					return
				default:
					vals[j] = "1"
				}
			}
			lines = append(lines, strings.Join(vals, ", "))
		}
		w.Header().Set("X-Exit-Status", "0")
		_, _ = w.Write([]byte(strings.Join(lines, "\n") + "\n"))
	})
}

// Configuration values shaped as the executor builds them: every argument
// of the block, null when not set.
var (
	podArgTypes = map[string]cty.Type{
		"provider": cty.String, "gpu_type": cty.DynamicPseudoType, "gpu_count": cty.Number, "cloud_type": cty.String,
		"container_disk_gb": cty.Number, "volume_gb": cty.Number, "env": cty.Map(cty.String), "ports": cty.List(cty.String),
		"data_center_ids": cty.List(cty.String), "name": cty.String, "ttl": cty.String, "image": cty.String,
		"price_per_hour": cty.Number,
	}
	serverArgTypes = map[string]cty.Type{
		"engine": cty.String, "endpoint": cty.String, "model": cty.String, "served_model_name": cty.String,
		"api_key": cty.String, "args": cty.List(cty.String), "env": cty.Map(cty.String), "image": cty.String,
		"port": cty.Number, "price_per_hour": cty.Number, "ready_timeout": cty.String, "simulate": cty.DynamicPseudoType,
	}
)

func object(types map[string]cty.Type, set map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for k, t := range types {
		m[k] = cty.NullVal(t)
	}
	for k, v := range set {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

func serverArgs(set map[string]cty.Value) cty.Value {
	base := map[string]cty.Value{"engine": cty.StringVal("vllm"), "model": cty.StringVal(testModel)}
	for k, v := range set {
		base[k] = v
	}
	return object(serverArgTypes, base)
}

// podConfigValue is a pod with a vLLM server on it unless set says
// otherwise.
func podConfigValue(set map[string]cty.Value) cty.Value {
	base := map[string]cty.Value{
		"provider": cty.StringVal("runpod"),
		"gpu_type": cty.StringVal("NVIDIA H100 80GB HBM3"),
		"server":   serverArgs(nil),
	}
	for k, v := range set {
		base[k] = v
	}
	types := map[string]cty.Type{"server": cty.DynamicPseudoType}
	for k, t := range podArgTypes {
		types[k] = t
	}
	return object(types, base)
}

// serverConfigValue is a server block's Config on the pod with podID.
func serverConfigValue(podID string, set map[string]cty.Value) cty.Value {
	pod := object(map[string]cty.Type{"id": cty.String, "env": cty.Map(cty.String), "gpu_count": cty.Number},
		map[string]cty.Value{"id": cty.StringVal(podID)})
	if v, ok := set["pod"]; ok {
		pod = v
		delete(set, "pod")
	}
	m := serverArgs(set).AsValueMap()
	m["pod"] = pod
	return cty.ObjectVal(m)
}

func mustJSON(t *testing.T, v cty.Value) string {
	t.Helper()
	if v == cty.NilVal {
		return ""
	}
	b, err := json.Marshal(ctyjson.SimpleJSONValue{Value: v})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// createPod creates a pod through the provider and fails the test on error.
func (h *harness) createPod(cfg cty.Value) providers.State {
	h.t.Helper()
	st, err := h.p.Create(testCtx(h.t), providers.CreateRequest{Addr: "pod.gpu", Kind: providers.KindPod, Name: "benchform-pod-gpu-0a1b2c3d", Config: cfg})
	if err != nil {
		h.t.Fatalf("Create: %v", err)
	}
	return st
}

// progressLog collects progress lines.
type progressLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *progressLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *progressLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
