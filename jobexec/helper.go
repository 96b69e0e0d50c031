package jobexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are passed on to the program. SIGKILL and SIGSTOP cannot
// be caught; the server kills a job through its cgroup instead.
var forwardedSignals = []os.Signal{
	unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGCONT,
}

// Main is the helper's whole program: it is what the jobexec binary runs.
// It never returns.
func Main() {
	// The helper mounts over /proc: outside the new PID (and mount)
	// namespace the server starts it in, it would do so on the host's.
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "jobexec: this helper is started by the jobmanager server, as PID 1 of new namespaces; it does nothing when run by hand")
		os.Exit(2)
	}
	// prctl settings (no_new_privs, the bounding set) are per thread, and a
	// child inherits those of the thread that forks it: everything from
	// here to starting the program runs on this one thread.
	runtime.LockOSThread()
	// Neither the protocol's descriptors nor any descriptor the server
	// leaked (inherited without close-on-exec) may reach the program.
	closeExtraFilesOnExec()
	status := json.NewEncoder(os.NewFile(statusFD, "status"))
	report := func(e event) {
		// Nothing can be done when the server is gone; the control
		// socket's end of file stops the job then.
		_ = status.Encode(e)
	}
	fail := func(err error) {
		report(event{Event: eventSetupError, Message: err.Error()})
		os.Exit(exitSetupFailed)
	}

	// Enabling signal delivery takes the runtime about a millisecond
	// (its signal thread); it is done while the helper waits for a job.
	signals := make(chan os.Signal, 64)
	signal.Notify(signals, forwardedSignals...)
	stopEarlySignals := endOnSignalUntilProgram(signals)

	if err := setUpNamespaces(); err != nil {
		fail(err)
	}
	job, stdout, stderr, err := receiveAssignment(controlFD)
	if errors.Is(err, io.EOF) {
		// An idle helper the server no longer needs.
		os.Exit(0)
	}
	if err == nil {
		// From here on the job is this helper's: a helper that dies
		// before saying so never had it, and the server can give the job
		// to another one.
		report(event{Event: eventReceived})
		err = enterJob(job, stdout, stderr)
	}
	if err != nil {
		fail(err)
	}

	stopEarlySignals()
	pid, err := startProgram(job)
	if err != nil {
		report(event{Event: eventExecError, Message: execErrorMessage(job.Program, err)})
		os.Exit(exitExecFailed)
	}
	report(event{Event: eventStarted})

	// End of file on the control socket means the server died: the job
	// must not outlive it. Exiting as PID 1 kills the whole namespace.
	go func() {
		control := fdReader(controlFD)
		var b [1]byte
		for {
			if _, err := control.Read(b[:]); err != nil {
				break
			}
		}
		_ = unix.Kill(pid, unix.SIGKILL)
		os.Exit(128 + int(unix.SIGKILL))
	}()

	go forwardSignals(pid, signals)
	exit := reapUntil(pid)
	report(exit)
	if exit.Signal != 0 {
		os.Exit(128 + exit.Signal)
	}
	os.Exit(exit.Code)
}

// endOnSignalUntilProgram makes the helper exit on a signal that would end
// a process by default, until the returned function is called, just
// before the program starts; from then on forwardSignals passes them on.
func endOnSignalUntilProgram(signals <-chan os.Signal) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case sig := <-signals:
				switch sig {
				case unix.SIGWINCH, unix.SIGCONT:
				default:
					os.Exit(128 + int(sig.(syscall.Signal)))
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// startProgram forks and executes the job's program as the helper's child,
// with the job's output as stdout and stderr and its user's credentials,
// and returns its pid. An exec failure (no such file, permission denied)
// is returned here, before the program ever ran.
func startProgram(job assignment) (int, error) {
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   job.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{},
	}
	if job.User != nil {
		// The child sets its groups, gid and uid before exec; leaving root
		// clears its permitted and effective capabilities.
		attr.Sys.Credential = &syscall.Credential{Uid: job.User.UID, Gid: job.User.GID, Groups: []uint32{}}
	}
	return syscall.ForkExec(job.Program, append([]string{job.Program}, job.Args...), attr)
}

// closeExtraFilesOnExec marks every descriptor above stderr close-on-exec.
func closeExtraFilesOnExec() {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC.
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// setUpNamespaces finishes the namespaces the helper was started in,
// before it knows its job: isolate mounts, mount /proc, bring up loopback.
func setUpNamespaces() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / a slave mount: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

// enterJob makes the helper the job's: its output becomes stdout and
// stderr, it joins the job's cgroups (every thread at once: cgroup.procs)
// and, for an unprivileged job, gives up what the program must not have.
func enterJob(job assignment, stdout, stderr *os.File) error {
	for fd, f := range map[int]*os.File{1: stdout, 2: stderr} {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fmt.Errorf("take the job's output: %w", err)
		}
		f.Close()
	}
	for _, file := range job.CgroupProcs {
		// "0" means the writing process, in v1 and v2 alike.
		if err := os.WriteFile(file, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	if job.User != nil {
		return dropPrivileges()
	}
	return nil
}

// dropPrivileges prepares an unprivileged program: no_new_privs (setuid
// files and file capabilities grant nothing) and an empty capability
// bounding set, both inherited by the program. The helper keeps its own
// effective capabilities, which it needs to switch the program's user.
func dropPrivileges() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	// Past the kernel's last capability PR_CAPBSET_DROP fails with EINVAL;
	// 64 covers every kernel, whatever x/sys knows of.
	for c := 0; c < 64; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// loopbackUp sets IFF_UP on "lo", the one interface of a new network
// namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// forwardSignals passes every signal the helper receives on to the
// program.
func forwardSignals(child int, signals <-chan os.Signal) {
	for sig := range signals {
		_ = unix.Kill(child, sig.(syscall.Signal))
	}
}

// reapUntil reaps every process that ends (as PID 1, orphans are
// reparented here) until the program itself ends, and returns how it
// ended. It waits in wait4 itself rather than for SIGCHLD, which would
// reach it through the runtime's signal thread, a little later.
func reapUntil(child int) event {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// ECHILD: the program is gone without its status (cannot
			// happen while it is this process's child).
			return event{Event: eventExited, Signal: int(unix.SIGKILL)}
		case pid != child:
			continue
		case ws.Signaled():
			return event{Event: eventExited, Signal: int(ws.Signal())}
		default:
			return event{Event: eventExited, Code: ws.ExitStatus()}
		}
	}
}

// execErrorMessage says why the program could not be started, without Go's
// "fork/exec" wording.
func execErrorMessage(program string, err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.ENOENT:
			return fmt.Sprintf("%s: no such file or directory (or its interpreter is missing)", program)
		case unix.EACCES:
			return fmt.Sprintf("%s: permission denied (not executable?)", program)
		case unix.ENOEXEC:
			return fmt.Sprintf("%s: exec format error (not a binary or script this host can run)", program)
		}
		return fmt.Sprintf("%s: %s", program, errno.Error())
	}
	return fmt.Sprintf("%s: %v", program, err)
}
