package main

import (
	"bytes"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgState returns the test server's URL and a workspace of the test's own,
// dropped afterwards; without BENCHFORM_TEST_POSTGRES (set by .ci/run to a
// throwaway server) the test is skipped.
func pgState(t *testing.T) (string, string) {
	t.Helper()
	u := os.Getenv("BENCHFORM_TEST_POSTGRES")
	if u == "" {
		t.Skip("no PostgreSQL: set BENCHFORM_TEST_POSTGRES=postgres://user:password@127.0.0.1:PORT/db?sslmode=disable (.ci/postgres starts a throwaway server and prints one)")
	}
	ws := "cli_" + strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if len(ws) > 40 {
		ws = ws[:40]
	}
	dropSchema(t, u, "benchform_"+ws)
	t.Cleanup(func() { dropSchema(t, u, "benchform_"+ws) })
	return u, ws
}

// dropSchema removes a schema of the test server and all it holds.
func dropSchema(t *testing.T, u, schema string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := db.Exec("DROP SCHEMA IF EXISTS " + pgx.Identifier{schema}.Sanitize() + " CASCADE"); err != nil {
		t.Fatal(err)
	}
}

// password is the connection string's password, which must never show.
func password(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := p.User.Password()
	return pw
}

// TestPostgresApplyDestroy applies, applies again with nothing to change,
// reads the results and destroys, with the state in PostgreSQL, and never
// prints the connection's password.
func TestPostgresApplyDestroy(t *testing.T) {
	t.Parallel()
	u, ws := pgState(t)
	dir := configDir(t, fastHCL(t, quick))
	var all bytes.Buffer
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := benchform(t, append([]string{"-state", u, "-workspace", ws}, args...)...)
		all.WriteString(out + errOut)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	run(exitOK, "apply", "-auto-approve", dir)
	if out := run(exitOK, "apply", "-auto-approve", dir); !strings.Contains(out, "No changes.") {
		t.Errorf("second apply:\n%s", out)
	}
	if out := run(exitOK, "results"); !strings.Contains(out, "scenario.chat — run #1, completed") {
		t.Errorf("results:\n%s", out)
	}
	run(exitOK, "destroy", "-auto-approve", dir)
	if out := run(exitOK, "show"); !strings.Contains(out, "The state is empty.") {
		t.Errorf("show after destroy:\n%s", out)
	}
	if pw := password(t, u); pw != "" && strings.Contains(all.String(), pw) {
		t.Errorf("the password was printed:\n%s", all.String())
	}
	// The workspace is a state of its own: the default one knows nothing
	// of it.
	code, _, errOut := benchform(t, "-state", u, "-workspace", "never_used_ws", "results")
	if code != exitError || !strings.Contains(errOut, "no state at") || strings.Contains(errOut, password(t, u)) {
		t.Errorf("results of another workspace: %d %s", code, errOut)
	}
}

// TestPostgresLockContention holds the lock in one process: a second
// apply on the same workspace fails at once, naming the holder; once the
// holder's session is killed the lock is free again.
func TestPostgresLockContention(t *testing.T) {
	t.Parallel()
	u, ws := pgState(t)
	dir := configDir(t, fastHCL(t, endless))
	holder := process(t, "-state", u, "-workspace", ws, "apply", "-auto-approve", dir)
	var holderOut syncBuffer
	holder.Stdout, holder.Stderr = &holderOut, &holderOut
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(holderOut.String(), "concurrency=1:") })

	code, out, errOut := benchform(t, "-state", u, "-workspace", ws, "plan", dir)
	want := regexp.MustCompile(`state is locked: held by .+@.+ \(pid \d+\) for "apply" since .*, lock ID ([0-9a-f]+)`)
	if code != exitError || !want.MatchString(strings.Join(strings.Fields(errOut), " ")) {
		t.Fatalf("second plan: %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("as printed: %s", strings.TrimSpace(errOut))

	// force-unlock removes the row and ends the holder's session, which
	// takes its advisory lock with it.
	id := want.FindStringSubmatch(strings.Join(strings.Fields(errOut), " "))[1]
	if code, out, errOut := benchform(t, "-state", u, "-workspace", ws, "force-unlock", "-force", id); code != exitOK {
		t.Fatalf("force-unlock: %d\n%s\n%s", code, out, errOut)
	}
	holder.Process.Kill()
	holder.Wait()
	waitFor(t, 10*time.Second, func() bool {
		code, _, _ := benchform(t, "-state", u, "-workspace", ws, "plan", dir)
		return code == exitOK
	})
}

// TestPostgresMigrate copies a state file with its history into
// PostgreSQL and back into a new file: results, with every request, read
// the same from all three.
func TestPostgresMigrate(t *testing.T) {
	t.Parallel()
	u, ws := pgState(t)
	dir := configDir(t, fastHCL(t, quick))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	file := dir + "/benchform.db"
	results := func(args ...string) string {
		t.Helper()
		var all strings.Builder
		for _, format := range [][]string{{"results"}, {"results", "-format", "json", "-detailed"}} {
			code, out, errOut := benchform(t, append(args, format...)...)
			if code != exitOK {
				t.Fatalf("%s: %d\n%s", strings.Join(append(args, format...), " "), code, errOut)
			}
			all.WriteString(out)
		}
		return all.String()
	}
	want := results("-state", file)
	code, out, errOut := benchform(t, "-workspace", ws, "state", "migrate", "-state", file, "-to", u)
	if code != exitOK || !strings.Contains(out, "the counts agree") || strings.Contains(out+errOut, password(t, u)) {
		t.Fatalf("migrate to PostgreSQL: %d\n%s\n%s", code, out, errOut)
	}
	if got := results("-state", u, "-workspace", ws); got != want {
		t.Errorf("results from PostgreSQL differ from the file's:\n%s\nwant\n%s", got, want)
	}
	// Into a workspace that holds a state already, nothing is copied.
	if code, _, errOut := benchform(t, "-workspace", ws, "state", "migrate", "-state", file, "-to", u); code != exitError || !strings.Contains(errOut, "the destination is not empty") {
		t.Errorf("migrate into a full workspace: %d %s", code, errOut)
	}
	back := t.TempDir() + "/back.db"
	if code, out, errOut := benchform(t, "-state", u, "-workspace", ws, "state", "migrate", "-to", back); code != exitOK {
		t.Fatalf("migrate back: %d\n%s\n%s", code, out, errOut)
	}
	if got := results("-state", back); got != want {
		t.Errorf("results after the round trip differ:\n%s\nwant\n%s", got, want)
	}
	// Runs keep their numbers, and the next one follows them.
	if code, out, errOut := benchform(t, "-state", u, "-workspace", ws, "apply", "-auto-approve", "-replace", "scenario.chat", dir); code != exitOK || !strings.Contains(out, "run #2") {
		t.Errorf("apply after the migration: %d\n%s\n%s", code, out, errOut)
	}
}

// TestPostgresPasswordFromEnvironment: with the password in PGPASSWORD,
// as libpq users keep it, the URL needs none.
func TestPostgresPasswordFromEnvironment(t *testing.T) {
	u, ws := pgState(t)
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := p.User.Password()
	p.User = url.User(p.User.Username())
	t.Setenv("PGPASSWORD", pw)
	dir := configDir(t, fastHCL(t, quick))
	if code, out, errOut := benchform(t, "-state", p.String(), "-workspace", ws, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply with PGPASSWORD: %d\n%s\n%s", code, out, errOut)
	}
}

// TestPostgresConnectionDropped ends every database session of an apply
// while its scenario runs, as a restarted server or a network blip would:
// the apply takes its lock again, writes on, and completes, its results
// whole.
func TestPostgresConnectionDropped(t *testing.T) {
	t.Parallel()
	u, ws := pgState(t)
	dir := configDir(t, `
server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft = "1ms"
    itl  = "1ms"
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = 8
  dataset {
    kind         = "synthetic"
    input_tokens = 8
  }
  load {
    concurrency = [1, 2, 4]
    duration    = "1s"
  }
}
`)
	apply := process(t, "-state", u, "-workspace", ws, "apply", "-auto-approve", dir)
	var out syncBuffer
	apply.Stdout, apply.Stderr = &out, &out
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		apply.Process.Kill()
		apply.Wait()
	}()
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "concurrency=2:") })
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var ended int
	if err := db.QueryRow("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", "benchform "+ws).Scan(&ended); err != nil || ended == 0 {
		t.Fatalf("end the apply's sessions: %d, %v", ended, err)
	}
	if err := apply.Wait(); err != nil {
		t.Fatalf("apply after its sessions ended: %v\n%s", err, out.String())
	}
	code, js, errOut := benchform(t, "-state", u, "-workspace", ws, "results", "-format", "json")
	if code != exitOK || strings.Count(js, `"label": "concurrency=`) != 3 || !strings.Contains(js, `"status": "completed"`) {
		t.Errorf("results after the sessions ended: %d\n%s\n%s", code, js, errOut)
	}
	if strings.Contains(out.String(), "Error") {
		t.Errorf("the apply reported an error:\n%s", out.String())
	}
}
