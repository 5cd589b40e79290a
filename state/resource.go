package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Resource is what state knows of one pod, server or scenario.
type Resource struct {
	// Address is the resource's address as users type it ("pod.h100").
	// It keys the row: one address has one row, so an object being
	// replaced must be deleted, or moved to another address, before its
	// successor's row is put.
	Address string
	// Kind is pod, server or scenario.
	Kind string
	// Provider is simulated, openai, runpod or local; empty for scenarios.
	Provider string
	// ProviderID is the provider's id for the object (a pod id, a pid);
	// empty until the provider has returned it.
	ProviderID string
	// Name is the unique name chosen before the create call, by which an
	// interrupted create is found again. No two rows share a non-empty Name.
	Name string
	// Status is one of the Status constants.
	Status string
	// Attributes is JSON, stored and returned unread; nil when empty.
	Attributes []byte
	// ConfigHash identifies the configuration the object was made from.
	ConfigHash string
	// Dependencies are the addresses this resource depends on, kept so
	// that destroy can work in reverse order from state alone.
	Dependencies []string
	// CreatedAt is set when the row is first put and kept by later puts;
	// UpdatedAt by every put. Either left zero is set to the current time.
	CreatedAt, UpdatedAt time.Time
}

// Status values of a Resource. Creating, updating and deleting are written
// before the provider call, so a row left in one of them by a crash says
// which action may or may not have happened.
const (
	StatusCreating = "creating"
	StatusReady    = "ready"
	StatusUpdating = "updating"
	StatusDeleting = "deleting"
	StatusTainted  = "tainted"
)

func validStatus(s string) bool {
	switch s {
	case StatusCreating, StatusReady, StatusUpdating, StatusDeleting, StatusTainted:
		return true
	}
	return false
}

const resourceColumns = `address, kind, provider, provider_id, name, status, attributes,
	config_hash, dependencies, created_ns, updated_ns`

// Resources returns every resource, ordered by address.
func (s *Store) Resources() ([]Resource, error) {
	rows, err := s.query("SELECT " + resourceColumns + " FROM resources ORDER BY address")
	if err != nil {
		return nil, fmt.Errorf("state: read resources: %w", err)
	}
	defer rows.Close()
	var out []Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("state: read resources: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: read resources: %w", err)
	}
	return out, nil
}

// Resource returns the resource at addr and whether there is one.
func (s *Store) Resource(addr string) (Resource, bool, error) {
	r, err := scanResource(s.queryRow("SELECT "+resourceColumns+" FROM resources WHERE address = ?", addr))
	if errors.Is(err, sql.ErrNoRows) {
		return Resource{}, false, nil
	}
	if err != nil {
		return Resource{}, false, fmt.Errorf("state: read resource %s: %w", addr, err)
	}
	return r, true, nil
}

func scanResource(row interface{ Scan(...any) error }) (Resource, error) {
	var r Resource
	var deps string
	var created, updated sql.NullInt64
	err := row.Scan(&r.Address, &r.Kind, &r.Provider, &r.ProviderID, &r.Name, &r.Status,
		&r.Attributes, &r.ConfigHash, &deps, &created, &updated)
	if err != nil {
		return Resource{}, err
	}
	if len(r.Attributes) == 0 {
		r.Attributes = nil
	}
	if err := json.Unmarshal([]byte(deps), &r.Dependencies); err != nil {
		return Resource{}, fmt.Errorf("%s: dependencies: %w", r.Address, err)
	}
	if len(r.Dependencies) == 0 {
		r.Dependencies = nil
	}
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
	return r, nil
}

// PutResource inserts r or replaces the row at r.Address, keeping the
// CreatedAt of a row already there, and bumps the serial. The change is
// committed when it returns.
func (s *Store) PutResource(r Resource) error {
	fail := func(err error) error { return fmt.Errorf("state: put resource %s: %w", r.Address, err) }
	switch {
	case r.Address == "":
		return fmt.Errorf("state: put resource: empty address")
	case r.Kind == "":
		return fail(errors.New("empty kind"))
	case !validStatus(r.Status):
		return fail(fmt.Errorf("unknown status %q", r.Status))
	}
	deps := r.Dependencies
	if deps == nil {
		deps = []string{}
	}
	depsJSON, err := json.Marshal(deps)
	if err != nil {
		return fail(err)
	}
	var attrs any // NULL, not '', when there are none
	if len(r.Attributes) > 0 {
		attrs = string(r.Attributes)
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = r.UpdatedAt
	}

	tx, err := s.begin(context.Background())
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if r.Name != "" {
		var other string
		err := tx.QueryRow("SELECT address FROM resources WHERE name = ? AND address <> ?", r.Name, r.Address).Scan(&other)
		switch {
		case err == nil:
			return fail(fmt.Errorf("name %q is already used by %s", r.Name, other))
		case !errors.Is(err, sql.ErrNoRows):
			return fail(err)
		}
	}
	_, err = tx.Exec(`INSERT INTO resources (`+resourceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (address) DO UPDATE SET
			kind = excluded.kind, provider = excluded.provider,
			provider_id = excluded.provider_id, name = excluded.name,
			status = excluded.status, attributes = excluded.attributes,
			config_hash = excluded.config_hash, dependencies = excluded.dependencies,
			updated_ns = excluded.updated_ns`,
		r.Address, r.Kind, r.Provider, r.ProviderID, r.Name, r.Status, attrs,
		r.ConfigHash, string(depsJSON), nanos(r.CreatedAt), nanos(r.UpdatedAt))
	if err != nil {
		return fail(err)
	}
	if err := bumpSerial(tx); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// DeleteResource removes the row at addr and bumps the serial. Deleting a
// missing row is not an error and leaves the serial as it was.
func (s *Store) DeleteResource(addr string) error {
	fail := func(err error) error { return fmt.Errorf("state: delete resource %s: %w", addr, err) }
	tx, err := s.begin(context.Background())
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	res, err := tx.Exec("DELETE FROM resources WHERE address = ?", addr)
	if err != nil {
		return fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fail(err)
	}
	if n == 0 {
		return nil
	}
	if err := bumpSerial(tx); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}
