package cgroupfs

import (
	"fmt"
	"strconv"
)

// v2IO throttles bandwidth with io.max ("MAJ:MIN rbps=N wbps=N").
var v2IO = controller{
	name:   "io",
	needed: func(l Limits) bool { return l.IOReadBPS > 0 || l.IOWriteBPS > 0 },
	set: func(dir string, l Limits) error {
		if l.IOReadBPS == 0 && l.IOWriteBPS == 0 {
			return nil
		}
		return writeFile(dir, "io.max", fmt.Sprintf("%s rbps=%s wbps=%s", l.IODevice, maxOrValue(l.IOReadBPS), maxOrValue(l.IOWriteBPS)))
	},
}

// maxOrValue renders 0 (no limit) as the kernel's "max".
func maxOrValue(v int64) string {
	if v == 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}
