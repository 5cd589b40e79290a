package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/probe"
)

// Timing of the checks and stops.
const (
	// checkTimeout bounds one request to a server.
	checkTimeout = 5 * time.Second
	// killWait bounds the wait for processes to go after SIGKILL, which
	// they cannot ignore; only a process stuck in the kernel (a GPU driver
	// call) takes longer.
	killWait = 10 * time.Second
	// stopPoll is the gap between two looks at a stopping server.
	stopPoll = 20 * time.Millisecond
	// progressEvery is the longest silence while a server starts.
	progressEvery = 15 * time.Second
	// abortGrace bounds SIGTERM's grace when a failed start is cleaned up
	// and nothing of the server is worth a graceful exit.
	abortGrace = 5 * time.Second
	// tailLines and tailBytes bound the log excerpt in an error.
	tailLines = 20
	tailBytes = 4096
)

// record is what the state directory keeps of a running server, written
// before the wait for it to be ready so that it is never lost. It holds no
// secret.
type record struct {
	PID       int      `json:"pid"`
	StartTime string   `json:"start_time"`
	Engine    string   `json:"engine"`
	Command   []string `json:"command"`
	LogFile   string   `json:"log_file"`
	Endpoint  string   `json:"endpoint"`
	Model     string   `json:"model"`
	Port      int      `json:"port"`
	StartedAt string   `json:"started_at"`
}

// attrs are the server's attributes, as State carries them.
func (r *record) attrs() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"pid":        cty.NumberIntVal(int64(r.PID)),
		"command":    stringList(r.Command),
		"log_file":   cty.StringVal(r.LogFile),
		"endpoint":   cty.StringVal(r.Endpoint),
		"model":      cty.StringVal(r.Model),
		"port":       cty.NumberIntVal(int64(r.Port)),
		"started_at": cty.StringVal(r.StartedAt),
		"start_time": cty.StringVal(r.StartTime),
	})
}

func (p *Provider) loadRecord(name string) (*record, error) {
	path := p.recordPath(name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local: read process record: %w", err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.PID <= 0 {
		return nil, fmt.Errorf("local: process record %s is damaged; check whether the server it described still runs, stop it, and remove the file", path)
	}
	return &r, nil
}

// saveRecord replaces the record through a rename, so that a crash leaves
// the old record or the new one, never half of one.
func (p *Provider) saveRecord(name string, r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("local: write process record: %w", err)
	}
	path := p.recordPath(name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("local: write process record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("local: write process record: %w", err)
	}
	return nil
}

func (p *Provider) removeRecord(name string) error {
	if err := os.Remove(p.recordPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("local: remove process record: %w", err)
	}
	return nil
}

// child is a server process started by this process. Waiting for it
// reaps it, so that it does not linger as a zombie while benchform runs.
type child struct {
	done chan struct{} // closed when the process has exited
	err  error         // how it exited; read after done
}

