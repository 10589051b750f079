package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Reasons for giving up, found in an *Error's Reason and matched with
// errors.Is on the error Do returns. A cancelled or expired context is one
// more reason: the context's own error.
var (
	// ErrMaxAttempts: Config.MaxAttempts attempts were made.
	ErrMaxAttempts = errors.New("retry: max attempts reached")
	// ErrMaxElapsedTime: the next wait would have ended after
	// Config.MaxElapsedTime since the call began.
	ErrMaxElapsedTime = errors.New("retry: max elapsed time reached")
	// ErrNotRetryable: the error was permanent (Permanent or
	// backoff.Permanent) or Config.RetryIf rejected it.
	ErrNotRetryable = errors.New("retry: error is not retryable")
	// ErrBudgetExhausted: the retry Budget shared by the downstream's callers
	// allowed no more retries, so the call failed fast instead of retrying.
	ErrBudgetExhausted = errors.New("retry: retry budget exhausted")
	// ErrBackoffStopped: a BackOff returned backoff.Stop.
	ErrBackoffStopped = errors.New("retry: backoff stopped")
	// ErrRejected: a policy refused the attempt (the error matches
	// bulwark.ErrRejected: an open breaker, a full bulkhead, a rate limit)
	// and Config.RetryRejected is off, so Do gave up at once instead of
	// knocking again. The returned error matches the rejection too
	// (errors.Is(err, circuitbreaker.ErrOpen) holds).
	ErrRejected = errors.New("retry: rejected by a policy")
	// ErrDeadline: the next wait would have ended at or after the deadline
	// of the caller's context, so Do gave up at once instead of sleeping in
	// vain. It also matches context.DeadlineExceeded.
	ErrDeadline error = deadlineError{}
)

type deadlineError struct{}

func (deadlineError) Error() string { return "retry: next wait would pass the context deadline" }

// Is makes ErrDeadline match context.DeadlineExceeded.
func (deadlineError) Is(target error) bool { return target == context.DeadlineExceeded }

// ErrAttemptTimeout marks an attempt that Config.AttemptTimeout cut short.
// It is the cause (context.Cause) of the context the attempt ran with, and
// the error recorded for the attempt wraps it along with the op's own error.
// Timed-out attempts are retried whatever Config.RetryIf says.
var ErrAttemptTimeout = errors.New("retry: attempt timed out")

// Error is the error Do returns when it gives up after running op at least
// once. It wraps both the reason and the last attempt's error, so
// errors.Is(err, retry.ErrBudgetExhausted) and errors.Is(err, io.EOF) both
// work on it, and errors.As finds types in the last error (a RetryAfter
// hint, say).
type Error struct {
	// Attempts is how many times op ran.
	Attempts int
	// Reason says why Do stopped: ErrMaxAttempts, ErrMaxElapsedTime,
	// ErrNotRetryable, ErrBudgetExhausted, ErrBackoffStopped, ErrRejected,
	// ErrDeadline, or the error of the caller's context (context.Canceled or
	// context.DeadlineExceeded).
	Reason error
	// Err is the last attempt's error.
	Err error

	// chain is {Reason, Err} as Do built it, so that Unwrap (called by
	// every errors.Is and errors.As) need not allocate.
	chain [2]error
}

func (e *Error) Error() string {
	plural := "s"
	if e.Attempts == 1 {
		plural = ""
	}
	return fmt.Sprintf("retry: gave up after %d attempt%s (%s): %v",
		e.Attempts, plural, strings.TrimPrefix(e.Reason.Error(), "retry: "), e.Err)
}

// Unwrap returns the reason and the last attempt's error. For an *Error
// that Do returned, it allocates nothing (so treat those as read-only).
func (e *Error) Unwrap() []error {
	if e.chain[0] == nil {
		return []error{e.Reason, e.Err}
	}
	return e.chain[:]
}

// Permanent marks err as not worth retrying: Do gives up on it at once with
// ErrNotRetryable, whatever Config.RetryIf says. The result wraps err
// (errors.Is and errors.As see through it) and reads the same. backoff.Permanent
// errors are treated alike. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// Permanent or backoff.Permanent.
func IsPermanent(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case *permanentError, *backoff.PermanentError:
		return true
	case interface{ Unwrap() error }:
		return IsPermanent(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if IsPermanent(inner) {
				return true
			}
		}
	}
	return false
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// attemptTimeoutError is the error recorded for an attempt that
// Config.AttemptTimeout cut short.
type attemptTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("retry: attempt timed out after %v: %v", e.timeout, e.err)
}

func (e *attemptTimeoutError) Unwrap() []error { return []error{ErrAttemptTimeout, e.err} }
