package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"
)

// LockInfo says who holds the state lock, so that a refused user knows whom
// to ask or which process to look for.
type LockInfo struct {
	// ID identifies one acquisition of the lock.
	ID        string
	Operation string
	// Who is the user name of the holder.
	Who  string
	Host string
	PID  int
	// Since is when the lock was taken, in UTC.
	Since time.Time
}

// LockedError is returned by Lock when another live process holds the lock.
type LockedError struct {
	Info LockInfo
}

// Error names the holder, its pid and operation, since when it holds the
// lock, and the lock's ID with the command that breaks it.
func (e *LockedError) Error() string {
	i := e.Info
	age := max(time.Since(i.Since).Round(time.Second), 0)
	return fmt.Sprintf("state is locked: held by %s@%s (pid %d) for %q since %s (%s ago), lock ID %s; if that process is gone, benchform force-unlock %s releases it",
		i.Who, i.Host, i.PID, i.Operation, i.Since.UTC().Format("2006-01-02 15:04:05 MST"), age, i.ID, i.ID)
}

// Lock is a held state lock.
type Lock struct {
	Info LockInfo
	// Recovered is the lock of a dead process on this host that this one
	// replaced, or nil. Whatever that process was doing may be half done.
	Recovered *LockInfo

	s        *Store
	mu       sync.Mutex
	released bool
	// conn, on PostgreSQL, is the session that holds the advisory lock,
	// which stopKeeper stops watching.
	conn       *sql.Conn
	stopKeeper func()
}

// Bounds of the wait between attempts of a Lock with a timeout: short at
// first, as operations like plan hold the lock for seconds, then capped so
// a long wait still notices a release within a couple of seconds.
const (
	lockRetryMin = 50 * time.Millisecond
	lockRetryMax = 2 * time.Second
)

// Lock takes the state lock for operation. A lock held by a process of this
// host that no longer runs is taken over and reported in Lock.Recovered; a
// lock held by another host is never broken. When the lock is held, Lock
// returns a *LockedError at once if timeout is zero, or retries with
// backoff until timeout passes or ctx is done and then returns the
// *LockedError (wrapping ctx's error too when ctx ended the wait).
func (s *Store) Lock(ctx context.Context, operation string, timeout time.Duration) (*Lock, error) {
	deadline := time.Now().Add(timeout)
	backoff := lockRetryMin
	for {
		l, held, err := s.tryLock(ctx, operation)
		if err != nil {
			return nil, fmt.Errorf("state: lock for %q: %w", operation, err)
		}
		if l != nil {
			return l, nil
		}
		locked := &LockedError{Info: *held}
		wait := time.Until(deadline)
		if timeout <= 0 || wait <= 0 {
			return nil, locked
		}
		t := time.NewTimer(min(wait, backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", locked, context.Cause(ctx))
		case <-t.C:
		}
		backoff = min(2*backoff, lockRetryMax)
	}
}

// tryLock makes one attempt. It returns the lock, or the live holder's
// information, or an error.
func (s *Store) tryLock(ctx context.Context, operation string) (*Lock, *LockInfo, error) {
	if s.pg != nil {
		return s.pgTryLock(ctx, operation)
	}
	// The transaction is BEGIN IMMEDIATE: between reading the holder and
	// writing ourselves no other process can write, so two processes that
	// both find the lock free cannot both take it.
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()

	var recovered *LockInfo
	holder, holderStart, err := readLock(tx)
	switch {
	case err != nil:
		return nil, nil, err
	case holder == nil:
	case holderAlive(*holder, holderStart):
		return nil, holder, nil
	default:
		recovered = holder
	}

	info, start := newLockInfo(operation)
	if err := writeLockRow(tx, info, start); err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, err
	}
	return &Lock{Info: info, Recovered: recovered, s: s}, nil, nil
}

