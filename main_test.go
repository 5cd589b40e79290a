package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/providers/simulated"
	"github.com/benchform/benchform/state"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMain lets the test binary stand in for the benchform binary: with
// BENCHFORM_TEST_MAIN set it runs the command line after "--", so tests can
// start real benchform processes (for lock contention and kills) without
// building anything.
func TestMain(m *testing.M) {
	if os.Getenv("BENCHFORM_TEST_FAKE_VLLM") == "1" {
		os.Exit(fakeVLLM(os.Args[1:]))
	}
	if os.Getenv("BENCHFORM_TEST_MAIN") == "1" {
		if os.Getenv("BENCHFORM_TEST_FAST_RUNPOD") == "1" {
			tuneRunpod = fastRunpod
		}
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// benchform runs the command in this process and returns its exit code and
// output.
func benchform(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// process starts the command as a separate benchform process.
func process(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "BENCHFORM_TEST_MAIN=1")
	return cmd
}

// fastConfig is the quickstart with timings small enough for tests, and a
// step of fastSetup.Requests requests; fastHCL renders it.
const fastConfig = `
server "sim" {
  engine = "simulated"
  model  = "tiny"

  simulate {
    ttft = "1ms"
    itl  = "1ms"
    seed = 1
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = 8

  dataset {
    kind         = "synthetic"
    input_tokens = 16
    seed         = 1
  }
{{with .ServerInterval}}
  telemetry {
    server_interval = "{{.}}"
  }
{{end}}
  load {
    concurrency = [1, 4]
    requests    = {{.Requests}}
    warmup      = 2
  }
}

output "model" {
  value = server.sim.model
}
`

// fastSetup is what tests vary of fastConfig.
type fastSetup struct {
	Requests       int
	ServerInterval string // "" leaves telemetry at its defaults
}

var (
	// quick is the configuration most tests run: 12 requests a step.
	quick = fastSetup{Requests: 12}
	// endless keeps a scenario running until it is stopped.
	endless = fastSetup{Requests: 100000}
)

func fastHCL(t *testing.T, s fastSetup) string {
	t.Helper()
	return render(t, fastConfig, s)
}

// render fills a configuration template; a field the template names but
// data lacks fails the test rather than leaving a gap in the file.
func render(t testing.TB, tmpl string, data any) string {
	t.Helper()
	tp, err := template.New("config").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tp.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// writeConfig replaces the configuration of dir.
func writeConfig(t testing.TB, dir, config string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

func configDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir, config)
	return dir
}

// TestEndToEnd walks the quickstart through the real command line: apply,
// apply again (no changes), results in every format, destroy.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	db := filepath.Join(dir, "benchform.db")

	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK {
		t.Fatalf("apply exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"Plan: 1 to add, 0 to change, 0 to destroy, 1 scenario to run.", "scenario.chat — run #1, completed", "Apply complete! Resources: 1 added, 0 changed, 0 destroyed; 1 scenario run.", `model = "tiny"`} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "server.sim: Creation complete") {
		t.Errorf("progress is not on stderr:\n%s", errOut)
	}

	code, out, _ = benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK || !strings.HasPrefix(out, "No changes.") {
		t.Errorf("second apply: exit %d, output:\n%s", code, out)
	}
	code, _, _ = benchform(t, "plan", "-detailed-exitcode", dir)
	if code != exitOK {
		t.Errorf("plan -detailed-exitcode with no changes exited %d, want 0", code)
	}

	code, out, _ = benchform(t, "results", "-state", db, "-format", "json")
	if code != exitOK {
		t.Fatalf("results -format json exited %d", code)
	}
	var runs []struct {
		Run   int64            `json:"run"`
		Steps []map[string]any `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("results JSON: %v\n%s", err, out)
	}
	if len(runs) != 1 || runs[0].Run != 1 || len(runs[0].Steps) != 2 {
		t.Fatalf("results = %+v, want one run, #1, with 2 steps", runs)
	}
	res := runs[0]
	for _, key := range []string{"completed", "failed", "request_throughput", "output_throughput", "total_token_throughput", "mean_ttft_ms", "median_tpot_ms", "p99_itl_ms", "std_e2el_ms"} {
		if _, ok := res.Steps[0][key]; !ok {
			t.Errorf("results JSON lacks %q", key)
		}
	}
	if res.Steps[0]["completed"] != float64(12) {
		t.Errorf("completed = %v, want 12", res.Steps[0]["completed"])
	}

	code, out, _ = benchform(t, "results", "1", "-state", db, "-format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != exitOK || err != nil || len(rows) != 3 {
		t.Errorf("results -format csv: exit %d, %v, %d rows:\n%s", code, err, len(rows), out)
	}

	code, out, _ = benchform(t, "runs", "-state", db)
	if code != exitOK || !strings.Contains(out, "scenario.chat") || !strings.Contains(out, "completed") {
		t.Errorf("runs: exit %d:\n%s", code, out)
	}
	code, out, _ = benchform(t, "show", "-state", db, "-json")
	var shown struct {
		Resources []struct{ Address string } `json:"resources"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &shown) != nil || len(shown.Resources) != 2 {
		t.Errorf("show -json: exit %d:\n%s", code, out)
	}

	code, out, errOut = benchform(t, "destroy", "-auto-approve", dir)
	if code != exitOK || !strings.Contains(out, "Destroy complete! Resources: 2 destroyed.") {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, out, errOut)
	}
	store, err := state.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rowsLeft, _ := store.Resources()
	stored, _ := store.Runs("")
	if len(rowsLeft) != 0 || len(stored) != 1 {
		t.Errorf("after destroy: %d resources, %d runs; want none and the run kept", len(rowsLeft), len(stored))
	}
}

// TestDestroyWithoutConfiguration checks that destroy works from state
// alone once the configuration is gone.
func TestDestroyWithoutConfiguration(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	db := filepath.Join(t.TempDir(), "state.db")
	if code, out, errOut := benchform(t, "apply", "-auto-approve", "-state", db, dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	if err := os.Remove(filepath.Join(dir, "main.hcl")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := benchform(t, "destroy", "-auto-approve", "-state", db, dir)
	if code != exitOK || !strings.Contains(out, "2 destroyed") {
		t.Errorf("destroy without configuration: %d\n%s\n%s", code, out, errOut)
	}
}

func TestApplyRefusesWithoutTerminal(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	code, _, errOut := benchform(t, "apply", dir)
	if code != exitError || !strings.Contains(errOut, "standard input is not a terminal") {
		t.Errorf("apply without -auto-approve on a pipe: exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "benchform.db")); err == nil {
		store, err := state.Open(filepath.Join(dir, "benchform.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if rows, _ := store.Resources(); len(rows) != 0 {
			t.Errorf("a refused apply changed state: %v", rows)
		}
	}
}

// TestSavedPlan saves a plan, applies it, and checks that a saved plan is
// refused once the state has moved on.
func TestSavedPlan(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	planFile := filepath.Join(t.TempDir(), "p.plan")
	code, _, _ := benchform(t, "plan", "-detailed-exitcode", "-out", planFile, dir)
	if code != exitChanges {
		t.Fatalf("plan -detailed-exitcode with changes exited %d, want %d", code, exitChanges)
	}
	stale := filepath.Join(t.TempDir(), "stale.plan")
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, b, 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := benchform(t, "apply", planFile)
	if code != exitOK || !strings.Contains(out, "Apply complete!") {
		t.Fatalf("apply of a saved plan: %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = benchform(t, "apply", stale)
	if code != exitError || !strings.Contains(errOut, "the saved plan is stale: the state changed") {
		t.Errorf("apply of a stale plan: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestValidateReportsAllErrors(t *testing.T) {
	t.Parallel()
	code, _, errOut := benchform(t, "validate", "testdata/invalid/many")
	if code != exitError {
		t.Fatalf("validate exited %d", code)
	}
	if n := strings.Count(errOut, "Error: "); n != 6 {
		t.Errorf("got %d errors, want all 6:\n%s", n, errOut)
	}
	if !regexp.MustCompile(`(?m)^testdata/invalid/many/main\.hcl:8:3:$`).MatchString(errOut) {
		t.Errorf("errors are not headed by file:line:column:\n%s", errOut)
	}
	code, out, _ := benchform(t, "validate", "examples/quickstart")
	if code != exitOK || !strings.Contains(out, "Success!") {
		t.Errorf("validate of the quickstart: %d %s", code, out)
	}
}

func TestFmt(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob("testdata/fmt/*.in.hcl")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fmt cases: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.hcl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "main.hcl")
			if err := os.WriteFile(path, src, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, _ := benchform(t, "fmt", "-check", dir); code != exitFormat {
				t.Errorf("fmt -check of an unformatted file exited %d, want %d", code, exitFormat)
			}
			if code, out, errOut := benchform(t, "fmt", dir); code != exitOK || !strings.Contains(out, "main.hcl") {
				t.Fatalf("fmt: %d\n%s\n%s", code, out, errOut)
			}
			got, _ := os.ReadFile(path)
			golden := strings.TrimSuffix(in, ".in.hcl") + ".golden.hcl"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("formatted (-want +got):\n%s", diff)
			}
			// A formatted file stays as it is.
			if code, out, _ := benchform(t, "fmt", "-check", dir); code != exitOK || out != "" {
				t.Errorf("fmt -check after fmt: exit %d, listed %q", code, out)
			}
		})
	}
}

// TestPlanGolden pins the plan text users read for the quickstart.
func TestPlanGolden(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, quick))
	code, out, errOut := benchform(t, "plan", dir)
	if code != exitOK {
		t.Fatalf("plan: %d\n%s", code, errOut)
	}
	golden := "testdata/plan/quickstart.golden"
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

// TestLockContention holds the state lock in one benchform process and
// checks that a second one fails at once, naming the holder.
func TestLockContention(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, endless))
	holder := process(t, "apply", "-auto-approve", dir)
	var holderOut syncBuffer
	holder.Stdout, holder.Stderr = &holderOut, &holderOut
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(holderOut.String(), "concurrency=1:") })

	second := process(t, "plan", dir)
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	start := time.Now()
	err := second.Run()
	if exitCode(err) != exitError {
		t.Fatalf("second process exited %v, want %d:\n%s", err, exitError, out.String())
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the second process waited %s; without -lock-timeout it must fail at once", time.Since(start))
	}
	want := regexp.MustCompile(`state is locked: held by .+@.+ \(pid \d+\) for "apply" since .*, lock ID (\S+); if that process is gone, benchform force-unlock (\S+) releases it`)
	m := want.FindStringSubmatch(strings.Join(strings.Fields(out.String()), " "))
	if m == nil || m[1] != m[2] {
		t.Fatalf("lock error does not name the holder and the lock:\n%s", out.String())
	}
	id, db := m[1], filepath.Join(dir, "benchform.db")

	// force-unlock asks first, names the lock it breaks, and breaks no
	// other.
	if code, _, errOut := benchform(t, "force-unlock", "-state", db, id); code != exitError || !strings.Contains(errOut, "run it with -force") {
		t.Errorf("force-unlock without a terminal: %d %s", code, errOut)
	}
	if code, _, errOut := benchform(t, "force-unlock", "-state", db, "-force", "not-"+id); code != exitError || !strings.Contains(errOut, "locked under ID "+id) {
		t.Errorf("force-unlock of another ID: %d %s", code, errOut)
	}
	if code, out, errOut := benchform(t, "force-unlock", "-state", db, "-force", id); code != exitOK || !strings.Contains(out, "held by") || !strings.Contains(out, "The state is unlocked.") {
		t.Errorf("force-unlock: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := benchform(t, "force-unlock", "-state", db, "-force", id); code != exitError || !strings.Contains(errOut, "not locked") {
		t.Errorf("force-unlock again: %d %s", code, errOut)
	}
}

// TestKillMidApply kills an apply while its scenario runs and checks that
// the next plan succeeds: the dead process's lock is recovered, its run is
// marked interrupted, and the scenario is planned to run again.
func TestKillMidApply(t *testing.T) {
	t.Parallel()
	dir := configDir(t, fastHCL(t, endless))
	apply := process(t, "apply", "-auto-approve", dir)
	var applyOut syncBuffer
	apply.Stdout, apply.Stderr = &applyOut, &applyOut
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(applyOut.String(), "concurrency=1:") })
	// Kill it once request records have reached state, mid-step.
	db := filepath.Join(dir, "benchform.db")
	waitFor(t, 20*time.Second, func() bool {
		store, err := state.Open(db)
		if err != nil {
			return false
		}
		defer store.Close()
		recs, err := store.Records(1, -1)
		return err == nil && len(recs) > 0
	})
	if err := apply.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	apply.Wait()

	code, out, errOut := benchform(t, "plan", dir)
	if code != exitOK {
		t.Fatalf("plan after kill: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "took over the state lock") {
		t.Errorf("plan did not report recovering the lock:\n%s", errOut)
	}
	if !strings.Contains(out, "scenario.chat will be run: its last run (#1) was interrupted") {
		t.Errorf("plan does not rerun the interrupted scenario:\n%s", out)
	}
	store, err := state.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run, err := store.Run(1)
	if err != nil || run.Status != state.RunInterrupted {
		t.Errorf("run 1 = %+v, %v; want interrupted", run, err)
	}
	if recs, err := store.Records(1, -1); err != nil || len(recs) == 0 {
		t.Errorf("the records written before the kill are gone: %d, %v", len(recs), err)
	}
	if code, out, errOut := benchform(t, "destroy", "-auto-approve", dir); code != exitOK {
		t.Errorf("destroy after kill: %d\n%s\n%s", code, out, errOut)
	}
}

