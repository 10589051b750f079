// Package ratelimit limits how often calls are made: to protect a service
// from its clients (per client key, in an HTTP middleware), or to keep a
// client within a dependency's quota.
//
// A Limiter counts one stream of calls with a TokenBucket (Limit per
// Period, bursts up to Burst) or a SlidingWindow (at most Limit in any
// Period). In reject mode (Config.MaxWait 0) a call over the limit fails at
// once; with MaxWait set, Wait and Do wait up to MaxWait for a permit. Every
// rejection matches ErrLimited and carries RetryAfter, the time until a
// call would be permitted, which the HTTP middleware sends as Retry-After.
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
//		var ra interface{ RetryAfter() time.Duration }
//		errors.As(err, &ra) // ra.RetryAfter() says when to come back
//	}
package ratelimit
