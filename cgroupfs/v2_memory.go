package cgroupfs

import "strconv"

// v2Memory limits memory, forbids swap beyond it and makes an OOM kill end
// the whole job rather than one process of it.
var v2Memory = controller{
	name:   "memory",
	needed: func(l Limits) bool { return l.MemoryBytes > 0 },
	set: func(dir string, l Limits) error {
		if l.MemoryBytes == 0 {
			return nil
		}
		if err := writeFile(dir, "memory.max", strconv.FormatInt(l.MemoryBytes, 10)); err != nil {
			return err
		}
		if err := writeFile(dir, "memory.swap.max", "0"); err != nil {
			return err
		}
		return writeFile(dir, "memory.oom.group", "1")
	},
	stat: func(dir string, s *Stats) error {
		// memory.peak appeared in Linux 5.19.
		peak, err := readInt(dir, "memory.peak")
		if err := ignoreMissing(err); err != nil {
			return err
		}
		s.MemoryPeakBytes = peak
		kills, err := readKeyed(dir, "memory.events", "oom_kill")
		if err != nil {
			return ignoreMissing(err)
		}
		s.OOMKills = kills
		return nil
	},
}
