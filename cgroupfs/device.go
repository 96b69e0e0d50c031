package cgroupfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DeviceOf returns the whole disk holding the filesystem of path: the I/O
// limits of cgroups apply to disks, not partitions, so a partition is mapped
// to its disk through /sys/dev/block/MAJ:MIN.
func DeviceOf(path string) (Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Device{}, fmt.Errorf("stat %s: %w", path, err)
	}
	dev := Device{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev)}
	sysDir := filepath.Join("/sys/dev/block", dev.String())
	if _, err := os.Stat(sysDir); err != nil {
		return Device{}, fmt.Errorf("%s is on device %s, which is not a block device (tmpfs, overlay or network filesystem?): give the device explicitly", path, dev)
	}
	if _, err := os.Stat(filepath.Join(sysDir, "partition")); err != nil {
		return dev, nil
	}
	// A partition's sysfs directory sits inside its disk's directory.
	real, err := filepath.EvalSymlinks(sysDir)
	if err != nil {
		return Device{}, fmt.Errorf("resolve %s: %w", sysDir, err)
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
	if err != nil {
		return Device{}, fmt.Errorf("find the disk of partition %s: %w", dev, err)
	}
	return ParseDevice(strings.TrimSpace(string(data)))
}

// ParseDevice parses "MAJOR:MINOR".
func ParseDevice(s string) (Device, error) {
	var d Device
	if _, err := fmt.Sscanf(s, "%d:%d", &d.Major, &d.Minor); err != nil || d.String() != s {
		return Device{}, fmt.Errorf("invalid device %q: want MAJOR:MINOR", s)
	}
	return d, nil
}
