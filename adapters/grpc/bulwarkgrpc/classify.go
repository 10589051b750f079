package bulwarkgrpc

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/ratelimit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Metadata keys shared by the client interceptors and the server ones.
const (
	// MetadataPushback is the trailer by which a server tells a client when
	// to try again (gRPC's retry design, A6): a whole number of
	// milliseconds to wait; a negative or malformed value means "do not
	// retry".
	MetadataPushback = "grpc-retry-pushback-ms"

	// MetadataIdempotencyKey carries a call's idempotency key. A client
	// call with it may be retried whatever its method; the Idempotency
	// server interceptor replays the first response to every call with the
	// same key.
	MetadataIdempotencyKey = "idempotency-key"

	// MetadataIdempotentReplayed is the response header ("true") of a call
	// that the Idempotency server interceptor answered from its store.
	MetadataIdempotentReplayed = "idempotent-replayed"
)

// retryInfoURL is the type URL of google.rpc.RetryInfo in status details.
const retryInfoURL = "type.googleapis.com/google.rpc.RetryInfo"

// FailureCode reports whether a status code says the server is failing or
// overloaded, the default classification the client interceptors use for
// the policy (a breaker counts these): UNAVAILABLE, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN and DATA_LOSS. Every other code is
// an answer about the request itself (INVALID_ARGUMENT, NOT_FOUND,
// ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION,
// ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, CANCELED) or OK.
func FailureCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Unknown, codes.DataLoss:
		return true
	}
	return false
}

// RetryableCode reports whether a call that ended with the status code may
// succeed if sent again later, the default classification of the client
// interceptors: UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED.
// INTERNAL, UNKNOWN and DATA_LOSS are failures that are not retried (the
// server broke on this request), and the answers FailureCode lists are
// never retried.
func RetryableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// IsFailure reports whether err counts as a failure of the server: an
// error with a gRPC status whose code FailureCode reports, or an error
// without a status (a transport error, a policy's error). nil is not a
// failure. Pass it as circuitbreaker.Config.IsFailure for a breaker that
// runs gRPC calls without the client interceptors, so that a NOT_FOUND
// does not trip it. The client interceptors classify this way by default.
func IsFailure(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := statusOf(err); ok {
		return FailureCode(st.Code())
	}
	return true
}

// IsRetryable reports whether err is worth retrying: an error with a gRPC
// status whose code RetryableCode reports, or an error without a status.
// Pass it as retry.Config.RetryIf for calls made without the client
// interceptors; the interceptors mark the other codes retry.Permanent
// themselves, or do not report them as errors at all.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := statusOf(err); ok {
		return RetryableCode(st.Code())
	}
	return true
}

// statusOf returns the gRPC status in err's tree, if any.
func statusOf(err error) (*status.Status, bool) {
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		if st := gs.GRPCStatus(); st != nil {
			return st, true
		}
	}
	return nil, false
}

// ParsePushback parses the value of a grpc-retry-pushback-ms trailer: a
// non-negative decimal number of milliseconds (at most 2^31-1, as gRPC
// sends it) is a wait, and ok is true; anything else (negative, empty,
// signed with +, not a number, too large) means the server asked not to
// be retried, and ok is false.
func ParsePushback(v string) (wait time.Duration, ok bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms > math.MaxInt32 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// FormatPushback returns the grpc-retry-pushback-ms value of a wait:
// whole milliseconds rounded up, at least 0, at most 2^31-1.
func FormatPushback(d time.Duration) string {
	ms := (max(d, 0) + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatInt(int64(min(ms, math.MaxInt32)), 10)
}

// retryInfo returns the wait of a google.rpc.RetryInfo in st's details.
func retryInfo(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Proto().GetDetails() {
		if d.GetTypeUrl() != retryInfoURL {
			continue
		}
		var ri errdetails.RetryInfo
		if proto.Unmarshal(d.GetValue(), &ri) != nil || ri.GetRetryDelay() == nil {
			continue
		}
		if err := ri.GetRetryDelay().CheckValid(); err != nil {
			continue
		}
		return max(ri.GetRetryDelay().AsDuration(), 0), true
	}
	return 0, false
}

// statusFor returns the gRPC status the caller gets for a policy's error
// that carries none: RESOURCE_EXHAUSTED for a rate limit, UNAVAILABLE for
// another rejection (an open breaker, a full bulkhead), DEADLINE_EXCEEDED
// and CANCELED for the context's errors, UNKNOWN otherwise.
func statusFor(err error) codes.Code {
	switch {
	case errors.Is(err, ratelimit.ErrLimited):
		return codes.ResourceExhausted
	case errors.Is(err, bulwark.ErrRejected):
		return codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// policyError is what a client interceptor returns for a policy's error
// without a gRPC status: the status the caller's stub reads
// (status.Code(err)), wrapping the policy's error for errors.Is and
// bulwark.RetryAfter.
type policyError struct {
	code codes.Code
	err  error
}

func (e *policyError) Error() string { return e.err.Error() }
func (e *policyError) Unwrap() error { return e.err }
func (e *policyError) GRPCStatus() *status.Status {
	return status.New(e.code, e.err.Error())
}

// callerError returns the error a client interceptor hands its caller for
// the policy's error err.
func callerError(err error) error {
	if _, ok := statusOf(err); ok {
		return err
	}
	return &policyError{code: statusFor(err), err: err}
}

// trimMethod returns "pkg.Service/Method" for "/pkg.Service/Method".
func trimMethod(method string) string { return strings.TrimPrefix(method, "/") }
