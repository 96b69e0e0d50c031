package jobexec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec"
)

// nobody is the unprivileged user of the escape tests.
var nobody = &jobexec.User{UID: 65534, GID: 65534}

// unprivileged runs a shell script as nobody in a real cgroup and returns
// its stdout (stderr to stdout, to read the refusals).
func unprivileged(t *testing.T, script string) string {
	t.Helper()
	cg := newCgroup(t, cgroupfs.Limits{Pids: 64})
	j := launchAs(t, cg, nobody, "/bin/sh", "-c", "{ "+script+"; } 2>&1")
	j.wait(t)
	return j.stdout.String()
}

func TestUnprivilegedJobHasNoCapabilitiesAndNoNewPrivs(t *testing.T) {
	out := unprivileged(t, "id -u; id -g; id -G; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status")
	for _, want := range []string{"65534\n65534\n65534\n", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestUnprivilegedJobCannotLeaveItsCgroups(t *testing.T) {
	// The root cgroup of each hierarchy, and the job's own parent.
	out := unprivileged(t, `for f in /sys/fs/cgroup/*/cgroup.procs; do echo $$ > $f && echo "escaped to $f"; done; cat /proc/self/cgroup`)
	if strings.Contains(out, "escaped") {
		t.Fatalf("the job left its cgroup:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, ":pids:") && strings.HasSuffix(line, ":/") {
			t.Fatalf("the job is in the root pids cgroup:\n%s", out)
		}
	}
	if !strings.Contains(out, "Permission denied") && !strings.Contains(out, "Read-only") {
		t.Fatalf("no refusal seen:\n%s", out)
	}
}

func TestUnprivilegedJobCannotMountOrRemount(t *testing.T) {
	dir := t.TempDir()
	out := unprivileged(t, fmt.Sprintf("mount -t tmpfs x %s && echo mounted; mount -o remount,rw / && echo remounted; umount /proc && echo unmounted; true", dir))
	for _, bad := range []string{"mounted\n", "remounted", "unmounted"} {
		if strings.Contains(out, bad) {
			t.Fatalf("an unprivileged job could %s:\n%s", strings.TrimSpace(bad), out)
		}
	}
}

func TestUnprivilegedJobCannotSignalOutsideItsNamespace(t *testing.T) {
	// PID 1 is the root helper; host processes are not even visible.
	out := unprivileged(t, fmt.Sprintf("kill -0 1 && echo signalled-init; kill -0 %d && echo signalled-host; true", os.Getpid()))
	if strings.Contains(out, "signalled") {
		t.Fatalf("the job could signal outside itself:\n%s", out)
	}
}

func TestUnprivilegedJobCannotGainPrivilegeThroughSetuid(t *testing.T) {
	// A setuid-root copy of id: with no_new_privs the bit grants nothing.
	// t.TempDir's parent is private to root; nobody must reach the file.
	dir, err := os.MkdirTemp("", "jobexec-suid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/usr/bin/id")
	if err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(dir, "suid-id")
	if err := os.WriteFile(suid, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o4755); err != nil {
		t.Fatal(err)
	}
	out := unprivileged(t, suid+" -u")
	if strings.TrimSpace(out) != "65534" {
		t.Fatalf("setuid binary ran as %q, want 65534", strings.TrimSpace(out))
	}
}
