package ratelimit

import (
	"time"

	"github.com/bulwark-go/bulwark"
)

// ErrLimited is matched, with errors.Is, by every rejection of a rate
// limiter in this package: the call was not made because it would exceed
// the limit. ErrLimited matches bulwark.ErrRejected, as every policy's
// refusal does.
var ErrLimited = bulwark.NewRejection("ratelimit: rate limit exceeded")

// LimitedError is the rejection a limiter returns. It matches ErrLimited
// and bulwark.ErrRejected and says, through RetryAfter, how long until a
// call would be permitted, so callers (retry, the HTTP middleware's
// Retry-After header) can come back at the right moment instead of
// guessing.
type LimitedError struct {
	// Delay is how long from the rejection until a call would be permitted,
	// if no other call took the permit first. It is always > 0.
	Delay time.Duration
}

// RetryAfter returns Delay.
func (e *LimitedError) RetryAfter() time.Duration { return e.Delay }

// Error says that the call was limited and when to retry.
func (e *LimitedError) Error() string {
	return "ratelimit: rate limit exceeded, retry after " + e.Delay.String()
}

// Unwrap returns ErrLimited, so errors.Is(err, ErrLimited) and
// errors.Is(err, bulwark.ErrRejected) hold.
func (e *LimitedError) Unwrap() error { return ErrLimited }

// limited returns the rejection for a call that must wait d nanoseconds.
func limited(d int64) error { return &LimitedError{Delay: time.Duration(d)} }
