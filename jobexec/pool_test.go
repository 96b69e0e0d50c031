package jobexec_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

// namedHelper copies the helper under a name of its own, so that a test
// can tell its pool's helpers from every other process.
func namedHelper(t *testing.T, name string) string {
	t.Helper()
	jobexectest.RequireRoot(t)
	data, err := os.ReadFile(helperPath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// childrenNamed lists this process's children whose command is name,
// zombies included.
func childrenNamed(t *testing.T, name string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		fields := strings.Fields(s[end+1:])
		if open < 0 || len(fields) < 2 || s[open+1:end] != name || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitForChildren polls until exactly n children are named name.
func waitForChildren(t *testing.T, name string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := childrenNamed(t, name)
		if len(pids) == n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes named %s, want %d", len(pids), name, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runFrom launches /bin/sh -c script through launch and returns its output.
func runFrom(t *testing.T, launch func(context.Context, jobexec.Config) (*jobexec.Process, error), cg cgroupfs.Cgroup, script string) string {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobexec.Config{Program: "/bin/sh", Args: []string{"-c", script}, Stdout: outW, Stderr: outW}
	if cg != nil {
		cfg.CgroupProcs = cg.ProcsFiles()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proc, err := launch(ctx, cfg)
	outW.Close()
	out := collect(outR)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := proc.Wait(); err != nil || status != (jobexec.ExitStatus{}) {
		t.Fatalf("status %v, %v; output %q", status, err, out.String())
	}
	<-out.done
	return out.String()
}

func TestColdLaunchRunsTheJobInItsCgroups(t *testing.T) {
	jobexectest.RequireRoot(t)
	cg := newCgroup(t, cgroupfs.Limits{Pids: 64})
	cold := func(ctx context.Context, cfg jobexec.Config) (*jobexec.Process, error) {
		return jobexec.Launch(ctx, helperPath, cfg)
	}
	out := runFrom(t, cold, cg, "echo $PPID; cat /proc/self/cgroup")
	if !strings.HasPrefix(out, "1\n") || strings.Count(out, "/"+cg.ID()+"\n") < len(cg.ProcsFiles()) {
		t.Fatalf("output %q: want the helper (PID 1) as parent, and every one of the job's %d cgroups", out, len(cg.ProcsFiles()))
	}
}

func TestPoolKeepsHelpersWaitingAndCloseEndsThem(t *testing.T) {
	helper := namedHelper(t, "pool-close")
	pool := jobexec.NewPool(helper, 2)
	idle := waitForChildren(t, "pool-close", 2)
	// A waiting helper is in no job's cgroup: in this process's own.
	own, _ := os.ReadFile("/proc/self/cgroup")
	for _, pid := range idle {
		theirs, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
		if err != nil || string(theirs) != string(own) {
			t.Fatalf("idle helper %d is in cgroups %q, want %q (%v)", pid, theirs, own, err)
		}
	}
	pool.Close()
	waitForChildren(t, "pool-close", 0) // reaped, not even zombies
	pool.Close()                        // twice is fine
}

func TestPoolRunsJobsWithAFreshHelperEachTime(t *testing.T) {
	pool := jobexec.NewPool(namedHelper(t, "pool-run"), 1)
	defer pool.Close()
	cg := newCgroup(t, cgroupfs.Limits{Pids: 64})
	var namespaces []string
	for range 3 {
		waitForChildren(t, "pool-run", 1)
		out := runFrom(t, pool.Launch, cg, "readlink /proc/1/ns/pid /proc/1/ns/net; ls /proc | grep -c '^[0-9]'")
		namespaces = append(namespaces, out)
	}
	for i, out := range namespaces {
		for j := range i {
			if out == namespaces[j] {
				t.Fatalf("jobs %d and %d share namespaces: %q", j, i, out)
			}
		}
		// /proc shows the helper, the shell and its ls and grep at most.
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 {
			t.Fatalf("output %q", out)
		}
	}
}

func TestPoolReplacesAHelperThatDiedWaiting(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			name := "pool-" + strconv.Itoa(int(sig))
			pool := jobexec.NewPool(namedHelper(t, name), 1)
			defer pool.Close()
			idle := waitForChildren(t, name, 1)
			if err := syscall.Kill(idle[0], sig); err != nil {
				t.Fatal(err)
			}
			// Gone (a zombie until the pool reaps it).
			deadline := time.Now().Add(5 * time.Second)
			for {
				stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(idle[0]), "stat"))
				if s := string(stat); s == "" || strings.Contains(s[strings.LastIndexByte(s, ')'):], ") Z") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("idle helper survived %v", sig)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if out := runFrom(t, pool.Launch, nil, "echo ran"); out != "ran\n" {
				t.Fatalf("output %q", out)
			}
		})
	}
}

func TestHelperRunByHandTouchesNothing(t *testing.T) {
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helperPath).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "started by the jobmanager server") {
		t.Fatalf("err %v, output %q", err, out)
	}
	if after, _ := os.ReadFile("/proc/self/mountinfo"); string(after) != string(before) {
		t.Fatalf("mounts changed:\n%s\nwas\n%s", after, before)
	}
}
