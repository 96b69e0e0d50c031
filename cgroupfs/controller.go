package cgroupfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// controller is one resource controller of a driver: its name, whether a
// job with given limits needs it, how to write the limits into a cgroup
// directory and how to read its figures back.
type controller struct {
	name string
	// needed reports whether limits cannot be applied without it.
	needed func(Limits) bool
	// set writes the limits; nil when the controller has none.
	set func(dir string, l Limits) error
	// stat adds the controller's figures to s; nil when it has none.
	stat func(dir string, s *Stats) error
}

// never is the needed function of controllers that are used when present
// but that no limit depends on.
func never(Limits) bool { return false }

// ignoreMissing turns "file does not exist" into nil: statistics files
// vary with kernel versions and configurations.
func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// isGone reports whether err says that the cgroup was removed (while it was
// being read, its files fail with ENODEV).
func isGone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}

// waitEmpty polls until none of dirs holds a process, or ctx ends. Dying
// processes leave their cgroup a little after SIGKILL, so Remove waits.
func waitEmpty(ctx context.Context, dirs []string) error {
	delay := 200 * time.Microsecond
	for {
		busy := ""
		for _, dir := range dirs {
			pids, err := readProcs(dir)
			if err != nil {
				return err
			}
			if len(pids) > 0 {
				busy = dir
				break
			}
		}
		if busy == "" {
			return nil
		}
		if err := sleep(ctx, &delay); err != nil {
			return fmt.Errorf("cgroup %s still has processes: %w", busy, err)
		}
	}
}

// removeDirs removes dirs, retrying while the kernel says EBUSY (a cgroup is
// busy for a moment after its last process exits). Missing dirs are fine.
func removeDirs(ctx context.Context, dirs []string, rmdir func(string) error) error {
	for _, dir := range dirs {
		delay := 200 * time.Microsecond
		for {
			err := rmdir(dir)
			if err == nil || isGone(err) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) {
				return fmt.Errorf("remove cgroup %s: %w", dir, err)
			}
			if err := sleep(ctx, &delay); err != nil {
				return fmt.Errorf("remove cgroup %s: still busy: %w", dir, err)
			}
		}
	}
	return nil
}

// sleep waits for *delay (doubling it up to 20 ms for the next call) or
// until ctx ends.
func sleep(ctx context.Context, delay *time.Duration) error {
	timer := time.NewTimer(*delay)
	defer timer.Stop()
	*delay = min(*delay*2, 20*time.Millisecond)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// killAll sends SIGKILL to pids; processes already gone are fine.
func killAll(pids []int) error {
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill process %d: %w", pid, err)
		}
	}
	return nil
}

// rmdir removes a cgroup directory. A cgroup directory "contains" its
// interface files but is removed with rmdir, never recursively.
func rmdir(path string) error { return unix.Rmdir(path) }
