package cgroupfs

import (
	"fmt"
	"time"
)

// v2CPU limits CPU bandwidth with cpu.max ("QUOTA PERIOD").
var v2CPU = controller{
	name:   "cpu",
	needed: func(l Limits) bool { return l.CPUs > 0 },
	set: func(dir string, l Limits) error {
		if l.CPUs == 0 {
			return nil
		}
		return writeFile(dir, "cpu.max", fmt.Sprintf("%d %d", l.cpuQuota(), CPUPeriod))
	},
}

func microseconds(usec int64) time.Duration { return time.Duration(usec) * time.Microsecond }
