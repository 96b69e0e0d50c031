package cgroupfs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode is the cgroup version a Manager drives.
type Mode int

const (
	// ModeAuto detects the mode from the host's mounts.
	ModeAuto Mode = iota
	// ModeV1 drives the per-controller v1 hierarchies.
	ModeV1
	// ModeV2 drives the unified v2 hierarchy.
	ModeV2
)

// String returns "v1", "v2" or "auto".
func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeV2:
		return "v2"
	default:
		return "auto"
	}
}

// CPUPeriod is the CFS period, in microseconds, against which CPU quotas are
// expressed.
const CPUPeriod = 100000

// Limit bounds, shared by the request validation of the engine.
const (
	// MinCPUs gives a quota of 1 ms per period, the smallest the kernel takes.
	MinCPUs = 0.01
	// MinMemoryBytes is the smallest memory limit accepted: below it even a
	// tiny program fails in confusing ways.
	MinMemoryBytes = 4 << 20
	// MinPids is the smallest process-count limit: the program itself.
	MinPids = 1
	// MinIOBPS is the smallest I/O bandwidth limit: one page per second.
	MinIOBPS = 4096
)

// Device is a block device number.
type Device struct {
	Major, Minor uint32
}

// String returns "MAJOR:MINOR", the form cgroup files use.
func (d Device) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// IsZero reports whether d names no device.
func (d Device) IsZero() bool { return d == Device{} }

// Limits are the resource limits of one job's cgroup. A zero field means
// "not limited".
type Limits struct {
	// CPUs is the CPU bandwidth in CPUs (1.5 = one and a half CPUs).
	CPUs float64
	// MemoryBytes is the memory limit; swap cannot be used beyond it.
	MemoryBytes int64
	// Pids is the most processes and threads at once.
	Pids int64
	// IOReadBPS and IOWriteBPS are bandwidth limits on IODevice.
	IOReadBPS, IOWriteBPS int64
	// IODevice is the device the I/O limits apply to; required when either
	// I/O limit is set.
	IODevice Device
}

// Validate checks the limits against the kernel's and this package's
// minimums. It is called by Create and may be called earlier to fail fast.
func (l Limits) Validate() error {
	switch {
	case l.CPUs < 0 || math.IsNaN(l.CPUs) || math.IsInf(l.CPUs, 0):
		return fmt.Errorf("cpus must be a positive number, got %v", l.CPUs)
	case l.CPUs != 0 && l.CPUs < MinCPUs:
		return fmt.Errorf("cpus must be at least %v, got %v", MinCPUs, l.CPUs)
	case l.MemoryBytes < 0 || (l.MemoryBytes != 0 && l.MemoryBytes < MinMemoryBytes):
		return fmt.Errorf("memory must be at least %d bytes, got %d", MinMemoryBytes, l.MemoryBytes)
	case l.Pids < 0 || (l.Pids != 0 && l.Pids < MinPids):
		return fmt.Errorf("pids must be at least %d, got %d", MinPids, l.Pids)
	case l.IOReadBPS < 0 || (l.IOReadBPS != 0 && l.IOReadBPS < MinIOBPS):
		return fmt.Errorf("io read limit must be at least %d bytes/s, got %d", MinIOBPS, l.IOReadBPS)
	case l.IOWriteBPS < 0 || (l.IOWriteBPS != 0 && l.IOWriteBPS < MinIOBPS):
		return fmt.Errorf("io write limit must be at least %d bytes/s, got %d", MinIOBPS, l.IOWriteBPS)
	case (l.IOReadBPS != 0 || l.IOWriteBPS != 0) && l.IODevice.IsZero():
		return errors.New("io limits need a device")
	}
	return nil
}

// cpuQuota is the CFS quota in microseconds for l.CPUs.
func (l Limits) cpuQuota() int64 { return int64(math.Round(l.CPUs * CPUPeriod)) }

// Stats are a cgroup's usage figures. Figures the host cannot give are 0.
type Stats struct {
	// CPUTime is the user plus system time of all processes.
	CPUTime time.Duration
	// MemoryPeakBytes is the highest memory use recorded.
	MemoryPeakBytes int64
	// OOMKills counts the processes killed by the memory limit.
	OOMKills int64
	// Pids is the number of processes and threads now.
	Pids int64
}

