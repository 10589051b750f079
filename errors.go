package bulwark

import (
	"errors"
	"time"
)

// ErrRejected matches, with errors.Is, every error by which a policy refused
// to run an operation at all: an open circuit breaker
// (circuitbreaker.ErrOpen), a full bulkhead (bulkhead.ErrFull), an exhausted
// rate limit (ratelimit.ErrLimited). A rejected operation did not run, so it
// had no effect and reached no dependency; the rejection is local and says
// nothing new about the dependency's health. The retry policy therefore does
// not retry a rejection unless told to (retry.Config.RetryRejected), and the
// HTTP layer answers it with 503 or 429 and a Retry-After.
var ErrRejected = errors.New("bulwark: rejected by a policy")

// NewRejection returns a sentinel error with the given text that matches
// ErrRejected with errors.Is: the way a policy package declares its
// refusal (circuitbreaker.ErrOpen, bulkhead.ErrFull, ratelimit.ErrLimited).
// Each call returns a distinct error.
func NewRejection(text string) error { return &rejection{text} }

type rejection struct{ text string }

func (e *rejection) Error() string { return e.text }
func (e *rejection) Unwrap() error { return ErrRejected }

// ErrClosed is returned by a Service's Run after its Close, and by methods
// that cannot work once their component is closed.
var ErrClosed = errors.New("bulwark: closed")

// ErrRunning is returned by a Service's Run while another Run of the same
// component has not returned.
var ErrRunning = errors.New("bulwark: already running")

// RetryAfter returns the wait suggested by the first error in err's tree
// that has a method
//
//	RetryAfter() time.Duration
//
// An open breaker's error, a rate limiter's rejection and an HTTP 429 or 503
// with a Retry-After header carry one. A negative suggestion reads as 0. It
// reports false when no error in the tree has the method.
//
// RetryAfter walks the tree itself (Unwrap() error and Unwrap() []error) and
// allocates nothing, unlike errors.As.
func RetryAfter(err error) (time.Duration, bool) {
	switch e := err.(type) {
	case nil:
		return 0, false
	case interface{ RetryAfter() time.Duration }:
		return max(e.RetryAfter(), 0), true
	case interface{ Unwrap() error }:
		return RetryAfter(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if d, ok := RetryAfter(inner); ok {
				return d, true
			}
		}
	}
	return 0, false
}
