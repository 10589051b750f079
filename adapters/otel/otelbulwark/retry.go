package otelbulwark

import (
	"context"
	"errors"

	"github.com/bulwark-go/bulwark/retry"
)

// maxAttemptAttribute caps bulwark.retry.attempt, so that a retrier with
// many (or unlimited) attempts adds at most this many series.
const maxAttemptAttribute = 10

// retried counts a retry in bulwark.retry.retries, with the number of the
// attempt that failed (10 standing for 10 and later) and its error.type.
func (t *Telemetry) retried(ctx context.Context, e retry.Retried) {
	t.inst.retryRetries.Add(ctx, 1, with(e.Name,
		retryAttemptKey.Int(min(e.Attempt, maxAttemptAttribute)), errorTypeKey.String(ErrorType(e.Err))))
}

// gaveUp counts a call a retrier gave up on in bulwark.retry.give_ups, with
// the reason and the error.type of the last error.
func (t *Telemetry) gaveUp(ctx context.Context, e retry.GaveUp) {
	t.inst.retryGiveUps.Add(ctx, 1, with(e.Name,
		retryReasonKey.String(giveUpReason(e.Reason)), errorTypeKey.String(ErrorType(e.Err))))
}

// retryDeadLettered counts a message a retry handler's sink stored in
// bulwark.retry.dead_letters, with the error.type of the last error.
func (t *Telemetry) retryDeadLettered(ctx context.Context, e retry.DeadLettered) {
	t.inst.retryDead.Add(ctx, 1, with(e.Name, errorTypeKey.String(ErrorType(e.Err))))
}

// giveUpReason names a GaveUp's Reason for bulwark.retry.reason:
// max_attempts, max_elapsed_time, not_retryable, budget_exhausted,
// backoff_stopped, rejected (a policy refused the attempt), deadline (the
// next wait would pass the caller's deadline), canceled or
// deadline_exceeded (the caller's context ended), or other.
func giveUpReason(reason error) string {
	switch {
	case errors.Is(reason, retry.ErrMaxAttempts):
		return "max_attempts"
	case errors.Is(reason, retry.ErrMaxElapsedTime):
		return "max_elapsed_time"
	case errors.Is(reason, retry.ErrNotRetryable):
		return "not_retryable"
	case errors.Is(reason, retry.ErrBudgetExhausted):
		return "budget_exhausted"
	case errors.Is(reason, retry.ErrBackoffStopped):
		return "backoff_stopped"
	case errors.Is(reason, retry.ErrRejected):
		return "rejected"
	case errors.Is(reason, retry.ErrDeadline):
		return "deadline"
	case errors.Is(reason, context.Canceled):
		return "canceled"
	case errors.Is(reason, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "other"
}
