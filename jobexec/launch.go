package jobexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultEnv is the environment of a job's program: a fixed PATH and HOME,
// never the server's own environment.
var DefaultEnv = []string{DefaultPath, "HOME=/root"}

// DefaultPath is the PATH entry of a job's environment.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// helperEnv is the helper's own environment: the program's comes with its
// job. One P is plenty for a process that mostly waits, and saves threads
// (which count in the job's pids limit) and the runtime's cgroup lookup.
var helperEnv = []string{"GOMAXPROCS=1"}

// Config describes one job to launch.
type Config struct {
	// Program is the absolute path of the program; Args its arguments.
	Program string
	Args    []string
	// CgroupProcs are the cgroup.procs files the helper joins.
	CgroupProcs []string
	// Stdout and Stderr receive the program's output. They are passed to
	// the helper as they are: no goroutine of this package copies them.
	Stdout, Stderr *os.File
	// Env replaces DefaultEnv when set.
	Env []string
	// User runs the program as an unprivileged user, without capabilities
	// and with no_new_privs; nil runs it as the server's user.
	User *User
}

// SetupError is a failure of the helper before the program was started: it
// could not join the cgroups or set up the namespaces.
type SetupError struct{ Message string }

func (e *SetupError) Error() string { return "job setup failed: " + e.Message }

// ExecError is a failure to execute the program (no such file, permission
// denied, exec format error).
type ExecError struct{ Message string }

func (e *ExecError) Error() string { return "cannot execute " + e.Message }

// Process is a launched helper.
type Process struct {
	cmd     *exec.Cmd
	control *os.File
	statusR *os.File
	events  *bufio.Scanner

	waitOnce sync.Once
	status   ExitStatus
	waitErr  error
}

