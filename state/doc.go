// Package state keeps benchform's state in one SQLite file: the resources
// that apply created (pods that cost money among them), the outputs, the
// history of scenario runs with their steps and per-request records, and the
// lock that keeps two operations from changing the same state at once.
//
// The package knows nothing of configurations, providers or measurements:
// attributes, specs and summaries are JSON it stores without reading, and it
// imports nothing else from the project.
//
// # Durability contract
//
// Every method that writes (PutResource, DeleteResource, SetOutputs,
// BeginRun, FinishRun, MarkUnfinishedRuns, PutStep, InsertRecords, Lock,
// Unlock, ForceUnlock) has committed its change to disk before it returns:
// the file is in WAL mode with synchronous=FULL, so a commit survives a
// crash of the process or of the machine. Each is one transaction, and one
// that returns an error has changed nothing. A caller that records its
// intent before a provider call and the result after it therefore never
// loses track of something it rented.
//
// # The file
//
// Open refuses, without writing a byte, a file that is not a SQLite
// database, a SQLite database of another program (one without benchform's
// application_id that has tables), a state file written by a newer schema,
// and a file that fails SQLite's quick_check. A missing or empty file is
// initialised; an older schema is migrated in place, in one transaction.
// Inspecting a file in WAL mode may leave its -wal and -shm files beside it,
// as any SQLite reader does; the file itself is untouched.
// PRAGMA application_id is 0x62666d73 ("bfms") and PRAGMA user_version is the
// schema version.
//
// Times are stored as INTEGER nanoseconds since the Unix epoch (columns named
// *_ns; NULL for the zero time.Time) and come back as time.Time in UTC, so
// they are exact between 1678 and 2262. Durations are INTEGER nanoseconds.
// The inter-chunk gaps of a request are one BLOB per request: the gaps in
// nanoseconds, each written as an unsigned varint (encoding/binary
// AppendUvarint, LEB128, 7 bits a byte, least significant group first),
// concatenated with no header or count; a request without gaps stores NULL.
//
// # Concurrency
//
// A Store is safe for use by many goroutines. Within a process every
// statement goes through one connection, which serialises writers (a large
// InsertRecords batch holds back the process's other statements until it
// commits, a fraction of a second for 10,000 records); another
// process writing at the same time is waited for (busy_timeout) rather than
// failing. Readers in other processes see the last committed state.
//
// Lock is advisory: the methods that write do not check it. An operation that
// changes resources takes the Lock first and holds it until it has finished.
package state
