package state

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// postgresURL is the PostgreSQL server the tests of the PostgreSQL backend
// use, from BENCHFORM_TEST_POSTGRES (which .ci/run sets to a throwaway
// cluster's); without it they are skipped.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("BENCHFORM_TEST_POSTGRES")
	if u == "" {
		t.Skip("no PostgreSQL: set BENCHFORM_TEST_POSTGRES=postgres://user:password@127.0.0.1:PORT/db?sslmode=disable (.ci/postgres starts a throwaway server and prints one)")
	}
	return u
}

// pgWorkspace opens a workspace of its own for a test, and drops its
// schema afterwards.
func pgWorkspace(t testing.TB) (*Store, string, string) {
	t.Helper()
	u := postgresURL(t)
	ws := "t" + strings.ToLower(newID()[:12])
	s, err := OpenPostgres(context.Background(), u, ws, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.db.Exec("DROP SCHEMA " + s.pg.schema + " CASCADE")
		s.Close()
	})
	return s, u, ws
}

// TestPostgresContract runs the storage contract against a PostgreSQL
// workspace: what the SQLite file keeps, PostgreSQL keeps alike.
func TestPostgresContract(t *testing.T) {
	s, _, _ := pgWorkspace(t)
	storeContract(t, s)
}

// TestSQLiteContract runs the same contract against a state file.
func TestSQLiteContract(t *testing.T) {
	storeContract(t, newStore(t))
}

