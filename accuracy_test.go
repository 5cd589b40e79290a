//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/state"
)

// The client's timings are checked against the simulator's trace: for every
// request, the wall-clock instant the server flushed each token chunk. Both
// sides read the same host's CLOCK_REALTIME. The client's durations are
// monotonic (time.Time.Sub) and are added to the wall reading of the
// window's origin. That is exact while the wall clock is not stepped during
// a run: on Linux, NTP slews CLOCK_MONOTONIC and CLOCK_REALTIME at the same
// rate, so they differ only by steps, and every run checks how far the two
// clocks moved apart between its origin and its end (clockDrift).

// simulator is a `benchform simulate` process with a trace.
type simulator struct {
	cmd   *exec.Cmd
	out   *syncBuffer
	url   string
	trace string
	done  chan error
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startSimulator starts the simulator as a separate process on a free
// loopback port, so that its CPU and scheduling are not the client's, and
// waits for its URL.
func startSimulator(tb testing.TB, trace string, args ...string) *simulator {
	tb.Helper()
	all := append([]string{"-test.run=^$", "--", "simulate", "-listen", "127.0.0.1:0", "-trace", trace}, args...)
	s := &simulator{cmd: exec.Command(os.Args[0], all...), out: &syncBuffer{}, trace: trace, done: make(chan error, 1)}
	s.cmd.Env = append(os.Environ(), "BENCHFORM_TEST_MAIN=1")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	tb.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(s.out.String()); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			tb.Fatalf("simulate exited before listening (%v):\n%s", err, s.out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("simulate did not print its URL within a minute:\n%s", s.out.String())
		}
	}
}

// stop interrupts the simulator, which flushes its trace as it closes, and
// returns the CPU time the server process used.
func (s *simulator) stop() (cpu time.Duration, err error) {
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		return 0, err
	}
	select {
	case err = <-s.done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return 0, fmt.Errorf("simulate did not stop within a minute of an interrupt:\n%s", s.out.String())
	}
	if err != nil {
		return 0, fmt.Errorf("simulate: %v:\n%s", err, s.out.String())
	}
	if ru, ok := s.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return cpu, nil
}

// readTrace returns the flush instants (Unix nanoseconds) of every traced
// request, indexed by chunk.
func readTrace(path string) (map[string][]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	flushes := make(map[string][]int64)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		id, rest, ok1 := strings.Cut(sc.Text(), "\t")
		idx, at, ok2 := strings.Cut(rest, "\t")
		i, err1 := strconv.Atoi(idx)
		ns, err2 := strconv.ParseInt(at, 10, 64)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: malformed trace line %q", path, n, sc.Text())
		}
		// One goroutine streams a request and records its chunks in order.
		if i != len(flushes[id]) {
			return nil, fmt.Errorf("%s:%d: request %s: chunk %d after %d chunks", path, n, id, i, len(flushes[id]))
		}
		flushes[id] = append(flushes[id], ns)
	}
	return flushes, sc.Err()
}

// stream is what a client measured of one request.
type stream struct {
	id     string
	warmup bool // sent before the measured window
	// sent is the send instant in Unix nanoseconds: the origin's wall
	// reading plus the monotonic time from it.
	sent int64
	ttft time.Duration
	gaps []time.Duration
	err  string
}

// streamsOf reads what benchform measured. A chat stream's role-only
// opening event, which the simulator writes with chunk 0, is no token
// event, so every event matches a traced chunk, whatever the API.
func streamsOf(origin time.Time, recs []workload.Record) []stream {
	out := make([]stream, 0, len(recs))
	for _, r := range recs {
		out = append(out, stream{id: r.ID, warmup: r.Warmup, sent: origin.UnixNano() + int64(r.Start), ttft: r.TTFT, gaps: r.Gaps, err: r.Err})
	}
	return out
}

// clockDrift is how far the wall clock moved against the monotonic clock
// since origin; anything but a few microseconds means the wall clock was
// stepped and client and server instants cannot be compared.
func clockDrift(origin time.Time) time.Duration {
	now := time.Now()
	return now.Round(0).Sub(origin.Round(0)) - now.Sub(origin)
}

