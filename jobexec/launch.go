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

// Config describes one job to launch.
type Config struct {
	// Helper is the path of the jobexec binary.
	Helper string
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
	events  *bufio.Scanner

	waitOnce sync.Once
	status   ExitStatus
	waitErr  error
}

// Launch starts the helper in new PID, mount and network namespaces and
// returns once it is inside the job's cgroups with its namespaces set up,
// waiting for Go. On error, nothing is left running.
func Launch(ctx context.Context, cfg Config) (*Process, error) {
	controlR, controlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("control pipe: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		controlR.Close()
		controlW.Close()
		return nil, fmt.Errorf("status pipe: %w", err)
	}
	env := cfg.Env
	if env == nil {
		env = DefaultEnv
	}
	cmd := &exec.Cmd{
		Path:       cfg.Helper,
		Args:       append([]string{"jobexec"}, helperArgs(helperSpec{cgroupProcs: cfg.CgroupProcs, user: cfg.User, program: cfg.Program, args: cfg.Args})...),
		Env:        env,
		Dir:        "/",
		Stdout:     cfg.Stdout,
		Stderr:     cfg.Stderr,
		ExtraFiles: []*os.File{controlR, statusW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
			// Pdeathsig fires when the thread that forked the helper ends,
			// so the fork happens on a locked thread; the end of file on
			// the control pipe covers the rest.
			Pdeathsig: unix.SIGKILL,
		},
	}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	controlR.Close()
	statusW.Close()
	if err != nil {
		controlW.Close()
		statusR.Close()
		return nil, fmt.Errorf("start job helper %s: %w", cfg.Helper, err)
	}
	p := &Process{cmd: cmd, control: controlW, events: bufio.NewScanner(statusR)}
	// The deadline makes a blocked read return when ctx ends.
	stop := context.AfterFunc(ctx, func() { statusR.SetReadDeadline(time.Now()) })
	e, err := p.next()
	stop()
	switch {
	case err != nil:
		p.abort()
		return nil, fmt.Errorf("job helper did not get ready: %w", err)
	case e.Event == eventSetupError:
		p.abort()
		return nil, &SetupError{Message: e.Message}
	case e.Event != eventReady:
		p.abort()
		return nil, fmt.Errorf("job helper: unexpected event %q", e.Event)
	}
	return p, nil
}

// Pid is the helper's process id on the host.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Go lets the program start and returns once it runs, or with an
// *ExecError when it could not be executed (then the helper has exited; Wait
// still reaps it).
func (p *Process) Go() error {
	if _, err := p.control.Write([]byte{goAhead}); err != nil {
		return fmt.Errorf("release job helper: %w", err)
	}
	e, err := p.next()
	switch {
	case err != nil:
		return fmt.Errorf("job helper ended before starting the program: %w", err)
	case e.Event == eventExecError:
		return &ExecError{Message: e.Message}
	case e.Event != eventStarted:
		return fmt.Errorf("job helper: unexpected event %q", e.Event)
	}
	return nil
}

// ProgramPid returns the host pid of the program: the helper's child. It
// returns 0 when it cannot tell (the program already ended).
func (p *Process) ProgramPid() int {
	pid := p.Pid()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		var child int
		if _, err := fmt.Sscan(string(data), &child); err == nil {
			return child
		}
	}
	return 0
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

// abort kills a helper that will not run its program and reaps it.
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

// IsStartError reports whether err means the job could not be started
// (set-up or exec failure) rather than an internal failure.
func IsStartError(err error) bool {
	var setup *SetupError
	var execErr *ExecError
	return errors.As(err, &setup) || errors.As(err, &execErr)
}
