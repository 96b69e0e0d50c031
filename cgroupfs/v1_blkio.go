package cgroupfs

import "fmt"

// v1Blkio throttles read and write bandwidth on one device.
var v1Blkio = controller{
	name:   "blkio",
	needed: func(l Limits) bool { return l.IOReadBPS > 0 || l.IOWriteBPS > 0 },
	set: func(dir string, l Limits) error {
		if l.IOReadBPS > 0 {
			if err := writeFile(dir, "blkio.throttle.read_bps_device", fmt.Sprintf("%s %d", l.IODevice, l.IOReadBPS)); err != nil {
				return err
			}
		}
		if l.IOWriteBPS > 0 {
			return writeFile(dir, "blkio.throttle.write_bps_device", fmt.Sprintf("%s %d", l.IODevice, l.IOWriteBPS))
		}
		return nil
	},
}