// accuracy compares client streams with the trace.
type accuracy struct {
	requests int
	chunks   int
	// ttftErr is, per request, the client's first event minus the server's
	// flush of chunk 0, in milliseconds: positive when the client is late.
	ttftErr []float64
	// itlErr is, per gap, the measured gap minus the gap between the two
	// flushes, in milliseconds; itlShifted the same against the next pair
	// of flushes, what a client pairing events wrongly would show.
	itlErr, itlShifted []float64
	// pace is, per request, the decode time the server offered over the one
	// it took: below 1 when it fell behind its schedule, whether for want of
	// CPU or because a slow reader filled the socket and blocked its writes.
	pace     []float64
	problems []string
}

// compare matches every stream whose id starts with prefix to the trace,
// event by event, and every traced request with that prefix to a stream.
// itl is the gap the server was configured with, for its pace.
func compare(streams []stream, trace map[string][]int64, prefix string, itl time.Duration) accuracy {
	var a accuracy
	problem := func(format string, args ...any) { a.problems = append(a.problems, fmt.Sprintf(format, args...)) }
	seen := make(map[string]bool, len(streams))
	for _, s := range streams {
		if !strings.HasPrefix(s.id, prefix) {
			continue
		}
		seen[s.id] = true
		flushes, ok := trace[s.id]
		switch {
		case s.err != "":
			problem("request %s failed: %s", s.id, s.err)
			continue
		case !ok:
			problem("request %s is not in the trace", s.id)
			continue
		case s.ttft <= 0:
			problem("request %s has no first event", s.id)
			continue
		}
		if events := 1 + len(s.gaps); events != len(flushes) {
			problem("request %s: %d events measured for %d traced chunks", s.id, events, len(flushes))
			continue
		}
		a.requests++
		a.chunks += len(flushes)
		at := s.sent + int64(s.ttft)
		a.ttftErr = append(a.ttftErr, ms(at-flushes[0]))
		for k, g := range s.gaps {
			a.itlErr = append(a.itlErr, ms(int64(g)-(flushes[k+1]-flushes[k])))
			if k+2 < len(flushes) {
				a.itlShifted = append(a.itlShifted, ms(int64(g)-(flushes[k+2]-flushes[k+1])))
			}
		}
		if n := len(flushes); itl > 0 && n > 1 {
			a.pace = append(a.pace, float64(int64(n-1)*int64(itl))/float64(flushes[n-1]-flushes[0]))
		}
	}
	for id := range trace {
		if strings.HasPrefix(id, prefix) && !seen[id] {
			problem("traced request %s was not measured", id)
		}
	}
	slices.Sort(a.problems)
	return a
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// quantile is numpy's default percentile: linear between closest ranks.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

func absAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Abs(x)
	}
	return out
}

// accuracyPrompt is the prompt of every request the bare reader sends: 128
// words, which the simulator counts as 128 tokens, as the synthetic
// prompts benchform sends are.
var accuracyPrompt = syntheticWords(128)

// syntheticWords is n words of prompt.
func syntheticWords(n int) string {
	words := strings.Fields("tell me a long story about the keeper of an old lighthouse by the cold grey sea")
	out := make([]string, n)
	for i := range out {
		out[i] = words[i%len(words)]
	}
	return strings.Join(out, " ")
}

// accuracyConfig is the scenario an accuracy measurement applies: the
// simulator as an existing endpoint, one step, no telemetry.
const accuracyConfig = `
server "sim" {
  engine   = "openai"
  endpoint = "{{.URL}}"
  model    = "simulated"
}
{{range .Scenarios}}
scenario "{{.Name}}" {
  server     = server.sim
  api        = "{{.API}}"
  max_tokens = {{.Tokens}}
  {{if .Timing}}timing     = "{{.Timing}}"{{end}}
  telemetry {
    gpu            = "off"
    server_metrics = false
  }
  dataset {
    kind         = "synthetic"
    input_tokens = {{.PromptTokens}}
    seed         = 1
  }
  load {
    concurrency = [{{.Concurrency}}]
    requests    = {{.Requests}}
    warmup      = {{.Warmup}}
  }
}
{{end}}`

// accuracyScenario is one scenario of accuracyConfig.
type accuracyScenario struct {
	Name, API, Timing                                   string
	Tokens, PromptTokens, Concurrency, Requests, Warmup int
}

