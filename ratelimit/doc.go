// Package ratelimit limits how often calls are made: to protect a service
// from its clients (per client key, in an HTTP middleware), or to keep a
// client within a dependency's quota.
//
// A Limiter counts one stream of calls with a TokenBucket (Limit per
// Period, bursts up to Burst) or a SlidingWindow (at most Limit in any
// Period). In reject mode (Config.MaxWait 0) a call over the limit fails at
// once; with MaxWait set, Wait and Do wait up to MaxWait for a permit. Every
// rejection is a *LimitedError, which matches ErrLimited and
// bulwark.ErrRejected and carries RetryAfter, the time until a call would
// be permitted, which the HTTP middleware sends as Retry-After.
//
// Keyed keeps a limit per key (client, tenant, route) in a Store: by
// default an in-memory one bounded to KeyedConfig.MaxKeys keys. The Store
// interface is small so that a shared store (Redis, in adapters/redis) can
// make one limit hold across processes; ratelimittest is the conformance
// suite every Store passes.
//
//	l, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
//		Config:  ratelimit.Config{Limit: 10, Period: time.Second, Burst: 20},
//		MaxKeys: 100_000,
//	})
//	...
//	if err := l.Allow(clientIP); err != nil {
//		wait, _ := bulwark.RetryAfter(err) // when to come back
//	}
//
// # Guarantees
//
// A TokenBucket never permits more than Burst calls at once plus Limit per
// Period after; a SlidingWindow never more than Limit in one of its fixed
// windows (see SlidingWindow for its estimate). A rejection records
// nothing, so rejected callers do not use up permits, and its RetryAfter is
// exact: a call a nanosecond sooner would still be rejected, one at
// RetryAfter is permitted if nobody took the permit first. A waiting call
// never waits beyond MaxWait or its ctx's deadline: one whose permit would
// come later is rejected at once.
//
// # Configuration
//
// The zero Config is the default configuration (DefaultConfig spells it
// out): a token bucket of 100 calls a second, with a burst of 100, in
// reject mode. A field left at zero takes its default, so
// ratelimit.Config{Limit: 10} is 10 a second with a burst of 10. The same
// holds for KeyedConfig (10,000 keys in memory) and MemoryStoreConfig. New
// refuses a setting outside its range (negative, beyond its cap, a rate
// above one call per nanosecond) with an error naming it; it never clamps.
// The zero Limiter, Keyed and MemoryStore are not usable: their methods
// panic.
//
// # Run-time settings
//
// Limiter.Reconfigure and Keyed.Reconfigure change the limits while calls
// run: each call reads them once, when it starts. What was used stays used
// (a token bucket keeps the share of its burst used, a sliding window its
// counts), so loosening a limit never hands out a fresh burst and tightening
// it takes effect at once. Settings returns what a limiter runs with now.
//
// # Events
//
// Config.Observer receives a Rejected event for every rejection, on the
// caller's goroutine with its context, outside any lock; a Keyed limiter's
// carry the key.
package ratelimit
