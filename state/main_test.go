package state

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as the helper process of the two-process tests (the
// os/exec exec_test.go pattern): with BENCHFORM_STATE_HELPER set, the test
// binary acts on the state file named by BENCHFORM_STATE_PATH and exits.
func TestMain(m *testing.M) {
	mode := os.Getenv("BENCHFORM_STATE_HELPER")
	if mode == "" {
		os.Exit(m.Run())
	}
	if err := helper(mode, os.Getenv("BENCHFORM_STATE_PATH")); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(mode, path string) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	switch mode {
	case "lock":
		// Take the lock, say so, and hold it until stdin is closed.
		l, err := s.Lock(context.Background(), "apply", 0)
		if err != nil {
			return err
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		return l.Unlock()
	case "put":
		n, err := strconv.Atoi(os.Getenv("BENCHFORM_STATE_N"))
		if err != nil {
			return err
		}
		for i := range n {
			r := Resource{Address: fmt.Sprintf("pod.helper%d", i), Kind: "pod", Status: StatusReady}
			if err := s.PutResource(r); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// helperProcess is a running helper; closing stdin ends a "lock" helper.
type helperProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHelper(t *testing.T, mode, path string, env ...string) *helperProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{
		"BENCHFORM_STATE_HELPER=" + mode,
		"BENCHFORM_STATE_PATH=" + path,
	}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return h
}

// waitLine reads the helper's next line of output, failing after a while.
func (h *helperProcess) waitLine(t *testing.T) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		line, _ := h.out.ReadString('\n')
		ch <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ch:
		return line
	case <-time.After(20 * time.Second):
		t.Fatal("helper process said nothing")
		return ""
	}
}

// deadPID returns the pid of a process of this host that has exited and
// been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(trueCommand())
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.Pid()
}

// trueCommand is a program that exits at once: /bin/true where there is
// one, as starting it is far quicker than starting the test binary.
func trueCommand() string {
	if _, err := os.Stat("/bin/true"); err == nil {
		return "/bin/true"
	}
	return os.Args[0]
}