// Manager creates and finds job cgroups under one parent group.
type Manager interface {
	// Mode is the cgroup version in use.
	Mode() Mode
	// Create makes the cgroup of job id and writes its limits. On error
	// nothing is left behind.
	Create(id string, limits Limits) (Cgroup, error)
	// Cgroup returns the cgroup of job id, which may not exist.
	Cgroup(id string) Cgroup
	// List returns the ids of the job cgroups that exist.
	List() ([]string, error)
	// RemoveParent removes the parent group (in every hierarchy on v1). It
	// fails while job cgroups remain under it; a missing parent is fine.
	RemoveParent() error
}

// Cgroup is one job's cgroup (one directory per hierarchy on v1).
type Cgroup interface {
	// ID is the job id the cgroup is named after.
	ID() string
	// ProcsFiles are the cgroup.procs files a process writes "0" into to
	// join the cgroup in every hierarchy.
	ProcsFiles() []string
	// Procs lists the processes in the cgroup.
	Procs() ([]int, error)
	// Stats reads the usage figures.
	Stats() (Stats, error)
	// Kill sends SIGKILL to every process in the cgroup, including those
	// forked while it runs.
	Kill() error
	// Remove waits until the cgroup is empty, then removes it; it retries
	// while the kernel reports it busy, until ctx ends.
	Remove(ctx context.Context) error
}

// Options configure New.
type Options struct {
	// Mode selects the driver; ModeAuto detects it.
	Mode Mode
	// Root is the mount point of the v2 hierarchy, or the directory holding
	// the v1 hierarchies; empty means /sys/fs/cgroup (or, detected, wherever
	// the host mounts them).
	Root string
	// Parent is the group under which job cgroups are made, relative to the
	// root of each hierarchy; empty means "jobmanager".
	Parent string
}

// DefaultParent is the parent group used when Options.Parent is empty.
const DefaultParent = "jobmanager"

// New returns the Manager for the host (or for opts.Root), making the parent
// group if needed.
func New(opts Options) (Manager, error) {
	if opts.Parent == "" {
		opts.Parent = DefaultParent
	}
	if err := validName(opts.Parent, true); err != nil {
		return nil, fmt.Errorf("cgroup parent: %w", err)
	}
	mode, mounts := opts.Mode, mountTable{}
	if mode == ModeAuto || opts.Root == "" {
		var err error
		mounts, err = readMountTable("/proc/self/mountinfo")
		if err != nil {
			return nil, err
		}
		if mode == ModeAuto {
			mode = mounts.mode()
		}
	}
	switch mode {
	case ModeV1:
		roots := mounts.v1
		if opts.Root != "" {
			roots = v1RootsUnder(opts.Root)
		}
		return newV1(roots, opts.Parent)
	case ModeV2:
		root := opts.Root
		if root == "" {
			root = mounts.v2
		}
		if root == "" {
			return nil, errors.New("no cgroup v2 hierarchy is mounted")
		}
		return newV2(root, opts.Parent)
	default:
		return nil, errors.New("no usable cgroup hierarchy: neither v1 controllers nor a v2 hierarchy with controllers is mounted")
	}
}

// validName accepts the ids and parents that may become cgroup directory
// names: no empty elements, no dot elements, no characters outside a
// conservative set.
func validName(name string, allowSlash bool) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." || (!allowSlash && elem != name) {
			return fmt.Errorf("invalid name %q", name)
		}
		for _, r := range elem {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				return fmt.Errorf("invalid character %q in name %q", r, name)
			}
		}
	}
	return nil
}

// writeFile writes value to dir/file and says what was written where when
// it fails. It creates the file when missing only so that the drivers can
// be tested against plain directories: on a real hierarchy every file the
// drivers write exists when its controller is enabled.
func writeFile(dir, file, value string) error {
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// readInt reads a file holding one integer.
func readInt(dir, file string) (int64, error) {
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	text := strings.TrimSpace(string(data))
	if text == "max" {
		return math.MaxInt64, nil
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// readKeyed reads one value of a "key value" file such as cpu.stat or
// memory.events; a missing key is 0.
func readKeyed(dir, file, key string) (int64, error) {
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s in %s: %w", key, path, err)
			}
			return n, nil
		}
	}
	return 0, nil
}

// readProcs reads a cgroup.procs file. A cgroup already removed, or being
// removed, has no processes.
func readProcs(dir string) ([]int, error) {
	path := filepath.Join(dir, "cgroup.procs")
	data, err := os.ReadFile(path)
	if isGone(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var pids []int
	for _, field := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(field)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// listChildren lists the directories below dir.
func listChildren(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
