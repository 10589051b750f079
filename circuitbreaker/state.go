package circuitbreaker

import "strconv"

// State is the state of a Breaker.
type State uint8

// The states of a Breaker. Closed, open and half-open are the automatic
// states; forced open and disabled are set by an operator (ForceOpen,
// Disable) and last until Reset.
const (
	// StateClosed lets every call through and records its outcome.
	StateClosed State = iota
	// StateHalfOpen lets a fixed number of probe calls through and rejects
	// the rest; the probes decide whether it closes or reopens.
	StateHalfOpen
	// StateOpen rejects every call until its wait is over.
	StateOpen
	// StateForcedOpen rejects every call until Reset or Disable.
	StateForcedOpen
	// StateDisabled lets every call through and records its outcome in the
	// window (Metrics stays live), but never changes state by itself.
	StateDisabled
)

// String returns "closed", "half-open", "open", "forced-open" or "disabled".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	case StateForcedOpen:
		return "forced-open"
	case StateDisabled:
		return "disabled"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// rejecting reports whether calls in state s are (or, in dry-run, would be)
// rejected at least in part: the states a keyed breaker counts toward its
// open share.
func (s State) rejecting() bool {
	return s == StateOpen || s == StateHalfOpen || s == StateForcedOpen
}
