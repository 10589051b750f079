package saga

import (
	"errors"
	"fmt"
)

// Errors an Orchestrator reports, matched with errors.Is.
var (
	// ErrCompensated: the saga failed and every step that may have taken
	// effect was compensated. It comes wrapped in an *Error with the cause.
	ErrCompensated = errors.New("saga: compensated")
	// ErrNeedsAttention: a compensation or retriable step failed past its
	// limit; the saga waits for an operator (Resume or Abandon).
	ErrNeedsAttention = errors.New("saga: needs attention")
	// ErrAbandoned: an operator abandoned the saga.
	ErrAbandoned = errors.New("saga: abandoned")
	// ErrDeadlineExceeded is the cause of a saga compensated because it
	// passed its deadline (Definition.Timeout).
	ErrDeadlineExceeded = errors.New("saga: deadline exceeded")
	// ErrStepTimeout is the cause of an invocation cancelled by its step's
	// Timeout.
	ErrStepTimeout = errors.New("saga: step timeout")
	// ErrLeaseLost: another instance took the saga over (this one's lease
	// had ended); this instance stopped driving it and the other goes on.
	ErrLeaseLost = errors.New("saga: lease lost to another instance")
	// ErrStopped: the orchestrator stopped driving the saga before it
	// finished (Close, the end of Run's or Recover's context, or a store
	// error; the error matches that cause too). The saga stays as its log
	// says, and Run or Recover resumes it.
	ErrStopped = errors.New("saga: stopped before finishing; Run or Recover resumes it")
	// ErrNotNeedingAttention: Resume or Abandon was called on a saga that
	// does not need attention.
	ErrNotNeedingAttention = errors.New("saga: the saga does not need attention")
)

// Error reports a saga that ended other than Completed.
// errors.Is matches it against ErrCompensated, ErrNeedsAttention or
// ErrAbandoned according to Status, and against its cause.
type Error struct {
	SagaID string
	Status Status // Compensated, NeedsAttention or Abandoned
	Err    error  // what failed: the step's error, naming the step
}

func (e *Error) Error() string {
	return fmt.Sprintf("saga %s: %s: %v", e.SagaID, e.Status, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel for e.Status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrCompensated:
		return e.Status == Compensated
	case ErrNeedsAttention:
		return e.Status == NeedsAttention
	case ErrAbandoned:
		return e.Status == Abandoned
	}
	return false
}