// newLockInfo describes this process as the holder of a lock for
// operation, with its pid's start time.
func newLockInfo(operation string) (LockInfo, uint64) {
	pid := os.Getpid()
	start, _ := processStart(pid)
	host, _ := os.Hostname()
	return LockInfo{
		ID:        newID(),
		Operation: operation,
		Who:       userName(),
		Host:      host,
		PID:       pid,
		Since:     now(),
	}, start
}

// writeLockRow writes the lock row of a holder.
func writeLockRow(q interface {
	Exec(string, ...any) (sql.Result, error)
}, info LockInfo, start uint64) error {
	_, err := q.Exec(`INSERT INTO lock
		(id, lock_id, operation, who, host, pid, pid_start, since_ns)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, operation = excluded.operation,
			who = excluded.who, host = excluded.host, pid = excluded.pid,
			pid_start = excluded.pid_start, since_ns = excluded.since_ns`,
		info.ID, info.Operation, info.Who, info.Host, info.PID, int64(start), nanos(info.Since))
	return err
}

// readLock returns the lock row and the start time recorded for its pid,
// or nil when the lock is free.
func readLock(q interface {
	QueryRow(string, ...any) *sql.Row
}) (*LockInfo, uint64, error) {
	var i LockInfo
	var start int64
	var since sql.NullInt64
	err := q.QueryRow("SELECT lock_id, operation, who, host, pid, pid_start, since_ns FROM lock WHERE id = 1").
		Scan(&i.ID, &i.Operation, &i.Who, &i.Host, &i.PID, &start, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	i.Since = fromNanos(since)
	return &i, uint64(start), nil
}

// holderAlive reports whether the holder of a lock may still be running.
// Only a process of this host can be known dead; when in doubt it is alive,
// since breaking a live lock lets two operations rent the same pods.
func holderAlive(i LockInfo, start uint64) bool {
	host, err := os.Hostname()
	if err != nil || host == "" || i.Host != host {
		return true
	}
	return processAlive(i.PID, start)
}

// userName is the current user's name, for LockInfo.Who.
func userName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// Unlock releases the lock. It deletes only the row of this acquisition, so
// it never releases a lock that another process took over in the meantime;
// it reports when the row was already gone. Calling it again does nothing.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	// Straight to the database: a lock lost, the state is not written,
	// but this holder's own row may still go.
	res, err := l.s.db.Exec(l.s.d.rebind("DELETE FROM lock WHERE lock_id = ?"), l.Info.ID)
	if err != nil {
		return fmt.Errorf("state: unlock %s: %w", l.Info.ID, err)
	}
	l.released = true
	if err := l.pgUnlock(); err != nil {
		return fmt.Errorf("state: unlock %s: %w", l.Info.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state: unlock %s: %w", l.Info.ID, err)
	} else if n == 0 {
		return fmt.Errorf("state: unlock %s: the lock was no longer held by this process", l.Info.ID)
	}
	return nil
}

// ForceUnlock removes the lock whose ID is id, whoever holds it: the way
// out for a lock that Lock never breaks, such as one taken on another host
// whose process has gone. Naming the ID, as LockHolder or a LockedError
// shows it, keeps a lock taken since from being removed by mistake. A lock
// with another ID, or none, is an error wrapping ErrNotFound.
func (s *Store) ForceUnlock(id string) error {
	res, err := s.exec("DELETE FROM lock WHERE lock_id = ?", id)
	if err != nil {
		return fmt.Errorf("state: force unlock %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state: force unlock %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("state: force unlock %s: lock %w", id, ErrNotFound)
	}
	if s.pg != nil {
		if err := s.pgTerminateHolder(); err != nil {
			return fmt.Errorf("state: force unlock %s: end the holder's session: %w", id, err)
		}
	}
	return nil
}

// LockHolder returns who holds the state lock, or nil when it is free. It
// does not judge whether the holder is still alive.
func (s *Store) LockHolder() (*LockInfo, error) {
	i, _, err := readLock(s.db)
	if err != nil {
		return nil, fmt.Errorf("state: read lock: %w", err)
	}
	return i, nil
}
