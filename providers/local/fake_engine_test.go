//go:build linux

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/benchform/benchform/providers/simulated"
)

// The test binary stands in for vllm, python3 -m sglang.launch_server and
// nvidia-smi, as os/exec's tests re-execute themselves: an environment
// variable picks the part it plays.
const (
	// fakeSMIEnv makes the binary nvidia-smi: "ok" or "fail".
	fakeSMIEnv = "BENCHFORM_TEST_FAKE_NVIDIA_SMI"

	// Settings of the fake engine, read from its environment.
	fakeMode      = "FAKE_ENGINE_MODE"       // serve (default), exit, unhealthy, ignore-term, worker, wrong-model
	fakeLoad      = "FAKE_ENGINE_LOAD"       // how long /health answers 503 first
	fakeArgvFile  = "FAKE_ENGINE_ARGV"       // where to write the argv received, as JSON
	fakePIDFile   = "FAKE_ENGINE_PID"        // where to write the engine's pid
	fakeWorkerPID = "FAKE_ENGINE_WORKER_PID" // where mode worker writes its worker's pid
	fakeRole      = "FAKE_ENGINE_ROLE"       // "worker" in the worker process

	// fakeLifetime ends every fake process, so that none outlives the
	// tests by long whatever happens to their cleanup.
	fakeLifetime = 2 * time.Minute
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(fakeEngineEnv) != "":
		os.Exit(fakeEngine(os.Args[1:]))
	case os.Getenv(fakeSMIEnv) != "":
		os.Exit(fakeNvidiaSMI(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// engineArgs are the flags the fake engine understands, parsed as the
// real engines take them.
type engineArgs struct {
	engine, model, host, port, servedName, apiKey string
	enableMetrics                                 bool
}

func parseEngineArgs(args []string) (engineArgs, error) {
	var a engineArgs
	switch {
	case len(args) >= 2 && args[0] == "serve":
		a.engine, a.model, args = "vllm", args[1], args[2:]
	case len(args) >= 2 && args[0] == "-m" && args[1] == "sglang.launch_server":
		a.engine, args = "sglang", args[2:]
	default:
		return a, fmt.Errorf("usage: serve MODEL [flags] | -m sglang.launch_server [flags]; got %q", args)
	}
	values := map[string]*string{"--host": &a.host, "--port": &a.port, "--served-model-name": &a.servedName, "--api-key": &a.apiKey}
	if a.engine == "sglang" {
		values["--model-path"] = &a.model
	}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if name == "--enable-metrics" {
			a.enableMetrics = true
			continue
		}
		dst := values[name]
		if dst == nil {
			continue // an engine flag the fake has no use for
		}
		if !hasValue {
			if i+1 >= len(args) {
				return a, fmt.Errorf("%s needs a value", name)
			}
			i++
			value = args[i]
		}
		*dst = value
	}
	if a.engine == "vllm" && a.apiKey == "" {
		a.apiKey = os.Getenv("VLLM_API_KEY")
	}
	if a.model == "" || a.port == "" || a.host == "" {
		return a, errors.New("model, --host and --port are required")
	}
	return a, nil
}

func writeFile(envName string, b []byte) {
	if path := os.Getenv(envName); path != "" {
		_ = os.WriteFile(path, b, 0o600)
	}
}

func fakeEngine(args []string) int {
	if os.Getenv(fakeRole) == "worker" {
		time.Sleep(fakeLifetime)
		return 0
	}
	argv, _ := json.Marshal(args)
	writeFile(fakeArgvFile, argv)
	writeFile(fakePIDFile, []byte(strconv.Itoa(os.Getpid())))
	fmt.Println("fake engine: starting")
	a, err := parseEngineArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake engine: error:", err)
		return 2
	}
	// vLLM logs its non-default arguments, the key among them.
	fmt.Fprintf(os.Stderr, "fake engine: non-default args: {'model': %q, 'api_key': %q}\n", a.model, a.apiKey)

	mode := os.Getenv(fakeMode)
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "fake engine: torch.OutOfMemoryError: CUDA out of memory")
		return 3
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	case "worker":
		w := exec.Command(os.Args[0])
		w.Env = append(os.Environ(), fakeRole+"=worker")
		if err := w.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "fake engine: start worker:", err)
			return 4
		}
		writeFile(fakeWorkerPID, []byte(strconv.Itoa(w.Process.Pid)))
	}

	m := simulated.DefaultModel()
	m.ServedModel = a.model
	if a.servedName != "" {
		m.ServedModel = a.servedName
	}
	if mode == "wrong-model" {
		m.ServedModel = "some/other-model"
	}
	m.APIKey = a.apiKey
	m.TTFT, m.ITL = time.Millisecond, time.Millisecond
	srv, err := simulated.NewServer(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake engine:", err)
		return 2
	}
	load, _ := time.ParseDuration(os.Getenv(fakeLoad))
	readyAt := time.Now().Add(load)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && (mode == "unhealthy" || time.Now().Before(readyAt)) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		srv.Handler().ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(a.host, a.port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake engine:", err)
		return 1
	}
	go func() { _ = http.Serve(ln, handler) }()
	fmt.Printf("fake engine: %s serving %s on %s\n", a.engine, m.ServedModel, ln.Addr())

	term := make(chan os.Signal, 1)
	if mode != "ignore-term" {
		signal.Notify(term, syscall.SIGTERM)
	}
	select {
	case <-term:
		fmt.Println("fake engine: shutting down")
	case <-time.After(fakeLifetime):
	}
	return 0
}

func fakeNvidiaSMI(args []string) int {
	if os.Getenv(fakeSMIEnv) == "fail" {
		fmt.Println("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
		return 9
	}
	want := []string{"--query-gpu=utilization.gpu,memory.used,power.draw", "--format=csv,noheader,nounits"}
	if strings.Join(args, "\x00") != strings.Join(want, "\x00") {
		fmt.Fprintf(os.Stderr, "unexpected arguments %q\n", args)
		return 2
	}
	fmt.Print("87, 40211, 301.52\n3, 1024, 61.20\n")
	return 0
}
