package job

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jobmanager/jobmanager/cgroupfs"
	"github.com/jobmanager/jobmanager/jobexec"
	"github.com/jobmanager/jobmanager/server/outputlog"
)

// stopReason says who ended a job, when not the program itself.
type stopReason int

const (
	notStopped stopReason = iota
	stopByRequest
	stopByShutdown
)

// job is one job: its record, its output logs, and while it runs its
// cgroup.
type job struct {
	mu     sync.Mutex
	status Status
	stdout *outputlog.Log
	stderr *outputlog.Log
	// cgroup is set while the job runs.
	cgroup cgroupfs.Cgroup
	stop   stopReason
	// outputErr is the first failure to store the job's output.
	outputErr error
	// done is closed once the job's end is recorded; cleaned once its
	// cgroup is gone too, after done.
	done    chan struct{}
	cleaned chan struct{}
}

func (j *job) owner() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status.Owner
}

func (j *job) log(stream Stream) *outputlog.Log {
	if stream == Stderr {
		return j.stderr
	}
	return j.stdout
}

func (j *job) setLog(stream Stream, l *outputlog.Log) {
	if stream == Stderr {
		j.stderr = l
	} else {
		j.stdout = l
	}
}

// snapshot returns the job's status, with live usage figures while it runs.
func (j *job) snapshot() Status {
	j.mu.Lock()
	status, cg := j.status, j.cgroup
	j.mu.Unlock()
	status.Arguments = append([]string(nil), status.Arguments...)
	if status.IsRunning() && cg != nil {
		if stats, err := cg.Stats(); err == nil {
			status.CPUTime, status.MemoryPeakBytes = stats.CPUTime, stats.MemoryPeakBytes
			status.OOMKilled = stats.OOMKills > 0
		}
	}
	status.OutputTruncated = status.OutputTruncated || j.stdout.Truncated() || j.stderr.Truncated()
	return status
}

// kill kills every process of a running job; reason is recorded for the
// job's status. It does nothing to an ended job.
func (j *job) kill(reason stopReason) error {
	j.mu.Lock()
	cg := j.cgroup
	if cg != nil && j.stop == notStopped {
		j.stop = reason
	}
	j.mu.Unlock()
	if cg == nil {
		return nil
	}
	return cg.Kill()
}

// launch creates the job's directory, logs and cgroup and starts its
// program. It returns nil only when nothing was created; otherwise the job
// is returned, running or failed to start (then with the error).
func (m *Manager) launch(ctx context.Context, caller Caller, id string, spare bool, req StartRequest, limits Limits, dev cgroupfs.Device) (*job, error) {
	j := &job{
		status: Status{
			ID: id, Name: req.Name, Owner: string(caller),
			ProgramPath: req.ProgramPath, Arguments: req.Arguments,
			Limits: limits, State: StateRunning, StartTime: time.Now(),
		},
		done:    make(chan struct{}),
		cleaned: make(chan struct{}),
	}
	// The job's directory and logs are made while its cgroup is made: on a
	// cold disk the files alone take most of a millisecond.
	files := make(chan *Error, 1)
	go func() { files <- m.createFiles(j, spare) }()
	cg, cgErr := m.createCgroup(id, limits.cgroup(dev))
	if err := <-files; err != nil {
		// Without its directory the job cannot even be recorded as
		// failed: undo the rest.
		if cg != nil {
			m.removeCgroup(id, cg)
		}
		return nil, err
	}
	if cgErr != nil {
		return j, m.failStart(j, nil, cgErr)
	}
	proc, copies, startErr := m.startProgram(ctx, j, cg)
	if startErr != nil {
		return j, m.failStart(j, cg, startErr)
	}
	j.status.Pid = proc.Pid()
	if pid := proc.ProgramPid(); pid != 0 {
		j.status.Pid = pid
	}
	j.cgroup = cg
	if err := m.store.save(j.status, false); err != nil {
		m.log.Error("save job record failed", "job", id, "err", err)
	}
	m.log.Info("job started", "job", id, "owner", string(caller), "name", req.Name, "program", req.ProgramPath, "pid", j.status.Pid)
	m.monitors.Add(1)
	go m.monitor(j, proc, copies)
	return j, nil
}

