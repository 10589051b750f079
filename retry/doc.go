// Package retry runs an operation again when it fails: with a backoff
// between attempts, limits on attempts and time, a classification of which
// errors are worth retrying, and a budget that keeps retries from
// multiplying the load on a dependency that is already struggling.
//
// Build a Retrier once per downstream and share it:
//
//	budget, _ := retry.NewBudget(retry.BudgetConfig{})
//	r, err := retry.New(retry.Config{Name: "inventory", Budget: budget})
//	...
//	err = r.Do(ctx, func(ctx context.Context) error { return callInventory(ctx) })
//
// # Defaults
//
// The zero Config is the default configuration, which DefaultConfig spells
// out: three attempts (Unlimited for no limit), Exponential backoff with
// full jitter from 100ms doubling each retry, every wait capped at 30s
// (DefaultMaxDelay; there is no uncapped setting), rejections not retried,
// no budget, and no time limit but the caller's context. The zero
// BudgetConfig likewise means the defaults of DefaultBudgetConfig, and the
// zero Exponential and Decorrelated are usable schedules.
//
// # Guarantees
//
// Backoffs: Constant, Exponential (FullJitter, NoJitter or EqualJitter),
// Decorrelated, or any cenkalti/backoff BackOff through BackOff. Every wait
// — the Backoff's, a server's Retry-After hint (any error in the tree with a
// RetryAfter() time.Duration method, read by bulwark.RetryAfter; see
// ParseRetryAfter for HTTP), an opted-in rejection's hint — is at most
// Config.MaxDelay, and a wait that would end at or after the deadline of
// the caller's context is not begun: Do gives up at once with ErrDeadline.
//
// A policy's refusal (an error matching bulwark.ErrRejected: an open
// circuit breaker, a full bulkhead, a rate limit) ends the call at once by
// default: op is not called again, Do returns without waiting, and the
// error matches both ErrRejected and the rejection itself, so
// errors.Is(err, circuitbreaker.ErrOpen) holds. Config.RetryRejected opts
// into waiting the rejection's hint (capped as above) and trying again.
//
// Do stops at the first success, after MaxAttempts, when the next wait
// would pass MaxElapsedTime or ctx's deadline, on an error that is not
// retryable (Permanent, backoff.Permanent, a rejection, or rejected by
// RetryIf), when the shared Budget has no retry left, and as soon as the
// caller's context is done. It then returns an *Error that wraps the
// reason (ErrMaxAttempts, ErrRejected, ErrBudgetExhausted, …, or the
// context's error) and op's last error, and counts the attempts. A
// first-attempt success allocates nothing.
//
// # Run-time settings
//
// Reconfigure changes MaxAttempts, MaxElapsedTime, Backoff, MaxDelay,
// AttemptTimeout and RetryRejected while calls run: each call reads them
// once, when it starts, and keeps them to its end. Settings returns what the
// Retrier runs with now.
//
// # Events
//
// With Config.Observer set, a Retrier reports Retried before each wait,
// GaveUp when it gives up, and (through Handler) DeadLettered when a sink
// stored a message; see each type for when and where it is reported.
//
// # Dead letters
//
// For message consumers, Handler retries a handler and hands messages that
// still fail to a DeadLetterSink (MemorySink here; kafkadlq and rabbitdlq in
// the adapter modules), with the error and the history of every attempt.
// Every sink passes the conformance suite retrytest.Run. A shutdown, a
// rejection or an exhausted budget never dead-letters a message.
//
// Retrier implements bulwark.Policy. Put it outermost in a chain so that each
// attempt passes the policies inside it:
//
//	bulwark.Chain(retrier, breaker, bulkhead)
package retry
