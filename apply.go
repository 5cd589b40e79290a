package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/term"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/report"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/local"
	"github.com/benchform/benchform/providers/openai"
	"github.com/benchform/benchform/providers/runpod"
	"github.com/benchform/benchform/providers/simulated"
	"github.com/benchform/benchform/state"
)

// operation holds the options plan, apply and destroy share.
type operation struct {
	name        string // "plan", "apply" or "destroy"
	dir         string
	statePath   string
	vars        varFlags
	targets     stringList
	replace     stringList
	destroy     bool
	autoApprove bool
	parallelism int
	lockTimeout time.Duration
	out         string // plan -out
	detailed    bool   // plan -detailed-exitcode
	keepExpired bool
	report      string // apply -report
	json        bool   // -json: the machine-readable UI on standard output
	saved       *executor.SavedPlan
}

func (c *cli) plan(args []string) int {
	op := &operation{name: "plan"}
	fs := c.newFlagSet("plan", "plan [DIR] [options]")
	c.operationFlags(fs, op)
	fs.BoolVar(&op.destroy, "destroy", false, "plan the destruction of everything in state")
	fs.StringVar(&op.out, "out", "", "save the plan to a file that apply can execute")
	fs.BoolVar(&op.detailed, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	if code, ok := c.parseOperation(fs, op, args); !ok {
		return code
	}
	return c.runOperation(op)
}

func (c *cli) apply(args []string) int {
	op := &operation{name: "apply"}
	fs := c.newFlagSet("apply", "apply [DIR|PLAN] [options]")
	c.operationFlags(fs, op)
	fs.BoolVar(&op.autoApprove, "auto-approve", false, "apply without asking for confirmation")
	fs.IntVar(&op.parallelism, "parallelism", executor.DefaultParallelism, "apply at most this many resources at once")
	fs.StringVar(&op.report, "report", "", "write the HTML report of the runs this apply makes to this file")
	if code, ok := c.parseOperation(fs, op, args); !ok {
		return code
	}
	if info, err := os.Stat(op.dir); err == nil && !info.IsDir() {
		saved, err := executor.ReadSavedPlan(op.dir)
		if err != nil {
			return c.errorf("%s", err)
		}
		if len(op.vars.args) > 0 || len(op.targets) > 0 || len(op.replace) > 0 {
			return c.errorf("a saved plan carries its own -var, -target and -replace; they cannot be given again")
		}
		op.saved = saved
		op.dir, op.destroy = saved.Dir, saved.Destroy
		op.targets, op.replace = saved.Targets, saved.Replace
		op.vars.args = saved.Vars
		if op.statePath == "" && c.statePath == "" {
			op.statePath = saved.State
		}
	}
	return c.runOperation(op)
}

func (c *cli) destroy(args []string) int {
	op := &operation{name: "destroy", destroy: true}
	fs := c.newFlagSet("destroy", "destroy [DIR] [options]")
	c.operationFlags(fs, op)
	fs.BoolVar(&op.autoApprove, "auto-approve", false, "destroy without asking for confirmation")
	fs.IntVar(&op.parallelism, "parallelism", executor.DefaultParallelism, "destroy at most this many resources at once")
	if code, ok := c.parseOperation(fs, op, args); !ok {
		return code
	}
	return c.runOperation(op)
}

func (c *cli) operationFlags(fs *flag.FlagSet, op *operation) {
	op.vars.register(fs)
	fs.StringVar(&op.statePath, "state", "", "state file (default: benchform.db in the configuration directory)")
	fs.Var(&op.targets, "target", "limit the operation to this resource and what it depends on (repeatable)")
	if op.name != "destroy" {
		fs.Var(&op.replace, "replace", "replace this pod or server, or run this scenario, even if unchanged (repeatable)")
	}
	fs.DurationVar(&op.lockTimeout, "lock-timeout", 0, "wait this long for the state lock (default: fail at once)")
	fs.BoolVar(&op.json, "json", false, "write the machine-readable UI, one JSON message per line, to standard output")
	if op.name != "destroy" {
		fs.BoolVar(&op.keepExpired, "keep-expired", false, "keep pods that are past their ttl instead of destroying them")
	}
}

func (c *cli) parseOperation(fs *flag.FlagSet, op *operation, args []string) (int, bool) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitError, false
	}
	if op.json {
		c.ui = report.NewJSONUI(c.stdout, uiNow)
		c.ui.Version(version)
	}
	switch len(pos) {
	case 0:
		op.dir = "."
	case 1:
		op.dir = pos[0]
	default:
		return c.errorf("%s takes one directory, got %s", op.name, strings.Join(pos, " ")), false
	}
	if fs.Lookup("parallelism") != nil && op.parallelism < 1 {
		return c.errorf("-parallelism must be at least 1, not %d", op.parallelism), false
	}
	return 0, true
}

