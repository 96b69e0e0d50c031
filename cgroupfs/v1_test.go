package cgroupfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

func newV1OnHost(t *testing.T) *v1Manager {
	t.Helper()
	table, err := readMountTable("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if table.mode() != ModeV1 {
		jobexectest.Unavailable(t, "no cgroup v1 controllers on this host")
	}
	return newHostManager(t, Options{}).(*v1Manager)
}

func TestV1CreateWritesEveryLimit(t *testing.T) {
	m := newV1OnHost(t)
	limits := Limits{CPUs: 0.5, MemoryBytes: 64 << 20, Pids: 32, IOReadBPS: 1 << 20, IOWriteBPS: 2 << 20, IODevice: Device{7, 0}}
	cg, err := m.Create("job-1", limits)
	if err != nil {
		t.Fatal(err)
	}
	c := cg.(*v1Cgroup)
	checks := map[string]string{
		filepath.Join(c.dir("cpu"), "cpu.cfs_period_us"):                 "100000",
		filepath.Join(c.dir("cpu"), "cpu.cfs_quota_us"):                  "50000",
		filepath.Join(c.dir("memory"), "memory.limit_in_bytes"):          "67108864",
		filepath.Join(c.dir("pids"), "pids.max"):                         "32",
		filepath.Join(c.dir("blkio"), "blkio.throttle.read_bps_device"):  "7:0 1048576",
		filepath.Join(c.dir("blkio"), "blkio.throttle.write_bps_device"): "7:0 2097152",
		filepath.Join(c.dir("memory"), "memory.memsw.limit_in_bytes"):    "67108864",
	}
	for path, want := range checks {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && filepath.Base(path) == "memory.memsw.limit_in_bytes" {
			continue // kernel without swap accounting
		}
		if got := readString(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if ids, _ := m.List(); !slices.Equal(ids, []string{"job-1"}) {
		t.Errorf("List = %v", ids)
	}
	if _, err := m.Create("job-1", Limits{}); err == nil {
		t.Error("Create of an existing id succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cg.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	for _, dir := range c.dirs() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind", dir)
		}
	}
}

func TestV1RefusedLimitLeavesNothing(t *testing.T) {
	m := newV1OnHost(t)
	// A major number no device has: the kernel refuses the throttle rule.
	_, err := m.Create("job-bad", Limits{IOReadBPS: 1 << 20, IODevice: Device{4095, 4095}})
	if err == nil {
		t.Fatal("Create with a device that does not exist succeeded")
	}
	if ids, _ := m.List(); len(ids) != 0 {
		t.Fatalf("left behind: %v", ids)
	}
}

func TestV1KillEndsEveryProcessThenRemove(t *testing.T) {
	m := newV1OnHost(t)
	cg, err := m.Create("job-kill", Limits{Pids: 16})
	if err != nil {
		t.Fatal(err)
	}
	cmd := joinSleeper(t, cg)
	stats, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pids != 2 {
		t.Errorf("Stats.Pids = %d, want 2", stats.Pids)
	}
	if err := cg.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("process survived Kill")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cg.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cg.Kill(); err != nil {
		t.Fatalf("Kill of a removed cgroup: %v", err)
	}
}

func TestV1RemoveWaitsForProcesses(t *testing.T) {
	m := newV1OnHost(t)
	cg, err := m.Create("job-busy", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	joinSleeper(t, cg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := cg.Remove(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Remove of a busy cgroup = %v, want deadline exceeded", err)
	}
}
