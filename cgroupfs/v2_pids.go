package cgroupfs

// v2Pids limits the number of processes and threads (same files as v1).
var v2Pids = controller{
	name:   "pids",
	needed: func(l Limits) bool { return l.Pids > 0 },
	set:    setPidsMax,
	stat:   statPidsCurrent,
}
