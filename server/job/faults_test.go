package job

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Faults a job server meets in production, each on real processes.

func TestFullDataDiskKeepsJobsAndServerGoing(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("jobmanager-test", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	e := newEnv(t, func(o *Options) { o.DataDir = dir })
	// 8 MiB of output into a 2 MiB disk, then a last word and an exit code.
	job := e.start(t, alice, "flood", "/bin/sh", "-c", "head -c 8388608 /dev/zero; echo done >&2; exit 7")
	final := e.wait(t, alice, job.ID)
	if final.State != StateExited || final.ExitCode != 7 {
		t.Fatalf("the job did not run to its end: %+v", final)
	}
	if !final.OutputTruncated || !strings.Contains(final.Error, "disk is full") || strings.Contains(final.Error, dir) {
		t.Fatalf("status does not say the output was lost to a full disk (without paths): %+v", final)
	}
	got := e.output(t, alice, job.ID, Stdout, 0)
	if len(got) == 0 || len(got) >= 8<<20 {
		t.Fatalf("kept %d bytes of stdout", len(got))
	}
	// The server still answers.
	if _, _, err := e.m.List(context.Background(), alice, 0, ""); err != nil {
		t.Fatal(err)
	}
}

func TestMissingHelperIsAClearStartError(t *testing.T) {
	helperDir := t.TempDir()
	helper := filepath.Join(helperDir, "jobexec")
	data, err := os.ReadFile(helperPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helper, data, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Helper = helper })
	for _, breakIt := range []func() error{
		func() error { return os.Chmod(helper, 0o644) },
		func() error { return os.Remove(helper) },
	} {
		if err := breakIt(); err != nil {
			t.Fatal(err)
		}
		status, err := e.m.Start(context.Background(), alice, StartRequest{Name: "x", ProgramPath: "/bin/true"})
		if CodeOf(err) != CodeInternal || !strings.Contains(MessageOf(err), "jobexec is missing or not executable") || strings.Contains(MessageOf(err), helperDir) {
			t.Fatalf("err = %v", err)
		}
		if status.State != StateFailedToStart {
			t.Fatalf("status %+v", status)
		}
	}
	if ids, _ := e.cgroups.List(); len(ids) != 0 {
		t.Fatalf("cgroups left: %v", ids)
	}
	if _, err := Open(Options{DataDir: t.TempDir(), Helper: helper, Cgroups: e.cgroups}); err == nil {
		t.Fatal("Open accepted a missing helper")
	}
}

func TestJobThatClosesStdoutKeepsRunning(t *testing.T) {
	e := newEnv(t, nil)
	job := e.start(t, alice, "closer", "/bin/sh", "-c", "echo bye; exec >&-; sleep 0.3; echo still-here >&2")
	if got := e.output(t, alice, job.ID, Stdout, 0); got != "bye\n" {
		t.Fatalf("stdout %q", got)
	}
	final := e.wait(t, alice, job.ID)
	if final.State != StateExited || e.output(t, alice, job.ID, Stderr, 0) != "still-here\n" {
		t.Fatalf("final %+v", final)
	}
}

func TestJobIgnoringSIGTERMIsStillStopped(t *testing.T) {
	e := newEnv(t, nil)
	job := e.start(t, alice, "stubborn", "/bin/sh", "-c", "trap '' TERM INT HUP; echo ready; while :; do sleep 1; done")
	for e.m.jobs[job.ID].stdout.Size() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := e.m.Stop(context.Background(), alice, job.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.m.Query(context.Background(), alice, job.ID); status.Signal != int(syscall.SIGKILL) {
		t.Fatalf("status %+v", status)
	}
}

func TestForkBombStaysUnderItsPidsLimitAndIsStopped(t *testing.T) {
	e := newEnv(t, nil)
	status, err := e.m.Start(context.Background(), alice, StartRequest{
		Name: "bomb", ProgramPath: "/bin/sh", Arguments: []string{"-c", "f() { f | f & }; f; sleep 60"},
		Limits: Limits{Pids: 32},
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	j, _ := e.m.lookup(alice, status.ID)
	j.mu.Lock()
	cg := j.cgroup
	j.mu.Unlock()
	if cg != nil {
		stats, err := cg.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if limit := int64(32) + 16; stats.Pids > limit {
			t.Fatalf("%d tasks under a limit of %d", stats.Pids, limit)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.m.Stop(ctx, alice, status.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := e.cgroups.List(); len(ids) != 0 {
		t.Fatalf("cgroup left after the bomb: %v", ids)
	}
}

func TestGigabytesOfOutputKeepMemoryFlat(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.OutputLimit = 256 << 20 })
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	job := e.start(t, alice, "big", "/usr/bin/head", "-c", "2147483648", "/dev/zero")
	final := e.wait(t, alice, job.ID)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if final.State != StateExited || final.ExitCode != 0 || !final.OutputTruncated {
		t.Fatalf("final %+v", final)
	}
	if size := e.m.jobs[job.ID].stdout.Size(); size != 256<<20 {
		t.Fatalf("kept %d bytes, want the 256 MiB cap", size)
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB copying 2 GiB", grew>>20)
	}
}
