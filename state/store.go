package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// applicationID marks a SQLite file as a benchform state file ("bfms").
const applicationID = 0x62666d73

// busyTimeout is how long a statement waits for another process's write
// transaction before failing with "database is locked". Our own write
// transactions last milliseconds; a batch of records a little longer.
const busyTimeout = 10 * time.Second

// ErrNotFound is wrapped by the errors of Run and FinishRun for a run that
// does not exist, and of ForceUnlock for a lock that is not held.
var ErrNotFound = errors.New("not found")

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	path string

	// db holds at most one connection. SQLite admits one writer at a time;
	// sending every statement down one connection serialises this process's
	// writers without SQLITE_BUSY between them. Every transaction is BEGIN
	// IMMEDIATE (the _txlock DSN parameter), so a read followed by a write in
	// one transaction never fails on upgrading its lock, and another process
	// is waited for by busy_timeout. Never run a statement on db while a
	// transaction is open on it: the statement would wait for the only
	// connection forever.
	db *sql.DB
	// d is the SQL dialect of db's database.
	d dialect
	// pg is set for a state in PostgreSQL.
	pg *pgState
	// lost holds why the state lock was lost, after which no write is
	// made: another process may be changing the state.
	lost atomic.Pointer[error]
}

// Open opens the state file at path, creating it (and only it, not
// directories) when missing. An existing file is first inspected read-only
// and refused, unmodified, when it is not a benchform state file, was written
// by a newer schema or is corrupt; an older schema is migrated in place.
func Open(path string) (*Store, error) {
	return openWith(path, migrations)
}

// OpenReadOnly opens the state file at path for reading only: nothing is
// created, migrated or written, so it serves a state in a read-only
// directory, or one another process is applying to. A missing or empty
// file is "no state at PATH"; a file of an older schema asks for an
// upgrade, which only a command that writes makes.
func OpenReadOnly(path string) (*Store, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && !fi.IsDir() && fi.Size() == 0:
		return nil, fmt.Errorf("no state at %s", path)
	case err != nil:
		return nil, fmt.Errorf("open state %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("open state %s: is a directory", path)
	}
	params := url.Values{
		"mode":          {"ro"},
		"_query_only":   {"1"},
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
	}
	db, version, err := openReading(path, params)
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrReadonly {
		// Reading a file in WAL mode takes a shared-memory file beside
		// it, which a read-only directory does not let SQLite create.
		// With no write-ahead log there, nothing is committed outside
		// the file, and it can be read as immutable.
		if _, walErr := os.Stat(path + "-wal"); !errors.Is(walErr, fs.ErrNotExist) {
			return nil, fmt.Errorf("open state %s: its write-ahead log %s-wal holds changes that only a user who may write to its directory can read", path, path)
		}
		params.Set("immutable", "1")
		db, version, err = openReading(path, params)
	}
	if err == nil && version == 0 {
		// An empty database holds no state.
		db.Close()
		return nil, fmt.Errorf("no state at %s", path)
	}
	if err == nil && version < len(migrations) {
		db.Close()
		err = fmt.Errorf("it was written by an older benchform (schema %d of %d): run plan or apply on it once to upgrade it", version, len(migrations))
	}
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, classify(err))
	}
	return &Store{path: path, db: db, d: sqliteDialect{}}, nil
}

// openReading opens path with the given DSN parameters and returns its
// schema version.
func openReading(path string, params url.Values) (*sql.DB, int, error) {
	name, err := dsn(path, params)
	if err != nil {
		return nil, 0, err
	}
	db, err := sql.Open("sqlite3", name)
	if err != nil {
		return nil, 0, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	version, err := checkIdentity(db, len(migrations))
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	return db, version, nil
}

// openWith opens path with migs as the complete list of migrations, so a
// test can produce a file as an older binary would have left it.
func openWith(path string, migs []migration) (*Store, error) {
	fail := func(err error) (*Store, error) {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	version := 0
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fail(errors.New("is a directory"))
	case err == nil && fi.Size() > 0:
		// Nothing may write to the file before it is known to be ours:
		// even switching the journal mode rewrites its header.
		version, err = inspect(path, len(migs))
		if err != nil {
			return fail(err)
		}
	case err == nil:
		// An empty file is initialised like a missing one.
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return fail(err)
		}
	default:
		return fail(err)
	}

	name, err := dsn(path, url.Values{
		"mode":          {"rwc"},
		"_txlock":       {"immediate"},
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"1"},
	})
	if err != nil {
		return fail(err)
	}
	db, err := sql.Open("sqlite3", name)
	if err != nil {
		return fail(err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &Store{path: path, db: db, d: sqliteDialect{}}

	if version < len(migs) {
		if err := migrate(db, migs); err != nil {
			db.Close()
			return fail(err)
		}
	}
	if err := s.checkConnection(); err != nil {
		db.Close()
		return fail(err)
	}
	return s, nil
}

// checkConnection puts the file in WAL mode and confirms the settings the
// durability contract rests on, so that a change in the driver's handling
// of the DSN fails here rather than silently weakening every commit.
func (s *Store) checkConnection() error {
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("set journal mode: got %q, want wal", mode)
	}
	for _, p := range []struct {
		pragma string
		want   int
	}{
		{"synchronous", 2}, // FULL
		{"foreign_keys", 1},
	} {
		var got int
		if err := s.db.QueryRow("PRAGMA " + p.pragma).Scan(&got); err != nil {
			return fmt.Errorf("read %s: %w", p.pragma, err)
		}
		if got != p.want {
			return fmt.Errorf("pragma %s is %d, want %d", p.pragma, got, p.want)
		}
	}
	return nil
}