// runOperation plans and, for apply and destroy, applies: load, lock,
// refresh and diff, show, confirm, apply, report.
func (c *cli) runOperation(op *operation) int {
	if c.ui != nil && op.name != "plan" && op.saved == nil && !op.autoApprove {
		// Nobody can answer a question asked in the middle of a stream
		// that a program reads, so it is not asked, as in Terraform.
		c.printDiags(nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Plan file or auto-approve required",
			Detail:   fmt.Sprintf("benchform cannot ask for confirmation when -json is set. Run %s with -auto-approve, or apply a plan saved with plan -out.", op.name),
		}})
		return exitError
	}
	targets, err := addrList(op.targets)
	if err != nil {
		return c.errorf("-target: %s", err)
	}
	replace, err := addrList(op.replace)
	if err != nil {
		return c.errorf("-replace: %s", err)
	}

	cfg, files, ok := c.operationConfig(op)
	if !ok {
		return exitError
	}
	c.useStateBlock(cfg, op.dir)

	statePath := c.stateFile(op.statePath, op.dir)
	store, err := c.openStore(statePath, false)
	if err != nil {
		return c.errorf("%s", err)
	}
	defer store.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lock, err := store.Lock(ctx, op.name, op.lockTimeout)
	if err != nil {
		return c.errorf("%s", err)
	}
	defer func() {
		if err := lock.Unlock(); err != nil {
			c.errorf("release the state lock: %s", err)
		}
	}()
	if lock.Recovered != nil {
		c.warnf("took over the state lock of process %d on %s (%s since %s), which no longer runs.",
			lock.Recovered.PID, lock.Recovered.Host, lock.Recovered.Operation, lock.Recovered.Since.Format(time.RFC3339))
	}
	if n, err := executor.ReconcileRuns(store, time.Now()); err != nil {
		return c.errorf("%s", err)
	} else if n > 0 {
		c.notef("%d run(s) left unfinished by an earlier process are marked interrupted.", n)
	}

	provs, err := newProviders(cfg, localStateDir(statePath, op.dir))
	if err != nil {
		return c.errorf("%s", err)
	}
	defer func() {
		if err := closeProviders(provs); err != nil {
			c.errorf("%s", err)
		}
	}()

	interrupt, cleanup, stopSignals := c.interruptContexts()
	defer stopSignals()

	var hook executor.Hook = c.ui
	closeProgress := func() {}
	if c.ui == nil {
		progress := report.NewProgress(c.stderr, false)
		if c.terminal != nil {
			progress = report.NewProgress(c.terminal, true)
		}
		hook, closeProgress = progress, progress.Close
	}
	defer closeProgress()
	ex := executor.New(executor.Options{
		Config:         cfg,
		State:          store,
		Providers:      provs,
		Targets:        targets,
		Replace:        replace,
		Destroy:        op.destroy,
		KeepExpired:    op.keepExpired,
		Parallelism:    op.parallelism,
		Hook:           hook,
		CleanupContext: cleanup,
		Version:        version,
	})
	plan, diags := ex.Plan(interrupt)
	if c.printDiags(files, diags) {
		return exitError
	}
	if op.saved != nil {
		if same, why := plan.SameAs(op.saved); !same {
			return c.errorf("the saved plan is stale: %s. Run plan again.", why)
		}
	}
	if c.ui != nil {
		c.ui.Plan(plan)
	} else if err := report.Plan(c.stdout, plan); err != nil {
		return c.errorf("%s", err)
	}

	if op.name == "plan" {
		return c.finishPlan(op, plan, cfg, statePath)
	}
	if !plan.HasChanges() && !plan.HasRefreshes() {
		if c.ui != nil {
			c.ui.ChangeSummary(operationName(op), report.ChangeCounts{}, applySummary(op, &executor.Result{}))
		}
		if op.name == "apply" && len(cfg.Checks) > 0 && c.runChecks(cfg, store, nil) {
			return exitError
		}
		return exitOK
	}
	if plan.HasChanges() && op.saved == nil && !op.autoApprove {
		if code, ok := c.confirm(op); !ok {
			return code
		}
	}

	result, diags := ex.Apply(interrupt, plan)
	closeProgress()
	failed := c.printDiags(files, diags)
	if c.ui != nil {
		// Every step's results went out with its step_complete.
		c.ui.Outputs(result.Outputs)
	} else {
		c.printRuns(store, result.Runs)
		c.printOutputs(result)
	}
	if op.report != "" && len(result.Runs) > 0 {
		ids := make([]int64, len(result.Runs))
		for i, r := range result.Runs {
			ids[i] = r.ID
		}
		if err := c.writeReport(store, ids, op.report); err != nil {
			c.errorf("%s", err)
			failed = true
		}
	}
	if result.Interrupted {
		interrupted := fmt.Sprintf("Interrupted: what finished is recorded in %s; run %s again to finish.", store.Path(), op.name)
		if c.ui != nil {
			c.ui.Error(interrupted)
		} else {
			fmt.Fprintf(c.stderr, "\n%s\n", interrupted)
		}
		return exitError
	}
	if failed {
		return exitError
	}
	if c.ui != nil {
		c.ui.ChangeSummary(operationName(op), report.AppliedCounts(result), applySummary(op, result))
	} else {
		fmt.Fprintf(c.stdout, "\n%s\n", applySummary(op, result))
	}
	if op.name == "apply" && len(cfg.Checks) > 0 && c.runChecks(cfg, store, nil) {
		return exitError
	}
	return exitOK
}

