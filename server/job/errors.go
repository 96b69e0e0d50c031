package job

import (
	"errors"
	"fmt"
)

// Code classifies an Error for the caller; the API maps it to a status code.
type Code int

// The error codes of the engine.
const (
	// CodeInternal is a failure of the server; its message says nothing of
	// the internals, which go to the log.
	CodeInternal Code = iota
	// CodeInvalidArgument is a bad request: name, path, id, limits, offset.
	CodeInvalidArgument
	// CodeNotFound is an unknown job or a job of another user.
	CodeNotFound
	// CodeAlreadyExists is a name the caller already uses for a running job.
	CodeAlreadyExists
	// CodeResourceExhausted is a server limit reached.
	CodeResourceExhausted
	// CodeUnavailable is a server shutting down.
	CodeUnavailable
	// CodeOutOfRange is a stream offset past the end of a complete output.
	CodeOutOfRange
)

// Error is an error for the caller: a code and a message that is safe to
// show. The cause, when there is one, is for the server's log.
type Error struct {
	Code    Code
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// CodeOf returns the code of err: the Code of an *Error in its chain, else
// CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// MessageOf returns the message of err that is safe to show a caller.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

func invalidArgument(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// notFound is the one error for an unknown job and for another user's job,
// so that ids cannot be probed.
func notFound(id string) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("job %s not found", id)}
}

func internal(message string, cause error) *Error {
	return &Error{Code: CodeInternal, Message: message, Cause: cause}
}
