package state

import (
	"context"
	"fmt"
)

// Counts are how many rows of each kind a state holds; a copy is verified
// by them.
type Counts struct {
	Resources, Outputs, Runs, Steps, Records, Samples int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d resources, %d outputs, %d runs, %d steps, %d request records, %d sample sets",
		c.Resources, c.Outputs, c.Runs, c.Steps, c.Records, c.Samples)
}

// Count counts the rows of a state.
func (s *Store) Count() (Counts, error) {
	var c Counts
	for _, t := range []struct {
		table string
		n     *int
	}{{"resources", &c.Resources}, {"outputs", &c.Outputs}, {"runs", &c.Runs}, {"steps", &c.Steps}, {"records", &c.Records}, {"samples", &c.Samples}} {
		if err := s.queryRow("SELECT count(*) FROM " + t.table).Scan(t.n); err != nil {
			return Counts{}, fmt.Errorf("state: count %s: %w", t.table, err)
		}
	}
	return c, nil
}

// CopyTo copies the whole state, its history included, into dst, which
// must be empty: resources, outputs, runs under their own numbers, their
// steps, request records and samples, and the lineage, so that a plan
// saved against the source is still recognised. Both states are locked
// while it runs, and the copy is verified by counting what dst holds.
func (s *Store) CopyTo(ctx context.Context, dst *Store) (Counts, error) {
	fail := func(err error) (Counts, error) { return Counts{}, fmt.Errorf("state: copy: %w", err) }
	from, err := s.Lock(ctx, "state migrate", 0)
	if err != nil {
		return fail(err)
	}
	defer from.Unlock()
	to, err := dst.Lock(ctx, "state migrate", 0)
	if err != nil {
		return fail(err)
	}
	defer to.Unlock()

	want, err := s.Count()
	if err != nil {
		return fail(err)
	}
	have, err := dst.Count()
	if err != nil {
		return fail(err)
	}
	if have != (Counts{}) {
		return fail(fmt.Errorf("the destination is not empty (%s)", have))
	}

	// From here a failure leaves part of the state in dst: say so, since
	// dst must be empty for another try.
	partial := func(err error) (Counts, error) {
		return Counts{}, fmt.Errorf("state: copy into %s stopped: %w; the source is unchanged, the destination holds part of it: empty it (delete the file, or drop the workspace's schema) before copying again", dst.Path(), err)
	}
	resources, err := s.Resources()
	if err != nil {
		return partial(err)
	}
	for _, r := range resources {
		if err := dst.PutResource(r); err != nil {
			return partial(err)
		}
	}
	outputs, err := s.Outputs()
	if err != nil {
		return partial(err)
	}
	if len(outputs) > 0 {
		if err := dst.SetOutputs(outputs); err != nil {
			return partial(err)
		}
	}
	runs, err := s.Runs("")
	if err != nil {
		return partial(err)
	}
	// Oldest first, each under its own number, which users type.
	for i := len(runs) - 1; i >= 0; i-- {
		if err := copyRun(s, dst, runs[i]); err != nil {
			return partial(fmt.Errorf("run %d: %w", runs[i].ID, err))
		}
	}
	if err := dst.afterCopy(s); err != nil {
		return partial(err)
	}
	got, err := dst.Count()
	if err != nil {
		return partial(err)
	}
	if got != want {
		return partial(fmt.Errorf("the destination holds %s, the source %s", got, want))
	}
	return got, nil
}

func copyRun(src, dst *Store, r Run) error {
	if _, err := dst.exec(`INSERT INTO runs
		(id, scenario, spec_hash, server_identity, status, spec, error, started_ns, finished_ns, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Scenario, r.SpecHash, r.ServerIdentity, r.Status, jsonText(r.Spec), r.Error,
		nanos(r.StartedAt), nanos(r.FinishedAt), jsonText(r.Outcome)); err != nil {
		return err
	}
	steps, err := src.Steps(r.ID)
	if err != nil {
		return err
	}
	for _, st := range steps {
		if err := dst.PutStep(st); err != nil {
			return err
		}
	}
	recs, err := src.Records(r.ID, -1)
	if err != nil {
		return err
	}
	if err := dst.InsertRecords(recs); err != nil {
		return err
	}
	sets, err := src.Samples(r.ID)
	if err != nil {
		return err
	}
	for _, set := range sets {
		if err := dst.PutSamples(set); err != nil {
			return err
		}
	}
	return nil
}

// afterCopy gives a copied state its source's lineage and serial, and on
// PostgreSQL moves the run numbers' sequence past the copied runs, which
// were inserted with their numbers.
func (s *Store) afterCopy(src *Store) error {
	lineage, err := src.Lineage()
	if err != nil {
		return err
	}
	serial, err := src.Serial()
	if err != nil {
		return err
	}
	if _, err := s.exec("UPDATE meta SET value = ? WHERE key = 'lineage'", lineage); err != nil {
		return err
	}
	if _, err := s.exec("UPDATE meta SET value = ? WHERE key = 'serial'", s.d.serialValue(serial)); err != nil {
		return err
	}
	if s.pg != nil {
		if _, err := s.exec("SELECT setval(pg_get_serial_sequence('runs', 'id'), COALESCE((SELECT max(id) FROM runs), 0) + 1, false)"); err != nil {
			return err
		}
	}
	return nil
}
