package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// putLockRow writes a lock row by hand, as a process that has since died
// (or lives elsewhere) would have left it.
func putLockRow(t *testing.T, s *Store, i LockInfo, start uint64) {
	t.Helper()
	_, err := s.db.Exec(`INSERT OR REPLACE INTO lock (id, lock_id, operation, who, host, pid, pid_start, since_ns)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?)`, i.ID, i.Operation, i.Who, i.Host, i.PID, int64(start), nanos(i.Since))
	if err != nil {
		t.Fatal(err)
	}
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname:", err)
	}
	return h
}

func TestLockHeld(t *testing.T) {
	path := statePath(t)
	s1 := openStore(t, path)
	s2 := openStore(t, path)
	ctx := context.Background()

	l, err := s1.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Recovered != nil {
		t.Errorf("Recovered = %+v on a free lock", l.Recovered)
	}
	want := LockInfo{ID: l.Info.ID, Operation: "apply", Who: userName(), Host: hostname(t), PID: os.Getpid(), Since: l.Info.Since}
	if diff := cmp.Diff(want, l.Info); diff != "" {
		t.Errorf("Lock.Info (-want +got):\n%s", diff)
	}

	start := time.Now()
	_, err = s2.Lock(ctx, "plan", 0)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Lock with no timeout took %v", d)
	}
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Lock: error = %v, want a *LockedError", err)
	}
	if diff := cmp.Diff(l.Info, locked.Info); diff != "" {
		t.Errorf("LockedError.Info (-want +got):\n%s", diff)
	}
	wantMsg := fmt.Sprintf("state is locked: held by %s@%s (pid %d) for \"apply\" since ", want.Who, want.Host, want.PID)
	if !strings.HasPrefix(err.Error(), wantMsg) {
		t.Errorf("error = %q, want it to begin %q", err, wantMsg)
	}

	holder, err := s2.LockHolder()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&l.Info, holder); diff != "" {
		t.Errorf("LockHolder (-want +got):\n%s", diff)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock = %v", err)
	}
	if holder, err := s2.LockHolder(); holder != nil || err != nil {
		t.Errorf("LockHolder after Unlock = %+v, %v", holder, err)
	}
	l2, err := s2.Lock(ctx, "plan", 0)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestLockedErrorMessage(t *testing.T) {
	since := time.Now().Add(-(3*time.Minute + 12*time.Second + 200*time.Millisecond)).UTC()
	tests := []struct {
		name string
		info LockInfo
		want string
	}{
		{"past", LockInfo{ID: "3f2a", Who: "alice", Host: "host1", PID: 4242, Operation: "apply", Since: since},
			`state is locked: held by alice@host1 (pid 4242) for "apply" since ` + since.Format("2006-01-02 15:04:05") + ` UTC (3m12s ago), lock ID 3f2a; if that process is gone, benchform force-unlock 3f2a releases it`},
		{"clock of the holder ahead", LockInfo{ID: "9c", Who: "bob", Host: "h2", PID: 1, Operation: "destroy", Since: time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)},
			`state is locked: held by bob@h2 (pid 1) for "destroy" since 2999-01-01 00:00:00 UTC (0s ago), lock ID 9c; if that process is gone, benchform force-unlock 9c releases it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&LockedError{Info: tt.info}).Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLockStaleHolder(t *testing.T) {
	host := hostname(t)
	self := os.Getpid()
	selfStart, haveStart := processStart(self)
	since := time.Date(2026, 11, 25, 17, 4, 5, 0, time.UTC)

	tests := []struct {
		name      string
		linuxOnly bool
		// holder returns the pid and start time to record, and the host.
		holder      func(t *testing.T) (pid int, start uint64, host string)
		wantRecover bool
	}{
		{"dead pid on this host", false, func(t *testing.T) (int, uint64, string) {
			return deadPID(t), 0, host
		}, true},
		{"live pid with another start time (pid reused)", true, func(t *testing.T) (int, uint64, string) {
			return self, selfStart + 1, host
		}, true},
		{"zombie process", true, func(t *testing.T) (int, uint64, string) {
			return zombiePID(t), 0, host
		}, true},
		{"invalid pid", false, func(t *testing.T) (int, uint64, string) {
			return 0, 0, host
		}, true},
		{"live pid with its start time", true, func(t *testing.T) (int, uint64, string) {
			return self, selfStart, host
		}, false},
		{"live pid, start time not recorded", false, func(t *testing.T) (int, uint64, string) {
			return self, 0, host
		}, false},
		{"dead pid on another host", false, func(t *testing.T) (int, uint64, string) {
			return deadPID(t), 0, "elsewhere.example"
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.linuxOnly && (runtime.GOOS != "linux" || !haveStart) {
				t.Skip("needs /proc/<pid>/stat")
			}
			s := newStore(t)
			pid, start, h := tt.holder(t)
			old := LockInfo{ID: "0123456789abcdef", Operation: "apply", Who: "alice", Host: h, PID: pid, Since: since}
			putLockRow(t, s, old, start)

			l, err := s.Lock(context.Background(), "plan", 0)
			if !tt.wantRecover {
				var locked *LockedError
				if !errors.As(err, &locked) {
					t.Fatalf("Lock: error = %v, want a *LockedError", err)
				}
				if diff := cmp.Diff(old, locked.Info); diff != "" {
					t.Errorf("LockedError.Info (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lock: %v", err)
			}
			if diff := cmp.Diff(&old, l.Recovered); diff != "" {
				t.Errorf("Recovered (-want +got):\n%s", diff)
			}
			holder, err := s.LockHolder()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&l.Info, holder); diff != "" {
				t.Errorf("LockHolder (-want +got):\n%s", diff)
			}
		})
	}
}

// zombiePID returns the pid of a child that has exited but not been
// reaped; kill(pid, 0) still succeeds for it.
func zombiePID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(trueCommand())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, ok := readProcStat(pid); ok && st.zombie {
			return pid
		}
	}
	t.Fatal("child did not become a zombie")
	return 0
}

func TestLockWait(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// release unlocks the holder after this long; 0: never.
		release time.Duration
		timeout time.Duration
		cancel  time.Duration
		wantErr error // nil: the lock is taken
		minWait time.Duration
	}{
		{"released before the timeout", 200 * time.Millisecond, 10 * time.Second, 0, nil, 150 * time.Millisecond},
		{"timeout passes", 0, 300 * time.Millisecond, 0, &LockedError{}, 300 * time.Millisecond},
		{"context cancelled", 0, 10 * time.Second, 200 * time.Millisecond, context.Canceled, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			holder := openStore(t, path)
			waiter := openStore(t, path)
			l, err := holder.Lock(ctx, "apply", 0)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			if tt.release > 0 {
				go func() {
					time.Sleep(tt.release)
					done <- l.Unlock()
				}()
			}
			start := time.Now()
			wctx := ctx
			if tt.cancel > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeoutCause(ctx, tt.cancel, context.Canceled)
				defer cancel()
			}
			got, err := waiter.Lock(wctx, "plan", tt.timeout)
			waited := time.Since(start)
			if waited < tt.minWait || waited > tt.minWait+5*time.Second {
				t.Errorf("Lock returned after %v, want about %v", waited, tt.minWait)
			}
			if tt.release > 0 {
				if err := <-done; err != nil {
					t.Errorf("Unlock in another goroutine: %v", err)
				}
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Lock: %v", err)
				}
				got.Unlock()
				return
			}
			var locked *LockedError
			if !errors.As(err, &locked) || locked.Info.ID != l.Info.ID {
				t.Errorf("error = %v, want a *LockedError naming the holder", err)
			}
			if !errors.Is(err, context.Canceled) && tt.wantErr == context.Canceled {
				t.Errorf("error = %v, want it to wrap context.Canceled", err)
			}
		})
	}
}

func TestUnlockTakenOver(t *testing.T) {
	s := newStore(t)
	l, err := s.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	other := LockInfo{ID: "ffff", Operation: "destroy", Who: "bob", Host: "elsewhere.example", PID: 1, Since: time.Now().UTC()}
	putLockRow(t, s, other, 0)
	want := fmt.Sprintf("state: unlock %s: the lock was no longer held by this process", l.Info.ID)
	if err := l.Unlock(); fmt.Sprint(err) != want {
		t.Errorf("Unlock = %v, want %q", err, want)
	}
	holder, err := s.LockHolder()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&other, holder); diff != "" {
		t.Errorf("Unlock removed another holder's lock (-want +got):\n%s", diff)
	}
}

func TestForceUnlock(t *testing.T) {
	s := newStore(t)
	other := LockInfo{ID: "feedface", Operation: "apply", Who: "bob", Host: "elsewhere.example", PID: 1, Since: time.Now().UTC()}
	putLockRow(t, s, other, 0)
	tests := []struct {
		name string
		id   string
		want string // "" for success
	}{
		{"another ID", "0000", "state: force unlock 0000: lock not found"},
		{"the holder's ID", "feedface", ""},
		{"again", "feedface", "state: force unlock feedface: lock not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ForceUnlock(tt.id)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ForceUnlock: %v", err)
				}
				return
			}
			if fmt.Sprint(err) != tt.want || !errors.Is(err, ErrNotFound) {
				t.Errorf("error = %v, want %q wrapping ErrNotFound", err, tt.want)
			}
		})
	}
	if _, err := s.Lock(context.Background(), "apply", 0); err != nil {
		t.Errorf("Lock after ForceUnlock: %v", err)
	}
}

// TestLockTwoProcesses contends for the lock with a helper process: while
// the helper holds it, Lock fails naming the helper; once the helper
// releases it, a waiting Lock gets it.
func TestLockTwoProcesses(t *testing.T) {
	path := statePath(t)
	s := openStore(t, path)
	h := startHelper(t, "lock", path)
	if line := h.waitLine(t); line != "locked" {
		t.Fatalf("helper said %q", line)
	}
	_, err := s.Lock(context.Background(), "plan", 0)
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("Lock: error = %v, want a *LockedError", err)
	}
	if locked.Info.PID != h.cmd.Process.Pid || locked.Info.Operation != "apply" {
		t.Errorf("LockedError names pid %d for %q, want pid %d for \"apply\"", locked.Info.PID, locked.Info.Operation, h.cmd.Process.Pid)
	}

	h.stdin.Close()
	l, err := s.Lock(context.Background(), "plan", 20*time.Second)
	if err != nil {
		t.Fatalf("Lock after the helper released it: %v", err)
	}
	if l.Recovered != nil {
		t.Errorf("Recovered = %+v, want nil after a clean release", l.Recovered)
	}
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
	l.Unlock()
}

// TestLockKilledHolder kills the helper while it holds the lock: the lock
// row stays behind and the next Lock recovers it.
func TestLockKilledHolder(t *testing.T) {
	path := statePath(t)
	h := startHelper(t, "lock", path)
	if line := h.waitLine(t); line != "locked" {
		t.Fatalf("helper said %q", line)
	}
	h.cmd.Process.Kill()
	h.cmd.Wait()

	s := openStore(t, path)
	l, err := s.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	if l.Recovered == nil || l.Recovered.PID != h.cmd.Process.Pid {
		t.Errorf("Recovered = %+v, want the killed helper's lock (pid %d)", l.Recovered, h.cmd.Process.Pid)
	}
	l.Unlock()
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   procStat
		wantOK bool
	}{
		{"plain", "4242 (vllm) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3", procStat{start: 987654}, true},
		{"command with spaces and parentheses", "7 (a) b (c) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0", procStat{start: 55, zombie: true}, true},
		{"too short", "7 (x) S 1 2 3", procStat{}, false},
		{"no command", "garbage", procStat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseProcStat([]byte(tt.in))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseProcStat = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
