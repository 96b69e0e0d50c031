package cgroupfs

import (
	"strconv"
	"time"
)

// v1CPU limits CPU bandwidth with the CFS quota: quota/period CPUs.
var v1CPU = controller{
	name:   "cpu",
	needed: func(l Limits) bool { return l.CPUs > 0 },
	set: func(dir string, l Limits) error {
		if l.CPUs == 0 {
			return nil
		}
		if err := writeFile(dir, "cpu.cfs_period_us", strconv.Itoa(CPUPeriod)); err != nil {
			return err
		}
		return writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(l.cpuQuota(), 10))
	},
}

// v1CPUAcct reports CPU time; v1 keeps it apart from the cpu controller.
var v1CPUAcct = controller{
	name:   "cpuacct",
	needed: never,
	stat: func(dir string, s *Stats) error {
		ns, err := readInt(dir, "cpuacct.usage")
		if err != nil {
			return ignoreMissing(err)
		}
		s.CPUTime = time.Duration(ns)
		return nil
	},
}
