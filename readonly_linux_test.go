package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadOnlyState reads a state its user may not write, in a directory
// it may not write to: results, runs, show and state list work and leave
// nothing behind. As root, whom permissions do not stop, the commands run
// as nobody.
func TestReadOnlyState(t *testing.T) {
	dir := configDir(t, fastHCL(t, quick))
	if code, out, errOut := benchform(t, "apply", "-auto-approve", dir); code != exitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	bin := filepath.Join(t.TempDir(), "benchform")
	copyFile(t, os.Args[0], bin)
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "benchform.db"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	before := listDir(t, dir)

	for _, args := range [][]string{{"results"}, {"results", "-format", "json"}, {"runs"}, {"show"}, {"state", "list"}} {
		cmd := exec.Command(bin, append([]string{"-test.run=^$", "--", "-chdir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "BENCHFORM_TEST_MAIN=1")
		if os.Getuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "scenario.chat") {
			t.Errorf("%s on a read-only state: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("reading changed the directory from %s to %s", before, after)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, ", ")
}
