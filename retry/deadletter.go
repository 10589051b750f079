package retry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Attempt is one run of op, as a dead letter records it.
type Attempt struct {
	// Number counts attempts from 1.
	Number int
	// Start is when the attempt began, on the Retrier's clock.
	Start time.Time
	// Duration is how long op ran.
	Duration time.Duration
	// Err is what op returned (wrapped with ErrAttemptTimeout if
	// AttemptTimeout cut it short).
	Err error
	// Delay is the wait chosen after this attempt; 0 after the last.
	Delay time.Duration
}

// DeadLetter is an item that could not be processed, handed to a
// DeadLetterSink so that it is kept instead of lost or retried forever.
type DeadLetter[T any] struct {
	// Item is what the handler was given.
	Item T
	// Err is the error the Retrier gave up with (an *Error).
	Err error
	// Attempts is the history of every attempt, in order.
	Attempts []Attempt
}

// DeadLetterSink keeps items that retries could not process: an in-memory
// list (MemorySink), a dead-letter queue or topic, a table. Implementations
// must be safe for concurrent use and return only once the letter is stored.
type DeadLetterSink[T any] interface {
	// DeadLetter stores the letter. An error means it was not stored, and
	// the item must not be treated as handled.
	DeadLetter(ctx context.Context, letter DeadLetter[T]) error
}

// Handler wraps a message handler so that each message is retried with r and,
// when r gives up on it, handed to sink and reported as handled (nil), so the
// caller acknowledges it and moves on. It hands a message to sink when the
// attempts or the time run out, when the Backoff stops, and when the error
// is not retryable (Permanent, or rejected by RetryIf: a poison message).
//
// It never dead-letters a message because of the caller or the downstream:
// when ctx is cancelled or expires (a shutdown), when the next wait would
// pass ctx's deadline (ErrDeadline), when a policy rejected the attempt
// (ErrRejected: an open breaker says the downstream is in trouble, not the
// message) or when the Budget refuses a retry, the wrapped handler returns
// the error and the message stays with the caller for redelivery. When sink
// fails, the wrapped handler returns an error wrapping both errors; when it
// succeeds, r's Observer gets a DeadLettered event.
//
// Handler panics when r, sink or handle is nil, naming the parameter.
func Handler[T any](r *Retrier, sink DeadLetterSink[T], handle func(ctx context.Context, msg T) error) func(ctx context.Context, msg T) error {
	switch {
	case r == nil:
		panic("retry: Handler: r (the Retrier) is nil")
	case sink == nil:
		panic("retry: Handler: sink is nil")
	case handle == nil:
		panic("retry: Handler: handle is nil")
	}
	return func(ctx context.Context, msg T) error {
		var hist []Attempt
		err := r.do(ctx, func(ctx context.Context) error { return handle(ctx, msg) }, &hist)
		if err == nil {
			return nil
		}
		var gaveUp *Error
		if !errors.As(err, &gaveUp) || ctx.Err() != nil || !deadLetters(gaveUp.Reason) {
			return err
		}
		if serr := sink.DeadLetter(ctx, DeadLetter[T]{Item: msg, Err: err, Attempts: hist}); serr != nil {
			return fmt.Errorf("retry: dead-letter sink failed: %w (message failed: %w)", serr, err)
		}
		if r.observer != nil {
			r.observer.Observe(ctx, DeadLettered{Name: r.name, Attempts: gaveUp.Attempts, Err: err})
		}
		return nil
	}
}

// deadLetters reports whether giving up for reason means the message itself
// failed, rather than its caller or the downstream as a whole.
func deadLetters(reason error) bool {
	switch reason {
	case ErrMaxAttempts, ErrMaxElapsedTime, ErrNotRetryable, ErrBackoffStopped:
		return true
	}
	return false
}
