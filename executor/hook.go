package executor

import (
	"time"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// Hook is told what an apply is doing, for progress display. Calls come from
// many goroutines at once; RequestDone comes once per request, so it must be
// cheap.
type Hook interface {
	// PreApply is called before a resource's action starts.
	PreApply(addr lang.Addr, action Action)
	// PostApply is called when it ends; err is nil on success.
	PostApply(addr lang.Addr, action Action, err error)
	// StepStart is called when a scenario step starts sending requests.
	StepStart(scenario lang.Addr, step StepInfo)
	// RequestDone is called for every finished request, warm-up included.
	RequestDone(scenario lang.Addr, step StepInfo, rec *workload.Record)
	// StepDone is called when a step has finished, with its summary.
	StepDone(scenario lang.Addr, step StepInfo, summary StepSummary)
	// Warn is called with something the user should know about a
	// resource's results, such as a client that fell behind.
	Warn(addr lang.Addr, msg string)
	// Progress is called during a long provider call, such as the wait
	// for a pod's server to answer, every few seconds.
	Progress(addr lang.Addr, msg string)
}

// StepInfo identifies one step of a scenario run.
type StepInfo struct {
	Index  int
	Server lang.Addr
	Label  string // "concurrency=4", "rate=5", "rate=inf"
	// Concurrency is a closed loop's; Rate and MaxConcurrency an open
	// loop's.
	Concurrency    int
	Rate           float64
	MaxConcurrency int
	// Requests or Duration bounds the step.
	Requests int
	Duration time.Duration
	Warmup   int
	// Repeat counts, from 1, the repeats of a step that runs Repeats
	// times in a row; both are 0 for a step that runs once.
	Repeat, Repeats int
}

// NopHook ignores everything.
type NopHook struct{}

// PreApply does nothing.
func (NopHook) PreApply(lang.Addr, Action) {}

// PostApply does nothing.
func (NopHook) PostApply(lang.Addr, Action, error) {}

// StepStart does nothing.
func (NopHook) StepStart(lang.Addr, StepInfo) {}

// RequestDone does nothing.
func (NopHook) RequestDone(lang.Addr, StepInfo, *workload.Record) {}

// StepDone does nothing.
func (NopHook) StepDone(lang.Addr, StepInfo, StepSummary) {}

// Warn does nothing.
func (NopHook) Warn(lang.Addr, string) {}

// Progress does nothing.
func (NopHook) Progress(lang.Addr, string) {}
