package cgroupfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// v2Drivers are the v2 controllers in the order their limits are written.
var v2Drivers = []controller{v2CPU, v2Memory, v2IO, v2Pids}

// v2Manager drives the unified hierarchy of cgroup v2.
type v2Manager struct {
	root, parent string
	// enabled are the controllers enabled for the children of parent.
	enabled []string
	rmdir   func(string) error
}

// newV2 makes the parent group and enables, on the way down from the root,
// every controller the jobs use that the root offers.
func newV2(root, parent string) (*v2Manager, error) {
	data, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 at %s: %w", root, err)
	}
	available := strings.Fields(string(data))
	m := &v2Manager{root: root, parent: parent, rmdir: rmdir}
	if err := os.MkdirAll(filepath.Join(root, parent), 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup parent: %w", err)
	}
	// Every level from the root down to the parent delegates the
	// controllers to the level below; the parent holds no process itself,
	// as v2's "no internal processes" rule wants.
	levels := []string{root}
	for _, elem := range strings.Split(parent, "/") {
		levels = append(levels, filepath.Join(levels[len(levels)-1], elem))
	}
	for _, c := range v2Drivers {
		if !slices.Contains(available, c.name) {
			continue
		}
		ok := true
		for _, level := range levels {
			if err := writeFile(level, "cgroup.subtree_control", "+"+c.name); err != nil {
				ok = false
				break
			}
		}
		if ok {
			m.enabled = append(m.enabled, c.name)
		}
	}
	return m, nil
}

// Mode returns ModeV2.
func (m *v2Manager) Mode() Mode { return ModeV2 }

// Create makes the job's group and writes its limits.
func (m *v2Manager) Create(id string, limits Limits) (Cgroup, error) {
	if err := validName(id, false); err != nil {
		return nil, fmt.Errorf("cgroup id: %w", err)
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	for _, c := range v2Drivers {
		if c.needed(limits) && !slices.Contains(m.enabled, c.name) {
			return nil, fmt.Errorf("cgroup v2 controller %q is not available under %s; it is needed for the requested limits", c.name, filepath.Join(m.root, m.parent))
		}
	}
	cg := &v2Cgroup{m: m, id: id}
	dir := cg.dir()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	for _, c := range v2Drivers {
		if !slices.Contains(m.enabled, c.name) {
			continue
		}
		if err := c.set(dir, limits); err != nil {
			_ = m.rmdir(dir)
			return nil, fmt.Errorf("apply %s limits: %w", c.name, err)
		}
	}
	return cg, nil
}

// Cgroup returns the handle of job id's group.
func (m *v2Manager) Cgroup(id string) Cgroup { return &v2Cgroup{m: m, id: id} }

// List returns the ids of the job groups.
func (m *v2Manager) List() ([]string, error) {
	ids, err := listChildren(filepath.Join(m.root, m.parent))
	slices.Sort(ids)
	return ids, err
}

// RemoveParent removes the parent group.
func (m *v2Manager) RemoveParent() error {
	if err := m.rmdir(filepath.Join(m.root, m.parent)); err != nil && !isGone(err) {
		return fmt.Errorf("remove cgroup parent: %w", err)
	}
	return nil
}

// v2Cgroup is one job's group in the unified hierarchy.
type v2Cgroup struct {
	m  *v2Manager
	id string
}

// ID returns the job id.
func (c *v2Cgroup) ID() string { return c.id }

func (c *v2Cgroup) dir() string { return filepath.Join(c.m.root, c.m.parent, c.id) }

// ProcsFiles returns the group's one cgroup.procs file.
func (c *v2Cgroup) ProcsFiles() []string { return []string{filepath.Join(c.dir(), "cgroup.procs")} }

// Procs lists the processes in the group.
func (c *v2Cgroup) Procs() ([]int, error) { return readProcs(c.dir()) }

// Stats reads the figures; cpu.stat exists even without the cpu controller.
func (c *v2Cgroup) Stats() (Stats, error) {
	var s Stats
	usec, err := readKeyed(c.dir(), "cpu.stat", "usage_usec")
	if err := ignoreMissing(err); err != nil {
		return Stats{}, err
	}
	s.CPUTime = microseconds(usec)
	for _, ctl := range v2Drivers {
		if ctl.stat == nil || !slices.Contains(c.m.enabled, ctl.name) {
			continue
		}
		if err := ctl.stat(c.dir(), &s); err != nil {
			return Stats{}, fmt.Errorf("%s stats: %w", ctl.name, err)
		}
	}
	return s, nil
}

// Kill writes cgroup.kill (Linux 5.14+), which kills every process of the
// group and its descendants atomically. Older kernels lack the file: there
// the group is frozen, its processes killed, and thawed. A group that is
// gone, or goes while Kill runs, has nothing left to kill.
func (c *v2Cgroup) Kill() error {
	if err := c.kill(); err != nil && !isGone(err) {
		return err
	}
	return nil
}

func (c *v2Cgroup) kill() error {
	dir := c.dir()
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err == nil {
		return writeFile(dir, "cgroup.kill", "1")
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err == nil {
		if err := writeFile(dir, "cgroup.freeze", "1"); err != nil {
			return err
		}
		defer func() { _ = writeFile(dir, "cgroup.freeze", "0") }()
	}
	pids, err := readProcs(dir)
	if err != nil {
		return err
	}
	return killAll(pids)
}

// Remove waits until the group is empty, then removes it.
func (c *v2Cgroup) Remove(ctx context.Context) error {
	dirs := []string{c.dir()}
	if err := waitEmpty(ctx, dirs); err != nil {
		return err
	}
	return removeDirs(ctx, dirs, c.m.rmdir)
}
