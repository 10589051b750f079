// Package bulkhead bounds how many calls run at once, so that a slow
// dependency ties up a bounded share of its callers' goroutines and
// connections instead of all of them.
//
// A Bulkhead admits up to Config.MaxConcurrent calls; further callers wait
// in a bounded line (Config.MaxWaiting) for a bounded time (Config.MaxWait),
// and beyond either bound are rejected at once with ErrFull, which a server
// turns into a fast 503 rather than a slow timeout. A permit is released
// exactly once whatever happens to the call: success, error, ctx
// cancellation or a panic in op.
//
// The limit can also find itself: with Config.Adaptive set to AIMD or
// Gradient, the bulkhead watches the latency of the calls it admits and
// moves its limit to the concurrency the dependency can take before its
// latency climbs, following it as capacity comes and goes. The adaptive
// bulkhead is the same type with the same methods, so it goes wherever a
// fixed one would.
//
// Keyed keeps one bulkhead per key (per tenant, per downstream), with
// bounded memory for keys that fall idle.
//
//	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 20, MaxWaiting: 50, MaxWait: 100 * time.Millisecond})
//	...
//	err = b.Do(ctx, callInventory)
//	if errors.Is(err, bulkhead.ErrFull) {
//		// shed the request
//	}
//
// # Guarantees
//
// No more than the limit is ever in use; waiters are served first come,
// first served, and a permit never stays free while someone waits for it;
// nobody waits longer than MaxWait (or its ctx). Every rejection matches
// ErrFull and bulwark.ErrRejected: the call did not run, so retrying it at
// once helps nobody (the retry policy does not, unless told to).
//
// # Configuration
//
// The zero Config is the default configuration (DefaultConfig spells it
// out): a fixed limit of 25 calls that rejects at once when full. A field
// left at zero takes its default, so bulkhead.Config{MaxWaiting: 10} is 25
// calls with a line of 10 waiting up to 100 milliseconds. The zero AIMD and
// Gradient are their defaults too (DefaultAIMD, DefaultGradient);
// Gradient's periodic re-measurement is turned off with NeverProbe. New
// refuses a setting outside its range (negative, NaN, infinite, beyond its
// cap) with an error naming it; it never clamps. The zero Bulkhead and
// Keyed are not usable: their methods panic.
//
// # Run-time settings
//
// Reconfigure (on Bulkhead and Keyed) changes MaxConcurrent, MaxWaiting and
// MaxWait while calls run, losing and making up no permit: a raised limit
// lets waiters in at once, a lowered one takes effect as permits come back.
// Adaptive, and the ceiling it adapts under, are fixed at New. Settings
// returns what a bulkhead runs with now.
//
// # Events
//
// Config.Observer receives Rejected for every call Do or Acquire rejects,
// and LimitChanged when an adaptive limit moves, on the goroutine of the
// call that caused them, with its context, outside any lock. A Keyed
// bulkhead's events carry the key.
//
// # Cost
//
// A fixed bulkhead's permit costs one atomic add on a word of its own to
// take and one to return; nothing else is written, no clock is read, no
// lock is taken while nobody waits, and nothing is allocated. Once a caller
// has found the bulkhead full, it refuses with two loads and no write, and
// takes a permit that came back with a load and a compare-and-swap, until a
// caller leaves room behind it. An adaptive bulkhead adds two clock reads
// and a short critical section per call.
package bulkhead
