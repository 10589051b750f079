// Package hedge sends a backup request when the first is slow: if an
// attempt has not answered after a delay, another starts, and the first
// success wins. Hedging cuts tail latency (one slow replica, one lost packet,
// one garbage-collection pause) at the cost of a little extra load, and only
// suits operations that are safe to run more than once.
//
// A Hedger hedges only calls whose context is marked with Idempotent (or
// every call, with Config.AllIdempotent); other calls run once, untouched:
//
//	h, err := hedge.New(hedge.DefaultConfig())
//	...
//	err = h.Do(hedge.Idempotent(ctx), func(ctx context.Context) error {
//		return getProfile(ctx, id)
//	})
//
// The delay is fixed (Config.Delay) or follows a percentile of recent
// latencies (Config.Percentile), as in "The Tail at Scale": hedging at the
// 95th percentile adds about 5% load. When one attempt succeeds, every other
// one's context is cancelled (cause ErrLost), and Do returns only after all
// of them have returned, so no goroutine outlives the call.
//
// Hedger implements bulwark.Policy; bulwark.Call carries a typed result
// through it and keeps only the winner's.
package hedge
