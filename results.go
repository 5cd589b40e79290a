package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/report"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/state"
)

// printRuns prints the results table of each run an apply started.
func (c *cli) printRuns(store *state.Store, runs []executor.RunRef) {
	for _, r := range runs {
		rr, err := executor.LoadRun(store, r.ID, false)
		if err != nil {
			c.errorf("%s", err)
			continue
		}
		fmt.Fprintln(c.stdout)
		if err := report.ResultsTable(c.stdout, rr); err != nil {
			c.errorf("%s", err)
		}
	}
}

func (c *cli) printOutputs(r *executor.Result) {
	if len(r.Outputs) == 0 {
		return
	}
	names := make([]string, 0, len(r.Outputs))
	for n := range r.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(c.stdout, "\nOutputs:")
	for _, n := range names {
		v := r.Outputs[n]
		fmt.Fprintf(c.stdout, "  %s = %s\n", n, report.FormatValue(v, 2))
	}
}

// openState opens an existing state file: read-only for a command that
// only reads it, which then works on a state it may not write. No command
// that opens state this way creates one.
func (c *cli) openState(flagValue string, write bool) (*state.Store, bool) {
	if flagValue == "" && c.statePath == "" && os.Getenv("BENCHFORM_STATE") == "" && c.blockState == "" {
		// The configuration here may say where its state lives; one
		// that does not load says nothing.
		if files, _ := lang.ConfigFiles("."); len(files) > 0 {
			if cfg, diags := lang.Load(".", lang.LoadOptions{AllowUnset: true}); !diags.HasErrors() {
				c.useStateBlock(cfg, ".")
			}
		}
	}
	path := c.stateFile(flagValue, ".")
	var store *state.Store
	var err error
	_, statErr := os.Stat(path)
	switch {
	case write && !state.IsPostgres(path) && errors.Is(statErr, fs.ErrNotExist):
		err = fmt.Errorf("no state at %s", path)
	default:
		store, err = c.openStore(path, !write)
	}
	if err != nil {
		c.errorf("%s", err)
		return nil, false
	}
	return store, true
}

func (c *cli) show(args []string) int {
	fs := c.newFlagSet("show", "show [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return flagExit(err)
	}
	store, ok := c.openState(*stateFlag, false)
	if !ok {
		return exitError
	}
	defer store.Close()
	rows, err := store.Resources()
	if err != nil {
		return c.errorf("%s", err)
	}
	outputs, err := store.Outputs()
	if err != nil {
		return c.errorf("%s", err)
	}
	var latest []executor.StoredRun
	for _, row := range rows {
		if row.Kind != string(lang.KindScenario) {
			continue
		}
		if r, found, err := store.LatestRun(row.Address); err != nil {
			return c.errorf("%s", err)
		} else if found {
			rr, err := executor.LoadRun(store, r.ID, false)
			if err != nil {
				return c.errorf("%s", err)
			}
			latest = append(latest, rr)
		}
	}

	if *asJSON {
		return c.showJSON(rows, outputs, latest)
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.stdout, "The state is empty.")
		return exitOK
	}
	for _, row := range rows {
		report.Resource(c.stdout, row)
	}
	if len(outputs) > 0 {
		fmt.Fprintln(c.stdout, "Outputs:")
		for _, name := range sortedKeys(outputs) {
			fmt.Fprintf(c.stdout, "  %s = %s\n", name, report.StoredOutput(outputs[name]))
		}
		fmt.Fprintln(c.stdout)
	}
	for _, r := range latest {
		if err := report.ResultsTable(c.stdout, r); err != nil {
			return c.errorf("%s", err)
		}
		fmt.Fprintln(c.stdout)
		if err := report.Manifest(c.stdout, r); err != nil {
			return c.errorf("%s", err)
		}
		fmt.Fprintln(c.stdout)
	}
	return exitOK
}

