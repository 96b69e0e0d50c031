package job

import (
	"time"
)

// State is where a job is in its life.
type State string

// The states of a job.
const (
	// StateRunning: the program runs.
	StateRunning State = "running"
	// StateExited: the program exited by itself.
	StateExited State = "exited"
	// StateKilled: the program was ended by a signal.
	StateKilled State = "killed"
	// StateFailedToStart: the job could not be started.
	StateFailedToStart State = "failed_to_start"
	// StateLost: the server died while the job ran.
	StateLost State = "lost"
)

// Status is a job's record: what it is, and how it is doing or ended. It
// is also the persisted form of a job (job.json).
type Status struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Owner       string   `json:"owner"`
	ProgramPath string   `json:"program_path"`
	Arguments   []string `json:"arguments,omitempty"`
	// Limits are the effective limits (0: not limited).
	Limits Limits `json:"limits"`

	State State `json:"state"`
	// Pid is the program's host pid; 0 if it never ran.
	Pid int `json:"pid,omitempty"`
	// ExitCode is set when State is StateExited.
	ExitCode int `json:"exit_code,omitempty"`
	// Signal is set when State is StateKilled.
	Signal int `json:"signal,omitempty"`
	// Error says why a job failed to start, was lost or stopped by the server.
	Error string `json:"error,omitempty"`

	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time,omitzero"`

	OOMKilled       bool          `json:"oom_killed,omitempty"`
	CPUTime         time.Duration `json:"cpu_time,omitempty"`
	MemoryPeakBytes int64         `json:"memory_peak_bytes,omitempty"`
	OutputTruncated bool          `json:"output_truncated,omitempty"`
}

// IsRunning reports whether the job's program is running.
func (s Status) IsRunning() bool { return s.State == StateRunning }

// Stream selects one of a job's outputs.
type Stream int

// The output streams.
const (
	Stdout Stream = iota + 1
	Stderr
)

// fileName is the stream's log file in the job's directory.
func (s Stream) fileName() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}