// operationConfig loads the configuration an operation works on. Destroy
// works from state alone when the configuration directory has no files.
func (c *cli) operationConfig(op *operation) (*lang.Config, map[string]*hcl.File, bool) {
	if op.destroy && op.name != "plan" {
		if files, err := lang.ConfigFiles(op.dir); err != nil || len(files) == 0 {
			return nil, nil, true
		}
	}
	cfg := c.loadConfig(op.dir, lang.LoadOptions{Vars: op.vars.args})
	if cfg == nil {
		return nil, nil, false
	}
	return cfg, cfg.Files(), true
}

func (c *cli) finishPlan(op *operation, plan *executor.Plan, cfg *lang.Config, statePath string) int {
	if op.out != "" {
		if err := c.savePlan(op, plan, cfg, statePath); err != nil {
			return c.errorf("save plan: %s", err)
		}
		c.sayf("Saved the plan to %s. Apply exactly this plan with:\n  benchform apply %s", op.out, op.out)
	}
	if op.detailed && plan.HasChanges() {
		return exitChanges
	}
	return exitOK
}

// savePlan writes what apply needs to make the same plan again. Values of
// sensitive variables are not saved: apply reads them again from the
// environment.
func (c *cli) savePlan(op *operation, plan *executor.Plan, cfg *lang.Config, statePath string) error {
	dir, err := filepath.Abs(op.dir)
	if err != nil {
		return err
	}
	// A PostgreSQL state is saved without its password, which apply
	// then takes from PGPASSWORD, PGPASSFILE or -state.
	absState := state.Redact(statePath)
	if !state.IsPostgres(statePath) {
		if absState, err = filepath.Abs(statePath); err != nil {
			return err
		}
	}
	var vars []lang.VarArg
	for _, v := range op.vars.args {
		if v.File == "" {
			if decl := cfg.Variables[v.AssignedName()]; decl != nil && decl.Sensitive {
				continue
			}
		} else if abs, err := filepath.Abs(v.File); err == nil {
			v.File = abs
		}
		vars = append(vars, v)
	}
	return executor.WriteSavedPlan(op.out, &executor.SavedPlan{
		Format:  executor.SavedPlanFormat,
		Dir:     dir,
		State:   absState,
		Lineage: plan.Lineage,
		Serial:  plan.Serial,
		Destroy: op.destroy,
		Targets: op.targets,
		Replace: op.replace,
		Vars:    vars,
		Changes: plan.Fingerprint(),
	})
}

// confirm asks for "yes" on a terminal, as Terraform does. Without a
// terminal nobody can answer, so the operation is refused rather than
// assumed.
func (c *cli) confirm(op *operation) (int, bool) {
	question := "Do you want to perform these actions?"
	if op.destroy {
		question = "Do you really want to destroy everything listed above?"
	}
	return c.ask(op.name, question, "-auto-approve")
}

