package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/jobmanager/jobmanager/server/job"
)

// codes maps the engine's error codes to RPC status codes.
var codes = map[job.Code]connect.Code{
	job.CodeInternal:          connect.CodeInternal,
	job.CodeInvalidArgument:   connect.CodeInvalidArgument,
	job.CodeNotFound:          connect.CodeNotFound,
	job.CodeAlreadyExists:     connect.CodeAlreadyExists,
	job.CodeResourceExhausted: connect.CodeResourceExhausted,
	job.CodeUnavailable:       connect.CodeUnavailable,
	job.CodeOutOfRange:        connect.CodeOutOfRange,
}

// toConnectError turns an engine error into an RPC error whose message is
// safe to show: the engine's message, never a Go error chain.
func toConnectError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	}
	return connect.NewError(codes[job.CodeOf(err)], errors.New(job.MessageOf(err)))
}
