package cgroupfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

// newHostManager returns a Manager on the host's real hierarchy, under a
// parent unique to the test, and removes the parent afterwards.
func newHostManager(t *testing.T, opts Options) Manager {
	t.Helper()
	jobexectest.RequireRoot(t)
	opts.Parent = "jobmanager-test-" + uuid.NewString()[:8]
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ids, _ := m.List()
		for _, id := range ids {
			cg := m.Cgroup(id)
			_ = cg.Kill()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := cg.Remove(ctx); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			cancel()
		}
		if err := m.RemoveParent(); err != nil {
			t.Errorf("remove parent: %v", err)
		}
	})
	return m
}

// joinSleeper starts a shell that joins cg, forks a grandchild, and sleeps.
func joinSleeper(t *testing.T, cg Cgroup) *exec.Cmd {
	t.Helper()
	script := "set -e; "
	for _, f := range cg.ProcsFiles() {
		script += fmt.Sprintf("echo 0 > %s; ", f)
	}
	script += "sleep 60 & exec sleep 60"
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Wait for both sleeps to be inside.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := cg.Procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 2 {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes in cgroup: %v, want 2", pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestDetectModeOfThisHost(t *testing.T) {
	table, err := readMountTable("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var fs struct{ v1, v2 bool }
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		fs.v1 = fs.v1 || strings.Contains(line, " - cgroup cgroup ")
		fs.v2 = fs.v2 || strings.Contains(line, " - cgroup2 ")
	}
	want := ModeAuto
	switch {
	case fs.v1:
		want = ModeV1
	case fs.v2:
		want = ModeV2
	}
	if got := table.mode(); got != want {
		t.Fatalf("mode = %v, want %v", got, want)
	}
}

func TestMountTableModes(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		mode      Mode
		v2        string
		memory    string
	}{
		{
			name:      "unified",
			mountinfo: "35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
			mode:      ModeV2, v2: "/sys/fs/cgroup",
		},
		{
			name: "hybrid",
			mountinfo: "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
				"32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
				"35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			mode: ModeV1, v2: "/sys/fs/cgroup/unified", memory: "/sys/fs/cgroup/memory",
		},
		{
			name:      "escaped mount point",
			mountinfo: `35 31 0:32 / /cg/mem\040ory rw - cgroup cgroup rw,memory` + "\n",
			mode:      ModeV1, memory: "/cg/mem ory",
		},
		{name: "none", mountinfo: "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n", mode: ModeAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(path, []byte(tt.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			table, err := readMountTable(path)
			if err != nil {
				t.Fatal(err)
			}
			if table.mode() != tt.mode || table.v2 != tt.v2 || table.v1["memory"] != tt.memory {
				t.Fatalf("got mode %v v2 %q memory %q", table.mode(), table.v2, table.v1["memory"])
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	dev := Device{Major: 8, Minor: 0}
	tests := []struct {
		name   string
		limits Limits
		want   string
	}{
		{"negative cpus", Limits{CPUs: -1}, "cpus"},
		{"cpus below 1ms quota", Limits{CPUs: 0.001}, "at least 0.01"},
		{"memory too small", Limits{MemoryBytes: 1024}, "memory"},
		{"negative memory", Limits{MemoryBytes: -5}, "memory"},
		{"negative pids", Limits{Pids: -1}, "pids"},
		{"io read too small", Limits{IOReadBPS: 10, IODevice: dev}, "io read"},
		{"io write negative", Limits{IOWriteBPS: -1, IODevice: dev}, "io write"},
		{"io without device", Limits{IOReadBPS: 1 << 20}, "device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tt.want)
			}
		})
	}
	ok := Limits{CPUs: 0.01, MemoryBytes: MinMemoryBytes, Pids: 1, IOReadBPS: MinIOBPS, IOWriteBPS: MinIOBPS, IODevice: dev}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimum limits refused: %v", err)
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Fatalf("no limits refused: %v", err)
	}
}

func TestParseDevice(t *testing.T) {
	if d, err := ParseDevice("254:16"); err != nil || d != (Device{254, 16}) {
		t.Fatalf("ParseDevice = %v, %v", d, err)
	}
	for _, bad := range []string{"", "8", "8:", "a:b", "8:0 ", "-1:0"} {
		if _, err := ParseDevice(bad); err == nil {
			t.Errorf("ParseDevice(%q) accepted", bad)
		}
	}
}

func TestDeviceOfIsAWholeDisk(t *testing.T) {
	dev, err := DeviceOf("/")
	if err != nil {
		jobexectest.Unavailable(t, "root filesystem is not on a block device here: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/sys/dev/block", dev.String(), "partition")); err == nil {
		t.Fatalf("DeviceOf returned partition %v, want its disk", dev)
	}
	if _, err := DeviceOf("/proc"); err == nil {
		t.Fatal("DeviceOf(/proc) accepted a filesystem without a block device")
	}
}

func TestNewRejectsBadParent(t *testing.T) {
	for _, parent := range []string{"../escape", "a//b", "/abs", "with space"} {
		if _, err := New(Options{Mode: ModeV2, Root: t.TempDir(), Parent: parent}); err == nil {
			t.Errorf("parent %q accepted", parent)
		}
	}
}