// Close closes the state file. Committed changes are already on disk;
// closing the last connection folds the write-ahead log into the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", s.path, err)
	}
	return nil
}

// Path returns the path the Store was opened with.
func (s *Store) Path() string { return s.path }

// dsn builds a SQLite URI for path. The path is made absolute and escaped
// so that '?', '#' and '%' in a file name cannot be read as URI syntax.
func dsn(path string, params url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params.Encode()}
	return u.String(), nil
}

// inspect checks, through a connection that cannot write, that the file at
// path is a benchform state file of at most schema version known, and
// returns its version.
func inspect(path string, known int) (int, error) {
	name, err := dsn(path, url.Values{
		"mode":          {"ro"},
		"_query_only":   {"1"},
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
	})
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite3", name)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	version, err := checkIdentity(db, known)
	if err != nil {
		return 0, err
	}
	return version, quickCheck(db)
}

// querier is what checkIdentity needs of a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

// checkIdentity returns the schema version of a benchform state file, 0 for
// an empty database, or an error that says why the file is not one this
// binary may write to.
func checkIdentity(q querier, known int) (int, error) {
	var appID int64
	var version int
	if err := q.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		return 0, classify(err)
	}
	if err := q.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return 0, classify(err)
	}
	if appID != applicationID {
		tables, err := tableNames(q)
		if err != nil {
			return 0, classify(err)
		}
		// A database with no tables and no marks holds nothing to lose.
		if appID == 0 && version == 0 && len(tables) == 0 {
			return 0, nil
		}
		return 0, foreignError(appID, version, tables)
	}
	if version < 0 {
		return 0, fmt.Errorf("state file has an invalid schema version %d", version)
	}
	if version > known {
		return 0, fmt.Errorf("state file was written by a newer benchform (schema %d, this binary understands up to %d)", version, known)
	}
	return version, nil
}

func tableNames(q querier) ([]string, error) {
	rows, err := q.Query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func foreignError(appID int64, version int, tables []string) error {
	const show = 5
	list := strings.Join(tables[:min(len(tables), show)], ", ")
	if len(tables) > show {
		list += fmt.Sprintf(" and %d more", len(tables)-show)
	}
	what := fmt.Sprintf("a SQLite database with application_id 0x%08x", uint32(appID))
	if version != 0 {
		what += fmt.Sprintf(", user_version %d", version)
	}
	if list != "" {
		what += " and tables " + list
	}
	return fmt.Errorf("not a benchform state file (%s)", what)
}

// classify names the SQLite errors that mean the file is not ours or is
// damaged, keeping SQLite's own words after ours.
func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return fmt.Errorf("not a benchform state file (%w)", err)
		case sqlite3.ErrCorrupt:
			return fmt.Errorf("state file is corrupt: %w", err)
		}
	}
	return err
}

// quickCheck runs PRAGMA quick_check, which reads every page of the file.
func quickCheck(q querier) error {
	rows, err := q.Query("PRAGMA quick_check(5)")
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return classify(err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("state file is corrupt: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Serial returns the number bumped by every change to resources or outputs.
// A saved plan records it and is refused when it has changed.
func (s *Store) Serial() (int64, error) {
	var n int64
	if err := s.queryRow("SELECT value FROM meta WHERE key = 'serial'").Scan(&n); err != nil {
		return 0, fmt.Errorf("state: read serial: %w", err)
	}
	return n, nil
}

// Lineage returns the random identifier given to the state file when it was
// created. Together with Serial it identifies one state: a file deleted and
// created again starts a new lineage, so a saved plan cannot match it by
// serial alone.
func (s *Store) Lineage() (string, error) {
	var l string
	if err := s.queryRow("SELECT value FROM meta WHERE key = 'lineage'").Scan(&l); err != nil {
		return "", fmt.Errorf("state: read lineage: %w", err)
	}
	return l, nil
}

// bumpSerial increments the serial inside tx, so the change and the new
// serial commit together.
func bumpSerial(tx *txn) error {
	res, err := tx.Exec("UPDATE meta SET value = " + tx.d.incremented("value") + " WHERE key = 'serial'")
	if err != nil {
		return fmt.Errorf("bump serial: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("bump serial: serial row missing (%d rows, %v)", n, err)
	}
	return nil
}

// SetOutputs replaces all outputs with outputs, whose values are JSON text.
func (s *Store) SetOutputs(outputs map[string][]byte) error {
	fail := func(err error) error { return fmt.Errorf("state: set outputs: %w", err) }
	tx, err := s.begin(context.Background())
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("DELETE FROM outputs"); err != nil {
		return fail(err)
	}
	for name, v := range outputs {
		if _, err := tx.Exec("INSERT INTO outputs (name, value) VALUES (?, ?)", name, string(v)); err != nil {
			return fail(fmt.Errorf("output %s: %w", name, err))
		}
	}
	if err := bumpSerial(tx); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// Outputs returns every output's JSON value by name; an empty map when
// there are none.
func (s *Store) Outputs() (map[string][]byte, error) {
	fail := func(err error) (map[string][]byte, error) { return nil, fmt.Errorf("state: read outputs: %w", err) }
	rows, err := s.query("SELECT name, value FROM outputs")
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			return fail(err)
		}
		out[name] = v
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

// newID returns 16 random bytes in hex, for lock IDs and lineages.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error (crypto/rand, Go 1.24)
	return hex.EncodeToString(b[:])
}

// nanos and fromNanos convert between time.Time and the stored form:
// nanoseconds since the Unix epoch, NULL for the zero time.
func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// now is the time written where a caller leaves one zero; UTC, without the
// monotonic reading, as it will read back.
func now() time.Time { return time.Now().UTC().Round(0) }
