package report

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
)

// Progress reports an apply as it happens. Events (a resource created, a
// step finished) are lines; while scenario steps run, a terminal shows one
// live bar per step — requests done of total, failures, current output
// tokens per second, elapsed and remaining time — and any other writer
// gets a plain line every PlainInterval. It is meant for standard error,
// so that standard output stays clean for results. Close must be called
// when the apply ends.
type Progress struct {
	w        io.Writer
	terminal bool
	now      func() time.Time

	mu      sync.Mutex
	bars    *mpb.Progress // terminal only, created with the first step
	started map[lang.Addr]time.Time
	steps   map[stepKey]*stepProgress
}

// PlainInterval is how often a running step reports when the output is
// not a terminal.
const PlainInterval = 5 * time.Second

// rateWindow is the span over which the live output token rate is
// measured: long enough to smooth bursts, short enough to follow changes.
const rateWindow = 2 * time.Second

type stepKey struct {
	scenario lang.Addr
	index    int
}

type stepProgress struct {
	info      executor.StepInfo
	name      string
	start     time.Time
	lastPlain time.Time
	bar       *mpb.Bar
	done      atomic.Int64
	failed    atomic.Int64
	cutOff    atomic.Int64
	outTokens atomic.Int64
	rate      tokenRate
}

// count adds a finished measured request to the step's figures.
func (sp *stepProgress) count(now time.Time, rec *workload.Record) {
	sp.done.Add(1)
	switch {
	case workload.IsCutOff(rec.Err):
		// Neither a result nor the server's failure, as in the summary.
		sp.cutOff.Add(1)
	case !rec.OK():
		sp.failed.Add(1)
	default:
		sp.outTokens.Add(int64(rec.OutputTokens))
		sp.rate.add(now, int64(rec.OutputTokens))
	}
}

// tokenRate measures output tokens per second over the last rateWindow, in
// buckets of a tenth of it.
type tokenRate struct {
	mu      sync.Mutex
	buckets [10]int64
	stamps  [10]time.Time
}

func (r *tokenRate) add(now time.Time, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slot := now.Truncate(rateWindow / 10)
	i := int(slot.UnixNano()/int64(rateWindow/10)) % len(r.buckets)
	if !r.stamps[i].Equal(slot) {
		r.stamps[i], r.buckets[i] = slot, 0
	}
	r.buckets[i] += n
}

func (r *tokenRate) perSecond(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum int64
	for i, t := range r.stamps {
		if now.Sub(t) < rateWindow {
			sum += r.buckets[i]
		}
	}
	return float64(sum) / rateWindow.Seconds()
}

var _ executor.Hook = (*Progress)(nil)

// NewProgress returns a Progress writing to w; terminal selects live bars.
func NewProgress(w io.Writer, terminal bool) *Progress {
	return &Progress{w: w, terminal: terminal, now: time.Now, started: map[lang.Addr]time.Time{}, steps: map[stepKey]*stepProgress{}}
}

// Close stops the live display, waiting for it to draw its last frame.
func (p *Progress) Close() {
	p.mu.Lock()
	bars := p.bars
	p.bars = nil
	p.mu.Unlock()
	if bars != nil {
		bars.Shutdown()
	}
}

// linef prints an event line; while bars are drawn it goes above them.
// Messages carry what servers and providers said, so the line is cleaned:
// on a terminal it goes around the writer that cleans everything else.
// The caller holds p.mu.
func (p *Progress) linef(format string, args ...any) {
	line := safetext.Line(fmt.Sprintf(format, args...)) + "\n"
	if p.bars != nil {
		if _, err := p.bars.Write([]byte(line)); err == nil {
			return
		}
	}
	io.WriteString(p.w, line)
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
	n := noun(action, addr)
	if err != nil {
		p.linef("%s: %s failed after %s", addr, n, elapsed)
		return
	}
	p.linef("%s: %s complete after %s", addr, n, elapsed)
}

// Warn reports something the user should know about results.
func (p *Progress) Warn(addr lang.Addr, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.linef("Warning: %s: %s", addr, msg)
}

