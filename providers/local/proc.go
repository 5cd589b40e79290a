package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// procInfo is what the system says about a pid.
type procInfo struct {
	exists bool
	zombie bool   // exited, not yet reaped by its parent: as good as gone
	start  string // start time in clock ticks after boot; "" where unknown
	// reused is set by Provider.owns for a pid that now belongs to a
	// process other than the server.
	reused bool
}

// alive reports whether the process runs and, after Provider.owns, is the
// server.
func (i procInfo) alive() bool { return i.exists && !i.zombie && !i.reused }

// inspect looks pid up. On Linux it reads /proc/<pid>/stat; elsewhere it
// can only tell whether the pid exists.
func inspect(pid int) procInfo {
	if pid <= 0 {
		return procInfo{}
	}
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			return procInfo{}
		}
		if err == nil {
			if st, ok := parseStat(b); ok {
				return procInfo{exists: true, zombie: st.zombie && !threadsLeft(pid), start: st.start}
			}
		}
	}
	return procInfo{exists: exists(pid)}
}

// exists asks the kernel, without signalling, whether pid (or, negative,
// a process group) has a process.
func exists(pid int) bool {
	err := kill(pid, 0)
	// EPERM: there is one, run by another user.
	return err == nil || errors.Is(err, syscall.EPERM)
}

// stat holds the fields of /proc/<pid>/stat the provider uses.
type stat struct {
	zombie  bool
	pgrp    int
	session int
	start   string
}

// parseStat parses /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (stat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, false
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return stat{}, false
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	session, err2 := strconv.Atoi(string(f[3]))
	if _, err := strconv.ParseUint(string(f[19]), 10, 64); err != nil || err1 != nil || err2 != nil {
		return stat{}, false
	}
	state := string(f[0])
	return stat{zombie: state == "Z" || state == "X", pgrp: pgrp, session: session, start: string(f[19])}, true
}

// threadsLeft reports whether a process whose main thread has exited
// still has other threads. Its state reads Z from the main thread's
// exit, but it keeps its files, its sockets among them, and its GPU
// memory until the last thread has gone.
func threadsLeft(pid int) bool {
	threads, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err == nil && len(threads) > 1
}

// members returns the live processes of the session or process group id
// (a server's pid: it leads both). A pid is not given out again while a
// session or group still uses it as its id, so a process found here after
// the server itself exited is one of its own workers. Where /proc is not
// available it asks the kernel about the group alone and returns at most
// the group's id.
func members(id int) []int {
	if runtime.GOOS != "linux" {
		if exists(-id) {
			return []int{id}
		}
		return nil
	}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		if exists(-id) {
			return []int{id}
		}
		return nil
	}
	var out []int
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited since the directory was read
		}
		st, ok := parseStat(b)
		if ok && (st.pgrp == id || st.session == id) && (!st.zombie || threadsLeft(pid)) {
			out = append(out, pid)
		}
	}
	return out
}

// signalAll sends sig to the process group id and to every other live
// process of the session id: an engine's workers may have moved to groups
// of their own.
func signalAll(id int, sig syscall.Signal) {
	_ = kill(-id, sig) // ESRCH: the group is empty
	for _, pid := range members(id) {
		if pid != id {
			_ = kill(pid, sig)
		}
	}
}

// markerEnv names the variable set in a server's environment to the
// object's name. It identifies the process when its start time is not
// known.
const markerEnv = "BENCHFORM_LOCAL_SERVER"

// hasMarker reports whether pid was started with markerEnv set to name.
// /proc/<pid>/environ is the environment the process started with,
// whatever it changed since.
func hasMarker(pid int, name string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := []byte(markerEnv + "=" + name)
	for _, kv := range bytes.Split(b, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}
