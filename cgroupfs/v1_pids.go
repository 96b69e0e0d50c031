package cgroupfs

import "strconv"

// v1Pids limits the number of processes and threads. The v1 and v2 files
// are the same.
var v1Pids = controller{
	name:   "pids",
	needed: func(l Limits) bool { return l.Pids > 0 },
	set:    setPidsMax,
	stat:   statPidsCurrent,
}

func setPidsMax(dir string, l Limits) error {
	if l.Pids == 0 {
		return nil
	}
	return writeFile(dir, "pids.max", strconv.FormatInt(l.Pids, 10))
}

func statPidsCurrent(dir string, s *Stats) error {
	n, err := readInt(dir, "pids.current")
	if err != nil {
		return ignoreMissing(err)
	}
	s.Pids = n
	return nil
}
