package jobexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
)

var helperPath string

// helpers is the pool the tests launch from, as the engine does: one
// helper waits ahead of each launch. pool_test.go covers cold launches.
var helpers struct {
	once sync.Once
	pool *jobexec.Pool
}

func testPool() *jobexec.Pool {
	helpers.once.Do(func() { helpers.pool = jobexec.NewPool(helperPath, 1) })
	return helpers.pool
}

func TestMain(m *testing.M) {
	jobexectest.RunWithHelper(m, &helperPath, func() error {
		if helpers.pool != nil {
			helpers.pool.Close()
		}
		return nil
	})
}

// job is a launched helper with its output collected.
type job struct {
	proc           *jobexec.Process
	stdout, stderr *collector
}

// collector copies a pipe into a buffer that tests can poll.
type collector struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func collect(r io.ReadCloser) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer r.Close()
		chunk := make([]byte, 32<<10)
		for {
			n, err := r.Read(chunk)
			c.mu.Lock()
			c.buf.Write(chunk[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor polls until the output contains s.
func (c *collector) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q never contained %q", c.String(), s)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newCgroup makes a real cgroup for one test under a parent unique to it.
func newCgroup(t *testing.T, limits cgroupfs.Limits) cgroupfs.Cgroup {
	t.Helper()
	jobexectest.RequireRoot(t)
	m, err := cgroupfs.New(cgroupfs.Options{Parent: "jobmanager-test-" + uuid.NewString()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	cg, err := m.Create("job", limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cg.Kill()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cg.Remove(ctx); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
		if err := m.RemoveParent(); err != nil {
			t.Error(err)
		}
	})
	return cg
}

// launch starts program in cg (which may be nil) and lets it run.
func launch(t *testing.T, cg cgroupfs.Cgroup, program string, args ...string) *job {
	t.Helper()
	j, err := tryLaunch(t, cg, program, args...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func tryLaunch(t *testing.T, cg cgroupfs.Cgroup, program string, args ...string) (*job, error) {
	t.Helper()
	return tryLaunchAs(t, cg, nil, program, args...)
}

// launchAs is launch with the program run as user.
func launchAs(t *testing.T, cg cgroupfs.Cgroup, user *jobexec.User, program string, args ...string) *job {
	t.Helper()
	j, err := tryLaunchAs(t, cg, user, program, args...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func tryLaunchAs(t *testing.T, cg cgroupfs.Cgroup, user *jobexec.User, program string, args ...string) (*job, error) {
	t.Helper()
	jobexectest.RequireRoot(t)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobexec.Config{Program: program, Args: args, Stdout: outW, Stderr: errW, User: user}
	if cg != nil {
		cfg.CgroupProcs = cg.ProcsFiles()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proc, err := testPool().Launch(ctx, cfg)
	outW.Close()
	errW.Close()
	j := &job{stdout: collect(outR), stderr: collect(errR)}
	if err != nil {
		return nil, err
	}
	j.proc = proc
	t.Cleanup(func() { _ = proc.Signal(syscall.SIGKILL); _, _ = proc.Wait() })
	return j, nil
}

// wait waits for the job and its output.
func (j *job) wait(t *testing.T) jobexec.ExitStatus {
	t.Helper()
	status, err := j.proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	<-j.stdout.done
	<-j.stderr.done
	return status
}

func sh(t *testing.T, cg cgroupfs.Cgroup, script string) (string, jobexec.ExitStatus) {
	t.Helper()
	j := launch(t, cg, "/bin/sh", "-c", script)
	status := j.wait(t)
	if status != (jobexec.ExitStatus{}) {
		t.Logf("stderr: %s", j.stderr.String())
	}
	return j.stdout.String(), status
}

func TestNamespacesDifferFromTheHost(t *testing.T) {
	out, status := sh(t, nil, "readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net")
	if status != (jobexec.ExitStatus{}) {
		t.Fatalf("status %v", status)
	}
	inside := strings.Fields(out)
	if len(inside) != 3 {
		t.Fatalf("namespaces inside: %q", out)
	}
	for i, ns := range []string{"pid", "mnt", "net"} {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if inside[i] == host {
			t.Errorf("%s namespace is the host's (%s)", ns, host)
		}
	}
}

func TestProcShowsOnlyTheJob(t *testing.T) {
	out, _ := sh(t, nil, `tr '\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9][0-9]*$'`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	if !strings.HasPrefix(lines[0], "jobexec ") {
		t.Errorf("PID 1 runs %q, want the helper", lines[0])
	}
	// The helper, the shell, ls and grep, at most: no host process.
	if n, err := strconv.Atoi(lines[1]); err != nil || n > 4 {
		t.Errorf("%s processes visible in /proc, want only the job's", lines[1])
	}
}

func TestOnlyLoopbackExistsAndIsUp(t *testing.T) {
	out, status := sh(t, nil, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags 2>/dev/null; ip -o link show 2>/dev/null || true`)
	if status != (jobexec.ExitStatus{}) {
		t.Fatalf("status %v", status)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "lo" || (len(lines) > 1 && !strings.HasPrefix(lines[1], "0x") && !strings.Contains(lines[1], "lo:")) {
		t.Fatalf("interfaces inside: %q, want only lo", out)
	}
	if strings.Contains(out, "lo:") && !strings.Contains(out, "UP") {
		t.Errorf("lo is not up: %q", out)
	}
}

func TestLoopbackIsUsable(t *testing.T) {
	// A UDP datagram to 127.0.0.1 needs lo up; the shell's /dev/udp is not
	// portable, so the kernel's own view of lo's flags is read instead.
	out, _ := sh(t, nil, `cat /proc/net/if_inet6 >/dev/null 2>&1; grep -c . /proc/net/dev; awk 'NR>2 {print $1}' /proc/net/dev`)
	if !strings.Contains(out, "lo:") {
		t.Fatalf("no lo in %q", out)
	}
	j := launch(t, nil, "/bin/sh", "-c", "ip -o -4 addr show dev lo 2>&1 || echo no-ip")
	j.wait(t)
	if got := j.stdout.String(); !strings.Contains(got, "no-ip") && !strings.Contains(got, "127.0.0.1") {
		t.Fatalf("lo has no 127.0.0.1: %q", got)
	}
}

func TestMountInsideIsInvisibleOutside(t *testing.T) {
	dir := t.TempDir()
	out, status := sh(t, nil, fmt.Sprintf("mount -t tmpfs jobexec-test %s && grep -c ' %s ' /proc/self/mountinfo", dir, dir))
	if status != (jobexec.ExitStatus{}) || strings.TrimSpace(out) != "1" {
		t.Fatalf("mount inside failed: %q %v", out, status)
	}
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(host), " "+dir+" ") {
		t.Fatalf("the job's mount of %s is visible on the host", dir)
	}
}

func TestProgramStartsInsideItsCgroups(t *testing.T) {
	cg := newCgroup(t, cgroupfs.Limits{Pids: 64})
	// The program's very first process reads its own membership: nothing of
	// it ran before joining.
	j := launch(t, cg, "/bin/cat", "/proc/self/cgroup")
	if status := j.wait(t); status != (jobexec.ExitStatus{}) {
		t.Fatalf("status %v", status)
	}
	want := "/" + cg.ID()
	lines := 0
	for _, file := range cg.ProcsFiles() {
		_ = file
		lines++
	}
	found := strings.Count(j.stdout.String(), want+"\n")
	if found < lines {
		t.Fatalf("program in %d of %d job cgroups:\n%s", found, lines, j.stdout.String())
	}
}

func TestExitCodeAndSignalAreExact(t *testing.T) {
	if _, status := sh(t, nil, "exit 7"); status != (jobexec.ExitStatus{Code: 7}) {
		t.Errorf("exit 7 gave %v", status)
	}
	if _, status := sh(t, nil, "kill -TERM $$"); status != (jobexec.ExitStatus{Signal: syscall.SIGTERM}) {
		t.Errorf("kill -TERM gave %v", status)
	}
	if _, status := sh(t, nil, "exit 0"); status != (jobexec.ExitStatus{}) {
		t.Errorf("exit 0 gave %v", status)
	}
}

func TestExecErrorsAreReportedBeforeRunning(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data.txt")
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(notExec, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte{0x7f, 'X', 0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		program string
		want    string
	}{
		{filepath.Join(dir, "missing"), "no such file"},
		{notExec, "permission denied"},
		{garbage, "exec format error"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.program), func(t *testing.T) {
			_, err := tryLaunch(t, nil, tt.program)
			var execErr *jobexec.ExecError
			if !errors.As(err, &execErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an ExecError saying %q", err, tt.want)
			}
		})
	}
}

func TestSetupErrorWhenCgroupCannotBeJoined(t *testing.T) {
	_, err := tryLaunch(t, fakeCgroup{files: []string{"/nonexistent/cgroup.procs"}}, "/bin/true")
	var setup *jobexec.SetupError
	if !errors.As(err, &setup) || !strings.Contains(err.Error(), "join cgroup") {
		t.Fatalf("err = %v, want a SetupError about joining the cgroup", err)
	}
}

type fakeCgroup struct {
	cgroupfs.Cgroup
	files []string
}

func (f fakeCgroup) ProcsFiles() []string { return f.files }

func TestSignalsAreForwarded(t *testing.T) {
	j := launch(t, nil, "/bin/sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.01; done`)
	j.stdout.waitFor(t, "ready")
	if err := j.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if status := j.wait(t); status != (jobexec.ExitStatus{Code: 42}) {
		t.Fatalf("status %v, want exit 42", status)
	}
	if !strings.Contains(j.stdout.String(), "got-term") {
		t.Fatalf("trap did not run: %q", j.stdout.String())
	}
}

func TestOrphansAreReaped(t *testing.T) {
	// Each subshell's child is orphaned at once and reparented to PID 1.
	out, _ := sh(t, nil, `for i in 1 2 3 4 5; do ( /bin/true & ); done; sleep 0.3; grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l`)
	if strings.TrimSpace(out) != "0" {
		t.Fatalf("%s zombies left in the namespace", strings.TrimSpace(out))
	}
}

func TestLeftoversDieWithTheProgram(t *testing.T) {
	cg := newCgroup(t, cgroupfs.Limits{})
	j := launch(t, cg, "/bin/sh", "-c", "setsid sleep 60 & sleep 60 & echo started")
	j.wait(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := cg.Procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes outlived the job: %v", pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProgramPidIsTheHelpersChild(t *testing.T) {
	j := launch(t, nil, "/bin/sh", "-c", "echo ready; sleep 60")
	j.stdout.waitFor(t, "ready")
	pid := j.proc.ProgramPid()
	if pid == 0 || pid == j.proc.Pid() {
		t.Fatalf("ProgramPid = %d (helper %d)", pid, j.proc.Pid())
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.HasPrefix(string(cmdline), "/bin/sh") {
		t.Fatalf("pid %d runs %q (%v), want /bin/sh", pid, cmdline, err)
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("JOBEXEC_SECRET", "leak")
	out, _ := sh(t, nil, "env | sort")
	if strings.Contains(out, "JOBEXEC_SECRET") {
		t.Fatal("the server's environment reached the job")
	}
	for _, want := range []string{"PATH=", "HOME="} {
		if !strings.Contains(out, want) {
			t.Errorf("environment lacks %s: %q", want, out)
		}
	}
}

func TestInheritedPipesDoNotReachTheProgram(t *testing.T) {
	out, _ := sh(t, nil, "ls /proc/self/fd")
	for _, fd := range strings.Fields(out) {
		if fd != "0" && fd != "1" && fd != "2" && fd != "3" {
			t.Fatalf("program has fds %q, want only 0-2 (and ls's own directory fd)", out)
		}
	}
}
