package cgroupfs

import (
	"os"
	"path/filepath"
	"strconv"
)

// v1Memory limits memory, and memory plus swap where the kernel accounts
// swap (memsw), so that swapping cannot bypass the limit.
var v1Memory = controller{
	name:   "memory",
	needed: func(l Limits) bool { return l.MemoryBytes > 0 },
	set: func(dir string, l Limits) error {
		if l.MemoryBytes == 0 {
			return nil
		}
		value := strconv.FormatInt(l.MemoryBytes, 10)
		// memsw must never be below the memory limit, so the memory limit
		// is written first (a new cgroup starts with both unlimited).
		if err := writeFile(dir, "memory.limit_in_bytes", value); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
			return nil // no swap accounting: the kernel was built or booted without it
		}
		return writeFile(dir, "memory.memsw.limit_in_bytes", value)
	},
	stat: func(dir string, s *Stats) error {
		peak, err := readInt(dir, "memory.max_usage_in_bytes")
		if err != nil {
			return ignoreMissing(err)
		}
		s.MemoryPeakBytes = peak
		// oom_kill appeared in memory.oom_control in Linux 4.13.
		kills, err := readKeyed(dir, "memory.oom_control", "oom_kill")
		if err != nil {
			return ignoreMissing(err)
		}
		s.OOMKills = kills
		return nil
	},
}
