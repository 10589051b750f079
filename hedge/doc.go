// Package hedge sends a backup request when the first is slow: if an
// attempt has not answered after a delay, another starts, and the first
// success wins. Hedging cuts tail latency (one slow replica, one lost packet,
// one garbage-collection pause) at the cost of a little extra load, and only
// suits operations that are safe to run more than once.
//
// A Hedger hedges only calls whose context is marked with Idempotent (or
// every call, with Config.AllIdempotent); other calls run once, untouched:
//
//	h, err := hedge.New(hedge.Config{Name: "profiles"})
//	...
//	err = h.Do(hedge.Idempotent(ctx), func(ctx context.Context) error {
//		return getProfile(ctx, id)
//	})
//
// # Defaults
//
// The zero Config is the default configuration, which DefaultConfig spells
// out: one hedge (MaxHedges), started at the 95th percentile (Percentile)
// of the last 100 successful calls' latency (Window), and after 50ms
// (Delay) until 100 latencies are known, for calls marked Idempotent.
// NoPercentile keeps the delay fixed; NoDelay starts every attempt at once.
//
// # Guarantees
//
// The delay follows a percentile of recent latencies, as in "The Tail at
// Scale" (hedging at the 95th percentile adds about 5% load), or stays
// fixed. When one attempt succeeds, every other one's context is cancelled
// (cause ErrLost). Do returns only after every attempt has returned, so no
// attempt outlives the call — even when one panics: the panic, on whichever
// goroutine it happened, is raised again on the caller's goroutine once
// every attempt has ended, no hedge starts after it, and a recover around
// Do catches it. A call that is not hedged allocates nothing; a hedged call
// answered within the delay starts no goroutine.
//
// # Run-time settings
//
// Reconfigure changes Delay, MaxHedges, Percentile, Window and AllIdempotent
// while calls run: each call reads them once, when it starts, and keeps them
// to its end. The latencies measured so far are kept (the most recent, up to
// the new Window), so a new Percentile applies at once when enough are
// known. Settings returns what the Hedger runs with now.
//
// # Events
//
// With Config.Observer set, a Hedger reports Hedged each time a hedge
// starts, on that hedge's goroutine, with the caller's context.
//
// Hedger implements bulwark.Policy; bulwark.Call carries a typed result
// through it and keeps only the winner's.
package hedge
