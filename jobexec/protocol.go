package jobexec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The file descriptors the helper inherits besides stdin, stdout and stderr.
const (
	controlFD = 3
	statusFD  = 4
)

// maxAssignmentSize bounds the job message a helper accepts: far above any
// command line the kernel would execute (ARG_MAX is 2 MiB on Linux).
const maxAssignmentSize = 16 << 20

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
	eventReceived   = "received"    // the helper has its job
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

// assignment is the job the server gives a helper: the message it sends on
// the control socket, with the program's stdout and stderr attached.
type assignment struct {
	// CgroupProcs are the cgroup.procs files the helper joins.
	CgroupProcs []string `json:"cgroup_procs"`
	// User is the program's credentials; nil runs it as the helper's user.
	User    *User    `json:"user,omitempty"`
	Program string   `json:"program"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
}

// User is the unprivileged identity a job's program runs as.
type User struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// sendAssignment writes a to the helper's control socket: a 4-byte
// big-endian length carrying stdout and stderr as SCM_RIGHTS, then the JSON
// body.
func sendAssignment(control *os.File, a assignment, stdout, stderr *os.File) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode job for helper: %w", err)
	}
	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(body)))
	raw, err := control.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	err = raw.Write(func(fd uintptr) bool {
		// Rights held by the kernel keep the descriptors alive until
		// the helper receives them.
		sendErr = unix.Sendmsg(int(fd), header[:], unix.UnixRights(int(stdout.Fd()), int(stderr.Fd())), nil, unix.MSG_NOSIGNAL)
		return !errors.Is(sendErr, unix.EAGAIN)
	})
	if err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	_, err = control.Write(body)
	return err
}

// receiveAssignment reads the job from the control socket fd. It returns
// io.EOF when the server closed the socket without giving one (an idle
// helper that is no longer needed).
func receiveAssignment(fd int) (a assignment, stdout, stderr *os.File, err error) {
	var header [4]byte
	oob := make([]byte, unix.CmsgSpace(2*4))
	var n, oobn int
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, header[:], oob, unix.MSG_CMSG_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	switch {
	case err != nil:
		return assignment{}, nil, nil, fmt.Errorf("receive job: %w", err)
	case n == 0:
		return assignment{}, nil, nil, io.EOF
	}
	stdout, stderr, err = parseRights(oob[:oobn])
	if err != nil {
		return assignment{}, nil, nil, err
	}
	// Not an *os.File: its finalizer would close the socket once
	// collected.
	a, err = readAssignment(fdReader(fd), header[:], n)
	if err != nil {
		stdout.Close()
		stderr.Close()
		return assignment{}, nil, nil, err
	}
	return a, stdout, stderr, nil
}

// readAssignment reads the rest of the header (of which n bytes came with
// the descriptors) and the JSON body.
func readAssignment(control io.Reader, header []byte, n int) (assignment, error) {
	if _, err := io.ReadFull(control, header[n:]); err != nil {
		return assignment{}, fmt.Errorf("receive job: %w", err)
	}
	size := binary.BigEndian.Uint32(header)
	if size > maxAssignmentSize {
		return assignment{}, fmt.Errorf("receive job: message of %d bytes is over the %d limit", size, maxAssignmentSize)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(control, body); err != nil {
		return assignment{}, fmt.Errorf("receive job: %w", err)
	}
	var a assignment
	if err := json.Unmarshal(body, &a); err != nil {
		return assignment{}, fmt.Errorf("decode job: %w", err)
	}
	if a.Program == "" {
		return assignment{}, errors.New("decode job: no program")
	}
	return a, nil
}

// fdReader reads a descriptor it does not own, retrying reads a signal
// interrupts.
type fdReader int

func (r fdReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// parseRights returns the two descriptors of an SCM_RIGHTS message.
func parseRights(oob []byte) (stdout, stderr *os.File, err error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil, fmt.Errorf("receive job output: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, nil, fmt.Errorf("receive job output: %w", err)
		}
		fds = append(fds, got...)
	}
	if len(fds) != 2 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, nil, fmt.Errorf("receive job output: got %d descriptors, want 2", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), "stdout"), os.NewFile(uintptr(fds[1]), "stderr"), nil
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