// TestPostgresWorkspaces: two workspaces of one database hold separate
// states, and a reader sees only its own.
func TestPostgresWorkspaces(t *testing.T) {
	a, u, _ := pgWorkspace(t)
	b, _, wsB := pgWorkspace(t)
	if err := a.PutResource(Resource{Address: "pod.a", Kind: "pod", Provider: "runpod", Status: StatusReady}); err != nil {
		t.Fatal(err)
	}
	if rows, err := b.Resources(); err != nil || len(rows) != 0 {
		t.Fatalf("workspace b sees %v, %v", rows, err)
	}
	ro, err := OpenPostgres(context.Background(), u, wsB, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rows, err := ro.Resources(); err != nil || len(rows) != 0 {
		t.Errorf("read-only b sees %v, %v", rows, err)
	}
	if _, err := OpenPostgres(context.Background(), u, "never_made", true); err == nil || !strings.Contains(err.Error(), "no state at") {
		t.Errorf("a workspace never written, read only: %v", err)
	}
}

// TestPostgresLock: a second holder is refused at once, naming the first;
// when the first's session dies, its advisory lock goes with it and the
// next Lock takes over, reporting the lock it replaced.
func TestPostgresLock(t *testing.T) {
	a, u, ws := pgWorkspace(t)
	b, err := OpenPostgres(context.Background(), u, ws, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	held, err := a.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Lock(context.Background(), "destroy", 0)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Info.ID != held.Info.ID || locked.Info.Operation != "apply" {
		t.Fatalf("second lock: %v", err)
	}
	// A wait for the lock ends when the holder lets go.
	go func() {
		time.Sleep(300 * time.Millisecond)
		held.Unlock()
	}()
	waited, err := b.Lock(context.Background(), "destroy", 10*time.Second)
	if err != nil {
		t.Fatalf("waiting lock: %v", err)
	}
	if waited.Recovered != nil {
		t.Errorf("a lock released properly was recovered: %+v", waited.Recovered)
	}
	// Kill the holder's session: the server releases its advisory lock.
	var pid int
	if err := waited.conn.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.Exec("SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	var taken *Lock
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if taken, err = a.Lock(context.Background(), "apply", 0); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the lock of a dead session was not released: %v", err)
	}
	if taken.Recovered == nil || taken.Recovered.ID != waited.Info.ID {
		t.Errorf("recovered %+v, want the dead session's lock %s", taken.Recovered, waited.Info.ID)
	}
	if err := taken.Unlock(); err != nil {
		t.Error(err)
	}
}

// TestPostgresPasswordNeverShown: a connection that fails says where it
// failed without the password.
func TestPostgresPasswordNeverShown(t *testing.T) {
	const pw = "hunter2-not-shown"
	for _, u := range []string{
		"postgres://someone:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"postgres://someone@127.0.0.1:1/db?sslmode=disable&password=" + pw,
	} {
		_, err := OpenPostgres(context.Background(), u, DefaultWorkspace, false)
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("error %v", err)
		}
		if r := Redact(u); strings.Contains(r, pw) || !strings.Contains(r, "someone") {
			t.Errorf("Redact(%q) = %q", u, r)
		}
	}
}

// BenchmarkInsertRecordsPostgres stores batches of 10,000 records of 200
// gaps in PostgreSQL, as BenchmarkInsertRecords does in a file.
func BenchmarkInsertRecordsPostgres(b *testing.B) {
	s, _, _ := pgWorkspace(b)
	benchmarkInsert(b, s)
}

// killLockSession ends the database session that holds l's advisory lock,
// as a restarted server or a dropped connection would.
func killLockSession(t *testing.T, s *Store, l *Lock) {
	t.Helper()
	l.mu.Lock()
	conn := l.conn
	l.mu.Unlock()
	var pid int
	if err := conn.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresLockRegained: when the session holding the lock dies and
// nobody else takes the lock, the keeper takes it again, and the holder
// goes on writing while others are still refused.
func TestPostgresLockRegained(t *testing.T) {
	defer func(d time.Duration) { lockCheckEvery = d }(lockCheckEvery)
	lockCheckEvery = 50 * time.Millisecond
	a, u, ws := pgWorkspace(t)
	l, err := a.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	killLockSession(t, a, l)
	time.Sleep(time.Second)
	if err := a.PutResource(Resource{Address: "pod.a", Kind: "pod", Status: StatusReady}); err != nil {
		t.Fatalf("a write after the lock was regained: %v", err)
	}
	b, err := OpenPostgres(context.Background(), u, ws, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var locked *LockedError
	if _, err := b.Lock(context.Background(), "apply", 0); !errors.As(err, &locked) || locked.Info.ID != l.Info.ID {
		t.Errorf("another process's lock after the holder regained it: %v", err)
	}
}

// TestPostgresLockLost: when another process takes the lock in the gap
// after the holder's session died, the holder writes nothing more and
// says why.
func TestPostgresLockLost(t *testing.T) {
	defer func(d time.Duration) { lockCheckEvery = d }(lockCheckEvery)
	lockCheckEvery = 500 * time.Millisecond
	a, u, ws := pgWorkspace(t)
	l, err := a.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	b, err := OpenPostgres(context.Background(), u, ws, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	killLockSession(t, a, l)
	var taken *Lock
	for deadline := time.Now().Add(5 * time.Second); taken == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		taken, _ = b.Lock(context.Background(), "destroy", 0)
	}
	if taken == nil {
		t.Fatal("the dead session's lock was not free")
	}
	defer taken.Unlock()
	var werr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if werr = a.PutResource(Resource{Address: "pod.a", Kind: "pod", Status: StatusReady}); werr != nil {
			break
		}
	}
	if werr == nil || !strings.Contains(werr.Error(), "has taken it since") {
		t.Errorf("a write after the lock was lost: %v", werr)
	}
}

// TestPostgresNewerSchema: a workspace written by a newer benchform is
// refused, written or read, and left as it was.
func TestPostgresNewerSchema(t *testing.T) {
	s, u, ws := pgWorkspace(t)
	if _, err := s.db.Exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'"); err != nil {
		t.Fatal(err)
	}
	for _, readOnly := range []bool{false, true} {
		_, err := OpenPostgres(context.Background(), u, ws, readOnly)
		if err == nil || !strings.Contains(err.Error(), "written by a newer benchform (schema 99") {
			t.Errorf("read only %v: %v", readOnly, err)
		}
	}
	var v string
	if err := s.db.QueryRow("SELECT value FROM meta WHERE key = 'schema_version'").Scan(&v); err != nil || v != "99" {
		t.Errorf("schema_version %q, %v", v, err)
	}
}
