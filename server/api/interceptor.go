package api

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
)

// authenticate is the interceptor of the job service: it refuses a request
// without a usable identity with Unauthenticated, and logs every refused or
// failed request with the caller and the reason.
type authenticate struct {
	log *slog.Logger
}

func (a authenticate) check(ctx context.Context, procedure string) error {
	if _, err := callerFrom(ctx); err != nil {
		a.log.Warn("request refused", "procedure", procedure, "code", connect.CodeUnauthenticated.String(), "reason", err.Error())
		return connect.NewError(connect.CodeUnauthenticated, errors.New("unauthenticated: "+err.Error()))
	}
	return nil
}

func (a authenticate) logResult(ctx context.Context, procedure string, err error) {
	if err == nil {
		return
	}
	caller, _ := callerFrom(ctx)
	code := connect.CodeOf(err)
	level := slog.LevelInfo
	if code == connect.CodeInternal || code == connect.CodeUnknown {
		level = slog.LevelError
	}
	a.log.Log(ctx, level, "request refused", "procedure", procedure, "caller", string(caller), "code", code.String(), "reason", err.Error())
}

// WrapUnary checks the identity of unary calls.
func (a authenticate) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := a.check(ctx, req.Spec().Procedure); err != nil {
			return nil, err
		}
		resp, err := next(ctx, req)
		a.logResult(ctx, req.Spec().Procedure, err)
		return resp, err
	}
}

// WrapStreamingClient is not used on the server.
func (a authenticate) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler checks the identity of streaming calls.
func (a authenticate) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := a.check(ctx, conn.Spec().Procedure); err != nil {
			return err
		}
		err := next(ctx, conn)
		if connect.CodeOf(err) != connect.CodeCanceled {
			a.logResult(ctx, conn.Spec().Procedure, err)
		}
		return err
	}
}
