// Command benchform benchmarks LLM inference servers from a declarative
// configuration: plan what changes, apply it (rent pods, start servers, run
// measured streaming workloads), and destroy what was made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/benchform/benchform/executor/report"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers/runpod"
	"github.com/benchform/benchform/state"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2 // plan -detailed-exitcode: the plan has changes
	exitFormat  = 3 // fmt -check: a file is not formatted
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runpod.Version = version
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Usage: benchform [-chdir=DIR] COMMAND [options] [args]

Commands:
  validate [DIR]          check the configuration
  fmt [DIR]               rewrite configuration files in canonical style
  plan [DIR]              show what apply would do
  apply [DIR|PLAN]        create what the configuration declares and run its scenarios
  destroy [DIR]           destroy everything recorded in state
  show                    show the state and the latest results
  state list|show|rm      inspect or edit the state
  runs [SCENARIO]         list scenario runs
  results [RUN]           show a run's results as a table, CSV or JSON
  compare [RUN_A RUN_B]   compare two runs (default: a scenario's last two), change against noise
  check [RUN...]          evaluate the configuration's checks against the runs in state
  report [RUN...]         write a self-contained HTML report with charts
  force-unlock LOCK_ID    release a state lock left by a process that is gone
  simulate                run the built-in simulated server on its own
  version                 print the version

Run "benchform COMMAND -h" for the options of a command.
`

// cli carries what every command needs: its streams and global options.
type cli struct {
	stdin io.Reader
	// stdout and stderr escape control characters, so that nothing a
	// server or a file supplied acts on the terminal.
	stdout, stderr io.Writer
	// terminal is standard error as given, for live progress bars, which
	// draw with escape sequences, and for the terminal's width; nil when
	// standard error is not a terminal.
	terminal  *os.File
	statePath string // -state given before the command; "" when not
	// workspace is the PostgreSQL state's workspace: -workspace, else
	// BENCHFORM_WORKSPACE, else the default.
	workspace string
	// blockState and blockSchema are what the configuration's state block
	// says, when the command line and the environment say nothing.
	blockState, blockSchema string
	// ui, set by plan, apply and destroy under -json, takes every message
	// that would otherwise be text on standard output or standard error.
	ui *report.JSONUI
}

// uiNow stamps the messages of the machine-readable UI; tests fix it so
// that their streams compare with golden files.
var uiNow = time.Now

// run is the whole program behind main, callable from tests: it parses
// args, runs a command and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: safetext.NewWriter(stdout), stderr: safetext.NewWriter(stderr)}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.terminal = f
	}
	stdout, stderr = c.stdout, c.stderr
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch name {
		case "h", "help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case "version":
			fmt.Fprintf(stdout, "benchform %s\n", version)
			return exitOK
		case "chdir", "state", "workspace":
			if !hasValue {
				if len(args) < 2 {
					fmt.Fprintf(stderr, "Error: -%s needs a value\n", name)
					return exitError
				}
				value, args = args[1], args[1:]
			}
			switch name {
			case "chdir":
				if err := os.Chdir(value); err != nil {
					fmt.Fprintf(stderr, "Error: -chdir: %s\n", err)
					return exitError
				}
			case "state":
				c.statePath = value
			default:
				c.workspace = value
			}
		default:
			fmt.Fprintf(stderr, "Error: unknown global option %s\n\n%s", args[0], usage)
			return exitError
		}
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmd, rest := args[0], args[1:]
	commands := map[string]func([]string) int{
		"validate":     c.validate,
		"fmt":          c.fmt,
		"plan":         c.plan,
		"apply":        c.apply,
		"destroy":      c.destroy,
		"show":         c.show,
		"state":        c.state,
		"runs":         c.runs,
		"results":      c.results,
		"compare":      c.compare,
		"check":        c.check,
		"report":       c.report,
		"force-unlock": c.forceUnlock,
		"simulate":     c.simulate,
		"version": func([]string) int {
			fmt.Fprintf(stdout, "benchform %s\n", version)
			return exitOK
		},
		"help": func([]string) int {
			fmt.Fprint(stdout, usage)
			return exitOK
		},
	}
	fn, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "Error: unknown command %q\n\n%s", cmd, usage)
		return exitError
	}
	return fn(rest)
}

// newFlagSet returns a flag set that reports errors to the command's
// standard error instead of exiting.
func (c *cli) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: benchform %s\n\nOptions:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags that may come before, between or after
// positional arguments ("results 3 -format json"), which the flag package
// alone does not allow.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// errorf prints an error with no place in a file.
func (c *cli) errorf(format string, args ...any) int {
	if c.ui != nil {
		c.ui.Error(fmt.Sprintf(format, args...))
		return exitError
	}
	fmt.Fprintf(c.stderr, "Error: "+format+"\n", args...)
	return exitError
}

// warnf prints a warning with no place in a file.
func (c *cli) warnf(format string, args ...any) {
	if c.ui != nil {
		c.ui.Warning(fmt.Sprintf(format, args...))
		return
	}
	fmt.Fprintf(c.stderr, "Warning: "+format+"\n", args...)
}

// notef prints a note beside the command's output, on standard error.
func (c *cli) notef(format string, args ...any) {
	if c.ui != nil {
		c.ui.Log("Note: " + fmt.Sprintf(format, args...))
		return
	}
	fmt.Fprintf(c.stderr, "Note: "+format+"\n", args...)
}

// sayf prints a paragraph of the command's output.
func (c *cli) sayf(format string, args ...any) {
	if c.ui != nil {
		c.ui.Log(fmt.Sprintf(format, args...))
		return
	}
	fmt.Fprintf(c.stdout, "\n"+format+"\n", args...)
}

// printDiags prints diagnostics to standard error and reports whether any
// is an error.
func (c *cli) printDiags(files map[string]*hcl.File, diags hcl.Diagnostics) bool {
	if len(diags) == 0 {
		return false
	}
	if c.ui != nil {
		c.ui.Diagnostics(files, diags)
		return diags.HasErrors()
	}
	if err := report.Diagnostics(c.stderr, files, diags, c.width()); err != nil {
		fmt.Fprintf(c.stderr, "Error: %s\n", err)
	}
	return diags.HasErrors()
}

// width is the terminal's width for wrapping diagnostics, or a fixed
// width when standard error is not a terminal, so output is stable in logs.
func (c *cli) width() uint {
	if c.terminal != nil {
		if w, _, err := term.GetSize(int(c.terminal.Fd())); err == nil && w > 20 {
			return uint(w - 1)
		}
	}
	return 78
}

// stateFile returns the state path: -state when given, else benchform.db
// in the configuration directory.
func (c *cli) stateFile(flagValue, dir string) string {
	switch {
	case flagValue != "":
		return flagValue
	case c.statePath != "":
		return c.statePath
	case os.Getenv("BENCHFORM_STATE") != "":
		return os.Getenv("BENCHFORM_STATE")
	case c.blockState != "":
		return c.blockState
	default:
		return filepath.Join(dir, "benchform.db")
	}
}

// openStore opens the state at a location, a file or a postgres:// URL:
// for reading only, or to write, creating it when missing.
func (c *cli) openStore(location string, readOnly bool) (*state.Store, error) {
	if state.IsPostgres(location) {
		ws := c.workspace
		if ws == "" {
			ws = os.Getenv("BENCHFORM_WORKSPACE")
		}
		schema := state.DefaultSchema
		if location == c.blockState && c.blockSchema != "" {
			schema = c.blockSchema
		}
		return state.OpenPostgresIn(context.Background(), location, schema, ws, readOnly)
	}
	if readOnly {
		return state.OpenReadOnly(location)
	}
	return state.Open(location)
}

// useStateBlock takes the state a configuration's state block names, a
// file relative to the configuration or a PostgreSQL database, for when
// neither -state nor BENCHFORM_STATE says.
func (c *cli) useStateBlock(cfg *lang.Config, dir string) {
	if cfg == nil {
		return
	}
	spec, diags := cfg.State()
	if diags.HasErrors() || spec == nil {
		return
	}
	switch {
	case spec.Backend == "postgres":
		c.blockState, c.blockSchema = spec.Conn, spec.Schema
	case spec.Path != "":
		c.blockState = spec.Path
		if !filepath.IsAbs(spec.Path) {
			c.blockState = filepath.Join(dir, spec.Path)
		}
	}
}

// loadConfig loads a configuration directory and prints its diagnostics.
// It returns nil when there are errors.
func (c *cli) loadConfig(dir string, opts lang.LoadOptions) *lang.Config {
	cfg, diags := lang.Load(dir, opts)
	if c.printDiags(cfg.Files(), diags) {
		return nil
	}
	return cfg
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// varFlags collects -var and -var-file in the order given, since a later
// one wins.
type varFlags struct {
	args []lang.VarArg
}

func (v *varFlags) register(fs *flag.FlagSet) {
	fs.Func("var", "set a variable: -var name=value (repeatable)", func(s string) error {
		v.args = append(v.args, lang.VarArg{Assignment: s})
		return nil
	})
	fs.Func("var-file", "set variables from an HCL file of name = value lines (repeatable)", func(s string) error {
		v.args = append(v.args, lang.VarArg{File: s})
		return nil
	})
}

// addrList parses -target and -replace values.
func addrList(values []string) ([]lang.Addr, error) {
	var out []lang.Addr
	var errs []error
	for _, v := range values {
		a, err := lang.ParseAddr(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}
