package jobexec

import (
	"fmt"
	"syscall"
)

// The file descriptors the helper inherits besides stdin, stdout and stderr.
const (
	controlFD = 3
	statusFD  = 4
)

// goAhead is the byte the server writes on the control pipe to let the
// program start.
const goAhead = 'g'

// The helper's flags: "--cgroup FILE" (repeated) names a cgroup.procs
// file to join; "--user UID:GID" runs the program as that unprivileged
// user, without capabilities and with no_new_privs.
const (
	cgroupFlag = "--cgroup"
	userFlag   = "--user"
)

// ReservedTasks is how many tasks (threads) the helper may use in the job's
// pids cgroup: it is in the cgroup too, and the Go runtime runs a few
// threads. The engine adds it to a job's pids limit so that the program
// gets the number of processes it asked for.
const ReservedTasks = 16

// The helper's own exit codes, in the range shells and tini use for
// failures before the program ran.
const (
	exitSetupFailed = 125
	exitExecFailed  = 127
)

// Events written by the helper on the status pipe, one JSON object a line.
const (
	eventReady      = "ready"       // set-up done, waiting for the go-ahead
	eventSetupError = "setup-error" // set-up failed; Message says why
	eventStarted    = "started"     // the program is running
	eventExecError  = "exec-error"  // the program could not be started
	eventExited     = "exited"      // the program ended; Code or Signal
)

// event is one status message from the helper.
type event struct {
	Event string `json:"event"`
	// Message explains a setup or exec error.
	Message string `json:"message,omitempty"`
	// Code is the program's exit code, for eventExited without Signal.
	Code int `json:"code,omitempty"`
	// Signal is the signal that ended the program, for eventExited.
	Signal int `json:"signal,omitempty"`
}

// helperSpec is what the helper's command line carries.
type helperSpec struct {
	cgroupProcs []string
	// user is the program's credentials; nil runs it as the helper's user.
	user    *User
	program string
	args    []string
}

// User is the unprivileged identity a job's program runs as.
type User struct {
	UID, GID uint32
}

// helperArgs builds the helper's command line (without argv[0]).
func helperArgs(spec helperSpec) []string {
	out := make([]string, 0, 2*len(spec.cgroupProcs)+4+len(spec.args))
	for _, file := range spec.cgroupProcs {
		out = append(out, cgroupFlag, file)
	}
	if spec.user != nil {
		out = append(out, userFlag, fmt.Sprintf("%d:%d", spec.user.UID, spec.user.GID))
	}
	out = append(out, "--", spec.program)
	return append(out, spec.args...)
}

// parseHelperArgs is the inverse of helperArgs.
func parseHelperArgs(args []string) (helperSpec, error) {
	var spec helperSpec
	for len(args) > 0 {
		switch args[0] {
		case cgroupFlag, userFlag:
			if len(args) < 2 {
				return helperSpec{}, fmt.Errorf("%s needs a value", args[0])
			}
			if args[0] == cgroupFlag {
				spec.cgroupProcs = append(spec.cgroupProcs, args[1])
			} else {
				var u User
				if _, err := fmt.Sscanf(args[1], "%d:%d", &u.UID, &u.GID); err != nil || fmt.Sprintf("%d:%d", u.UID, u.GID) != args[1] {
					return helperSpec{}, fmt.Errorf("invalid %s %q: want UID:GID", userFlag, args[1])
				}
				spec.user = &u
			}
			args = args[2:]
		case "--":
			if len(args) < 2 {
				return helperSpec{}, fmt.Errorf("no program after --")
			}
			spec.program, spec.args = args[1], args[2:]
			return spec, nil
		default:
			return helperSpec{}, fmt.Errorf("unexpected argument %q", args[0])
		}
	}
	return helperSpec{}, fmt.Errorf("no program: usage: jobexec [%s FILE]... [%s UID:GID] -- PROGRAM [ARG]...", cgroupFlag, userFlag)
}

// ExitStatus is how the program ended.
type ExitStatus struct {
	// Code is the exit code when the program exited by itself.
	Code int
	// Signal is the signal that killed the program, or 0.
	Signal syscall.Signal
}

// String describes the status as a shell would.
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return "killed by signal " + s.Signal.String()
	}
	return fmt.Sprintf("exit code %d", s.Code)
}
