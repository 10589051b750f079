// Package circuitbreaker stops calling a dependency that is failing, so that
// callers fail fast instead of waiting on it, and the dependency gets room to
// recover instead of a queue of retries.
//
// # When to use a breaker
//
// Put a breaker in front of each remote dependency whose failure you can do
// something about quickly: return a cached or degraded answer, try another
// region, or tell your own caller to come back later (an *OpenError carries
// RetryAfter, ready for an HTTP 503 Retry-After). A breaker helps when the
// dependency fails for a while (an outage, an overload, a bad deploy) rather
// than for one request; for one-off errors use retry, and put the breaker
// inside the retry (bulwark.Chain(retrier, breaker)) so each attempt is
// counted. A rejection matches bulwark.ErrRejected, which the retry policy
// does not retry unless told to (retry.Config.RetryRejected): an open
// breaker ends the retries at once.
//
// One breaker per dependency, shared by every goroutine that calls it; one
// per host or endpoint with Keyed when instances fail independently.
//
// # How it works
//
// A breaker is closed to begin with: calls go through and their outcomes
// fill a sliding window. When the window's failure rate (or slow-call rate)
// reaches its threshold, or ConsecutiveFailures failures come in a row, the
// breaker opens: calls are rejected with an *OpenError, without running, for
// OpenWait. Then it goes half-open: HalfOpenCalls probe calls go through and
// the rest are still rejected. HalfOpenSuccesses successful probes close it
// (with an empty window); as soon as that many can no longer succeed, it
// opens again, for a longer wait (OpenWaitMultiplier) unless the wait is
// fixed (FixedOpenWait). A half-open
// breaker whose probes reach no verdict within MaxHalfOpenWait reopens.
//
// Transitions driven by time happen when the breaker is next used (a call,
// State or Metrics), so a breaker runs no timers of its own. The switch to
// half-open admits exactly HalfOpenCalls probes, however many callers arrive
// at once.
//
// Every result is tagged with the state it was admitted in: a call let in
// while closed that finishes after the breaker opened counts for nothing, so
// it can neither reopen a recovering breaker nor pass for a probe.
//
// What counts as a failure: by default every non-nil error. IsIgnored picks
// errors that count as neither (a caller's invalid input), IsFailure picks
// which of the rest are failures (the others count as successes). The
// caller's own cancellation (context.Canceled while the caller's ctx is done)
// is ignored; its deadline expiring is a failure (the dependency was too
// slow for it). A panic in the call is a failure, and the panic goes on to
// the caller. An ignored probe hands its permit to the next caller.
//
// # Settings and how to pick them
//
//   - Window: LastCalls(n) counts the last n calls and needs no clock;
//     LastDuration(d, buckets) counts the calls of the last d, for traffic
//     that varies a lot over the day. Make the window hold enough calls at
//     your normal rate for a rate to mean something: 50 to 200 calls, or 10
//     to 60 seconds.
//   - FailureRateThreshold: the failure percentage that means "down". 50 is
//     a good start; lower for a dependency that normally never fails.
//   - MinimumCalls: the fewest calls a rate is trusted on; about a fifth of
//     the window, so a quiet hour's two failures do not trip it.
//   - ConsecutiveFailures: trips on a streak (say 5) whatever the rate: for
//     dependencies with too little traffic to fill a window.
//   - SlowCallDuration and SlowCallRateThreshold: a dependency that answers
//     in 10 seconds instead of 100 milliseconds is as unavailable as one that
//     fails; pick a duration well above your normal p99 and a rate like the
//     failure rate.
//   - OpenWait: long enough for the dependency to recover from a restart,
//     short enough that users do not notice a recovered service: 5 to 30
//     seconds. OpenWaitMultiplier (2) and MaxOpenWait (a few minutes) back
//     off while an outage lasts; OpenWaitJitter (0.1 to 0.2) spreads the
//     probes of many breakers.
//   - HalfOpenCalls and HalfOpenSuccesses: enough probes to tell recovery
//     from luck (3 to 10) with a bar a little above the threshold (3 of 5).
//   - MaxHalfOpenWait: a few times your call timeout.
//   - DryRun: deploy a new breaker with it first and watch its Rejected
//     events and Metrics.Rejected to see what it would have rejected.
//
// # Configuration
//
// The zero Config is the default configuration (DefaultConfig spells it
// out): a window of the last 100 calls, opening at a 50% failure rate once
// it holds 20 calls, a 10 second open wait doubling on consecutive trips up
// to 2 minutes with 10% jitter, 5 probes of which 3 must succeed within a
// minute. A field left at zero takes its default, so a literal names only
// what it changes: circuitbreaker.New(circuitbreaker.Config{Name:
// "inventory", ConsecutiveFailures: 5}). Settings on by default are turned
// off with a named constant: FixedOpenWait, NoJitter, NoMaxHalfOpenWait.
// New refuses a setting outside its range (negative, NaN, infinite, or
// beyond its cap) with an error that names it; it never clamps.
//
// # Operator controls
//
// ForceOpen rejects everything until Reset (take a dependency out by hand);
// Disable lets everything through while still recording (take the breaker
// out by hand); Reset closes it with an empty window.
//
// Reconfigure changes the thresholds, the open wait, the probes and DryRun
// while calls run, keeping the window and the failure streak: a tighter
// threshold the window already meets trips the breaker at once, and an open
// breaker keeps the wait it tripped with. Window and SlowCallDuration are
// fixed at New. Keyed.Reconfigure does the same for every breaker of a set.
// Settings returns what a breaker runs with now.
//
// # Observing
//
// Config.Observer receives two events: StateChange after every change of
// state, and Rejected for every rejected call (with DryRun, every call that
// would have been rejected). Both are reported outside the breaker's lock,
// with the context of the call that caused them, so an observer may call
// State, Metrics or anything else on the breaker; state changes are
// reported one at a time, in the order they happened. A Keyed set's events
// carry the key. Metrics returns a snapshot of the window and the state.
//
// # Errors
//
// A rejection is an *OpenError, which matches ErrOpen and
// bulwark.ErrRejected and carries RetryAfter (bulwark.RetryAfter reads it):
// the rest of the open wait, or OpenWait when the breaker cannot know.
//
// # Cost
//
// On the closed success path Do allocates nothing and writes no shared
// memory when it does not need to: with a count window, a success that finds
// the window full of successes (no failures, no slow calls) leaves it as it
// was, so Do only reads one word the breaker shares between goroutines.
// Outcomes that change something (a failure, and every outcome while the
// window holds a failure) take a lock. A time window must count every
// success (the next failure's rate depends on it), which costs one atomic
// increment. Slow-call detection and time windows time each call with a
// millisecond clock kept by one goroutine that runs only while breakers use
// it, instead of reading the system clock twice per call; a count window
// without slow-call detection reads no clock at all while closed. When the
// process is starved of CPU that clock can lag, and call durations read
// short; the state machine's changes (the end of the open wait,
// MaxHalfOpenWait) are timed on the system clock.
//
// An open breaker rejects without the lock and without writing shared
// memory others read: it reads its state and the millisecond clock to know
// the wait is not over, returns an *OpenError shared by every call rejected
// at the same clock reading (one is made per millisecond while rejecting),
// and counts the rejection on a counter striped across cache lines. So a
// rejection costs a few nanoseconds and does not slow down as cores are
// added; the price is that an open breaker may reject for up to about a
// millisecond (a clock tick) after its wait has ended, and that RetryAfter
// may read that much long. With an injected Clock everything is exact.
package circuitbreaker
