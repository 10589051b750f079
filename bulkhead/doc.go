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
package bulkhead