// cliRun applies scenarios against the simulator at url through the
// command line, in this process, as a user's apply runs: plan, hooks,
// progress, records written to state while the step runs. It then reads
// back what results reads, every request record of every run with its
// step's origin, warm-ups included; and how much state the records took,
// the process's CPU time over the apply, and how far the wall clock moved
// against the monotonic one meanwhile.
func cliRun(tb testing.TB, dir, url string, scenarios ...accuracyScenario) (streams []stream, window, cpu time.Duration, stored int64, drift time.Duration) {
	tb.Helper()
	writeConfig(tb, dir, render(tb, accuracyConfig, struct {
		URL       string
		Scenarios []accuracyScenario
	}{url, scenarios}))
	db := filepath.Join(dir, "benchform.db")
	empty := stateSize(tb, filepath.Join(tb.TempDir(), "empty.db"))
	start, cpu0 := time.Now(), cpuTime()
	var errOut bytes.Buffer
	if code := run([]string{"apply", "-auto-approve", "-state", db, dir}, strings.NewReader(""), io.Discard, &errOut); code != exitOK {
		tb.Fatalf("apply: exit %d\n%s", code, errOut.String())
	}
	cpu, drift = cpuTime()-cpu0, clockDrift(start)
	stored = stateSize(tb, db) - empty
	store, err := state.OpenReadOnly(db)
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	for id := int64(1); id <= int64(len(scenarios)); id++ {
		r, err := executor.LoadRun(store, id, true)
		if err != nil {
			tb.Fatal(err)
		}
		for i, s := range r.Steps {
			window = max(window, time.Duration(s.DurationSeconds*float64(time.Second)))
			streams = append(streams, streamsOf(s.Origin, r.Requests[i])...)
		}
	}
	return streams, window, cpu, stored, drift
}