// Launch starts the helper at path helper in new PID, mount and network
// namespaces, gives it the job, and returns once the program runs inside
// the job's cgroups and namespaces. It returns a *SetupError when the
// helper could not set them up, an *ExecError when the program could not
// be executed; on any error nothing is left running. Pool.Launch does the
// same with a helper started ahead of time.
func Launch(ctx context.Context, helper string, cfg Config) (*Process, error) {
	p, err := startHelper(helper)
	if err != nil {
		return nil, err
	}
	if err := p.assign(ctx, cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// startHelper starts an idle helper: it sets up its namespaces and then
// waits on its control socket for a job.
func startHelper(helper string) (*Process, error) {
	control, helperControl, err := controlSocket()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		control.Close()
		helperControl.Close()
		return nil, fmt.Errorf("status pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:       helper,
		Args:       []string{"jobexec"},
		Env:        helperEnv,
		Dir:        "/",
		ExtraFiles: []*os.File{helperControl, statusW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
			// Pdeathsig fires when the thread that forked the helper ends,
			// so the fork happens on a locked thread; the end of file on
			// the control socket covers the rest.
			Pdeathsig: unix.SIGKILL,
		},
	}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	helperControl.Close()
	statusW.Close()
	if err != nil {
		control.Close()
		statusR.Close()
		return nil, fmt.Errorf("start job helper %s: %w", helper, err)
	}
	return &Process{cmd: cmd, control: control, statusR: statusR, events: bufio.NewScanner(statusR)}, nil
}

// controlSocket makes the connected pair of Unix stream sockets that
// carries the job (with its output descriptors) and whose end of file
// tells the helper the server is gone: the server's end is non-blocking,
// the helper's blocking.
func controlSocket() (server, helper *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "jobexec control"), os.NewFile(uintptr(fds[1]), "jobexec control"), nil
}

// errHelperGone means an idle helper was dead before it got its job.
var errHelperGone = errors.New("job helper is gone")

// assign gives the job to an idle helper and returns once the program
// runs. On error the helper is killed (when it has not exited by itself)
// and reaped.
func (p *Process) assign(ctx context.Context, cfg Config) error {
	env := cfg.Env
	if env == nil {
		env = DefaultEnv
	}
	job := assignment{CgroupProcs: cfg.CgroupProcs, User: cfg.User, Program: cfg.Program, Args: cfg.Args, Env: env}
	if err := sendAssignment(p.control, job, cfg.Stdout, cfg.Stderr); err != nil {
		p.abort()
		return fmt.Errorf("%w: give it the job: %w", errHelperGone, err)
	}
	// The deadline makes a blocked read return when ctx ends.
	stop := context.AfterFunc(ctx, func() { p.statusR.SetReadDeadline(time.Now()) })
	e, err := p.next()
	received := err == nil && e.Event == eventReceived
	if received {
		e, err = p.next()
	}
	stop()
	switch {
	case !received && errors.Is(err, io.EOF):
		// It died before it read the job (killed while idle: the send
		// succeeds while its last threads are still exiting).
		p.abort()
		return fmt.Errorf("%w: it ended before it took the job", errHelperGone)
	case err != nil:
		p.abort()
		return fmt.Errorf("job helper ended before starting the program: %w", err)
	case e.Event == eventSetupError:
		p.abort()
		return &SetupError{Message: e.Message}
	case e.Event == eventExecError:
		p.abort()
		return &ExecError{Message: e.Message}
	case e.Event != eventStarted:
		p.abort()
		return fmt.Errorf("job helper: unexpected event %q", e.Event)
	}
	return nil
}

// Pid is the helper's process id on the host.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// ProgramPid returns the host pid of the program: the helper's child. It
// returns 0 when it cannot tell (the program already ended).
func (p *Process) ProgramPid() int {
	pid := p.Pid()
	// The helper forks the program from its main thread, whose tid is its
	// pid; the other threads are a fallback.
	if child := firstChild(pid, pid); child != 0 {
		return child
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	for _, task := range tasks {
		if tid, err := strconv.Atoi(task.Name()); err == nil && tid != pid {
			if child := firstChild(pid, tid); child != 0 {
				return child
			}
		}
	}
	return 0
}

// firstChild returns the first child that thread tid of process pid
// forked, or 0.
func firstChild(pid, tid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, tid))
	if err != nil {
		return 0
	}
	var child int
	if _, err := fmt.Sscan(string(data), &child); err != nil {
		return 0
	}
	return child
}

// Wait waits until the helper has exited and returns how the program ended.
// When the helper was killed before it could report (the job was killed
// through its cgroup), the helper's own signal is the job's.
func (p *Process) Wait() (ExitStatus, error) {
	p.waitOnce.Do(func() {
		var reported *event
		for {
			e, err := p.next()
			if err != nil {
				break
			}
			if e.Event == eventExited {
				reported = &e
			}
		}
		err := p.cmd.Wait()
		p.control.Close()
		switch {
		case reported != nil:
			p.status = ExitStatus{Code: reported.Code, Signal: syscall.Signal(reported.Signal)}
		case p.cmd.ProcessState != nil:
			ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				p.status = ExitStatus{Signal: ws.Signal()}
			} else {
				p.status = ExitStatus{Code: ws.ExitStatus()}
			}
		default:
			p.waitErr = fmt.Errorf("wait for job helper: %w", err)
		}
	})
	return p.status, p.waitErr
}

// Signal sends sig to the helper, which forwards it to the program.
func (p *Process) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// abort kills the helper, and with it the job's processes, and reaps it.
func (p *Process) abort() {
	_ = p.cmd.Process.Kill()
	p.control.Close()
	_ = p.cmd.Wait()
}

// next reads the helper's next event.
func (p *Process) next() (event, error) {
	if !p.events.Scan() {
		if err := p.events.Err(); err != nil {
			return event{}, err
		}
		return event{}, io.EOF
	}
	var e event
	if err := json.Unmarshal(p.events.Bytes(), &e); err != nil {
		return event{}, fmt.Errorf("bad event from job helper: %w", err)
	}
	return e, nil
}
