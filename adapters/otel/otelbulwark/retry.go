package otelbulwark

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/metric"
)

// maxAttemptAttribute caps bulwark.retry.attempt, so that a retrier with
// many (or unlimited) attempts adds at most this many series.
const maxAttemptAttribute = 10

// InstrumentRetry makes cfg's retrier count its retries
// (bulwark.retry.retries, with bulwark.retry.attempt, the number of the
// attempt that failed, 10 standing for 10 and later, and the error.type of
// its error) and the calls it gave up on (bulwark.retry.give_ups, with
// bulwark.retry.reason and the error.type of the last error), each with
// bulwark.name set to name. The hooks cfg already has run after the
// recording. A first-attempt success records nothing.
//
// The reasons are max_attempts, max_elapsed_time, not_retryable,
// budget_exhausted, backoff_stopped, canceled and deadline_exceeded (the
// caller's context ended).
func (t *Telemetry) InstrumentRetry(name string, cfg *retry.Config) {
	onRetry, onGiveUp := cfg.OnRetry, cfg.OnGiveUp
	cfg.OnRetry = func(attempt int, err error, delay time.Duration) {
		t.inst.retryRetries.Add(background, 1, metric.WithAttributes(nameKey.String(name),
			retryAttemptKey.Int(min(attempt, maxAttemptAttribute)), errorTypeKey.String(ErrorType(err))))
		if onRetry != nil {
			onRetry(attempt, err, delay)
		}
	}
	cfg.OnGiveUp = func(e *retry.Error) {
		t.inst.retryGiveUps.Add(background, 1, metric.WithAttributes(nameKey.String(name),
			retryReasonKey.String(giveUpReason(e.Reason)), errorTypeKey.String(ErrorType(e.Err))))
		if onGiveUp != nil {
			onGiveUp(e)
		}
	}
}

// giveUpReason names a retry.Error's Reason for bulwark.retry.reason.
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
	case errors.Is(reason, context.Canceled):
		return "canceled"
	case errors.Is(reason, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "other"
}