// stateSize is the size of a state file and its write-ahead log, once
// opened (so that an empty one has its schema) and closed.
func stateSize(tb testing.TB, path string) int64 {
	tb.Helper()
	st, err := state.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestAccuracyAgainstTrace checks benchform, through the command line,
// request by request against the chunk flushes a separate simulator
// process traced, its streams each on their own clock: every request and
// every chunk matched by a measured event, and the errors small. The
// bounds allow for the race detector and a loaded machine; the benchmark
// below measures the real figures.
func TestAccuracyAgainstTrace(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.tsv")
	// Jitter spreads the gaps from 1 to 9 ms, so a gap measured against
	// the wrong pair of chunks is off by 2.7 ms on average.
	sim := startSimulator(t, trace, "-schedule", "independent", "-ttft", "20ms", "-itl", "5ms", "-jitter", "0.8", "-max-num-seqs", "64")
	const (
		concurrency = 8
		tokens      = 32
	)
	streams, _, _, _, drift := cliRun(t, dir, sim.url,
		accuracyScenario{Name: "completions", API: "completions", Tokens: tokens, PromptTokens: 128, Concurrency: concurrency, Requests: 16, Warmup: concurrency},
		accuracyScenario{Name: "chat", API: "chat", Tokens: tokens, PromptTokens: 128, Concurrency: concurrency, Requests: 8, Warmup: concurrency})
	if drift.Abs() > time.Millisecond {
		t.Fatalf("the wall clock moved %v against the monotonic clock during the run; instants cannot be compared", drift)
	}
	wantRequests := 16 + 8 + 2*concurrency
	if _, err := sim.stop(); err != nil {
		t.Fatal(err)
	}
	tr, err := readTrace(trace)
	if err != nil {
		t.Fatal(err)
	}

	a := compare(streams, tr, "", 0)
	for i, p := range a.problems {
		if i == 10 {
			t.Errorf("… and %d more", len(a.problems)-i)
			break
		}
		t.Error(p)
	}
	if len(tr) != wantRequests || a.requests != wantRequests || a.chunks != wantRequests*tokens {
		t.Errorf("matched %d requests and %d chunks of a trace of %d requests; want %d and %d", a.requests, a.chunks, len(tr), wantRequests, wantRequests*tokens)
	}
	ttft, itl := quantile(a.ttftErr, 0.5), quantile(absAll(a.itlErr), 0.5)
	misread := quantile(absAll(a.itlShifted), 0.5)
	t.Logf("%d requests, %d chunks: TTFT error median %.3f ms, p99 %.3f ms; ITL |error| median %.3f ms, p99 %.3f ms; against the next pair of chunks %.3f ms",
		a.requests, a.chunks, ttft, quantile(a.ttftErr, 0.99), itl, quantile(absAll(a.itlErr), 0.99), misread)
	// A client cannot see a chunk before it is written; a median below the
	// server's own stamping slack means instants are misaligned.
	if ttft < -1 || ttft > 10 {
		t.Errorf("median TTFT error %.3f ms, want between -1 and 10 ms", ttft)
	}
	// Every gap must match its own pair of chunks far better than the next
	// pair: a load that delays the client delays both comparisons alike,
	// while a gap measured between the wrong events matches the wrong pair.
	if itl >= misread/2 {
		t.Errorf("median ITL error %.3f ms against the traced pairs, %.3f ms against the next ones: gaps are not measured between the right events", itl, misread)
	}
}

// bareStream is the least a Go client does to time a stream: a keep-alive
// connection, one read buffer, events split on blank lines, no JSON (the
// request asks for no usage chunk, so every event but a chat stream's
// role-only first one and [DONE] is a token). Each event is stamped when
// the read that completed it returned, as benchform stamps them, or, over
// a connection from dialRx, with the kernel's receive time of the last
// segment that read took.
func bareStream(ctx context.Context, hc *http.Client, url, path, id string, body, buf []byte, origin time.Time) stream {
	s := stream{id: id}
	fail := func(err error) stream { s.err = err.Error(); return s }
	var rx workload.KernelStamped
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		rx, _ = info.Conn.(workload.KernelStamped)
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	sent := time.Now()
	s.sent = origin.UnixNano() + int64(sent.Sub(origin))
	resp, err := hc.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	var (
		filled, events int
		last           int64 // Unix nanoseconds
		done           bool
	)
	for !done {
		n, err := resp.Body.Read(buf[filled:])
		at := s.sent + int64(time.Since(sent))
		if rx != nil {
			at = rx.ReceivedNano()
		}
		filled += n
		off := 0
		for {
			i := bytes.Index(buf[off:filled], []byte("\n\n"))
			if i < 0 {
				break
			}
			ev := buf[off : off+i]
			off += i + 2
			if string(ev) == "data: [DONE]" {
				done = true
				break
			}
			if events == 0 && bytes.Contains(ev, []byte(`"role":"assistant","content":""`)) {
				continue // a chat stream's opening, no token
			}
			if events == 0 {
				s.ttft = time.Duration(at - s.sent)
			} else {
				s.gaps = append(s.gaps, time.Duration(at-last))
			}
			events++
			last = at
		}
		filled = copy(buf, buf[off:filled])
		if err != nil && !done {
			return fail(fmt.Errorf("after %d events: %w", events, err))
		}
		if filled == len(buf) {
			return fail(errors.New("event larger than the buffer"))
		}
	}
	// Reading to the end lets the connection be reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	return s
}

// dialRx, where the kernel can timestamp what a TCP socket receives, dials
// connections that are workload.KernelStamped.
var dialRx func(ctx context.Context, network, addr string) (net.Conn, error)

// bareRequest is the path and body of a bare reader's request.
func bareRequest(api workload.API, tokens int) (path string, body []byte) {
	if api == workload.APIChat {
		return "/v1/chat/completions", fmt.Appendf(nil, `{"model":"simulated","messages":[{"role":"user","content":%q}],"max_tokens":%d,"stream":true}`, accuracyPrompt, tokens)
	}
	return "/v1/completions", fmt.Appendf(nil, `{"model":"simulated","prompt":%q,"max_tokens":%d,"stream":true}`, accuracyPrompt, tokens)
}

// bareRun sends n requests through concurrency workers, a closed loop as
// benchform's, after one request per worker to open the connections; with
// rx, over connections from dialRx. cpu is the process's over the measured
// requests.
func bareRun(ctx context.Context, url string, rx bool, api workload.API, concurrency, n, tokens int, prefix string) (origin time.Time, window, cpu time.Duration, streams []stream) {
	tr := &http.Transport{MaxConnsPerHost: concurrency, MaxIdleConnsPerHost: concurrency, DisableCompression: true}
	if rx {
		tr.DialContext = dialRx
	}
	hc := &http.Client{Transport: tr}
	defer hc.CloseIdleConnections()
	loop := func(prefix string, n, tokens int, origin time.Time) []stream {
		path, body := bareRequest(api, tokens)
		out := make([]stream, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(concurrency, n) {
			wg.Go(func() {
				buf := make([]byte, 16<<10)
				for {
					i := int(next.Add(1)) - 1
					if i >= n || ctx.Err() != nil {
						return
					}
					out[i] = bareStream(ctx, hc, url, path, prefix+strconv.Itoa(i), body, buf, origin)
				}
			})
		}
		wg.Wait()
		return out
	}
	loop("warm-"+prefix, concurrency, 1, time.Now())
	cpu0 := cpuTime()
	origin = time.Now()
	streams = loop(prefix, n, tokens, origin)
	return origin, time.Since(origin), cpuTime() - cpu0, streams
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	accuracyRounds      = flag.Int("accuracy.rounds", 3, "BenchmarkAccuracy: rounds of every cell, the clients alternating")
	accuracyJitter      = flag.Float64("accuracy.jitter", 0.1, "BenchmarkAccuracy: the simulator's jitter, which spreads independent streams' flushes over time")
	accuracyScale       = flag.Float64("accuracy.scale", 1, "BenchmarkAccuracy: multiply the number of requests of every measurement")
	accuracyConcurrency = flag.String("accuracy.concurrency", "1,64,256,512", "BenchmarkAccuracy: streams of the accuracy cells")
	accuracySchedules   = flag.String("accuracy.schedules", "independent,batched", "BenchmarkAccuracy: simulator schedules of the accuracy cells")
	accuracyAPIs        = flag.String("accuracy.apis", "chat,completions", "BenchmarkAccuracy: APIs of the accuracy cells")
	accuracySweep       = flag.String("accuracy.sweep", "64,128,256,512", "BenchmarkAccuracy: concurrencies of the sustained-rate sweep; empty for none")
	accuracyITLs        = flag.String("accuracy.itls", "10ms,5ms,3ms,2ms,1ms,500us,0s", "BenchmarkAccuracy: inter-token latencies of the sustained-rate sweep")
	accuracyClients     = flag.String("accuracy.clients", "", "BenchmarkAccuracy: the clients measured, by name (benchform, bf-read, bare, bare-rx); empty for all")
)

// measured are the clients a benchmark run measures: all, or those
// -accuracy.clients names, bare always among them as the baseline.
func measured(b *testing.B) []client {
	if *accuracyClients == "" {
		return clients
	}
	out := []client{bareClient}
	for _, name := range list(b, "-accuracy.clients", *accuracyClients) {
		i := slices.IndexFunc(clients, func(c client) bool { return c.String() == name })
		if i < 0 {
			b.Fatalf("-accuracy.clients: unknown client %q", name)
		}
		if clients[i] != bareClient {
			out = append(out, clients[i])
		}
	}
	return out
}

// client is what reads the streams of a measurement.
type client int

const (
	benchformClient     client = iota // benchform apply with its default timing, then its records as results reads them
	benchformReadClient               // the same with timing = "read": events stamped when reads return
	bareClient                        // bareStream with user-space stamps
	bareRxClient                      // bareStream over connections from dialRx: kernel receive times
)

// clients are those measured; the linux build adds bareRxClient.
var clients = []client{benchformClient, benchformReadClient, bareClient}

func (c client) String() string {
	return [...]string{"benchform", "bf-read", "bare", "bare-rx"}[c]
}

// benchform reports whether the client is benchform's.
func (c client) benchform() bool { return c == benchformClient || c == benchformReadClient }

// point is one measurement: a fresh simulator and one client.
type point struct {
	client      client
	schedule    string
	api         workload.API
	concurrency int
	ttft, itl   time.Duration
	tokens      int
	requests    int
}

// cell is what a point measures, whichever client.
func (p point) cell() string {
	return fmt.Sprintf("%s %s ×%d", p.schedule, p.api, p.concurrency)
}

type outcome struct {
	point
	acc       accuracy
	tokens    int // chunks matched: those the client's CPU time covers
	window    time.Duration
	rate      float64 // output tokens per second of the window
	cpu       time.Duration
	serverCPU time.Duration
	drift     time.Duration
	stored    int64 // bytes the state file grew by; benchform only
}

func (o outcome) cpuPerToken() float64        { return float64(o.cpu.Nanoseconds()) / 1e3 / float64(o.tokens) }
func (o outcome) storedPerToken() float64     { return float64(o.stored) / float64(o.tokens) }
func (o outcome) ttftError(q float64) float64 { return quantile(o.acc.ttftErr, q) }
func (o outcome) itlError(q float64) float64  { return quantile(absAll(o.acc.itlErr), q) }
func (o outcome) pace() float64 {
	if o.itl == 0 {
		return math.NaN()
	}
	return quantile(o.acc.pace, 0.5)
}

// exact reports whether the ITL error stayed under 1 ms at the median and
// p99 while the server kept its schedule: a server that fell behind sent
// less than it offered, and a slow reader that blocked its writes would
// look exact against them.
func (o outcome) exact() bool {
	return len(o.acc.problems) == 0 && o.itlError(0.5) < 1 && o.itlError(0.99) < 1 && o.pace() >= 0.95
}

// measure starts a simulator with p's schedule and timings, runs p's client
// against it and compares what the client measured with the trace.
func measure(b *testing.B, p point) outcome {
	dir := b.TempDir()
	trace := filepath.Join(dir, "trace.tsv")
	sim := startSimulator(b, trace, "-schedule", p.schedule, "-ttft", p.ttft.String(), "-itl", p.itl.String(), "-jitter", strconv.FormatFloat(*accuracyJitter, 'g', -1, 64), "-max-num-seqs", "4096")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	o := outcome{point: p}
	var streams []stream
	prefix := p.client.String() + "-"
	if !p.client.benchform() {
		var origin time.Time
		origin, o.window, o.cpu, streams = bareRun(ctx, sim.url, p.client == bareRxClient, p.api, p.concurrency, p.requests, p.tokens, prefix)
		o.drift = clockDrift(origin)
	} else {
		timing := ""
		if p.client == benchformReadClient {
			timing = "read"
		}
		prefix = "benchform-"
		streams, o.window, o.cpu, o.stored, o.drift = cliRun(b, dir, sim.url, accuracyScenario{Name: "accuracy", API: string(p.api), Timing: timing,
			Tokens: p.tokens, PromptTokens: 128, Concurrency: p.concurrency, Requests: p.requests, Warmup: p.concurrency})
	}
	var err error
	if o.serverCPU, err = sim.stop(); err != nil {
		b.Fatal(err)
	}
	tr, err := readTrace(trace)
	if err != nil {
		b.Fatal(err)
	}
	_ = os.Remove(trace)
	o.acc = compare(streams, tr, prefix, p.itl)
	o.tokens = o.acc.chunks
	// The rate is of the measured window, without the warm-up requests
	// before it, whose tokens benchform's records include.
	measuredTokens := 0
	for _, s := range streams {
		if !s.warmup && s.err == "" && s.ttft > 0 {
			measuredTokens += 1 + len(s.gaps)
		}
	}
	o.rate = float64(measuredTokens) / o.window.Seconds()
	if o.drift.Abs() > time.Millisecond {
		o.acc.problems = append(o.acc.problems, fmt.Sprintf("the wall clock moved %v against the monotonic clock", o.drift))
	}
	for i, pr := range o.acc.problems {
		if i == 5 {
			b.Errorf("%s %s: … and %d more", p.client, p.cell(), len(o.acc.problems)-i)
			break
		}
		b.Errorf("%s %s: %s", p.client, p.cell(), pr)
	}
	return o
}

func list(b *testing.B, name, value string) []string {
	var out []string
	for f := range strings.SplitSeq(value, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 && name != "-accuracy.sweep" && name != "-accuracy.concurrency" {
		b.Fatalf("%s: empty", name)
	}
	return out
}

func concurrencies(b *testing.B, name, value string) []int {
	var out []int
	for _, f := range list(b, name, value) {
		c, err := strconv.Atoi(f)
		if err != nil || c < 1 {
			b.Fatalf("%s: bad concurrency %q", name, f)
		}
		out = append(out, c)
	}
	return out
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func requestsFor(concurrency, least int) int {
	return max(1, int(math.Round(float64(max(2*concurrency, least))**accuracyScale)))
}

// rounds are one cell's outcomes for one client, a round each.
type rounds []outcome

func (r rounds) median(f func(outcome) float64) float64 {
	xs := make([]float64, len(r))
	for i, o := range r {
		xs[i] = f(o)
	}
	return quantile(xs, 0.5)
}

func (r rounds) worst(f func(outcome) float64) float64 {
	w := math.Inf(-1)
	for _, o := range r {
		w = max(w, f(o))
	}
	return w
}

// BenchmarkAccuracy measures benchform as users run it, apply then its
// records as results reads them, against the simulator's flush trace and
// against a bare Go SSE reader (and, on Linux, the bare reader with kernel
// receive times), all talking to a separate `benchform simulate` process on
// loopback. Every cell (schedule, API, streams) is measured in rounds, the
// clients alternating, each measurement on a fresh simulator; the report
// gives the median of each figure over the rounds. Run it alone, it takes
// minutes:
//
//	go test -run '^$' -bench Accuracy -benchtime 1x -timeout 60m .
func BenchmarkAccuracy(b *testing.B) {
	w := os.Stdout
	fmt.Fprintf(w, "\nbenchform accuracy against the simulator's flush trace (%d CPUs usable, load average %s)\n", runtime.NumCPU(), loadAverage())

	cells := map[string]map[client]rounds{}
	var order []string
	b.Run("cells", func(b *testing.B) {
		for _, schedule := range list(b, "-accuracy.schedules", *accuracySchedules) {
			for _, api := range list(b, "-accuracy.apis", *accuracyAPIs) {
				for _, c := range concurrencies(b, "-accuracy.concurrency", *accuracyConcurrency) {
					p := point{schedule: schedule, api: workload.API(api), concurrency: c, ttft: 50 * time.Millisecond, itl: 10 * time.Millisecond, tokens: 256, requests: requestsFor(c, 4)}
					cells[p.cell()] = map[client]rounds{}
					order = append(order, p.cell())
					for range *accuracyRounds {
						for _, cl := range measured(b) {
							p.client = cl
							o := measure(b, p)
							cells[p.cell()][cl] = append(cells[p.cell()][cl], o)
						}
					}
				}
			}
		}
	})
	fmt.Fprintf(w, "\n(a) TTFT 50 ms, ITL 10 ms, 256 tokens out, 128-token prompts, closed loop, 2 × streams requests after one warm-up\n")
	fmt.Fprintf(w, "request per stream; errors in ms, client minus server; the median of %d rounds, the clients alternating\n", *accuracyRounds)
	fmt.Fprintf(w, "%-30s %-9s %9s %9s %10s %9s %9s %9s %10s\n", "cell", "client", "TTFT p50", "TTFT p99", "worst p50", "ITL p99", "cpu µs/t", "stored/t", "p50/bare")
	ttft50 := func(o outcome) float64 { return o.ttftError(0.5) }
	ttft99 := func(o outcome) float64 { return o.ttftError(0.99) }
	itl99 := func(o outcome) float64 { return o.itlError(0.99) }
	for _, cell := range order {
		bare := cells[cell][bareClient].median(ttft50)
		for _, cl := range clients {
			r := cells[cell][cl]
			if len(r) == 0 {
				continue
			}
			stored, ratio := "-", "-"
			if cl.benchform() {
				stored = fmt.Sprintf("%.2f B", r.median(outcome.storedPerToken))
			}
			if cl != bareClient && bare > 0 {
				ratio = fmt.Sprintf("%.2f", r.median(ttft50)/bare)
			}
			fmt.Fprintf(w, "%-30s %-9s %9.3f %9.3f %10.3f %9.3f %9.2f %9s %10s\n", cell, cl,
				r.median(ttft50), r.median(ttft99), r.worst(ttft50), r.median(itl99), r.median(outcome.cpuPerToken), stored, ratio)
		}
	}
	fmt.Fprintf(w, "TTFT is signed, ITL |error| per gap. cpu: the client process's user+system time (for benchform, the whole\n")
	fmt.Fprintf(w, "apply) per token; stored: growth of the state file per token.\n")

	// (b): the highest rate at which the ITL error stays under 1 ms.
	var sweep []outcome
	if concs := concurrencies(b, "-accuracy.sweep", *accuracySweep); len(concs) > 0 {
		b.Run("sweep", func(b *testing.B) {
			var itls []time.Duration
			for _, f := range list(b, "-accuracy.itls", *accuracyITLs) {
				d, err := time.ParseDuration(f)
				if err != nil || d < 0 {
					b.Fatalf("-accuracy.itls: bad duration %q", f)
				}
				itls = append(itls, d)
			}
			for _, c := range concs {
				for _, itl := range itls {
					for _, cl := range measured(b) {
						sweep = append(sweep, measure(b, point{client: cl, schedule: "independent", api: workload.APICompletions, concurrency: c, ttft: 50 * time.Millisecond, itl: itl, tokens: 256, requests: requestsFor(c, 16)}))
					}
				}
			}
		})
		fmt.Fprintf(w, "\n(b) sustained rate: independent streams, completions, TTFT 50 ms, 256 tokens, closed loop; offered = streams / ITL\n")
		fmt.Fprintf(w, "%-9s %7s %7s %11s %6s %10s %8s %8s %9s %s\n",
			"client", "streams", "ITL ms", "offered t/s", "pace", "out t/s", "ITL p50", "ITL p99", "cpu µs/t", "exact")
		for _, o := range sweep {
			offered, pace := "∞", "-"
			if o.itl > 0 {
				offered = fmt.Sprintf("%.0f", float64(o.concurrency)/o.itl.Seconds())
				pace = fmt.Sprintf("%.0f%%", 100*o.pace())
			}
			exact := "no"
			if o.exact() {
				exact = "yes"
			} else if o.itl == 0 {
				exact = "n/a"
			}
			fmt.Fprintf(w, "%-9s %7d %7.1f %11s %6s %10.0f %8.3f %8.3f %9.2f %s\n",
				o.client, o.concurrency, float64(o.itl)/1e6, offered, pace, o.rate, o.itlError(0.5), o.itlError(0.99), o.cpuPerToken(), exact)
		}
		fmt.Fprintf(w, "pace: the server's offered decode time over the one it took (median per request); a point counts only at ≥ 95%%.\n")
	}

	summarize(w, cells, sweep)
	fmt.Fprintf(w, "\nload average at the end: %s\n", loadAverage())
}

// summarize checks the targets: benchform reading when reads return
// against max(floor, 1.5 × bare), and benchform with its default timing
// (the kernel's receive times) against absolute bounds.
func summarize(w io.Writer, cells map[string]map[client]rounds, sweep []outcome) {
	fmt.Fprintf(w, "\n(c) targets, per cell\n")
	fmt.Fprintf(w, "%-30s %-9s %-22s %10s %10s %10s %s\n", "cell", "client", "figure", "value", "bare", "limit", "met")
	check := func(cell string, c client, name string, f func(outcome) float64, floor float64, ratio bool) {
		r := cells[cell]
		if r == nil || len(r[c]) == 0 || len(r[bareClient]) == 0 {
			return
		}
		got, bare := r[c].median(f), r[bareClient].median(f)
		limit := floor
		if ratio {
			limit = max(floor, 1.5*bare)
		}
		met := "no"
		if got <= limit {
			met = "yes"
		}
		fmt.Fprintf(w, "%-30s %-9s %-22s %10.3f %10.3f %10.3f %s\n", cell, c, name, got, bare, limit, met)
	}
	ttft50 := func(o outcome) float64 { return o.ttftError(0.5) }
	ttft99 := func(o outcome) float64 { return o.ttftError(0.99) }
	itl99 := func(o outcome) float64 { return o.itlError(0.99) }
	for _, cell := range slices.Sorted(maps.Keys(cells)) {
		switch {
		case strings.HasSuffix(cell, "×1"):
			check(cell, benchformClient, "TTFT p50 ≤ 0.3 ms", ttft50, 0.3, false)
			check(cell, benchformReadClient, "TTFT p50 ≤ 0.3 ms", ttft50, 0.3, false)
		case strings.HasSuffix(cell, "×256"), strings.HasSuffix(cell, "×512"):
			check(cell, benchformReadClient, "TTFT p50", ttft50, 1, true)
			check(cell, benchformReadClient, "TTFT p99", ttft99, 6, true)
			if strings.HasSuffix(cell, "×256") {
				check(cell, benchformReadClient, "ITL |error| p99", itl99, 1, true)
			}
			if strings.HasSuffix(cell, "×512") {
				check(cell, benchformClient, "TTFT p50 ≤ 0.3 ms", ttft50, 0.3, false)
				check(cell, benchformClient, "TTFT p99 ≤ 2 ms", ttft99, 2, false)
				check(cell, benchformClient, "ITL |error| p99 ≤ 1 ms", itl99, 1, false)
			}
		}
	}
	best := func(c client) (outcome, bool) {
		var b outcome
		found := false
		for _, o := range sweep {
			if o.client == c && o.exact() && (!found || o.rate > b.rate) {
				b, found = o, true
			}
		}
		return b, found
	}
	for _, c := range clients {
		if o, ok := best(c); ok {
			fmt.Fprintf(w, "sustained with ITL error < 1 ms, %s: %.0f tok/s (%d streams, ITL %v)\n", c, o.rate, o.concurrency, o.itl)
		}
	}
	if bare, ok := best(bareClient); ok {
		for _, c := range []client{benchformClient, benchformReadClient} {
			if o, ok := best(c); ok {
				fmt.Fprintf(w, "sustained rate, %s over bare: %.2f (target ≥ 0.9)\n", c, o.rate/bare.rate)
			}
		}
	}
}