// start starts a server and waits until it is ready. On any failure the
// process is stopped and its record removed before the error returns.
func (p *Provider) start(ctx context.Context, name string, c serverConfig, port int, progress func(string)) (*record, error) {
	if !canStart {
		return nil, errors.New("local: starting servers needs Linux or another Unix system")
	}
	if err := os.MkdirAll(p.s.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("local: create state directory: %w", err)
	}
	// A server already listening there would answer the health checks
	// in place of the one started here, which would fail to bind.
	if !portFree(port) {
		return nil, fmt.Errorf("local: port %d on %s is in use; stop what listens there or set another port", port, loopback)
	}
	argv, engineEnv := command(c, port)
	shown := redactArgv(argv, c.apiKey)
	logFile := p.logPath(name)
	// Appended to, not truncated: the log of a server restarted by Update
	// keeps what its earlier runs wrote.
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local: open log file: %w", err)
	}
	startedAt := p.s.Now().UTC().Format(time.RFC3339)
	if _, err := fmt.Fprintf(f, "==> benchform %s: %s\n", startedAt, shellQuote(shown)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("local: write log file: %w", err)
	}
	offset, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		offset = 0
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = environ(c.env, engineEnv, name)
	// The engine writes to the file itself, not through a pipe of
	// benchform's, so it keeps logging after benchform exits.
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	_ = f.Close()
	if err != nil {
		// exec's errors name the executable, never the arguments.
		return nil, fmt.Errorf("local: start %s: %w (install the engine or set executable)", c.engine.Name, err)
	}
	pid := cmd.Process.Pid
	ch := &child{done: make(chan struct{})}
	go func() {
		ch.err = cmd.Wait()
		close(ch.done)
	}()

	rec := &record{
		PID:       pid,
		StartTime: inspect(pid).start,
		Engine:    c.engine.Name,
		Command:   shown,
		LogFile:   logFile,
		Endpoint:  endpointURL(port),
		Model:     c.servedModel(),
		Port:      port,
		StartedAt: startedAt,
	}
	secrets := secretsOf(c)
	fail := func(err error) (*record, error) {
		// The context may be what failed; cleaning up must not stop with it.
		stopCtx := context.WithoutCancel(ctx)
		running := p.owns(pid, rec.StartTime, name).alive()
		stopErr := p.stop(stopCtx, target{pid: pid, start: rec.StartTime}, name, min(p.s.Grace, abortGrace))
		if stopErr == nil {
			_ = p.removeRecord(name)
		}
		var more strings.Builder
		if running && stopErr == nil {
			more.WriteString("; it was stopped")
		}
		if tail := readTail(logFile, offset, secrets); tail != "" {
			fmt.Fprintf(&more, "; last lines of %s:\n%s", logFile, tail)
		} else {
			fmt.Fprintf(&more, "; its log %s is empty", logFile)
		}
		if stopErr != nil {
			// The record stays, so that the next refresh finds what
			// still runs.
			fmt.Fprintf(&more, "\n%v", stopErr)
		}
		// Wrapped, so that a cancelled context is still recognised.
		return nil, fmt.Errorf("%w%s", err, more.String())
	}
	if err := p.saveRecord(name, rec); err != nil {
		return fail(err)
	}

	exited := func() (bool, string) {
		select {
		case <-ch.done:
			if ch.err == nil {
				return true, "it exited with status 0"
			}
			return true, "it exited: " + ch.err.Error()
		default:
			return false, ""
		}
	}
	err = p.waitReady(ctx, readiness{
		engine: c.engine, pid: pid, endpoint: rec.Endpoint, key: c.apiKey, model: rec.Model,
		timeout: c.readyTimeout, exited: exited, progress: progress,
	})
	if err != nil {
		return fail(err)
	}
	return rec, nil
}

// environ is benchform's environment with the configuration's variables
// on top, then what the engine needs (its key, its address), and the
// marker that identifies the server's processes. Later entries win in
// exec's environment, so benchform's own settings cannot be overridden by
// mistake.
func environ(env, engineEnv map[string]string, name string) []string {
	out := os.Environ()
	for _, m := range []map[string]string{env, engineEnv} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, k+"="+m[k])
		}
	}
	return append(out, markerEnv+"="+name)
}

