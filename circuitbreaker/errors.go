package circuitbreaker

import (
	"errors"
	"strconv"
	"time"
)

// ErrOpen matches (with errors.Is) every error a Breaker returns when it
// rejects a call. The error itself is an *OpenError.
var ErrOpen = errors.New("circuitbreaker: open")

// OpenError is returned when a breaker rejects a call: it is open, forced
// open, or half-open with every probe permit taken. It matches ErrOpen. A
// breaker may return the same *OpenError to many callers: do not modify it.
type OpenError struct {
	// Name is the breaker's Config.Name (for keyed breakers, the key).
	Name string
	// State is the state that rejected the call: StateOpen,
	// StateHalfOpen or StateForcedOpen.
	State State
	// Wait is what RetryAfter reports.
	Wait time.Duration
}

// Error says which breaker rejected the call, in which state, and when to
// try again.
func (e *OpenError) Error() string {
	s := "circuitbreaker: "
	if e.Name != "" {
		s += strconv.Quote(e.Name) + " "
	}
	return s + "is " + e.State.String() + "; retry after " + e.Wait.String()
}

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// RetryAfter is how long to wait before the breaker may let a call through:
// the rest of the open wait when open. When half-open with every probe taken,
// or forced open, the breaker cannot know, and reports the configured
// OpenWait, so that callers back off instead of spinning. Always positive.
func (e *OpenError) RetryAfter() time.Duration { return e.Wait }