func (c *cli) showJSON(rows []state.Resource, outputs map[string][]byte, latest []executor.StoredRun) int {
	type resourceJSON struct {
		Address    string          `json:"address"`
		Kind       string          `json:"kind"`
		Provider   string          `json:"provider,omitempty"`
		ProviderID string          `json:"provider_id,omitempty"`
		Name       string          `json:"name,omitempty"`
		Status     string          `json:"status"`
		Attributes json.RawMessage `json:"attributes"`
	}
	res := make([]resourceJSON, 0, len(rows))
	for _, r := range rows {
		res = append(res, resourceJSON{r.Address, r.Kind, r.Provider, r.ProviderID, r.Name, r.Status, json.RawMessage(report.AttributesJSON(r.Attributes))})
	}
	outs := map[string]json.RawMessage{}
	for k, v := range outputs {
		outs[k] = json.RawMessage(v)
	}
	var buf strings.Builder
	if err := report.ResultsJSON(&buf, latest); err != nil {
		return c.errorf("%s", err)
	}
	results := json.RawMessage(buf.String())
	if err := report.WriteJSON(c.stdout, map[string]any{"resources": res, "outputs": outs, "latest_results": results}); err != nil {
		return c.errorf("%s", err)
	}
	return exitOK
}

func (c *cli) state(args []string) int {
	if len(args) == 0 {
		return c.errorf("state needs a subcommand: list, show ADDR, rm ADDR or migrate -to LOCATION")
	}
	sub, args := args[0], args[1:]
	fs := c.newFlagSet("state "+sub, "state list|show ADDR|rm ADDR|migrate -to LOCATION [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	lockTimeout := fs.Duration("lock-timeout", 0, "wait this long for the state lock (rm only)")
	to := fs.String("to", "", "migrate only: the state to copy into, a file or a postgres:// URL; it must be empty")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	store, ok := c.openState(*stateFlag, sub == "rm" || sub == "migrate")
	if !ok {
		return exitError
	}
	defer store.Close()
	switch sub {
	case "migrate":
		if *to == "" {
			return c.errorf("state migrate needs -to: the file or postgres:// URL to copy the state into")
		}
		dst, err := c.openStore(*to, false)
		if err != nil {
			return c.errorf("%s", err)
		}
		defer dst.Close()
		counts, err := store.CopyTo(context.Background(), dst)
		if err != nil {
			return c.errorf("%s", err)
		}
		fmt.Fprintf(c.stdout, "Copied %s from %s to %s; the counts agree.\n", counts, store.Path(), dst.Path())
		return exitOK
	case "list":
		rows, err := store.Resources()
		if err != nil {
			return c.errorf("%s", err)
		}
		for _, r := range rows {
			fmt.Fprintln(c.stdout, r.Address)
		}
		return exitOK
	case "show":
		if len(pos) != 1 {
			return c.errorf("state show takes one address, such as server.sim")
		}
		row, found, err := store.Resource(pos[0])
		if err != nil {
			return c.errorf("%s", err)
		}
		if !found {
			return c.errorf("the state holds no %s", pos[0])
		}
		report.Resource(c.stdout, row)
		return exitOK
	case "rm":
		if len(pos) == 0 {
			return c.errorf("state rm takes the addresses to forget")
		}
		lock, err := store.Lock(context.Background(), "state rm", *lockTimeout)
		if err != nil {
			return c.errorf("%s", err)
		}
		defer lock.Unlock()
		for _, addr := range pos {
			row, found, err := store.Resource(addr)
			if err != nil {
				return c.errorf("%s", err)
			}
			if !found {
				return c.errorf("the state holds no %s", addr)
			}
			if err := store.DeleteResource(addr); err != nil {
				return c.errorf("%s", err)
			}
			fmt.Fprintf(c.stdout, "Removed %s from state.", addr)
			if row.Kind == string(lang.KindPod) && row.ProviderID != "" {
				fmt.Fprintf(c.stdout, " The %s object %s still exists and is no longer managed by benchform.", row.Provider, row.ProviderID)
			}
			fmt.Fprintln(c.stdout)
		}
		return exitOK
	default:
		return c.errorf("unknown state subcommand %q: use list, show or rm", sub)
	}
}

func (c *cli) runs(args []string) int {
	fs := c.newFlagSet("runs", "runs [SCENARIO] [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	scenario := ""
	if len(pos) > 0 {
		scenario = pos[0]
		if !strings.Contains(scenario, ".") {
			scenario = "scenario." + scenario
		}
	}
	store, ok := c.openState(*stateFlag, false)
	if !ok {
		return exitError
	}
	defer store.Close()
	runs, err := store.Runs(scenario)
	if err != nil {
		return c.errorf("%s", err)
	}
	if len(runs) == 0 && scenario != "" {
		return c.errorf("%s has no runs in %s%s", scenario, store.Path(), c.scenariosWithRuns(store))
	}
	if len(runs) == 0 {
		fmt.Fprintln(c.stdout, "No runs recorded.")
		return exitOK
	}
	table := tablewriter.NewTable(c.stdout, tablewriter.WithHeaderAutoFormat(tw.Off))
	table.Header("run", "scenario", "status", "started", "duration", "steps", "error")
	for _, r := range runs {
		steps, err := store.Steps(r.ID)
		if err != nil {
			return c.errorf("%s", err)
		}
		duration := "-"
		if !r.FinishedAt.IsZero() {
			duration = r.FinishedAt.Sub(r.StartedAt).Round(100 * time.Millisecond).String()
		}
		errText := errorHeadline(r.Error)
		if err := table.Append([]string{strconv.FormatInt(r.ID, 10), r.Scenario, r.Status, r.StartedAt.Local().Format("2006-01-02 15:04:05"), duration, strconv.Itoa(len(steps)), errText}); err != nil {
			return c.errorf("%s", err)
		}
	}
	if err := table.Render(); err != nil {
		return c.errorf("%s", err)
	}
	return exitOK
}

// scenariosWithRuns names the scenarios a state has runs of, for an error
// about one it has none of.
func (c *cli) scenariosWithRuns(store *state.Store) string {
	runs, err := store.Runs("")
	if err != nil || len(runs) == 0 {
		return ""
	}
	var names []string
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.Scenario] {
			seen[r.Scenario] = true
			names = append(names, r.Scenario)
		}
	}
	sort.Strings(names)
	return "; it has runs of " + strings.Join(names, ", ")
}