// secretsOf lists what must not appear in an error: the API key and the
// values of env, which is where tokens go. Values shorter than eight
// bytes are left alone: they are flags and counts, and replacing them
// would garble the log.
func secretsOf(c serverConfig) []string {
	var out []string
	if c.apiKey != "" {
		out = append(out, c.apiKey)
	}
	for _, v := range c.env {
		if len(v) >= 8 {
			out = append(out, v)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// readTail returns the last lines written to the log after offset,
// indented, with secrets replaced: vLLM logs its arguments, the API key
// among them.
func readTail(path string, offset int64, secrets []string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	from := max(offset, fi.Size()-tailBytes)
	if from >= fi.Size() {
		return ""
	}
	b := make([]byte, fi.Size()-from)
	n, _ := f.ReadAt(b, from)
	b = b[:n]
	if from > offset {
		// Drop the partial first line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	s := string(b)
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, sensitive)
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return "    " + strings.Join(lines, "\n    ")
}

// readiness describes one wait for a server.
type readiness struct {
	engine   *engines.Engine
	pid      int
	endpoint string
	key      string
	model    string
	timeout  time.Duration
	// exited reports whether the process has exited, and how.
	exited   func() (bool, string)
	progress func(string)
}

// waitReady polls the server until /health answers 200 and /v1/models
// lists the model, the process exits, the timeout passes or ctx ends.
func (p *Provider) waitReady(ctx context.Context, w readiness) error {
	began := time.Now()
	deadline := began.Add(w.timeout)
	lastStatus, lastReport := "", began
	// The count bounds the loop should the clock misbehave.
	maxPolls := int(w.timeout/p.s.PollInterval) + 2
	timer := time.NewTimer(p.s.PollInterval)
	defer timer.Stop()
	for poll := 0; ; poll++ {
		ready, status, fatal := p.probe(ctx, w, deadline)
		if ready {
			return nil
		}
		if done, how := w.exited(); done {
			return fmt.Errorf("local: %s exited before it was ready (%s)", w.engine.Name, how)
		}
		if fatal {
			return fmt.Errorf("local: %s is up but %s", w.engine.Name, status)
		}
		now := time.Now()
		if w.progress != nil && (status != lastStatus || now.Sub(lastReport) >= progressEvery) {
			w.progress(fmt.Sprintf("process %d: %s, %s", w.pid, status, now.Sub(began).Truncate(time.Second)))
			lastStatus, lastReport = status, now
		}
		if !now.Before(deadline) || poll >= maxPolls {
			return fmt.Errorf("local: %s not ready after %s (last check: %s)", w.engine.Name, w.timeout, status)
		}
		timer.Reset(min(p.s.PollInterval, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("local: waiting for %s: %w", w.engine.Name, ctx.Err())
		case <-timer.C:
		}
	}
}

// probe checks a server once, and fetches its model first if its engine
// serves models only once pulled. fatal is set for answers that waiting
// will not change: a refused key, a model that is not served or cannot be
// pulled.
func (p *Provider) probe(ctx context.Context, w readiness, deadline time.Time) (ready bool, status string, fatal bool) {
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Second))
	defer cancel()
	o := probe.Options{Client: p.client, BaseURL: w.endpoint, APIKey: w.key, Model: w.model, Engine: w.engine}
	r := probe.Check(ctx, o)
	if r.Pull {
		if err := probe.Pull(ctx, o, w.progress); err != nil {
			return false, err.Error(), ctx.Err() == nil
		}
		r = probe.Check(ctx, o)
	}
	return r.Ready, r.Status, r.Fatal
}

// target is a process believed to be a server.
type target struct {
	pid   int
	start string // "" when not known
}

// stopAll stops every process the state and the record name for a server:
// after an interrupted update they differ, and both may run.
func (p *Provider) stopAll(ctx context.Context, st providers.State, name string) error {
	rec, err := p.loadRecord(name)
	if err != nil {
		return err
	}
	var ts []target
	if rec != nil {
		ts = append(ts, target{pid: rec.PID, start: rec.StartTime})
	}
	if pid := parsePID(st.ID); pid > 0 && (rec == nil || rec.PID != pid) {
		ts = append(ts, target{pid: pid, start: attrString(st.Attrs, "start_time")})
	}
	var errs []error
	for _, t := range ts {
		if err := p.stop(ctx, t, name, p.s.Grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stop ends a server: SIGTERM to its group and session, up to grace for
// all of it to exit, then SIGKILL. A server already gone is success; so
// is a pid that now belongs to another process, which is left alone. When
// ctx ends during the grace period, SIGKILL is sent at once.
func (p *Provider) stop(ctx context.Context, t target, name string, grace time.Duration) error {
	if t.pid <= 0 {
		return nil
	}
	info := p.owns(t.pid, t.start, name)
	if info.reused {
		// The server exited and its pid was given out again, which the
		// system does only once its group and session are empty.
		return nil
	}
	gone := func() bool {
		return !p.owns(t.pid, t.start, name).alive() && len(members(t.pid)) == 0
	}
	if gone() {
		return nil
	}
	signalAll(t.pid, syscall.SIGTERM)
	if waitFor(ctx, gone, grace) {
		return nil
	}
	signalAll(t.pid, syscall.SIGKILL)
	if waitFor(context.WithoutCancel(ctx), gone, killWait) {
		return nil
	}
	return fmt.Errorf("local: stop process %d: it still runs after SIGKILL", t.pid)
}

// waitFor polls cond until it holds, d passes or ctx ends.
func waitFor(ctx context.Context, cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	maxPolls := int(d/stopPoll) + 2
	t := time.NewTimer(stopPoll)
	defer t.Stop()
	for range maxPolls {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		t.Reset(min(stopPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
	return cond()
}
