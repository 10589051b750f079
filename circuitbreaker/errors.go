package circuitbreaker

import (
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark"
)

// ErrOpen matches (with errors.Is) every error a Breaker returns when it
// rejects a call; the error itself is an *OpenError. ErrOpen matches
// bulwark.ErrRejected, as every policy's refusal does.
var ErrOpen = bulwark.NewRejection("circuitbreaker: open")

// OpenError is returned when a breaker rejects a call: it is open, forced
// open, or half-open with every probe permit taken. It matches ErrOpen and
// bulwark.ErrRejected. A breaker returns the same *OpenError to many
// callers: do not modify it.
type OpenError struct {
	// Name is the breaker's Config.Name (for keyed breakers, the set's
	// name and the key: "inventory/host-3").
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

// Unwrap returns ErrOpen, so that errors.Is matches ErrOpen and
// bulwark.ErrRejected.
func (e *OpenError) Unwrap() error { return ErrOpen }

// RetryAfter is how long to wait before the breaker may let a call through.
// When open, it is the rest of the open wait: with the system clock, as of
// the breaker's millisecond clock when the call was rejected, so it may
// read up to about a millisecond long (never short). When half-open with
// every probe taken, or forced open, the breaker cannot know, and reports
// the configured OpenWait, so that callers back off instead of spinning.
// Always positive.
func (e *OpenError) RetryAfter() time.Duration { return e.Wait }