// createFiles makes the job's directory and output logs, or puts in place
// those made ahead (spare); on error nothing of them is left.
func (m *Manager) createFiles(j *job, spare bool) *Error {
	id := j.status.ID
	create := m.store.create
	if spare {
		create = m.store.adopt
	}
	if err := create(id); err != nil {
		if spare {
			m.store.discardSpare(id)
		}
		m.log.Error("create job failed", "job", id, "err", err)
		return internal("the job could not be created", err)
	}
	for _, stream := range []Stream{Stdout, Stderr} {
		l, err := outputlog.Create(m.store.outputPath(id, stream), m.opts.OutputLimit)
		if err != nil {
			_ = os.RemoveAll(m.store.jobDir(id))
			m.log.Error("create job output failed", "job", id, "err", err)
			return internal("the job's output could not be created", err)
		}
		j.setLog(stream, l)
	}
	return nil
}

// createCgroup makes the job's cgroup with its limits.
func (m *Manager) createCgroup(id string, limits cgroupfs.Limits) (cgroupfs.Cgroup, *Error) {
	if limits.Pids > 0 {
		limits.Pids += jobexec.ReservedTasks
	}
	cg, err := m.opts.Cgroups.Create(id, limits)
	if err != nil {
		m.log.Error("job cgroup setup failed", "job", id, "err", err)
		return nil, internal("the job's resource limits could not be applied", err)
	}
	return cg, nil
}

// startProgram has a helper run the job's program in cg, with its output
// copied into the job's logs, and returns once the program runs. On error
// the helper is gone and the copies have ended.
func (m *Manager) startProgram(ctx context.Context, j *job, cg cgroupfs.Cgroup) (*jobexec.Process, *sync.WaitGroup, *Error) {
	id := j.status.ID
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, nil, internal("the job could not be started", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, nil, internal("the job could not be started", err)
	}
	copies := m.copyOutput(j, stdoutR, stderrR)
	proc, err := m.helpers.Launch(ctx, jobexec.Config{
		Program: j.status.ProgramPath, Args: j.status.Arguments,
		CgroupProcs: cg.ProcsFiles(), Stdout: stdoutW, Stderr: stderrW, Env: m.opts.Env, User: m.opts.User,
	})
	// The helper has its own copies; the copies end when it is gone.
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		copies.Wait()
		return nil, nil, m.startError(id, err)
	}
	return proc, copies, nil
}

// copyOutput copies the output pipes into the job's logs. The copies end
// when every writer of the pipes is gone: the helper exited and the kernel
// killed the rest of its PID namespace. The logs are completed once the
// job's end is recorded (monitor, failStart).
func (m *Manager) copyOutput(j *job, stdout, stderr *os.File) *sync.WaitGroup {
	var copies sync.WaitGroup
	for stream, r := range map[Stream]*os.File{Stdout: stdout, Stderr: stderr} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			defer r.Close()
			if _, err := j.log(stream).ReadFrom(r); err != nil {
				m.log.Error("job output lost", "job", j.status.ID, "stream", stream.fileName(), "err", err)
				j.mu.Lock()
				j.outputErr = err
				j.mu.Unlock()
			}
		}()
	}
	return &copies
}

// startError says why a helper could not start the job's program.
func (m *Manager) startError(id string, err error) *Error {
	var execErr *jobexec.ExecError
	switch {
	case errors.As(err, &execErr):
		return &Error{Code: CodeInvalidArgument, Message: execErr.Error()}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		m.log.Error("job helper cannot be run", "job", id, "err", err)
		return internal("the server cannot run its job helper (jobexec is missing or not executable); the operator must reinstall it", err)
	}
	m.log.Error("job start failed", "job", id, "err", err)
	return internal("the job could not be started", err)
}

