package state

import (
	"fmt"
)

// SampleSet is one set of telemetry samples of a run, stored as JSON that
// this package does not read.
type SampleSet struct {
	RunID int64
	// Step is the step's index, or -1 for a sample that belongs to the run
	// (such as a GPU snapshot at idle before the first step).
	Step int
	Kind string
	Data []byte
}

// PutSamples stores a set of samples, replacing one of the same run, step
// and kind.
func (s *Store) PutSamples(set SampleSet) error {
	if _, err := s.exec(`INSERT INTO samples (run_id, step, kind, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id, step, kind) DO UPDATE SET data = excluded.data`, set.RunID, set.Step, set.Kind, string(set.Data)); err != nil {
		return fmt.Errorf("state: put samples %q of run %d step %d: %w", set.Kind, set.RunID, set.Step, err)
	}
	return nil
}

// Samples returns the sample sets of a run, ordered by step and kind.
func (s *Store) Samples(runID int64) ([]SampleSet, error) {
	rows, err := s.query("SELECT run_id, step, kind, data FROM samples WHERE run_id = ? ORDER BY step, kind", runID)
	if err != nil {
		return nil, fmt.Errorf("state: read samples of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []SampleSet
	for rows.Next() {
		var set SampleSet
		var data string
		if err := rows.Scan(&set.RunID, &set.Step, &set.Kind, &data); err != nil {
			return nil, fmt.Errorf("state: read samples of run %d: %w", runID, err)
		}
		set.Data = []byte(data)
		out = append(out, set)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: read samples of run %d: %w", runID, err)
	}
	return out, nil
}
