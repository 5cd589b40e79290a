package main

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/state"
)

// check evaluates the configuration's checks against the runs in state:
// the latest run of each scenario, or the runs given.
func (c *cli) check(args []string) int {
	fs := c.newFlagSet("check", "check [RUN...] [options]")
	var vars varFlags
	vars.register(fs)
	stateFlag := fs.String("state", "", "state file (default: benchform.db)")
	dir := fs.String("dir", ".", "the configuration directory")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	cfg := c.loadConfig(*dir, lang.LoadOptions{Vars: vars.args})
	if cfg == nil {
		return exitError
	}
	if len(cfg.Checks) == 0 {
		return c.errorf("the configuration in %s declares no check", *dir)
	}
	c.useStateBlock(cfg, *dir)
	ids, err := runNumbers(pos)
	if err != nil {
		return c.errorf("%s", err)
	}
	store, ok := c.openState(*stateFlag, false)
	if !ok {
		return exitError
	}
	defer store.Close()
	chosen := map[string]int64{}
	for _, id := range ids {
		r, err := store.Run(id)
		if err != nil {
			return c.errorf("%s", err)
		}
		if prev, ok := chosen[r.Scenario]; ok {
			return c.errorf("runs #%d and #%d are both of %s: give one run per scenario", prev, id, r.Scenario)
		}
		chosen[r.Scenario] = id
	}
	if c.runChecks(cfg, store, chosen) {
		return exitError
	}
	return exitOK
}

// runChecks evaluates and prints the checks, and reports whether any
// failed or could not be decided.
func (c *cli) runChecks(cfg *lang.Config, store *state.Store, chosen map[string]int64) bool {
	outcomes, err := executor.RunChecks(cfg, store, chosen)
	if err != nil {
		c.errorf("checks: %s", err)
		return true
	}
	var diags hcl.Diagnostics
	holding := 0
	for _, o := range outcomes {
		switch {
		case o.Diags.HasErrors():
			diags = append(diags, o.Diags...)
		case o.Holds:
			holding++
		default:
			diags = append(diags, o.Diagnostic())
		}
	}
	c.sayf("Checks: %d of %d assertions hold.", holding, len(outcomes))
	c.printDiags(cfg.Files(), diags)
	return holding < len(outcomes)
}
