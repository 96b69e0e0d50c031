package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"

	"connectrpc.com/connect"

	jobmanagerv1 "github.com/jobmanager/jobmanager/gen/go/jobmanager/v1"
	"github.com/jobmanager/jobmanager/gen/go/jobmanager/v1/jobmanagerv1connect"
	"github.com/jobmanager/jobmanager/server/job"
)

// StreamChunkSize is the most output bytes in one StreamOutputResponse:
// large enough that per-message costs are small (on the reference machine
// 256 KiB gave 450 MB/s to one reader, 512 KiB 460-530 MB/s), small enough
// to stay well under every client's default message size limit (4 MiB).
const StreamChunkSize = 512 << 10

// chunkPool holds the buffers of the streams that are sending.
var chunkPool = sync.Pool{New: func() any {
	buf := make([]byte, StreamChunkSize)
	return &buf
}}

// Service implements JobManagerService on a job.Manager.
type Service struct {
	jobs *job.Manager
	log  *slog.Logger
}

var _ jobmanagerv1connect.JobManagerServiceHandler = (*Service)(nil)

// NewService returns the service backed by jobs.
func NewService(jobs *job.Manager, log *slog.Logger) *Service {
	return &Service{jobs: jobs, log: log}
}

// Start starts a job.
func (s *Service) Start(ctx context.Context, req *connect.Request[jobmanagerv1.StartRequest]) (*connect.Response[jobmanagerv1.StartResponse], error) {
	caller, _ := callerFrom(ctx)
	status, err := s.jobs.Start(ctx, caller, job.StartRequest{
		Name:        req.Msg.GetName(),
		ProgramPath: req.Msg.GetProgramPath(),
		Arguments:   req.Msg.GetArguments(),
		Limits:      limitsFromProto(req.Msg.GetLimits()),
	})
	if err != nil {
		return nil, toConnectError(err)
	}
	return connect.NewResponse(&jobmanagerv1.StartResponse{Job: &jobmanagerv1.Job{Id: status.ID, Name: status.Name}}), nil
}

// Stop stops a job.
func (s *Service) Stop(ctx context.Context, req *connect.Request[jobmanagerv1.StopRequest]) (*connect.Response[jobmanagerv1.StopResponse], error) {
	caller, _ := callerFrom(ctx)
	if err := s.jobs.Stop(ctx, caller, req.Msg.GetJobId()); err != nil {
		return nil, toConnectError(err)
	}
	return connect.NewResponse(&jobmanagerv1.StopResponse{}), nil
}

// Query returns a job's status.
func (s *Service) Query(ctx context.Context, req *connect.Request[jobmanagerv1.QueryRequest]) (*connect.Response[jobmanagerv1.QueryResponse], error) {
	caller, _ := callerFrom(ctx)
	status, err := s.jobs.Query(ctx, caller, req.Msg.GetJobId())
	if err != nil {
		return nil, toConnectError(err)
	}
	return connect.NewResponse(&jobmanagerv1.QueryResponse{Status: statusToProto(status)}), nil
}

// List returns a page of jobs.
func (s *Service) List(ctx context.Context, req *connect.Request[jobmanagerv1.ListRequest]) (*connect.Response[jobmanagerv1.ListResponse], error) {
	caller, _ := callerFrom(ctx)
	page, next, err := s.jobs.List(ctx, caller, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, toConnectError(err)
	}
	resp := &jobmanagerv1.ListResponse{NextPageToken: next, Jobs: make([]*jobmanagerv1.JobStatus, 0, len(page))}
	for _, status := range page {
		resp.Jobs = append(resp.Jobs, statusToProto(status))
	}
	return connect.NewResponse(resp), nil
}

// StreamOutput streams a job's output until it is complete or the client
// goes away; the reader is released as soon as either happens.
func (s *Service) StreamOutput(ctx context.Context, req *connect.Request[jobmanagerv1.StreamOutputRequest], stream *connect.ServerStream[jobmanagerv1.StreamOutputResponse]) error {
	caller, _ := callerFrom(ctx)
	var which job.Stream
	switch req.Msg.GetOutputStream() {
	case jobmanagerv1.OutputStream_OUTPUT_STREAM_STDOUT:
		which = job.Stdout
	case jobmanagerv1.OutputStream_OUTPUT_STREAM_STDERR:
		which = job.Stderr
	default:
		return connect.NewError(connect.CodeInvalidArgument, errors.New("output_stream must be OUTPUT_STREAM_STDOUT or OUTPUT_STREAM_STDERR"))
	}
	r, err := s.jobs.Stream(ctx, caller, req.Msg.GetJobId(), which, req.Msg.GetOffset())
	if err != nil {
		return toConnectError(err)
	}
	defer r.Close()
	// The headers go out now: a client learns at once that its stream is
	// open, even when the job has printed nothing yet.
	if err := stream.Send(nil); err != nil {
		return err
	}
	msg := &jobmanagerv1.StreamOutputResponse{}
	for {
		// An idle stream holds no buffer: one is taken from the pool only
		// when there is output to send.
		if _, err := r.Wait(ctx); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return toConnectError(err)
		}
		buf := chunkPool.Get().(*[]byte)
		offset := r.Offset()
		n, err := r.Read(ctx, *buf)
		var sendErr error
		if n > 0 {
			msg.Output, msg.Offset = (*buf)[:n], offset
			sendErr = stream.Send(msg)
		}
		msg.Output = nil
		chunkPool.Put(buf)
		switch {
		case sendErr != nil:
			return sendErr
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return toConnectError(err)
		}
	}
}
