//go:build unix

package state

import (
	"errors"
	"syscall"
)

// processAlive reports whether pid runs on this host and is the process
// that started at start (0: not recorded). Comparing start times keeps a
// lock from staying alive through a later, unrelated process that was given
// the same pid.
func processAlive(pid int, start uint64) bool {
	if pid <= 0 {
		// Kill would signal a process group; no holder records such a pid.
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// nil or EPERM: a process with this pid exists (EPERM: another user's).
	st, ok := readProcStat(pid)
	if !ok {
		return true
	}
	if st.zombie {
		return false
	}
	return start == 0 || st.start == start
}