// failStart records that the job could not start, releases what it held,
// and returns startErr.
func (m *Manager) failStart(j *job, cg cgroupfs.Cgroup, startErr *Error) error {
	for _, stream := range []Stream{Stdout, Stderr} {
		_ = j.log(stream).Complete()
	}
	if cg != nil {
		m.removeCgroup(j.status.ID, cg)
	}
	j.mu.Lock()
	j.status.State = StateFailedToStart
	j.status.Error = startErr.Message
	j.status.Pid = 0
	j.status.EndTime = time.Now()
	status := j.status
	j.mu.Unlock()
	m.release(Caller(status.Owner), status.Name)
	if err := m.store.save(status, true); err != nil {
		m.log.Error("save job record failed", "job", status.ID, "err", err)
	}
	close(j.done)
	close(j.cleaned)
	m.log.Warn("job failed to start", "job", status.ID, "owner", status.Owner, "reason", startErr.Error())
	return startErr
}

// monitor waits for the job's end, records it and cleans up.
func (m *Manager) monitor(j *job, proc *jobexec.Process, copies *sync.WaitGroup) {
	defer m.monitors.Done()
	exit, waitErr := proc.Wait()
	copies.Wait()
	j.mu.Lock()
	cg, reason := j.cgroup, j.stop
	j.mu.Unlock()
	stats, statsErr := cg.Stats()
	if statsErr != nil {
		m.log.Error("read job usage failed", "job", j.status.ID, "err", statsErr)
	}

	j.mu.Lock()
	s := &j.status
	s.EndTime = time.Now()
	s.CPUTime, s.MemoryPeakBytes = stats.CPUTime, stats.MemoryPeakBytes
	s.OOMKilled = stats.OOMKills > 0
	s.OutputTruncated = j.stdout.Truncated() || j.stderr.Truncated()
	switch {
	case waitErr != nil:
		s.State, s.Error = StateKilled, "the job's end could not be observed"
		m.log.Error("wait for job failed", "job", s.ID, "err", waitErr)
	case exit.Signal != 0:
		s.State, s.Signal = StateKilled, int(exit.Signal)
	default:
		s.State, s.ExitCode = StateExited, exit.Code
	}
	if reason == stopByShutdown {
		s.State, s.Signal, s.ExitCode = StateKilled, int(syscall.SIGKILL), 0
		s.Error = "stopped by a server shutdown"
	}
	if j.outputErr != nil && s.Error == "" {
		s.Error = outputErrorMessage(j.outputErr)
	}
	j.cgroup = nil
	status := *s
	j.mu.Unlock()

	m.release(Caller(status.Owner), status.Name)
	// Streams end only now, so that a client whose stream has ended finds
	// the job's final status.
	for _, stream := range []Stream{Stdout, Stderr} {
		if err := j.log(stream).Complete(); err != nil {
			m.log.Error("complete job output failed", "job", status.ID, "err", err)
		}
	}
	close(j.done)
	// Nothing of the job is left to run: the helper was the init of the
	// job's PID namespace, and the kernel ended every process in it before
	// the helper could be reaped. So the end is visible first, and the
	// cgroup goes (with a kill, for anything an administrator moved in)
	// off the path of whoever waits for the job; Stop waits for it.
	m.removeCgroup(status.ID, cg)
	close(j.cleaned)
	// The durable save (two fsyncs, ~2 ms here) comes after the end is
	// visible, off the path of whoever waits for the job; Shutdown still
	// waits for it. A crash in between leaves the job marked lost.
	if err := m.store.save(status, true); err != nil {
		m.log.Error("save job record failed", "job", status.ID, "err", err)
	}
	m.log.Info("job ended", "job", status.ID, "owner", status.Owner, "state", string(status.State),
		"exit_code", status.ExitCode, "signal", status.Signal, "oom_killed", status.OOMKilled)
}

// outputErrorMessage tells a job's owner why its output is incomplete,
// without the server's paths.
func outputErrorMessage(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return "part of the output was lost: the server's disk is full"
	}
	return "part of the output was lost: the server could not store it"
}

// removeCgroup kills what is left in a job's cgroup and removes it.
func (m *Manager) removeCgroup(id string, cg cgroupfs.Cgroup) {
	if err := cg.Kill(); err != nil {
		m.log.Error("kill job leftovers failed", "job", id, "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := cg.Remove(ctx); err != nil {
		m.log.Error("remove job cgroup failed", "job", id, "err", err)
	}
}