// syncBuffer is a buffer a child process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// fakeVLLM stands in for `vllm serve MODEL --host H --port P ...` when the
// test binary is started as a server's executable: it serves the model
// with the simulator until it is signalled.
func fakeVLLM(args []string) int {
	if len(args) < 2 || args[0] != "serve" {
		fmt.Fprintf(os.Stderr, "fake vllm: want serve MODEL ..., got %q\n", args)
		return 2
	}
	m := simulated.DefaultModel()
	m.ServedModel, m.TTFT, m.ITL = args[1], time.Millisecond, time.Millisecond
	host, port := "127.0.0.1", "8000"
	for i := 2; i+1 < len(args); i++ {
		switch args[i] {
		case "--host":
			host = args[i+1]
		case "--port":
			port = args[i+1]
		case "--served-model-name":
			m.ServedModel = args[i+1]
		case "--api-key":
			m.APIKey = args[i+1]
		}
	}
	srv, err := simulated.NewServer(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	url, err := srv.Start(net.JoinHostPort(host, port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("fake vllm serving %s on %s\n", m.ServedModel, url)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	<-signals
	srv.Close()
	return 0
}

// TestReadmeTour runs every command of the README's five-minute tour, in
// order, against a copy of the quickstart, and checks that what the README
// shows of their output is what they print: the plan's summary line, the
// results heading and the header of both tables. apply and destroy get
// -auto-approve, since a test has no terminal to answer them on.
func TestReadmeTour(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	_, tour, ok := strings.Cut(text, "## A five-minute tour")
	if !ok {
		t.Fatal("README has no five-minute tour")
	}
	_, block, _ := strings.Cut(tour, "```sh\n")
	block, shown, _ := strings.Cut(block, "```\n")

	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("examples/quickstart")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "benchform.db"))
	var outputs []string
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "./benchform" {
			continue
		}
		args := fields[1:]
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "examples/quickstart", dir)
		}
		if args[0] == "apply" || args[0] == "destroy" {
			args = append([]string{args[0], "-auto-approve"}, args[1:]...)
		}
		code, out, errOut := benchform(t, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s\n%s", line, code, out, errOut)
		}
		outputs = append(outputs, out)
		ran++
	}
	if ran < 7 {
		t.Fatalf("ran %d commands of the tour, want at least 7", ran)
	}
	all := strings.Join(outputs, "\n")
	if !strings.Contains(outputs[3], "No changes.") {
		t.Errorf("the second apply says:\n%s", outputs[3])
	}
	// What the README shows after the tour: lines that do not depend on
	// the machine's timings.
	for _, want := range []string{
		"Plan: 1 to add, 0 to change, 0 to destroy, 1 scenario to run.",
		"scenario.chat — run #1, completed in",
	} {
		if !strings.Contains(shown+text, want) || !strings.Contains(all, want) {
			t.Errorf("%q is not both in the README and in the tour's output", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "│ concurrency │") && !strings.Contains(all, line) {
			t.Errorf("the README's table header\n%s\nis not what apply prints", line)
		}
	}
}
