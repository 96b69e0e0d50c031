package cgroupfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// v1Controllers are the v1 controllers a job uses: the four that limit it,
// cpuacct for its CPU time and freezer to kill it atomically.
var v1Controllers = []string{"cpu", "cpuacct", "memory", "blkio", "pids", "freezer"}

// mountTable is what /proc/self/mountinfo says about cgroups.
type mountTable struct {
	// v1 maps each v1 controller to its hierarchy's mount point.
	v1 map[string]string
	// v2 is the mount point of the unified hierarchy, if any.
	v2 string
}

// readMountTable parses a mountinfo file.
func readMountTable(path string) (mountTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return mountTable{}, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	table := mountTable{v1: map[string]string{}}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		before, after, ok := strings.Cut(scanner.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(before), strings.Fields(after)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		mountPoint := unescapeMountPoint(fields[4])
		switch tail[0] {
		case "cgroup2":
			// The first cgroup2 mount wins: nested bind mounts come later.
			if table.v2 == "" {
				table.v2 = mountPoint
			}
		case "cgroup":
			for _, opt := range strings.Split(tail[2], ",") {
				for _, c := range v1Controllers {
					if opt == c {
						if _, seen := table.v1[c]; !seen {
							table.v1[c] = mountPoint
						}
					}
				}
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return mountTable{}, fmt.Errorf("read mount table: %w", err)
	}
	return table, nil
}

// mode chooses the driver: v1 when any v1 controller we use is mounted (v1
// and hybrid hosts: the controllers cannot be in both), else v2 when a v2
// hierarchy is mounted.
func (t mountTable) mode() Mode {
	if len(t.v1) > 0 {
		return ModeV1
	}
	if t.v2 != "" {
		return ModeV2
	}
	return ModeAuto
}

// v1RootsUnder maps each v1 controller to root/NAME, the conventional layout,
// for a v1 tree whose root is given explicitly.
func v1RootsUnder(root string) map[string]string {
	roots := map[string]string{}
	for _, c := range v1Controllers {
		dir := filepath.Join(root, c)
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			roots[c] = dir
		}
	}
	return roots
}

// unescapeMountPoint undoes the octal escapes (\040 for a space) of
// mountinfo.
func unescapeMountPoint(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
