package report

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// Progress reports an apply as it happens, one line per event; while a
// scenario step runs it redraws a status line on a terminal, and writes one
// every PlainInterval otherwise. It is meant for standard error, so that
// standard output stays clean for results.
type Progress struct {
	w        io.Writer
	terminal bool
	now      func() time.Time

	mu      sync.Mutex
	started map[lang.Addr]time.Time
	steps   map[stepKey]*stepProgress
	// drawn is set while the last thing written is an unterminated status
	// line that the next write must end first.
	drawn bool
}

// PlainInterval is how often a running step reports when the output is
// not a terminal.
const PlainInterval = 5 * time.Second

// redrawInterval limits terminal redraws; faster is invisible and costs
// CPU on the client that is measuring.
const redrawInterval = 100 * time.Millisecond

type stepKey struct {
	scenario lang.Addr
	index    int
}

type stepProgress struct {
	info      executor.StepInfo
	start     time.Time
	lastDraw  time.Time
	done      int
	failed    int
	outTokens int
}

var _ executor.Hook = (*Progress)(nil)

// NewProgress returns a Progress writing to w; terminal selects redrawn
// status lines.
func NewProgress(w io.Writer, terminal bool) *Progress {
	return &Progress{w: w, terminal: terminal, now: time.Now, started: map[lang.Addr]time.Time{}, steps: map[stepKey]*stepProgress{}}
}

func (p *Progress) linef(format string, args ...any) {
	if p.drawn {
		fmt.Fprint(p.w, "\n")
		p.drawn = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// PreApply reports that a resource's action starts.
func (p *Progress) PreApply(addr lang.Addr, action executor.Action) {
	if action == executor.NoOp {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started[addr] = p.now()
	p.linef("%s: %s...", addr, presentParticiple(action, addr))
}

// PostApply reports how a resource's action ended.
func (p *Progress) PostApply(addr lang.Addr, action executor.Action, err error) {
	if action == executor.NoOp {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := p.now().Sub(p.started[addr]).Round(100 * time.Millisecond)
	n := noun(action)
	if action == executor.Delete && addr.Kind == lang.KindScenario {
		n = "Removal"
	}
	if err != nil {
		p.linef("%s: %s failed after %s", addr, n, elapsed)
		return
	}
	p.linef("%s: %s complete after %s", addr, n, elapsed)
}

func presentParticiple(a executor.Action, addr lang.Addr) string {
	switch a {
	case executor.Create:
		return "Creating"
	case executor.Update:
		return "Modifying"
	case executor.Replace:
		return "Replacing"
	case executor.Delete:
		if addr.Kind == lang.KindScenario {
			return "Removing from state"
		}
		return "Destroying"
	case executor.Run:
		return "Running"
	}
	return "Refreshing"
}

func noun(a executor.Action) string {
	switch a {
	case executor.Create:
		return "Creation"
	case executor.Update:
		return "Modification"
	case executor.Replace:
		return "Replacement"
	case executor.Delete:
		return "Destruction"
	case executor.Run:
		return "Run"
	}
	return "Refresh"
}

// StepStart reports a step that starts sending requests.
func (p *Progress) StepStart(scenario lang.Addr, step executor.StepInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.steps[stepKey{scenario, step.Index}] = &stepProgress{info: step, start: now, lastDraw: now}
	warm := ""
	if step.Warmup > 0 {
		warm = fmt.Sprintf(" after %d warm-up", step.Warmup)
	}
	p.linef("%s: %s %s: %d requests%s", scenario, step.Server, step.Label, step.Requests, warm)
}

// RequestDone counts a finished request and redraws the status line when
// it is time to.
func (p *Progress) RequestDone(scenario lang.Addr, step executor.StepInfo, rec *workload.Record) {
	if rec.Warmup {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.steps[stepKey{scenario, step.Index}]
	if s == nil {
		return
	}
	s.done++
	if !rec.OK() {
		s.failed++
	} else {
		s.outTokens += rec.OutputTokens
	}
	now := p.now()
	interval := PlainInterval
	if p.terminal {
		interval = redrawInterval
	}
	if now.Sub(s.lastDraw) < interval {
		return
	}
	s.lastDraw = now
	elapsed := now.Sub(s.start)
	line := fmt.Sprintf("  %d/%d requests, %d failed, %s elapsed, %.0f output tok/s", s.done, s.info.Requests, s.failed, elapsed.Round(100*time.Millisecond), float64(s.outTokens)/elapsed.Seconds())
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	p.linef("%s", line)
}

// StepDone reports a finished step with its headline figures.
func (p *Progress) StepDone(scenario lang.Addr, step executor.StepInfo, s executor.StepSummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	delete(p.steps, stepKey{scenario, step.Index})
	p.linef("  %d ok, %d failed in %.1fs: %.2f req/s, %.1f output tok/s, TTFT p50 %.1f ms",
		s.Completed, s.Failed, s.DurationSeconds, s.RequestThroughput, s.OutputThroughput, s.Latency[executor.LatencyKey("median", "ttft")])
}
