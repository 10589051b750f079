// Package retry runs an operation again when it fails: with a backoff
// between attempts, limits on attempts and time, a classification of which
// errors are worth retrying, and a budget that keeps retries from
// multiplying the load on a dependency that is already struggling.
//
// Build a Retrier once per downstream and share it:
//
//	budget, _ := retry.NewBudget(retry.DefaultBudgetConfig())
//	cfg := retry.DefaultConfig()
//	cfg.Budget = budget
//	r, err := retry.New(cfg)
//	...
//	err = r.Do(ctx, func(ctx context.Context) error { return callInventory(ctx) })
//
// Backoffs: Constant, Exponential (with NoJitter, FullJitter or EqualJitter),
// Decorrelated, or any cenkalti/backoff BackOff through BackOff; every wait
// is capped by Config.MaxDelay. An error that knows when to try again (it has
// a RetryAfter() time.Duration method: a circuit breaker's open error, a
// rate limiter's rejection, an HTTP 429 or 503; see ParseRetryAfter) sets the
// next wait itself.
//
// Do stops at the first success, after MaxAttempts, when the next wait would
// pass MaxElapsedTime, on an error that is not retryable (Permanent,
// backoff.Permanent, or rejected by RetryIf), when the shared Budget has no
// retry left, and as soon as the caller's context is done. It then returns
// an *Error that wraps the reason (ErrMaxAttempts, ErrBudgetExhausted, …, or
// the context's error) and op's last error, and counts the attempts.
//
// For message consumers, Handler retries a handler and hands messages that
// still fail to a DeadLetterSink (MemorySink here; kafkadlq and rabbitdlq in
// the adapter modules), with the error and the history of every attempt.
// Every sink passes the conformance suite in retry/retrytest.
// A shutdown never dead-letters a message.
//
// Retrier implements bulwark.Policy. Put it outermost in a chain so that each
// attempt passes the policies inside it:
//
//	bulwark.Chain(retrier, breaker, bulkhead)
package retry