func (c *cli) results(args []string) int {
	fs := c.newFlagSet("results", "results [RUN] [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	format := fs.String("format", "table", "table, csv, json or benchmark-report (llm-d Benchmark Report v0.2, one JSON report per step and line)")
	detailed := fs.Bool("detailed", false, "add every measured request: per-request arrays in JSON, one row per request in CSV")
	decision := fs.Bool("decision", false, "show only the decision: each server at its capacity within the objectives, ranked")
	manifest := fs.Bool("manifest", false, "add what the run measured with: benchform, client, servers, GPUs, dataset and load")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	switch *format {
	case "table", "csv", "json":
	case "benchmark-report":
		if *decision || *detailed {
			return c.errorf("-format benchmark-report writes one report per step; it takes neither -decision nor -detailed")
		}
	default:
		return c.errorf("-format must be table, csv, json or benchmark-report, not %q", *format)
	}
	store, ok := c.openState(*stateFlag, false)
	if !ok {
		return exitError
	}
	defer store.Close()

	var ids []int64
	if len(pos) == 0 {
		all, err := store.Runs("")
		if err != nil {
			return c.errorf("%s", err)
		}
		if len(all) == 0 {
			return c.errorf("no runs recorded in %s", store.Path())
		}
		ids = append(ids, all[0].ID)
	}
	given, err := runNumbers(pos)
	if err != nil {
		return c.errorf("%s", err)
	}
	ids = append(ids, given...)
	var runs []executor.StoredRun
	for _, id := range ids {
		r, err := executor.LoadRun(store, id, *detailed)
		if err != nil {
			return c.errorf("%s", err)
		}
		runs = append(runs, r)
	}
	switch {
	case *decision && *detailed:
		return c.errorf("-decision and -detailed show different things; choose one")
	case *decision && *format == "json":
		err = report.WriteJSON(c.stdout, executor.Decide(runs...))
	case *decision && *format == "csv":
		err = report.DecisionCSV(c.stdout, executor.Decide(runs...))
	case *decision:
		err = report.DecisionTable(c.stdout, executor.Decide(runs...))
	case *format == "json":
		err = report.ResultsJSON(c.stdout, runs)
	case *format == "benchmark-report":
		err = report.BenchmarkReports(c.stdout, runs)
	case *format == "csv" && *detailed:
		err = report.RequestsCSV(c.stdout, runs)
	case *format == "csv":
		err = report.ResultsCSV(c.stdout, runs)
	default:
		for i, r := range runs {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			if err = report.ResultsTable(c.stdout, r); err != nil {
				break
			}
			if *manifest {
				fmt.Fprintln(c.stdout)
				if err = report.Manifest(c.stdout, r); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		return c.errorf("%s", err)
	}
	return exitOK
}

func (c *cli) compare(args []string) int {
	fs := c.newFlagSet("compare", "compare [RUN_A RUN_B [RUN...]] [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	baseline := fs.String("baseline", "", "compare the latest run of this run's scenario against it")
	scenario := fs.String("scenario", "", "with no runs given, the scenario whose last two runs to compare (default: the latest run's)")
	force := fs.Bool("force", false, "compare runs whose models, dataset or load differ")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	store, ok := c.openState(*stateFlag, false)
	if !ok {
		return exitError
	}
	defer store.Close()
	ids, err := compareRuns(store, pos, *baseline, *scenario)
	if err != nil {
		return c.errorf("%s", err)
	}
	runs := make([]executor.StoredRun, len(ids))
	for i, id := range ids {
		if runs[i], err = executor.LoadRun(store, id, false); err != nil {
			return c.errorf("%s", err)
		}
	}
	if len(runs) == 2 && runs[0].Manifest != nil && runs[1].Manifest != nil && !*force {
		var differ []string
		for _, d := range executor.DiffManifests(*runs[0].Manifest, *runs[1].Manifest) {
			if d.Defining {
				differ = append(differ, d.Key)
			}
		}
		if len(differ) > 0 {
			report.ManifestDiff(c.stdout, runs[0], runs[1])
			return c.errorf("runs #%d and #%d measured different experiments (%s differ): their figures do not compare. Use -force to compare them anyway.",
				runs[0].ID, runs[1].ID, strings.Join(differ, ", "))
		}
	}
	if err := report.Compare(c.stdout, runs...); err != nil {
		return c.errorf("%s", err)
	}
	return exitOK
}

// compareRuns picks the runs compare compares, oldest first: those given;
// with -baseline, that run and the latest run of its scenario; with
// neither, a scenario's last two runs.
func compareRuns(store *state.Store, pos []string, baseline, scenario string) ([]int64, error) {
	switch {
	case baseline != "" && len(pos) > 0:
		return nil, fmt.Errorf("compare takes either runs or -baseline, not both")
	case len(pos) == 1:
		return nil, fmt.Errorf("compare takes two run numbers or more, -baseline RUN, or nothing for a scenario's last two runs; see benchform runs")
	case len(pos) > 1:
		return runNumbers(pos)
	case baseline != "":
		ids, err := runNumbers([]string{baseline})
		if err != nil {
			return nil, err
		}
		base := ids[0]
		r, err := store.Run(base)
		if err != nil {
			return nil, err
		}
		latest, _, err := store.LatestRun(r.Scenario)
		if err != nil {
			return nil, err
		}
		if latest.ID == base {
			return nil, fmt.Errorf("run #%d is the latest run of %s: there is no later run to compare with it", base, r.Scenario)
		}
		return []int64{base, latest.ID}, nil
	}
	if scenario != "" && !strings.HasPrefix(scenario, "scenario.") {
		scenario = "scenario." + scenario
	}
	if scenario == "" {
		all, err := store.Runs("")
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("the state holds no run")
		}
		scenario = all[0].Scenario
	}
	runs, err := store.Runs(scenario)
	if err != nil {
		return nil, err
	}
	if len(runs) < 2 {
		return nil, fmt.Errorf("%s has %d run: compare needs two", scenario, len(runs))
	}
	return []int64{runs[1].ID, runs[0].ID}, nil
}

// forceUnlock removes the state lock of the given ID, as Terraform's
// force-unlock does: for a lock that benchform never breaks by itself,
// taken on another host or by a process whose pid was reused.
func (c *cli) forceUnlock(args []string) int {
	fs := c.newFlagSet("force-unlock", "force-unlock LOCK_ID [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	force := fs.Bool("force", false, "do not ask for confirmation")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		return c.errorf("force-unlock takes the ID of the lock, which the error about the locked state shows")
	}
	id := pos[0]
	store, ok := c.openState(*stateFlag, true)
	if !ok {
		return exitError
	}
	defer store.Close()
	holder, err := store.LockHolder()
	switch {
	case err != nil:
		return c.errorf("%s", err)
	case holder == nil:
		return c.errorf("the state is not locked")
	case holder.ID != id:
		return c.errorf("the state is locked under ID %s, not %s; nothing was changed", holder.ID, id)
	}
	fmt.Fprintf(c.stdout, "Lock %s is held by %s@%s (pid %d) for %q since %s.\n", holder.ID, holder.Who, holder.Host, holder.PID, holder.Operation, holder.Since.Local().Format("2006-01-02 15:04:05"))
	if !*force {
		if code, ok := c.ask("force-unlock", "Do you really want to release it? If that process still runs, two operations may then change the state at once.", "-force"); !ok {
			return code
		}
	}
	if err := store.ForceUnlock(id); err != nil {
		return c.errorf("%s", err)
	}
	fmt.Fprintf(c.stdout, "The state is unlocked.\n")
	return exitOK
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitError
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errorHeadline is the first line of a run's error, cleaned and cut to fit
// a table column.
func errorHeadline(msg string) string {
	first, _, _ := strings.Cut(msg, "\n")
	runes := []rune(safetext.Line(first))
	if len(runes) > 60 {
		return string(runes[:57]) + "..."
	}
	return string(runes)
}

// report writes the HTML report of runs: those given, or the latest run
// of each scenario in state.
func (c *cli) report(args []string) int {
	fs := c.newFlagSet("report", "report [RUN...] [options]")
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	out := fs.String("o", "report.html", "the file to write")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	ids, err := runNumbers(pos)
	if err != nil {
		return c.errorf("%s", err)
	}
	store, ok := c.openState(*stateFlag, false)
	if !ok {
		return exitError
	}
	defer store.Close()
	if len(ids) == 0 {
		all, err := store.Runs("")
		if err != nil {
			return c.errorf("%s", err)
		}
		seen := map[string]bool{}
		for _, r := range all {
			if !seen[r.Scenario] {
				seen[r.Scenario] = true
				ids = append([]int64{r.ID}, ids...)
			}
		}
		if len(ids) == 0 {
			return c.errorf("no runs recorded in %s", store.Path())
		}
	}
	if err := c.writeReport(store, ids, *out); err != nil {
		return c.errorf("%s", err)
	}
	return exitOK
}

// writeReport writes the HTML report of runs to path, whole or not at
// all.
func (c *cli) writeReport(store *state.Store, ids []int64, path string) error {
	runs := make([]executor.StoredRun, 0, len(ids))
	for _, id := range ids {
		r, err := executor.LoadRun(store, id, true)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	// A report is for sharing, unlike the temporary file it starts as.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := report.HTML(tmp, runs, version); err != nil {
		tmp.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	c.sayf("Report of %d run(s) written to %s.", len(runs), path)
	return nil
}

// runNumbers reads run numbers as commands take them: 3 or #3.
func runNumbers(args []string) ([]int64, error) {
	ids := make([]int64, len(args))
	for i, a := range args {
		id, err := strconv.ParseInt(strings.TrimPrefix(a, "#"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a run number; see benchform runs", a)
		}
		ids[i] = id
	}
	return ids, nil
}
