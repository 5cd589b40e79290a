package state

import (
	"database/sql"
	"fmt"
)

// migration is one step of the schema. Step i (from 0) takes a file from
// schema version i to i+1; the list only ever grows, and a step once
// released is never edited, because files in the field already ran it.
//
// A later step adds tables, or columns with ALTER TABLE ... ADD COLUMN and a
// DEFAULT, so rows written before it stay valid. A step that must rebuild a
// table cannot rely on foreign key checks being off: they are on for every
// connection, and PRAGMA foreign_keys is a no-op inside a transaction.
type migration struct {
	// name says what the step does; it appears in errors.
	name string
	up   func(tx *txn) error
}

// migrations is the schema, oldest step first; len(migrations) is the
// version this binary writes.
var migrations = []migration{
	{name: "initial schema", up: migrateInitial},
	{name: "per-event tokens and client lag in request records", up: migrateChunkTokens},
	{name: "telemetry samples", up: migrateSamples},
	{name: "output limit of each request", up: migrateMaxTokens},
	{name: "what a run concluded", up: migrateOutcome},
	{name: "reasoning and answer of each request", up: migrateReasoning},
}

// migrateReasoning adds what a request of a reasoning model streamed: when
// its answer began, how its output split between thinking and answer, and
// the server's own count of the thinking.
// Records stored before read as requests without reasoning whose answer
// was never timed: zero and empty.
func migrateReasoning(tx *txn) error {
	_, err := tx.Exec(`
ALTER TABLE records ADD COLUMN ttfc_ns          INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN answer_tokens    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN reasoning_source TEXT    NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN usage_reasoning_tokens INTEGER NOT NULL DEFAULT 0;
`)
	return err
}

// migrateOutcome adds what a run concluded beyond its steps, such as the
// capacity a search found for each server; NULL for runs before.
func migrateOutcome(tx *txn) error {
	_, err := tx.Exec(`ALTER TABLE runs ADD COLUMN outcome TEXT; -- JSON`)
	return err
}

// migrateMaxTokens adds the output limit a request was sent with, so that
// a server that ignored it shows in every record; 0 for records stored
// before.
func migrateMaxTokens(tx *txn) error {
	_, err := tx.Exec(`ALTER TABLE records ADD COLUMN max_tokens INTEGER NOT NULL DEFAULT 0;`)
	return err
}

// migrateSamples adds telemetry samples: a GPU snapshot at idle, and the
// server-metrics and GPU samples taken during each step, kept so that a
// later results can show them.
func migrateSamples(tx *txn) error {
	_, err := tx.Exec(`
CREATE TABLE samples (
	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step   INTEGER NOT NULL, -- the step's index, or -1 for a run-wide sample
	kind   TEXT    NOT NULL, -- e.g. "server", "gpu", "gpu_idle:server.vllm"
	data   TEXT    NOT NULL, -- JSON
	PRIMARY KEY (run_id, step, kind)
);
`)
	return err
}

// migrateChunkTokens adds what a request record learns from servers that
// report a running token count per chunk, and the client's own lag.
func migrateChunkTokens(tx *txn) error {
	_, err := tx.Exec(`
ALTER TABLE records ADD COLUMN lag_ns       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN token_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN usage_tokens INTEGER NOT NULL DEFAULT 0;
-- uvarint token counts, one per token event; NULL when not known
ALTER TABLE records ADD COLUMN chunk_tokens BLOB;
`)
	return err
}

// migrateInitial creates schema version 1.
//
// Times are *_ns columns of nanoseconds since the Unix epoch (NULL for
// none), durations *_ns columns of nanoseconds, JSON values TEXT.
func migrateInitial(tx *txn) error {
	const schema = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value NOT NULL
);

-- At most one row: the holder of the state lock.
CREATE TABLE lock (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	lock_id   TEXT    NOT NULL,
	operation TEXT    NOT NULL,
	who       TEXT    NOT NULL,
	host      TEXT    NOT NULL,
	pid       INTEGER NOT NULL,
	pid_start INTEGER NOT NULL, -- start time of pid (/proc/<pid>/stat field 22), 0 if unknown
	since_ns  INTEGER NOT NULL
);

CREATE TABLE resources (
	address      TEXT PRIMARY KEY,
	kind         TEXT    NOT NULL,
	provider     TEXT    NOT NULL,
	provider_id  TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	attributes   TEXT,            -- JSON
	config_hash  TEXT    NOT NULL,
	dependencies TEXT    NOT NULL, -- JSON array of addresses
	created_ns   INTEGER NOT NULL,
	updated_ns   INTEGER NOT NULL
);
-- Two addresses claiming one rented object would let destroying one
-- destroy the other's.
CREATE UNIQUE INDEX resources_name ON resources (name) WHERE name <> '';

CREATE TABLE outputs (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL -- JSON
);

-- AUTOINCREMENT: run ids are what users type to see results, so an id is
-- never given out twice, even after the newest run is deleted.
CREATE TABLE runs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	scenario        TEXT NOT NULL,
	spec_hash       TEXT NOT NULL,
	server_identity TEXT NOT NULL,
	status          TEXT NOT NULL,
	spec            TEXT, -- JSON
	error           TEXT NOT NULL,
	started_ns      INTEGER,
	finished_ns     INTEGER
);
CREATE INDEX runs_scenario ON runs (scenario, id);

CREATE TABLE steps (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx         INTEGER NOT NULL,
	server      TEXT    NOT NULL,
	label       TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	summary     TEXT, -- JSON
	started_ns  INTEGER,
	finished_ns INTEGER,
	PRIMARY KEY (run_id, idx)
);

CREATE TABLE records (
	run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step          INTEGER NOT NULL,
	seq           INTEGER NOT NULL,
	request_id    TEXT    NOT NULL,
	warmup        INTEGER NOT NULL,
	start_ns      INTEGER NOT NULL,
	queue_ns      INTEGER NOT NULL,
	ttft_ns       INTEGER NOT NULL,
	e2el_ns       INTEGER NOT NULL,
	gaps          BLOB, -- uvarint nanoseconds, concatenated; see encodeGaps
	prompt_tokens INTEGER NOT NULL,
	output_tokens INTEGER NOT NULL,
	token_source  TEXT    NOT NULL,
	http_status   INTEGER NOT NULL,
	error         TEXT    NOT NULL,
	PRIMARY KEY (run_id, step, seq)
);
`
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	_, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('serial', 0), ('lineage', ?)", newID())
	return err
}

// migrate brings the file behind db up to len(migs) in one transaction:
// a crash or a failing step leaves the file as it was. The identity checks
// are repeated under the write lock, as another process may have
// initialised or upgraded the file since it was inspected.
func migrate(db *sql.DB, migs []migration) error {
	sqlTx, err := db.Begin()
	if err != nil {
		return classify(err)
	}
	tx := &txn{Tx: sqlTx, d: sqliteDialect{}}
	defer tx.Rollback()
	version, err := checkIdentity(tx, len(migs))
	if err != nil {
		return err
	}
	if version == len(migs) {
		return nil
	}
	for i := version; i < len(migs); i++ {
		if err := migs[i].up(tx); err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", i+1, migs[i].name, err)
		}
	}
	// Both pragmas write the database header, which is part of the
	// transaction: the marks appear together with the schema or not at all.
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return fmt.Errorf("set application_id: %w", err)
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migs))); err != nil {
		return fmt.Errorf("set user_version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to schema %d: %w", len(migs), err)
	}
	return nil
}
