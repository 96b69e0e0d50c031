package jobexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	// prctl settings (no_new_privs, the bounding set) are per thread, and a
	// child inherits those of the thread that forks it: everything from
	// here to starting the program runs on this one thread.
	runtime.LockOSThread()
	// Neither the protocol's pipes nor any descriptor the server leaked
	// (inherited without close-on-exec) may reach the program.
	closeExtraFilesOnExec()
	status := json.NewEncoder(os.NewFile(statusFD, "status"))
	control := os.NewFile(controlFD, "control")
	report := func(e event) {
		// Nothing can be done when the server is gone; the control pipe's
		// end of file stops the job then.
		_ = status.Encode(e)
	}

	spec, err := parseHelperArgs(os.Args[1:])
	if err == nil {
		err = setUp(spec.cgroupProcs)
	}
	if err == nil && spec.user != nil {
		err = dropPrivileges()
	}
	if err != nil {
		report(event{Event: eventSetupError, Message: err.Error()})
		os.Exit(exitSetupFailed)
	}
	report(event{Event: eventReady})
	var b [1]byte
	if n, err := control.Read(b[:]); n != 1 || b[0] != goAhead {
		// The server gave up on the job (or died) before letting it run.
		_ = err
		os.Exit(exitSetupFailed)
	}

	signals := make(chan os.Signal, 64)
	signal.Notify(signals, append(forwardedSignals, unix.SIGCHLD)...)
	cmd := exec.Command(spec.program, spec.args...)
	cmd.Args[0] = spec.program
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Dir = "/"
	if spec.user != nil {
		// The child sets its groups, gid and uid before exec; leaving root
		// clears its permitted and effective capabilities.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: spec.user.UID, Gid: spec.user.GID, Groups: []uint32{},
		}}
	}
	if err := cmd.Start(); err != nil {
		report(event{Event: eventExecError, Message: execErrorMessage(spec.program, err)})
		os.Exit(exitExecFailed)
	}
	report(event{Event: eventStarted})

	// End of file on the control pipe means the server died: the job must
	// not outlive it. Exiting as PID 1 kills the whole namespace.
	go func() {
		_, _ = io.Copy(io.Discard, control)
		_ = cmd.Process.Kill()
		os.Exit(128 + int(unix.SIGKILL))
	}()

	exit := superviseChild(cmd.Process.Pid, signals)
	report(exit)
	if exit.Signal != 0 {
		os.Exit(128 + exit.Signal)
	}
	os.Exit(exit.Code)
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

// setUp does the privileged part, before the program exists: join the
// cgroups, isolate mounts, mount /proc, bring up loopback.
func setUp(cgroupProcs []string) error {
	for _, file := range cgroupProcs {
		// "0" means the writing process, in v1 and v2 alike; cgroup.procs
		// moves every thread of the helper at once.
		if err := os.WriteFile(file, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
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

// superviseChild forwards signals to the program and reaps every process
// that ends (as PID 1, orphans are reparented here) until the program
// itself ends, and returns how it ended.
func superviseChild(child int, signals <-chan os.Signal) event {
	for sig := range signals {
		if sig != unix.SIGCHLD {
			_ = unix.Kill(child, sig.(syscall.Signal))
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			if pid != child {
				continue
			}
			if ws.Signaled() {
				return event{Event: eventExited, Signal: int(ws.Signal())}
			}
			return event{Event: eventExited, Code: ws.ExitStatus()}
		}
	}
	panic("unreachable: the signal channel is never closed")
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
