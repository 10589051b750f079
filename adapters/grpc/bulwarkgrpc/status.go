package bulwarkgrpc

import (
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// StatusError is what an attempt of a client call reports to the policy
// when the server answered with a status that counts as a failure
// (ClientConfig.IsFailure): a retry, a breaker and their observers see it.
// The caller of the call gets it too, possibly wrapped by a policy's error;
// status.Code and status.FromError read its status either way.
//
// When the server sent a grpc-retry-pushback-ms trailer with a wait, or a
// google.rpc.RetryInfo detail (the trailer wins), StatusError wraps an
// error with a RetryAfter() time.Duration method, so bulwark.RetryAfter
// reads the wait and a retry waits as the server asked.
type StatusError struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string

	status *status.Status
	err    error           // the invoker's error
	hint   *retryAfterHint // nil without a hint
	ctxErr error           // the attempt's context error, when it had ended

	noRetry bool // the server's pushback said "do not retry"
}

func newStatusError(method string, st *status.Status, err error, trailer metadata.MD) *StatusError {
	e := &StatusError{Method: method, status: st, err: err}
	if v := trailer.Get(MetadataPushback); len(v) > 0 {
		if d, ok := ParsePushback(v[0]); ok {
			e.hint = &retryAfterHint{wait: d, source: MetadataPushback}
		} else {
			e.noRetry = true
		}
		return e
	}
	if d, ok := retryInfo(st); ok {
		e.hint = &retryAfterHint{wait: d, source: "RetryInfo"}
	}
	return e
}

// Code returns the status code.
func (e *StatusError) Code() codes.Code { return e.status.Code() }

// GRPCStatus returns the status the server sent.
func (e *StatusError) GRPCStatus() *status.Status { return e.status }

func (e *StatusError) Error() string {
	msg := "bulwarkgrpc: " + e.Method + ": " + e.err.Error()
	if e.hint != nil {
		msg += " (" + e.hint.Error() + ")"
	}
	return msg
}

// Unwrap returns the invoker's error, the server's retry hint when it sent
// one, and the attempt's context error when the attempt's context had
// ended (so errors.Is(err, context.Canceled) holds for a cancelled
// attempt).
func (e *StatusError) Unwrap() []error {
	errs := []error{e.err}
	if e.hint != nil {
		errs = append(errs, e.hint)
	}
	if e.ctxErr != nil {
		errs = append(errs, e.ctxErr)
	}
	return errs
}

// retryAfterHint carries a server's pushback.
type retryAfterHint struct {
	wait   time.Duration
	source string
}

func (h *retryAfterHint) Error() string { return h.source + " " + h.wait.String() }

// RetryAfter returns how long the server asked the client to wait.
func (h *retryAfterHint) RetryAfter() time.Duration { return h.wait }
