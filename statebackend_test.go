package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStateBlockFile: a state block naming a file puts the state there,
// beside the configuration, and read commands run in that directory find
// it; -state still wins.
func TestStateBlockFile(t *testing.T) {
	dir := configDir(t, fastHCL(t, quick)+`
state {
  backend = "sqlite"
  path    = "team.db"
}
`)
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "team.db")); err != nil {
		t.Fatalf("the state is not where the block says: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "benchform.db")); err == nil {
		t.Error("a benchform.db was written too")
	}
	if out, err := resultsIn(t, dir); err != nil || !strings.Contains(out, "scenario.chat — run #1") {
		t.Errorf("results in the configuration's directory: %v\n%s", err, out)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	if code, _, errOut := benchform(t, "apply", "-auto-approve", "-state", other, dir); code != exitOK {
		t.Fatalf("apply -state: %d %s", code, errOut)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("-state did not win over the block: %v", err)
	}
}

// TestStateBlockPostgres: a state block with a PostgreSQL connection
// string from a variable, and a schema of its own.
func TestStateBlockPostgres(t *testing.T) {
	u, _ := pgState(t)
	dir := configDir(t, fastHCL(t, quick)+`
variable "pg_url" {
  sensitive = true
}

state {
  backend = "postgres"
  conn    = var.pg_url
  schema  = "cli_block_state"
}
`)
	t.Setenv("BENCHFORM_VAR_pg_url", u)
	t.Cleanup(func() { dropSchema(t, u, "cli_block_state") })
	code, out, errOut := benchform(t, "apply", "-auto-approve", dir)
	if code != exitOK || strings.Contains(out+errOut, password(t, u)) {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	if out, err := resultsIn(t, dir); err != nil || !strings.Contains(out, "scenario.chat — run #1") {
		t.Errorf("results in the configuration's directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "benchform.db")); err == nil {
		t.Error("a benchform.db was written beside the configuration")
	}
}

// resultsIn runs benchform results in dir, in a process of its own: the
// working directory is the process's.
func resultsIn(t *testing.T, dir string) (string, error) {
	t.Helper()
	cmd := process(t, "results")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
