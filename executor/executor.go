package executor

import (
	"context"
	"time"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/state"
)

// Options configure plans and applies. The zero value of each field means
// its default.
type Options struct {
	// Config is the loaded configuration; nil plans the destruction of
	// everything in state, which is how destroy works once the
	// configuration is gone.
	Config *lang.Config
	State  *state.Store
	// Providers by the name resources use: "simulated", "openai", …
	Providers map[string]providers.Provider

	// Targets limit the plan to these resources and what they depend on
	// (for destroy: and what depends on them).
	Targets []lang.Addr
	// Replace forces these resources to be replaced, or scenarios to run.
	Replace []lang.Addr
	// Destroy plans the destruction of every resource in state.
	Destroy bool
	// KeepExpired keeps pods past their ttl instead of planning their
	// destruction.
	KeepExpired bool

	// Parallelism caps the resources applied at once; 0 means 10.
	Parallelism int
	// Hook is told of progress; nil means silence.
	Hook Hook
	// CleanupContext bounds the work that records what happened and stops
	// what was started after the apply's own context is cancelled (the
	// first Ctrl-C). It is cancelled by a second Ctrl-C; nil means it is
	// never cancelled.
	CleanupContext context.Context
	// Now is the clock for state timestamps; nil means time.Now.
	Now func() time.Time
	// Version is benchform's own, recorded in every run's manifest.
	Version string
}

// DefaultParallelism is the number of resources applied at once.
const DefaultParallelism = 10

// Executor plans and applies one configuration against one state.
type Executor struct {
	opts Options
}

// New returns an executor.
func New(opts Options) *Executor {
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.Hook == nil {
		opts.Hook = NopHook{}
	}
	if opts.CleanupContext == nil {
		opts.CleanupContext = context.Background()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Executor{opts: opts}
}

func (e *Executor) now() time.Time { return e.opts.Now().UTC() }
