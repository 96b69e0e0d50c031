package cgroupfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// v1Drivers are the v1 controllers in the order their limits are written.
var v1Drivers = []controller{v1CPU, v1CPUAcct, v1Memory, v1Blkio, v1Pids, v1Freezer}

// v1Manager drives the per-controller hierarchies of cgroup v1.
type v1Manager struct {
	// roots maps each mounted controller to its hierarchy's mount point.
	roots  map[string]string
	parent string
	rmdir  func(string) error
}

func newV1(roots map[string]string, parent string) (*v1Manager, error) {
	if roots["freezer"] == "" {
		return nil, errors.New("cgroup v1: the freezer controller is not mounted; it is needed to kill a job's processes atomically")
	}
	m := &v1Manager{roots: roots, parent: parent, rmdir: rmdir}
	for _, dir := range m.hierarchies() {
		if err := os.MkdirAll(filepath.Join(dir, parent), 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup parent: %w", err)
		}
	}
	return m, nil
}

// Mode returns ModeV1.
func (m *v1Manager) Mode() Mode { return ModeV1 }

// hierarchies returns each distinct mount point once: controllers may share
// one (cpu,cpuacct).
func (m *v1Manager) hierarchies() []string {
	var dirs []string
	for _, c := range v1Controllers {
		if root, ok := m.roots[c]; ok && !slices.Contains(dirs, root) {
			dirs = append(dirs, root)
		}
	}
	return dirs
}

// Create makes the job's directory in every hierarchy and writes the limits.
func (m *v1Manager) Create(id string, limits Limits) (Cgroup, error) {
	if err := validName(id, false); err != nil {
		return nil, fmt.Errorf("cgroup id: %w", err)
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	for _, c := range v1Drivers {
		if c.needed(limits) && m.roots[c.name] == "" {
			return nil, fmt.Errorf("cgroup v1 controller %q is not mounted; it is needed for the requested limits", c.name)
		}
	}
	cg := &v1Cgroup{m: m, id: id}
	var made []string
	for _, dir := range cg.dirs() {
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = removeDirs(context.Background(), made, m.rmdir)
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		made = append(made, dir)
	}
	for _, c := range v1Drivers {
		if c.set == nil || m.roots[c.name] == "" {
			continue
		}
		if err := c.set(cg.dir(c.name), limits); err != nil {
			_ = removeDirs(context.Background(), made, m.rmdir)
			return nil, fmt.Errorf("apply %s limits: %w", c.name, err)
		}
	}
	return cg, nil
}

// Cgroup returns the handle of job id's cgroup.
func (m *v1Manager) Cgroup(id string) Cgroup { return &v1Cgroup{m: m, id: id} }

// List returns the job ids that have a directory in any hierarchy.
func (m *v1Manager) List() ([]string, error) {
	var ids []string
	for _, dir := range m.hierarchies() {
		names, err := listChildren(filepath.Join(dir, m.parent))
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if !slices.Contains(ids, name) {
				ids = append(ids, name)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// RemoveParent removes the parent group from every hierarchy.
func (m *v1Manager) RemoveParent() error {
	for _, dir := range m.hierarchies() {
		if err := m.rmdir(filepath.Join(dir, m.parent)); err != nil && !isGone(err) {
			return fmt.Errorf("remove cgroup parent: %w", err)
		}
	}
	return nil
}

// v1Cgroup is one job's directories in the v1 hierarchies.
type v1Cgroup struct {
	m  *v1Manager
	id string
}

// ID returns the job id.
func (c *v1Cgroup) ID() string { return c.id }

func (c *v1Cgroup) dir(controller string) string {
	return filepath.Join(c.m.roots[controller], c.m.parent, c.id)
}

func (c *v1Cgroup) dirs() []string {
	var dirs []string
	for _, root := range c.m.hierarchies() {
		dirs = append(dirs, filepath.Join(root, c.m.parent, c.id))
	}
	return dirs
}

// ProcsFiles returns the cgroup.procs file of every hierarchy.
func (c *v1Cgroup) ProcsFiles() []string {
	var files []string
	for _, dir := range c.dirs() {
		files = append(files, filepath.Join(dir, "cgroup.procs"))
	}
	return files
}

// Procs lists the processes, as the freezer hierarchy (which every job
// joins) sees them.
func (c *v1Cgroup) Procs() ([]int, error) { return readProcs(c.dir("freezer")) }

// Stats reads the figures of every mounted controller.
func (c *v1Cgroup) Stats() (Stats, error) {
	var s Stats
	for _, ctl := range v1Drivers {
		if ctl.stat == nil || c.m.roots[ctl.name] == "" {
			continue
		}
		if err := ctl.stat(c.dir(ctl.name), &s); err != nil {
			return Stats{}, fmt.Errorf("%s stats: %w", ctl.name, err)
		}
	}
	return s, nil
}

// Kill freezes the cgroup so that nothing can fork, sends SIGKILL to every
// process and thaws it so that they die. A cgroup that is gone, or goes
// while Kill runs, has nothing left to kill.
func (c *v1Cgroup) Kill() error {
	if err := c.kill(); err != nil && !isGone(err) {
		return err
	}
	return nil
}

func (c *v1Cgroup) kill() error {
	dir := c.dir("freezer")
	if err := writeFile(dir, "freezer.state", "FROZEN"); err != nil {
		return err
	}
	// Freezing is asynchronous: the state reads FREEZING until every task
	// is frozen. Killing before that is still correct, only not atomic, so
	// the wait is bounded.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		state, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		if err != nil {
			return fmt.Errorf("read freezer state: %w", err)
		}
		if strings.TrimSpace(string(state)) == "FROZEN" {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	pids, err := readProcs(dir)
	if err == nil {
		err = killAll(pids)
	}
	if thawErr := writeFile(dir, "freezer.state", "THAWED"); err == nil {
		err = thawErr
	}
	return err
}

// Remove waits until the cgroup is empty, then removes every directory.
func (c *v1Cgroup) Remove(ctx context.Context) error {
	dirs := c.dirs()
	if err := waitEmpty(ctx, dirs); err != nil {
		return err
	}
	return removeDirs(ctx, dirs, c.m.rmdir)
}
