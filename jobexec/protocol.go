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

// cgroupFlag introduces one cgroup.procs file in the helper's arguments.
const cgroupFlag = "--cgroup"

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

// helperArgs builds the helper's command line (without argv[0]).
func helperArgs(cgroupProcs []string, program string, args []string) []string {
	out := make([]string, 0, 2*len(cgroupProcs)+2+len(args))
	for _, file := range cgroupProcs {
		out = append(out, cgroupFlag, file)
	}
	out = append(out, "--", program)
	return append(out, args...)
}

// parseHelperArgs is the inverse of helperArgs.
func parseHelperArgs(args []string) (cgroupProcs []string, program string, programArgs []string, err error) {
	for len(args) > 0 {
		switch args[0] {
		case cgroupFlag:
			if len(args) < 2 {
				return nil, "", nil, fmt.Errorf("%s needs a file", cgroupFlag)
			}
			cgroupProcs = append(cgroupProcs, args[1])
			args = args[2:]
		case "--":
			if len(args) < 2 {
				return nil, "", nil, fmt.Errorf("no program after --")
			}
			return cgroupProcs, args[1], args[2:], nil
		default:
			return nil, "", nil, fmt.Errorf("unexpected argument %q", args[0])
		}
	}
	return nil, "", nil, fmt.Errorf("no program: usage: jobexec [%s FILE]... -- PROGRAM [ARG]...", cgroupFlag)
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
