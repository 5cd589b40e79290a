//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
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
	id string
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
		out = append(out, stream{id: r.ID, sent: origin.UnixNano() + int64(r.Start), ttft: r.TTFT, gaps: r.Gaps, err: r.Err})
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

var accuracyPrompt = []workload.Prompt{{Text: "Tell me a story about a lighthouse.", InputTokens: 8}}

// TestAccuracyAgainstTrace checks benchform's client request by request
// against the chunk flushes a separate simulator process traced: every
// request and every chunk matched by a measured event, and the errors small.
// The bounds allow for the race detector and a loaded machine; the
// benchmark below measures the real figures.
func TestAccuracyAgainstTrace(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace.tsv")
	// Jitter spreads the gaps from 1 to 9 ms, so a gap measured against
	// the wrong pair of chunks is off by 2.7 ms on average.
	sim := startSimulator(t, trace, "-ttft", "20ms", "-itl", "5ms", "-jitter", "0.8", "-max-num-seqs", "64")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const (
		concurrency = 8
		tokens      = 32
	)
	client := workload.NewClient(concurrency)
	defer client.CloseIdleConnections()
	target := workload.Target{BaseURL: sim.url, Model: "simulated"}
	var streams []stream
	wantRequests := 0
	for _, run := range []struct {
		api      workload.API
		requests int
	}{{workload.APICompletions, 16}, {workload.APIChat, 8}} {
		var recs []workload.Record
		win, err := workload.Run(ctx, client, target, workload.Step{
			API: run.api, Prompts: accuracyPrompt, MaxTokens: tokens, IDPrefix: string(run.api),
			Load: workload.Load{Concurrency: concurrency, Requests: run.requests, Warmup: concurrency},
		}, func(r workload.Record) { recs = append(recs, r) })
		if err != nil {
			t.Fatalf("%s: %v", run.api, err)
		}
		if d := clockDrift(win.Origin); d.Abs() > time.Millisecond {
			t.Fatalf("the wall clock moved %v against the monotonic clock during the run; instants cannot be compared", d)
		}
		wantRequests += run.requests + concurrency
		streams = append(streams, streamsOf(win.Origin, recs)...)
	}
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
// request asks for no usage chunk, so every event but [DONE] is a token).
// Each event is stamped when the read that completed it returned, as
// benchform stamps them, or, over a connection from dialRx, with the
// kernel's receive time of the last segment that read took.
func bareStream(ctx context.Context, hc *http.Client, url, id string, body, buf []byte, origin time.Time) stream {
	s := stream{id: id}
	fail := func(err error) stream { s.err = err.Error(); return s }
	var rx rxStamper
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		rx, _ = info.Conn.(rxStamper)
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(body))
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
			at = rx.received()
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

// rxStamper is a connection that knows when the kernel received the bytes
// of its latest read, in Unix nanoseconds.
type rxStamper interface{ received() int64 }

// dialRx, where the kernel can timestamp what a TCP socket receives, dials
// connections that are rxStampers.
var dialRx func(ctx context.Context, network, addr string) (net.Conn, error)

// bareRun sends n requests through concurrency workers, a closed loop as
// benchform's, after one request per worker to open the connections; with
// rx, over connections from dialRx. cpu is the process's over the measured
// requests.
func bareRun(ctx context.Context, url string, rx bool, concurrency, n, tokens int, prefix string) (origin time.Time, window, cpu time.Duration, streams []stream) {
	tr := &http.Transport{MaxConnsPerHost: concurrency, MaxIdleConnsPerHost: concurrency, DisableCompression: true}
	if rx {
		tr.DialContext = dialRx
	}
	hc := &http.Client{Transport: tr}
	defer hc.CloseIdleConnections()
	loop := func(prefix string, n, tokens int, origin time.Time) []stream {
		body := fmt.Appendf(nil, `{"model":"simulated","prompt":%q,"max_tokens":%d,"stream":true}`, accuracyPrompt[0].Text, tokens)
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
					out[i] = bareStream(ctx, hc, url, prefix+strconv.Itoa(i), body, buf, origin)
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

// benchformRun runs benchform's closed loop, after one request per worker
// to open the connections; cpu is the process's over the measured requests.
func benchformRun(ctx context.Context, url string, concurrency, n, tokens int, prefix string) (win workload.Window, recs []workload.Record, cpu time.Duration, err error) {
	client := workload.NewClient(concurrency)
	defer client.CloseIdleConnections()
	target := workload.Target{BaseURL: url, Model: "simulated"}
	if _, err := workload.Run(ctx, client, target, workload.Step{
		API: workload.APICompletions, Prompts: accuracyPrompt, MaxTokens: 1, IDPrefix: "warm-" + prefix,
		Load: workload.Load{Concurrency: concurrency, Requests: concurrency},
	}, nil); err != nil {
		return workload.Window{}, nil, 0, err
	}
	recs = make([]workload.Record, 0, n)
	cpu0 := cpuTime()
	win, err = workload.Run(ctx, client, target, workload.Step{
		API: workload.APICompletions, Prompts: accuracyPrompt, MaxTokens: tokens, IDPrefix: prefix,
		Load: workload.Load{Concurrency: concurrency, Requests: n},
	}, func(r workload.Record) { recs = append(recs, r) })
	return win, recs, cpuTime() - cpu0, err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// storedBytes writes recs to a fresh state file as apply does (batches of
// 256) and returns how much the file grew, and the CPU that took.
func storedBytes(dir string, recs []workload.Record) (grown int64, cpu time.Duration, err error) {
	path := filepath.Join(dir, "state.db")
	size := func() int64 {
		var n int64
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	st, err := state.Open(path)
	if err != nil {
		return 0, 0, err
	}
	runID, err := st.BeginRun(state.Run{Scenario: "scenario.accuracy"})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, err
	}
	before := size()
	if st, err = state.Open(path); err != nil {
		return 0, 0, err
	}
	cpu0 := cpuTime()
	for b := range slices.Chunk(recs, 256) {
		rows := make([]state.RequestRecord, len(b))
		for i, r := range b {
			rows[i] = state.RequestRecord{
				RunID: runID, Seq: r.Seq, RequestID: r.ID, Warmup: r.Warmup, Start: r.Start,
				QueueTime: r.QueueTime, TTFT: r.TTFT, E2EL: r.E2EL, Gaps: r.Gaps,
				PromptTokens: r.PromptTokens, OutputTokens: r.OutputTokens, TokenSource: string(r.TokenSource),
				HTTPStatus: r.HTTPStatus, Error: r.Err, Lag: r.Lag, TokenEvents: r.TokenEvents,
				UsageTokens: r.UsageTokens, ChunkTokens: r.ChunkTokens,
			}
		}
		if err := st.InsertRecords(rows); err != nil {
			st.Close()
			return 0, 0, err
		}
	}
	cpu = cpuTime() - cpu0
	// Closing checkpoints the write-ahead log into the file.
	if err := st.Close(); err != nil {
		return 0, 0, err
	}
	return size() - before, cpu, nil
}

// gapBytes is the size of the gaps as state stores them, uvarints.
func gapBytes(recs []workload.Record) int {
	var n int
	var b [binary.MaxVarintLen64]byte
	for _, r := range recs {
		for _, g := range r.Gaps {
			n += binary.PutUvarint(b[:], uint64(g))
		}
	}
	return n
}

var (
	accuracyScale = flag.Float64("accuracy.scale", 1, "BenchmarkAccuracy: multiply the number of requests of every measurement")
	accuracyFixed = flag.String("accuracy.fixed", "1,64,512", "BenchmarkAccuracy: concurrencies of the fixed-timing measurements")
	accuracySweep = flag.String("accuracy.sweep", "64,128,256,512", "BenchmarkAccuracy: concurrencies of the sustained-rate sweep")
	accuracyITLs  = flag.String("accuracy.itls", "10ms,5ms,3ms,2ms,1ms,500us,0s", "BenchmarkAccuracy: inter-token latencies of the sustained-rate sweep")
)

// client is what reads the streams of a measurement.
type client int

const (
	benchformClient client = iota
	bareClient             // bareStream with user-space stamps
	bareRxClient           // bareStream over connections from dialRx: kernel receive times
)

// clients are those measured; the linux build adds bareRxClient.
var clients = []client{benchformClient, bareClient}

func (c client) String() string {
	return [...]string{"benchform", "bare", "bare-rx"}[c]
}

// point is one measurement: a fresh simulator and one client.
type point struct {
	client      client
	concurrency int
	ttft, itl   time.Duration
	tokens      int
	requests    int
}

type outcome struct {
	point
	acc       accuracy
	tokens    int
	window    time.Duration
	rate      float64 // output tokens per second of the window
	cpu       time.Duration
	serverCPU time.Duration
	drift     time.Duration
	stored    int64 // bytes the state file grew by; benchform only
	storeCPU  time.Duration
	gapBytes  int
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

// measure starts a simulator with p's timings, runs p's client against it
// and compares what the client measured with the trace.
func measure(b *testing.B, p point) outcome {
	dir := b.TempDir()
	trace := filepath.Join(dir, "trace.tsv")
	sim := startSimulator(b, trace, "-ttft", p.ttft.String(), "-itl", p.itl.String(), "-max-num-seqs", "4096")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	o := outcome{point: p}
	var streams []stream
	var recs []workload.Record
	prefix := p.client.String() + "-"
	if p.client != benchformClient {
		var origin time.Time
		origin, o.window, o.cpu, streams = bareRun(ctx, sim.url, p.client == bareRxClient, p.concurrency, p.requests, p.tokens, prefix)
		o.drift = clockDrift(origin)
	} else {
		win, rs, cpu, err := benchformRun(ctx, sim.url, p.concurrency, p.requests, p.tokens, strings.TrimSuffix(prefix, "-"))
		o.cpu = cpu
		if err != nil {
			b.Fatal(err)
		}
		o.drift = clockDrift(win.Origin)
		o.window, recs = win.Duration, rs
		streams = streamsOf(win.Origin, recs)
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
	o.rate = float64(o.tokens) / o.window.Seconds()
	if o.drift.Abs() > time.Millisecond {
		o.acc.problems = append(o.acc.problems, fmt.Sprintf("the wall clock moved %v against the monotonic clock", o.drift))
	}
	for i, pr := range o.acc.problems {
		if i == 5 {
			b.Errorf("%s ×%d: … and %d more", p.client, p.concurrency, len(o.acc.problems)-i)
			break
		}
		b.Errorf("%s ×%d: %s", p.client, p.concurrency, pr)
	}
	if recs != nil {
		o.gapBytes = gapBytes(recs)
		if o.stored, o.storeCPU, err = storedBytes(dir, recs); err != nil {
			b.Fatal(err)
		}
	}
	return o
}

func concurrencies(b *testing.B, name, list string) []int {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
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

// BenchmarkAccuracy measures benchform's client against the simulator's
// trace and against a bare Go SSE reader, both talking to a separate
// `benchform simulate` process on loopback, and prints the report. Each
// measurement starts a fresh simulator; requests are completions. Run it
// alone, it takes minutes:
//
//	go test -run '^$' -bench Accuracy -benchtime 1x -timeout 30m .
func BenchmarkAccuracy(b *testing.B) {
	w := os.Stdout
	fmt.Fprintf(w, "\nbenchform client accuracy against the simulator's flush trace (%d CPUs usable, load average %s)\n", runtime.NumCPU(), loadAverage())

	// (a), (c), (d): TTFT 50 ms, ITL 10 ms, 256 tokens.
	var fixed []outcome
	b.Run("fixed", func(b *testing.B) {
		for _, c := range concurrencies(b, "-accuracy.fixed", *accuracyFixed) {
			for _, cl := range clients {
				fixed = append(fixed, measure(b, point{client: cl, concurrency: c, ttft: 50 * time.Millisecond, itl: 10 * time.Millisecond, tokens: 256, requests: requestsFor(c, 16)}))
			}
		}
		fmt.Fprintf(w, "\n(a, c, d) TTFT 50 ms, ITL 10 ms, 256 tokens, closed loop; errors in ms, client minus server\n")
		fmt.Fprintf(w, "%-9s %7s %5s %7s %9s %9s %8s %8s %9s %9s %9s %9s %10s\n",
			"client", "streams", "reqs", "tokens", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "cpu µs/t", "srv µs/t", "stored/t", "gaps/t", "store µs/t")
		for _, o := range fixed {
			stored, gaps, store := "-", "-", "-"
			if o.client == benchformClient {
				stored = fmt.Sprintf("%.2f B", o.storedPerToken())
				gaps = fmt.Sprintf("%.2f B", float64(o.gapBytes)/float64(o.tokens))
				store = fmt.Sprintf("%.2f", float64(o.storeCPU.Nanoseconds())/1e3/float64(o.tokens))
			}
			fmt.Fprintf(w, "%-9s %7d %5d %7d %9.3f %9.3f %8.3f %8.3f %9.2f %9.2f %9s %9s %10s\n",
				o.client, o.concurrency, o.acc.requests, o.tokens, o.ttftError(0.5), o.ttftError(0.99), o.itlError(0.5), o.itlError(0.99),
				o.cpuPerToken(), float64(o.serverCPU.Nanoseconds())/1e3/float64(o.tokens), stored, gaps, store)
		}
		fmt.Fprintf(w, "TTFT is signed, ITL |error| per gap. cpu: the client process's user+system time over the measured requests;\n")
		fmt.Fprintf(w, "srv: the simulator's over its whole life. stored: growth of a state file holding the records; gaps: their\n")
		fmt.Fprintf(w, "uvarint gaps alone; store: CPU to write them.\n")
	})

	// (b): the highest rate at which the ITL error stays under 1 ms.
	var sweep []outcome
	b.Run("sweep", func(b *testing.B) {
		concs := concurrencies(b, "-accuracy.sweep", *accuracySweep)
		var itls []time.Duration
		for f := range strings.SplitSeq(*accuracyITLs, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil || d < 0 {
				b.Fatalf("-accuracy.itls: bad duration %q", f)
			}
			itls = append(itls, d)
		}
		for _, c := range concs {
			for _, itl := range itls {
				for _, cl := range clients {
					sweep = append(sweep, measure(b, point{client: cl, concurrency: c, ttft: 50 * time.Millisecond, itl: itl, tokens: 256, requests: requestsFor(c, 16)}))
				}
			}
		}
		fmt.Fprintf(w, "\n(b) sustained rate: TTFT 50 ms, 256 tokens, closed loop; offered = streams / ITL while decoding\n")
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
		fmt.Fprintf(w, "At ITL 0 the server sends as fast as client and server together allow, so nothing checks that it sent what it offered.\n")
	})

	summarize(w, fixed, sweep)
	fmt.Fprintf(w, "\nload average at the end: %s\n", loadAverage())
}

// summarize prints item 4's targets with the figures of benchform, the bare
// reader and the bare reader with kernel receive times, and benchform's
// ratio to the bare reader.
func summarize(w io.Writer, fixed, sweep []outcome) {
	type row struct {
		name  string
		unit  string
		vals  [bareRxClient + 1]float64 // by client
		met   bool
		ratio bool
	}
	var rows []row
	add := func(name, unit string, f func(o outcome) float64, pick func(c client) (outcome, bool), want func(v float64) bool, ratio bool) {
		r := row{name: name, unit: unit, ratio: ratio}
		for c := range r.vals {
			r.vals[c] = math.NaN()
			if o, ok := pick(client(c)); ok {
				r.vals[c] = f(o)
			}
		}
		if math.IsNaN(r.vals[benchformClient]) && math.IsNaN(r.vals[bareClient]) {
			return // not measured
		}
		r.met = !math.IsNaN(r.vals[benchformClient]) && want(r.vals[benchformClient])
		rows = append(rows, r)
	}
	at := func(set []outcome, concurrency int, itl time.Duration) func(c client) (outcome, bool) {
		return func(c client) (outcome, bool) {
			for _, o := range set {
				if o.client == c && o.concurrency == concurrency && o.itl == itl {
					return o, true
				}
			}
			return outcome{}, false
		}
	}
	// The highest rate a client sustained exactly, and the highest it
	// reached at all (ITL 0: as fast as client and server allow).
	top := func(ok func(o outcome) bool) func(c client) (outcome, bool) {
		return func(c client) (outcome, bool) {
			var best outcome
			found := false
			for _, o := range sweep {
				if o.client == c && ok(o) && (!found || o.rate > best.rate) {
					best, found = o, true
				}
			}
			return best, found
		}
	}
	exact := top(outcome.exact)
	saturated := top(func(o outcome) bool { return o.itl == 0 && len(o.acc.problems) == 0 })
	ttft50 := func(o outcome) float64 { return o.ttftError(0.5) }
	ttft99 := func(o outcome) float64 { return o.ttftError(0.99) }
	itl99 := func(o outcome) float64 { return o.itlError(0.99) }
	rate := func(o outcome) float64 { return o.rate }
	cpu := outcome.cpuPerToken
	le := func(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }
	ms10 := 10 * time.Millisecond

	add("TTFT error p50, 1 stream ≤ 0.3 ms", "ms", ttft50, at(fixed, 1, ms10), le(0.3), true)
	add("TTFT error p50, 512 streams ≤ 1 ms", "ms", ttft50, at(fixed, 512, ms10), le(1), true)
	add("TTFT error p99, 512 streams ≤ 6 ms", "ms", ttft99, at(fixed, 512, ms10), le(6), true)
	add("ITL |error| p99, 512 streams ≤ 1 ms", "ms", itl99, at(fixed, 512, ms10), le(1), true)
	if len(sweep) > 0 {
		bare, ok := exact(bareClient)
		add("sustained rate, ITL error < 1 ms ≥ 90 % of bare", "tok/s", rate, exact, func(v float64) bool { return !ok || v >= 0.9*bare.rate }, true)
	}
	if _, ok := saturated(bareClient); ok {
		bare, _ := saturated(bareClient)
		add("highest rate at ITL 0 (not checked) ≥ 90 % of bare", "tok/s", rate, saturated, func(v float64) bool { return v >= 0.9*bare.rate }, true)
	}
	add("client CPU, 512 streams, ITL 10 ms ≤ 1.5 µs/token", "µs", cpu, at(fixed, 512, ms10), le(1.5), true)
	add("client CPU at the sustained rate ≤ 1.5 µs/token", "µs", cpu, exact, le(1.5), true)
	add("client CPU at the ITL-0 rate ≤ 1.5 µs/token", "µs", cpu, saturated, le(1.5), true)
	add("stored per token, 512 streams ≤ 16 B", "B", outcome.storedPerToken, at(fixed, 512, ms10), le(16), false)
	if len(rows) == 0 {
		return
	}

	for _, c := range clients {
		if o, ok := exact(c); ok {
			fmt.Fprintf(w, "\nsustained with ITL error < 1 ms, %s: %.0f tok/s (%d streams, ITL %v)", c, o.rate, o.concurrency, o.itl)
		} else if len(sweep) > 0 {
			fmt.Fprintf(w, "\nsustained with ITL error < 1 ms, %s: no point of the sweep", c)
		}
	}
	fmt.Fprintf(w, "\n\n(4) targets\n%-52s %13s %13s %13s %6s %s\n", "target", benchformClient, bareClient, bareRxClient, "ratio", "met")
	for _, r := range rows {
		met, ratio := "no", "-"
		if r.met {
			met = "yes"
		}
		if r.ratio && r.vals[bareClient] != 0 && !math.IsNaN(r.vals[bareClient]) && !math.IsNaN(r.vals[benchformClient]) {
			ratio = fmt.Sprintf("%.2f", r.vals[benchformClient]/r.vals[bareClient])
		}
		fmt.Fprintf(w, "%-52s", r.name)
		for c, v := range r.vals {
			switch {
			case r.unit == "B" && client(c) != benchformClient:
				fmt.Fprintf(w, " %13s", "8 in memory")
			case math.IsNaN(v):
				fmt.Fprintf(w, " %13s", "-")
			case r.unit == "tok/s":
				fmt.Fprintf(w, " %9.0f %-3s", v, "t/s")
			default:
				fmt.Fprintf(w, " %9.3f %-3s", v, r.unit)
			}
		}
		fmt.Fprintf(w, " %6s %s\n", ratio, met)
	}
	fmt.Fprintf(w, "ratio: benchform over bare; met: benchform against the target. The bare readers store nothing.\n")
}
