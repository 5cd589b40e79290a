package state

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// statePath returns where a test's state file goes.
func statePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "benchform.db")
}

// openStore opens path and closes it when the test ends.
func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) *Store { return openStore(t, statePath(t)) }

// rawExec runs statements on path through a plain connection, as another
// program (or a damaged copy of benchform) would.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// writeState leaves a closed state file at path holding a little of
// everything, a few dozen pages in all.
func writeState(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		r := Resource{Address: fmt.Sprintf("pod.p%02d", i), Kind: "pod", Provider: "simulated",
			Name: fmt.Sprintf("benchform-pod.p%02d-x", i), Status: StatusReady, Attributes: []byte(`{"a":1}`)}
		if err := s.PutResource(r); err != nil {
			t.Fatal(err)
		}
	}
	id, err := s.BeginRun(Run{Scenario: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]RequestRecord, 2000)
	for i := range recs {
		recs[i] = RequestRecord{RunID: id, Seq: i, RequestID: fmt.Sprint("req-", i), Gaps: []time.Duration{1, 20 * time.Millisecond, 30 * time.Millisecond}}
	}
	if err := s.InsertRecords(recs); err != nil {
		t.Fatal(err)
	}
}

func TestOpenInitialises(t *testing.T) {
	tests := []struct {
		name   string
		before func(t *testing.T, path string)
	}{
		{"missing file", func(t *testing.T, path string) {}},
		{"empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"SQLite database without tables", func(t *testing.T, path string) {
			rawExec(t, path, "CREATE TABLE x (a)", "DROP TABLE x")
		}},
		{"file name that looks like URI syntax", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			if tt.before == nil {
				path = filepath.Join(t.TempDir(), "a b?c=1#d%20.db")
			} else {
				tt.before(t, path)
			}
			s := openStore(t, path)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("state file not at its path: %v", err)
			}
			got := map[string]string{}
			for _, p := range []string{"application_id", "user_version", "journal_mode", "synchronous", "foreign_keys", "busy_timeout"} {
				got[p] = pragma(t, s.db, p)
			}
			want := map[string]string{
				"application_id": fmt.Sprint(applicationID),
				"user_version":   fmt.Sprint(len(migrations)),
				"journal_mode":   "wal",
				"synchronous":    "2",
				"foreign_keys":   "1",
				"busy_timeout":   fmt.Sprint(busyTimeout.Milliseconds()),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pragmas (-want +got):\n%s", diff)
			}
			if serial, err := s.Serial(); err != nil || serial != 0 {
				t.Errorf("Serial() = %d, %v; want 0", serial, err)
			}
			lineage, err := s.Lineage()
			if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(lineage) {
				t.Errorf("Lineage() = %q, %v; want 32 hex digits", lineage, err)
			}
			if s.Path() != path {
				t.Errorf("Path() = %q, want %q", s.Path(), path)
			}
		})
	}
}

func TestOpenPathErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing directory", filepath.Join(dir, "nope", "benchform.db"),
			fmt.Sprintf("open state %s: stat %s: no such file or directory", filepath.Join(dir, "nope", "benchform.db"), filepath.Join(dir, "nope"))},
		{"directory", dir, fmt.Sprintf("open state %s: is a directory", dir)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created a directory: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		// make leaves the file to refuse at path.
		make func(t *testing.T, path string)
		// want is the whole error after "open state PATH: ", or its
		// beginning when it ends in "…".
		want string
	}{
		{
			name: "text file",
			make: func(t *testing.T, path string) {
				writeFile(t, path, []byte("pod \"h100\" {\n  gpu_count = 1\n}\n"))
			},
			want: "not a benchform state file (file is not a database)",
		},
		{
			name: "random bytes",
			make: func(t *testing.T, path string) {
				b := make([]byte, 16384)
				r := rand.New(rand.NewPCG(1, 2))
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				writeFile(t, path, b)
			},
			want: "not a benchform state file (file is not a database)",
		},
		{
			name: "SQLite database of another program",
			make: func(t *testing.T, path string) {
				rawExec(t, path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
					"CREATE TABLE posts (id INTEGER PRIMARY KEY)", "INSERT INTO users (name) VALUES ('alice')")
			},
			want: "not a benchform state file (a SQLite database with application_id 0x00000000 and tables posts, users)",
		},
		{
			name: "SQLite database with another application_id",
			make: func(t *testing.T, path string) {
				rawExec(t, path, "PRAGMA application_id = 1095062082", "PRAGMA user_version = 7")
			},
			want: "not a benchform state file (a SQLite database with application_id 0x41455242, user_version 7)",
		},
		{
			name: "newer schema",
			make: func(t *testing.T, path string) {
				writeState(t, path)
				rawExec(t, path, fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1))
			},
			want: fmt.Sprintf("state file was written by a newer benchform (schema %d, this binary understands up to %d)", len(migrations)+1, len(migrations)),
		},
		{
			name: "negative schema version",
			make: func(t *testing.T, path string) {
				writeState(t, path)
				rawExec(t, path, "PRAGMA user_version = -1")
			},
			want: "state file has an invalid schema version -1",
		},
		{
			name: "damaged page",
			make: func(t *testing.T, path string) {
				writeState(t, path)
				b := readFile(t, path)
				copy(b[4096+8:], bytes.Repeat([]byte{0xab}, 200)) // page 2, past its header
				writeFile(t, path, b)
			},
			want: "state file is corrupt: …",
		},
		{
			name: "truncated file",
			make: func(t *testing.T, path string) {
				writeState(t, path)
				b := readFile(t, path)
				writeFile(t, path, b[:len(b)/2])
			},
			want: "state file is corrupt: …",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			tt.make(t, path)
			before := readFile(t, path)
			filesBefore := dirNames(t, filepath.Dir(path))

			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			got := strings.TrimPrefix(err.Error(), "open state "+path+": ")
			if want, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(got, want) {
					t.Errorf("error = %q, want it to begin %q", got, want)
				}
			} else if got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}

			if !bytes.Equal(readFile(t, path), before) {
				t.Error("refused file was modified")
			}
			// Reading a WAL-mode file needs its -shm and -wal files,
			// which SQLite may create; nothing else may appear.
			for _, f := range dirNames(t, filepath.Dir(path)) {
				if !slices.Contains(filesBefore, f) && f != "benchform.db-wal" && f != "benchform.db-shm" {
					t.Errorf("Open left a new file %s", f)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// v2 is a second schema step as a later binary might add one.
var v2 = migration{name: "resource notes", up: func(tx *txn) error {
	_, err := tx.Exec(`ALTER TABLE resources ADD COLUMN note TEXT NOT NULL DEFAULT '';
		CREATE TABLE samples (run_id INTEGER NOT NULL REFERENCES runs (id), value REAL)`)
	return err
}}

func TestMigrate(t *testing.T) {
	path := statePath(t)
	old, err := openWith(path, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	want := Resource{Address: "pod.h100", Kind: "pod", Provider: "runpod", ProviderID: "abc",
		Name: "benchform-pod.h100-1", Status: StatusReady, Attributes: []byte(`{"gpu":"H100"}`),
		CreatedAt: time.Unix(1700000000, 5).UTC(), UpdatedAt: time.Unix(1700000100, 0).UTC()}
	if err := old.PutResource(want); err != nil {
		t.Fatal(err)
	}
	lineage, _ := old.Lineage()
	old.Close()

	// A failing step leaves the file exactly as it was.
	broken := migration{name: "broken step", up: func(tx *txn) error {
		if _, err := tx.Exec("CREATE TABLE half (a)"); err != nil {
			return err
		}
		return errors.New("boom")
	}}
	_, err = openWith(path, []migration{migrations[0], broken})
	if got, want := fmt.Sprint(err), "open state "+path+": migrate to schema 2 (broken step): boom"; got != want {
		t.Errorf("broken migration: error = %q, want %q", got, want)
	}

	s, err := openWith(path, []migration{migrations[0], v2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := pragma(t, s.db, "user_version"); got != "2" {
		t.Errorf("user_version = %s, want 2", got)
	}
	if got := pragma(t, s.db, "application_id"); got != fmt.Sprint(applicationID) {
		t.Errorf("application_id = %s, want %d", got, applicationID)
	}
	got, ok, err := s.Resource("pod.h100")
	if err != nil || !ok {
		t.Fatalf("Resource after migration: %v, %v", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resource after migration (-want +got):\n%s", diff)
	}
	var note string
	if err := s.db.QueryRow("SELECT note FROM resources WHERE address = 'pod.h100'").Scan(&note); err != nil {
		t.Errorf("new column: %v", err)
	}
	var half int
	s.db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&half)
	if half != 0 {
		t.Error("table of the failed migration survived")
	}
	if l, _ := s.Lineage(); l != lineage {
		t.Errorf("lineage changed by migration: %q, want %q", l, lineage)
	}
	s.Close()

	// A binary that knows schema 1 only must refuse the file and leave it alone.
	before := readFile(t, path)
	_, err = openWith(path, migrations[:1])
	if got, want := fmt.Sprint(err), "open state "+path+": state file was written by a newer benchform (schema 2, this binary understands up to 1)"; got != want {
		t.Errorf("older binary: error = %q, want %q", got, want)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("older binary modified the file")
	}
}

func TestSerial(t *testing.T) {
	s := newStore(t)
	pod := Resource{Address: "pod.a", Kind: "pod", Status: StatusCreating}
	steps := []struct {
		name string
		do   func() error
		want int64
	}{
		{"put new resource", func() error { return s.PutResource(pod) }, 1},
		{"put same resource again", func() error { return s.PutResource(pod) }, 2},
		{"refused put", func() error { s.PutResource(Resource{Address: "pod.b", Kind: "pod", Status: "bogus"}); return nil }, 2},
		{"set outputs", func() error { return s.SetOutputs(map[string][]byte{"x": []byte(`1`)}) }, 3},
		{"begin run", func() error { _, err := s.BeginRun(Run{Scenario: "chat"}); return err }, 3},
		{"insert records", func() error { return s.InsertRecords([]RequestRecord{{RunID: 1}}) }, 3},
		{"delete resource", func() error { return s.DeleteResource("pod.a") }, 4},
		{"delete missing resource", func() error { return s.DeleteResource("pod.a") }, 4},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.Serial()
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("after %s: Serial() = %d, want %d", st.name, got, st.want)
		}
	}
}

func TestOutputs(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		name string
		set  map[string][]byte
		want map[string][]byte
	}{
		{"first", map[string][]byte{"endpoint": []byte(`"http://x:8000"`), "n": []byte(`3`)},
			map[string][]byte{"endpoint": []byte(`"http://x:8000"`), "n": []byte(`3`)}},
		{"replaces all", map[string][]byte{"n": []byte(`4`)}, map[string][]byte{"n": []byte(`4`)}},
		{"none", nil, map[string][]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SetOutputs(tt.set); err != nil {
				t.Fatal(err)
			}
			got, err := s.Outputs()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Outputs() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReopen writes every kind of row, closes the file and reads them back
// through a new Store.
func TestReopen(t *testing.T) {
	path := statePath(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 17, 4, 5, 123456789, time.UTC)
	res := Resource{Address: "server.vllm", Kind: "server", Provider: "local", ProviderID: "4242",
		Name: "benchform-server.vllm-9", Status: StatusReady, Attributes: []byte(`{"endpoint":"http://127.0.0.1:8000"}`),
		ConfigHash: "h1", Dependencies: []string{"pod.local"}, CreatedAt: t0, UpdatedAt: t0.Add(time.Second)}
	run := Run{Scenario: "chat", SpecHash: "s1", ServerIdentity: "vllm@abc", Status: RunRunning,
		Spec: []byte(`{"max_tokens":256}`), StartedAt: t0}
	outputs := map[string][]byte{"endpoint": []byte(`"http://127.0.0.1:8000"`)}

	if err := s.PutResource(res); err != nil {
		t.Fatal(err)
	}
	run.ID, err = s.BeginRun(run)
	if err != nil {
		t.Fatal(err)
	}
	step := Step{RunID: run.ID, Index: 0, Server: "server.vllm", Label: "c=1", Status: "completed",
		Summary: []byte(`{"ttft_ms":12}`), StartedAt: t0, FinishedAt: t0.Add(time.Minute)}
	rec := RequestRecord{RunID: run.ID, Step: 0, Seq: 0, RequestID: "r0", Start: time.Millisecond,
		TTFT: 12 * time.Millisecond, E2EL: time.Second, Gaps: []time.Duration{0, 5 * time.Millisecond},
		PromptTokens: 512, OutputTokens: 3, TokenSource: "usage", HTTPStatus: 200}
	if err := s.PutStep(step); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertRecords([]RequestRecord{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOutputs(outputs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, path)
	gotRes, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	gotRun, err := s.Run(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotSteps, err := s.Steps(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotRecs, err := s.Records(run.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	gotOut, err := s.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		want, got any
	}{
		{"resources", []Resource{res}, gotRes},
		{"run", run, gotRun},
		{"steps", []Step{step}, gotSteps},
		{"records", []RequestRecord{rec}, gotRecs},
		{"outputs", outputs, gotOut},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s after reopening (-want +got):\n%s", c.name, diff)
		}
	}
	if gotRun.StartedAt.Location() != time.UTC {
		t.Errorf("StartedAt in %v, want UTC", gotRun.StartedAt.Location())
	}
}

// TestTwoProcessesWrite checks that writers in two processes wait for each
// other (busy_timeout, BEGIN IMMEDIATE) instead of failing.
func TestTwoProcessesWrite(t *testing.T) {
	const n = 40
	path := statePath(t)
	s := openStore(t, path)
	h := startHelper(t, "put", path, fmt.Sprint("BENCHFORM_STATE_N=", n))
	for i := range n {
		if err := s.PutResource(Resource{Address: fmt.Sprintf("pod.parent%d", i), Kind: "pod", Status: StatusReady}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	rs, err := s.Resources()
	if err != nil {
		t.Fatal(err)
	}
	serial, err := s.Serial()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2*n || serial != 2*n {
		t.Errorf("got %d resources and serial %d, want %d and %d", len(rs), serial, 2*n, 2*n)
	}
}
