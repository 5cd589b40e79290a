package state

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// processStart returns the start time of pid in clock ticks since boot,
// where the system tells it (Linux).
func processStart(pid int) (uint64, bool) {
	st, ok := readProcStat(pid)
	return st.start, ok
}

type procStat struct {
	start  uint64
	zombie bool
}

// readProcStat reads state (field 3) and starttime (field 22) of
// /proc/<pid>/stat.
func readProcStat(pid int) (procStat, bool) {
	if runtime.GOOS != "linux" {
		return procStat{}, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	return parseProcStat(b)
}

// parseProcStat parses the contents of /proc/<pid>/stat. The command name
// (field 2) is in parentheses and may itself contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return procStat{}, false
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, false
	}
	state := string(f[0])
	return procStat{start: start, zombie: state == "Z" || state == "X"}, true
}
