package cgroupfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

// fakeV2Root makes a directory that looks like the root of a v2 hierarchy
// offering controllers. The kernel is not there to create interface files
// or remove non-empty directories, so the manager's rmdir is RemoveAll.
func fakeV2Root(t *testing.T, controllers string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte(controllers+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func newFakeV2(t *testing.T, controllers string) *v2Manager {
	t.Helper()
	m, err := New(Options{Mode: ModeV2, Root: fakeV2Root(t, controllers), Parent: "jm/jobs"})
	if err != nil {
		t.Fatal(err)
	}
	v2 := m.(*v2Manager)
	v2.rmdir = os.RemoveAll
	return v2
}

func TestV2EnablesControllersOnTheWayDown(t *testing.T) {
	m := newFakeV2(t, "cpuset cpu io memory hugetlb pids rdma")
	if got := strings.Join(m.enabled, " "); got != "cpu memory io pids" {
		t.Fatalf("enabled %q", got)
	}
	for _, level := range []string{m.root, filepath.Join(m.root, "jm"), filepath.Join(m.root, "jm/jobs")} {
		if _, err := os.Stat(filepath.Join(level, "cgroup.subtree_control")); err != nil {
			t.Errorf("subtree_control not written at %s: %v", level, err)
		}
	}
}

func TestV2CreateWritesEveryLimit(t *testing.T) {
	m := newFakeV2(t, "cpu io memory pids")
	cg, err := m.Create("job-1", Limits{CPUs: 1.5, MemoryBytes: 256 << 20, Pids: 100, IOWriteBPS: 20 << 20, IODevice: Device{254, 0}})
	if err != nil {
		t.Fatal(err)
	}
	dir := cg.(*v2Cgroup).dir()
	for file, want := range map[string]string{
		"cpu.max":          "150000 100000",
		"memory.max":       "268435456",
		"memory.swap.max":  "0",
		"memory.oom.group": "1",
		"io.max":           "254:0 rbps=max wbps=20971520",
		"pids.max":         "100",
	} {
		if got := readString(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := cg.ProcsFiles(); len(got) != 1 || got[0] != filepath.Join(dir, "cgroup.procs") {
		t.Errorf("ProcsFiles = %v", got)
	}
}

func TestV2UnlimitedWritesNoLimit(t *testing.T) {
	m := newFakeV2(t, "cpu io memory pids")
	cg, err := m.Create("job-free", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"cpu.max", "memory.max", "io.max", "pids.max"} {
		if _, err := os.Stat(filepath.Join(cg.(*v2Cgroup).dir(), file)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s written for a job without limits", file)
		}
	}
}

func TestV2MissingControllerFailsAndLeavesNothing(t *testing.T) {
	m := newFakeV2(t, "cpu pids")
	_, err := m.Create("job-mem", Limits{MemoryBytes: 64 << 20})
	if err == nil || !strings.Contains(err.Error(), `"memory"`) {
		t.Fatalf("Create = %v, want an error naming the memory controller", err)
	}
	if ids, _ := m.List(); len(ids) != 0 {
		t.Fatalf("left behind: %v", ids)
	}
}

func TestV2StatsAndKillOnFakeTree(t *testing.T) {
	m := newFakeV2(t, "cpu io memory pids")
	cg, err := m.Create("job-s", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dir := cg.(*v2Cgroup).dir()
	files := map[string]string{
		"cpu.stat":       "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
		"memory.peak":    "1048576\n",
		"memory.events":  "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		"pids.current":   "4\n",
		"cgroup.procs":   "",
		"cgroup.kill":    "",
		"cgroup.freeze":  "0\n",
		"cgroup.events":  "populated 0\n",
		"memory.current": "0\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{CPUTime: 1500 * time.Millisecond, MemoryPeakBytes: 1 << 20, OOMKills: 1, Pids: 4}
	if stats != want {
		t.Fatalf("Stats = %+v, want %+v", stats, want)
	}
	if err := cg.Kill(); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dir, "cgroup.kill")); got != "1" {
		t.Fatalf("cgroup.kill = %q, want 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := cg.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("cgroup directory left behind")
	}
}

// TestV2LifecycleOnRealHierarchy drives the v2 driver against the host's
// real cgroup2 mount. On a hybrid host it offers no controllers, so only
// the lifecycle is tested there: create, join, kill, remove.
func TestV2LifecycleOnRealHierarchy(t *testing.T) {
	table, err := readMountTable("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if table.v2 == "" {
		jobexectest.Unavailable(t, "no cgroup2 mount on this host")
	}
	m := newHostManager(t, Options{Mode: ModeV2, Root: table.v2})
	cg, err := m.Create("job-life", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := joinSleeper(t, cg)
	stats, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.CPUTime <= 0 {
		t.Errorf("CPUTime = %v, want > 0 after a shell ran", stats.CPUTime)
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
}