// Progress reports how a long provider call is going.
func (p *Progress) Progress(addr lang.Addr, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.linef("%s: %s", addr, msg)
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

// noun names the action that ended: "Creation", or "Removal" for a
// scenario taken out of state, whose runs stay.
func noun(a executor.Action, addr lang.Addr) string {
	switch a {
	case executor.Create:
		return "Creation"
	case executor.Update:
		return "Modification"
	case executor.Replace:
		return "Replacement"
	case executor.Delete:
		if addr.Kind == lang.KindScenario {
			return "Removal"
		}
		return "Destruction"
	case executor.Run:
		return "Run"
	}
	return "Refresh"
}

func stepSize(step executor.StepInfo) string {
	if step.Duration > 0 {
		return "for " + step.Duration.String()
	}
	return fmt.Sprintf("%d requests", step.Requests)
}

// StepStart reports a step that starts sending requests and, on a
// terminal, adds its bar.
func (p *Progress) StepStart(scenario lang.Addr, step executor.StepInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	label := step.Label
	if step.Repeats > 1 {
		label += fmt.Sprintf(" (repeat %d of %d)", step.Repeat, step.Repeats)
	}
	sp := &stepProgress{info: step, name: fmt.Sprintf("%s %s %s", scenario, step.Server, label), start: now, lastPlain: now}
	p.steps[stepKey{scenario, step.Index}] = sp
	warm := ""
	if step.Warmup > 0 {
		warm = fmt.Sprintf(" after %d warm-up", step.Warmup)
	}
	p.linef("%s: %s %s: %s%s", scenario, step.Server, label, stepSize(step), warm)
	if !p.terminal {
		return
	}
	if p.bars == nil {
		p.bars = mpb.New(mpb.WithOutput(p.w), mpb.WithWidth(24), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	}
	// A step bounded by time counts milliseconds; one bounded by requests
	// counts requests.
	total := int64(step.Requests)
	counter := decor.CountersNoUnit("%d/%d")
	if step.Duration > 0 {
		total = step.Duration.Milliseconds()
		counter = decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%d requests", sp.done.Load()) })
	}
	sp.bar = p.bars.AddBar(total,
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(sp.name+" ", decor.WCSyncSpaceR), counter),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string {
				return fmt.Sprintf(" %d failed, %.0f tok/s", sp.failed.Load(), sp.rate.perSecond(time.Now()))
			}),
			decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6}),
			decor.Name(" eta "),
			decor.AverageETA(decor.ET_STYLE_GO),
		),
	)
}

// RequestDone counts a finished request: it moves the step's bar on a
// terminal, and writes a line when one is due otherwise.
func (p *Progress) RequestDone(scenario lang.Addr, step executor.StepInfo, rec *workload.Record) {
	if rec.Warmup {
		return
	}
	p.mu.Lock()
	sp := p.steps[stepKey{scenario, step.Index}]
	p.mu.Unlock()
	if sp == nil {
		return
	}
	now := p.now()
	sp.count(now, rec)
	if sp.bar != nil {
		if step.Duration > 0 {
			sp.bar.SetCurrent(min(now.Sub(sp.start).Milliseconds(), step.Duration.Milliseconds()-1))
		} else {
			sp.bar.Increment()
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(sp.lastPlain) < PlainInterval {
		return
	}
	sp.lastPlain = now
	elapsed := now.Sub(sp.start)
	p.linef("  %d/%s, %d failed, %s elapsed, %.0f output tok/s", sp.done.Load(), stepSize(step), sp.failed.Load(), elapsed.Round(100*time.Millisecond), sp.rate.perSecond(now))
}

// StepDone ends a step's bar and reports its headline figures.
func (p *Progress) StepDone(scenario lang.Addr, step executor.StepInfo, s executor.StepSummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := stepKey{scenario, step.Index}
	if sp := p.steps[key]; sp != nil && sp.bar != nil {
		sp.bar.SetTotal(-1, true)
		sp.bar.Wait()
	}
	delete(p.steps, key)
	load := ""
	if s.RequestRate != 0 {
		load = fmt.Sprintf(" (sent at %.2f/s of %s/s)", s.AchievedRate, s.RequestRate)
	}
	cutOff := ""
	if s.CutOff > 0 {
		cutOff = fmt.Sprintf(", %d cut off", s.CutOff)
	}
	p.linef("  %d ok, %d failed%s in %.1fs%s: %.2f req/s, %.1f output tok/s, TTFT p50 %.1f ms",
		s.Completed, s.Failed, cutOff, s.DurationSeconds, load, s.RequestThroughput, s.OutputThroughput, s.Latency[executor.LatencyKey("median", "ttft")])
}
