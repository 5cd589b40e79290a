package state

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Run is one execution of a scenario.
type Run struct {
	// ID is given by BeginRun and never reused.
	ID       int64
	Scenario string
	// SpecHash and ServerIdentity are what decides whether an unchanged
	// scenario needs to run again.
	SpecHash       string
	ServerIdentity string
	// Status is one of the Run constants.
	Status string
	// Spec is the resolved scenario as JSON.
	Spec []byte
	// Error says why a failed or interrupted run ended.
	Error string
	// Outcome is what the run concluded beyond its steps, as JSON; nil
	// until SetRunOutcome.
	Outcome    []byte
	StartedAt  time.Time
	FinishedAt time.Time
}

// Status values of a Run.
const (
	RunRunning     = "running"
	RunCompleted   = "completed"
	RunFailed      = "failed"
	RunInterrupted = "interrupted"
)

func validRunEnd(status string) bool {
	switch status {
	case RunCompleted, RunFailed, RunInterrupted:
		return true
	}
	return false
}

// BeginRun records the start of a run and returns its ID. r.ID is ignored;
// an empty Status is RunRunning and a zero StartedAt the current time.
func (s *Store) BeginRun(r Run) (int64, error) {
	fail := func(err error) (int64, error) { return 0, fmt.Errorf("state: begin run of %s: %w", r.Scenario, err) }
	if r.Scenario == "" {
		return 0, errors.New("state: begin run: empty scenario")
	}
	if r.Status == "" {
		r.Status = RunRunning
	}
	if r.Status != RunRunning && !validRunEnd(r.Status) {
		return fail(fmt.Errorf("unknown status %q", r.Status))
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = now()
	}
	if err := s.writable(); err != nil {
		return fail(err)
	}
	// RETURNING, not LastInsertId, which PostgreSQL's driver lacks.
	var id int64
	err := s.queryRow(`INSERT INTO runs
		(scenario, spec_hash, server_identity, status, spec, error, started_ns, finished_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Scenario, r.SpecHash, r.ServerIdentity, r.Status, jsonText(r.Spec), r.Error,
		nanos(r.StartedAt), nanos(r.FinishedAt)).Scan(&id)
	if err != nil {
		return fail(err)
	}
	return id, nil
}

// FinishRun records the end of run id: status (completed, failed or
// interrupted), errMsg and at, the current time when zero.
func (s *Store) FinishRun(id int64, status, errMsg string, at time.Time) error {
	fail := func(err error) error { return fmt.Errorf("state: finish run %d: %w", id, err) }
	if !validRunEnd(status) {
		return fail(fmt.Errorf("unknown status %q", status))
	}
	if at.IsZero() {
		at = now()
	}
	res, err := s.exec("UPDATE runs SET status = ?, error = ?, finished_ns = ? WHERE id = ?",
		status, errMsg, nanos(at), id)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(err)
	} else if n == 0 {
		return fail(ErrNotFound)
	}
	return nil
}

const runColumns = `id, scenario, spec_hash, server_identity, status, spec, error, started_ns, finished_ns, outcome`

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started, finished sql.NullInt64
	if err := row.Scan(&r.ID, &r.Scenario, &r.SpecHash, &r.ServerIdentity, &r.Status,
		&r.Spec, &r.Error, &started, &finished, &r.Outcome); err != nil {
		return Run{}, err
	}
	if len(r.Spec) == 0 {
		r.Spec = nil
	}
	if len(r.Outcome) == 0 {
		r.Outcome = nil
	}
	r.StartedAt, r.FinishedAt = fromNanos(started), fromNanos(finished)
	return r, nil
}

// SetRunOutcome records what run id concluded, as JSON.
func (s *Store) SetRunOutcome(id int64, outcome []byte) error {
	res, err := s.exec("UPDATE runs SET outcome = ? WHERE id = ?", jsonText(outcome), id)
	if err != nil {
		return fmt.Errorf("state: record the outcome of run %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state: record the outcome of run %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("state: record the outcome of run %d: %w", id, ErrNotFound)
	}
	return nil
}

// Run returns run id, or an error wrapping ErrNotFound.
func (s *Store) Run(id int64) (Run, error) {
	r, err := scanRun(s.queryRow("SELECT "+runColumns+" FROM runs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("state: run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("state: read run %d: %w", id, err)
	}
	return r, nil
}

// Runs returns the runs of scenario, or of all scenarios when it is empty,
// newest (most recently begun) first.
func (s *Store) Runs(scenario string) ([]Run, error) {
	q := "SELECT " + runColumns + " FROM runs"
	var args []any
	if scenario != "" {
		q += " WHERE scenario = ?"
		args = append(args, scenario)
	}
	rows, err := s.query(q+" ORDER BY id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("state: read runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("state: read runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: read runs: %w", err)
	}
	return out, nil
}

// LatestRun returns the most recently begun run of scenario, whatever its
// status, and whether there is one.
func (s *Store) LatestRun(scenario string) (Run, bool, error) {
	r, err := scanRun(s.queryRow("SELECT "+runColumns+" FROM runs WHERE scenario = ? ORDER BY id DESC LIMIT 1", scenario))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("state: read latest run of %s: %w", scenario, err)
	}
	return r, true, nil
}

// MarkUnfinishedRuns gives every run still "running" the status status and
// the finish time at (the current time when zero), and returns how many
// there were. Call it while holding the Lock and before beginning runs of
// one's own: every running run is then one a dead process left behind.
func (s *Store) MarkUnfinishedRuns(status string, at time.Time) (int, error) {
	fail := func(err error) (int, error) { return 0, fmt.Errorf("state: mark unfinished runs %s: %w", status, err) }
	if !validRunEnd(status) {
		return fail(fmt.Errorf("unknown status %q", status))
	}
	if at.IsZero() {
		at = now()
	}
	res, err := s.exec("UPDATE runs SET status = ?, finished_ns = ? WHERE status = ?",
		status, nanos(at), RunRunning)
	if err != nil {
		return fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fail(err)
	}
	return int(n), nil
}

// Step is one step of a run: one concurrency or rate value against one
// server.
type Step struct {
	RunID int64
	// Index orders the steps of a run and, with RunID, identifies the step.
	Index  int
	Server string
	Label  string
	Status string
	// Summary is the step's results as JSON.
	Summary    []byte
	StartedAt  time.Time
	FinishedAt time.Time
}

// PutStep inserts st or replaces the step with the same RunID and Index.
// The run must exist.
func (s *Store) PutStep(st Step) error {
	_, err := s.exec(`INSERT INTO steps
		(run_id, idx, server, label, status, summary, started_ns, finished_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, idx) DO UPDATE SET
			server = excluded.server, label = excluded.label, status = excluded.status,
			summary = excluded.summary, started_ns = excluded.started_ns,
			finished_ns = excluded.finished_ns`,
		st.RunID, st.Index, st.Server, st.Label, st.Status, jsonText(st.Summary),
		nanos(st.StartedAt), nanos(st.FinishedAt))
	if err != nil {
		return fmt.Errorf("state: put step %d of run %d: %w", st.Index, st.RunID, err)
	}
	return nil
}

// Steps returns the steps of run runID ordered by Index.
func (s *Store) Steps(runID int64) ([]Step, error) {
	fail := func(err error) ([]Step, error) { return nil, fmt.Errorf("state: read steps of run %d: %w", runID, err) }
	rows, err := s.query(`SELECT run_id, idx, server, label, status, summary, started_ns, finished_ns
		FROM steps WHERE run_id = ? ORDER BY idx`, runID)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var out []Step
	for rows.Next() {
		var st Step
		var started, finished sql.NullInt64
		if err := rows.Scan(&st.RunID, &st.Index, &st.Server, &st.Label, &st.Status,
			&st.Summary, &started, &finished); err != nil {
			return fail(err)
		}
		if len(st.Summary) == 0 {
			st.Summary = nil
		}
		st.StartedAt, st.FinishedAt = fromNanos(started), fromNanos(finished)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

// jsonText is the stored form of a JSON value: TEXT, so the file reads well
// in the sqlite3 shell, and NULL when empty.
func jsonText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