// ask asks the question of a command and wants "yes" on a terminal;
// without one it refuses, naming the flag that proceeds without asking.
func (c *cli) ask(command, question, flag string) (int, bool) {
	f, isFile := c.stdin.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return c.errorf("%s needs confirmation, and standard input is not a terminal; run it with %s to proceed without asking", command, flag), false
	}
	fmt.Fprintf(c.stdout, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
	answer, _ := bufio.NewReader(c.stdin).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		fmt.Fprintf(c.stdout, "\n%s cancelled.\n", strings.ToUpper(command[:1])+command[1:])
		return exitError, false
	}
	return 0, true
}

// interruptContexts implements the two-stage interrupt: the first signal
// cancels interrupt (requests stop, nothing new starts, what finished is
// recorded); the second cancels cleanup too, abandoning the work that
// records results and stops what was started.
func (c *cli) interruptContexts() (interrupt, cleanup context.Context, stop func()) {
	interrupt, cancelInterrupt := context.WithCancel(context.Background())
	cleanup, cancelCleanup := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintln(c.stderr, "\nInterrupt received: stopping requests and recording what finished. Interrupt again to abandon cleanup.")
		cancelInterrupt()
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintln(c.stderr, "\nSecond interrupt: abandoning cleanup. Run plan to see what state holds.")
		cancelCleanup()
	}()
	return interrupt, cleanup, func() {
		signal.Stop(signals)
		close(done)
		cancelInterrupt()
		cancelCleanup()
	}
}

// providerSchemas are the providers whose blocks configurations may hold,
// registered with the language before anything is loaded.
var providerSchemas = map[string]providers.Schema{
	"runpod": runpod.Schema,
	"local":  local.Schema,
}

func init() {
	for name, s := range providerSchemas {
		lang.RegisterProvider(name, s)
	}
}

// newProviders returns every provider, configured from the configuration's
// provider blocks (cfg may be nil: destroy works from state alone) and the
// environment.
func newProviders(cfg *lang.Config, localDir string) (map[string]providers.Provider, error) {
	rp, err := runpodSettings(cfg)
	if err != nil {
		return nil, err
	}
	return map[string]providers.Provider{
		"simulated": simulated.New(),
		"openai":    openai.New(),
		"runpod":    runpod.New(rp),
		"local":     local.New(local.Settings{StateDir: localDir}),
	}, nil
}

// localStateDir is where logs of servers started on this machine live:
// beside the state file, which outlives any one configuration directory,
// or in the configuration directory when the state is in PostgreSQL.
func localStateDir(statePath, configDir string) string {
	if state.IsPostgres(statePath) {
		return filepath.Join(configDir, ".benchform")
	}
	return filepath.Join(filepath.Dir(statePath), ".benchform")
}

// runpodSettings configures the runpod provider from its block (cfg may
// be nil: destroy works from state alone) and the environment.
func runpodSettings(cfg *lang.Config) (runpod.Settings, error) {
	block := cty.NilVal
	if cfg != nil {
		v, diags := cfg.DecodeProvider("runpod")
		if diags.HasErrors() {
			return runpod.Settings{}, diags
		}
		block = v
	}
	s, err := runpod.Configure(block)
	if err != nil {
		return runpod.Settings{}, err
	}
	if tuneRunpod != nil {
		tuneRunpod(&s)
	}
	return s, nil
}

// tuneRunpod lets tests shorten the runpod provider's polling and backoff,
// which are paced for the real service; it is nil in the benchform binary.
var tuneRunpod func(*runpod.Settings)

// closeProviders stops whatever providers keep running for the process,
// such as simulated servers.
func closeProviders(provs map[string]providers.Provider) error {
	var result error
	names := make([]string, 0, len(provs))
	for n := range provs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if closer, ok := provs[n].(io.Closer); ok {
			if err := closer.Close(); err != nil {
				result = multierror.Append(result, multierror.Prefix(err, n+" provider:"))
			}
		}
	}
	return result
}

func applySummary(op *operation, r *executor.Result) string {
	n := report.AppliedCounts(r)
	if op.destroy {
		return fmt.Sprintf("Destroy complete! Resources: %d destroyed.", n.Remove)
	}
	return fmt.Sprintf("Apply complete! Resources: %d added, %d changed, %d destroyed; %d %s run.",
		n.Add, n.Change, n.Remove, n.Run, pluralWord(n.Run, "scenario", "scenarios"))
}

// operationName is what a change_summary calls the operation: a saved
// destroy plan applied is a destroy.
func operationName(op *operation) string {
	if op.destroy && op.name != "plan" {
		return "destroy"
	}
	return op.name
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
