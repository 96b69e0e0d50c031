package api

import (
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/server/job"
)

var states = map[job.State]jobmanagerv1.JobState{
	job.StateRunning:       jobmanagerv1.JobState_JOB_STATE_RUNNING,
	job.StateExited:        jobmanagerv1.JobState_JOB_STATE_EXITED,
	job.StateKilled:        jobmanagerv1.JobState_JOB_STATE_KILLED,
	job.StateFailedToStart: jobmanagerv1.JobState_JOB_STATE_FAILED_TO_START,
	job.StateLost:          jobmanagerv1.JobState_JOB_STATE_LOST,
}

func limitsFromProto(l *jobmanagerv1.ResourceLimits) job.Limits {
	return job.Limits{
		CPUs:        l.GetCpus(),
		MemoryBytes: l.GetMemoryBytes(),
		Pids:        l.GetPids(),
		IOReadBPS:   l.GetIoReadBps(),
		IOWriteBPS:  l.GetIoWriteBps(),
	}
}

func limitsToProto(l job.Limits) *jobmanagerv1.ResourceLimits {
	return &jobmanagerv1.ResourceLimits{
		Cpus:        l.CPUs,
		MemoryBytes: l.MemoryBytes,
		Pids:        l.Pids,
		IoReadBps:   l.IOReadBPS,
		IoWriteBps:  l.IOWriteBPS,
	}
}

func statusToProto(s job.Status) *jobmanagerv1.JobStatus {
	out := &jobmanagerv1.JobStatus{
		Job:             &jobmanagerv1.Job{Id: s.ID, Name: s.Name},
		Owner:           s.Owner,
		IsRunning:       s.IsRunning(),
		Pid:             int32(s.Pid),
		SignalNumber:    int32(s.Signal),
		ExitCode:        int32(s.ExitCode),
		ErrorMessage:    s.Error,
		State:           states[s.State],
		StartTime:       timestamppb.New(s.StartTime),
		OomKilled:       s.OOMKilled,
		CpuTime:         durationpb.New(s.CPUTime),
		MemoryPeakBytes: s.MemoryPeakBytes,
		Limits:          limitsToProto(s.Limits),
		OutputTruncated: s.OutputTruncated,
		ProgramPath:     s.ProgramPath,
		Arguments:       s.Arguments,
	}
	if !s.EndTime.IsZero() {
		out.EndTime = timestamppb.New(s.EndTime)
	}
	return out
}
