package jobexec_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

// These tests measure that the kernel enforces each limit on a real job.

func TestCPULimitHalvesTwoBusyLoops(t *testing.T) {
	cg := newCgroup(t, cgroupfs.Limits{CPUs: 0.5})
	j := launch(t, cg, "/bin/sh", "-c", "while :; do :; done & while :; do :; done & echo ready; wait")
	j.stdout.waitFor(t, "ready")
	before, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(1500 * time.Millisecond)
	after, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cpus := float64(after.CPUTime-before.CPUTime) / float64(time.Since(start))
	t.Logf("two busy loops under cpus=0.5 used %.3f CPUs", cpus)
	if cpus < 0.3 || cpus > 0.65 {
		t.Fatalf("used %.3f CPUs, want about 0.5", cpus)
	}
}

func TestMemoryHogIsOOMKilled(t *testing.T) {
	cg := newCgroup(t, cgroupfs.Limits{MemoryBytes: 32 << 20})
	// tail keeps the whole of a line-less input in memory.
	j := launch(t, cg, "/usr/bin/tail", "/dev/zero")
	status := j.wait(t)
	if status != (jobexec.ExitStatus{Signal: syscall.SIGKILL}) {
		t.Fatalf("status %v, want killed by SIGKILL", status)
	}
	stats, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.OOMKills < 1 {
		t.Fatalf("OOMKills = %d, want at least 1", stats.OOMKills)
	}
	if stats.MemoryPeakBytes > 32<<20 || stats.MemoryPeakBytes < 16<<20 {
		t.Errorf("peak memory %d, want just under the 32 MiB limit", stats.MemoryPeakBytes)
	}
}

func TestForkStormStopsAtPidsMax(t *testing.T) {
	const limit = 24
	cg := newCgroup(t, cgroupfs.Limits{Pids: limit})
	j := launch(t, cg, "/bin/sh", "-c", `i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo all-forked`)
	status := j.wait(t)
	if strings.Contains(j.stdout.String(), "all-forked") {
		t.Fatal("200 processes forked under a limit of 24")
	}
	if !strings.Contains(strings.ToLower(j.stderr.String()), "fork") || status.Code == 0 {
		t.Fatalf("status %v, stderr %q: want the shell's fork failure", status, j.stderr.String())
	}
}

func TestDirectWritesAreHeldToTheWriteLimit(t *testing.T) {
	dir := t.TempDir()
	dev, err := cgroupfs.DeviceOf(dir)
	if err != nil {
		jobexectest.Unavailable(t, "temp dir not on a block device: %v", err)
	}
	const limit = 4 << 20
	cg := newCgroup(t, cgroupfs.Limits{IOWriteBPS: limit, IODevice: dev})
	file := filepath.Join(dir, "out")
	start := time.Now()
	j := launch(t, cg, "/bin/dd", "if=/dev/zero", "of="+file, "bs=256k", "count=40", "oflag=direct")
	if status := j.wait(t); status != (jobexec.ExitStatus{}) {
		if strings.Contains(j.stderr.String(), "Invalid argument") {
			jobexectest.Unavailable(t, "filesystem refuses O_DIRECT: %s", j.stderr.String())
		}
		t.Fatalf("dd: %v %s", status, j.stderr.String())
	}
	elapsed := time.Since(start)
	rate := float64(40*256<<10) / elapsed.Seconds()
	t.Logf("10 MiB of O_DIRECT writes under a 4 MiB/s limit: %.2f MiB/s (%v)", rate/(1<<20), elapsed)
	if rate > 1.25*limit {
		t.Fatalf("wrote at %.2f MiB/s, over the 4 MiB/s limit", rate/(1<<20))
	}
	if info, err := os.Stat(file); err != nil || info.Size() != 40*256<<10 {
		t.Fatalf("output file: %v %v", info, err)
	}
}

func TestCgroupIsEmptyAndRemovableAfterTheJob(t *testing.T) {
	cg := newCgroup(t, cgroupfs.Limits{Pids: 64, MemoryBytes: 64 << 20, CPUs: 1})
	j := launch(t, cg, "/bin/sh", "-c", "sleep 30 & sleep 30 & exit 3")
	if status := j.wait(t); status.Code != 3 {
		t.Fatalf("status %v", status)
	}
	// The helper's exit ends the leftovers; the cleanup then removes the
	// cgroup and fails the test if it cannot.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, _ := cg.Procs()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left: %v", pids)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
