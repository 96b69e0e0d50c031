// Package jobexectest holds what the tests of several packages need to run
// real jobs: the jobexec helper built from source, and the rule that tests
// needing root run in CI and never skip there.
package jobexectest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireRoot skips t when not running as root, except in CI (CI=true),
// where a skip would hide a failure, so it fails instead.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("this test needs root, and CI runs as root: refusing to skip")
	}
	tb.Skip("needs root (cgroups and namespaces)")
}

// BuildBinaries builds the packages named by pkgs (relative to the module
// root, e.g. "./jobexec/cmd/jobexec") into dir and returns dir. It is meant
// for TestMain.
func BuildBinaries(dir string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %w\n%s", pkgs, err, out)
	}
	return nil
}

// moduleRoot is the directory of the module's go.mod, found from this file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the module root")
	}
	return filepath.Join(filepath.Dir(file), "..", ".."), nil
}

// RunWithHelper is a TestMain: it builds the jobexec helper into a
// temporary directory, sets *helper to its path, runs the tests, runs the
// after checks when they passed, removes the directory and exits.
func RunWithHelper(m *testing.M, helper *string, after ...func() error) {
	dir, err := os.MkdirTemp("", "jobexec-helper-")
	if err == nil {
		err = BuildBinaries(dir, "./jobexec/cmd/jobexec")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*helper = filepath.Join(dir, "jobexec")
	code := m.Run()
	for _, check := range after {
		if code != 0 {
			break
		}
		if err := check(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// Unavailable skips tb because something the test needs is missing from
// this host, except in CI (CI=true), whose machines have everything the
// tests need: there a missing piece is a failure, never a silent skip.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("unavailable in CI: "+format, args...)
	}
	tb.Skipf(format, args...)
}
