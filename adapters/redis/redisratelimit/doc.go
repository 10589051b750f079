// Package redisratelimit keeps the state of ratelimit.Keyed limiters in
// Redis (go-redis/v9), so that one limit per key holds across every process
// that shares the Redis server and the key prefix.
//
//	store, err := redisratelimit.New(rdb, redisratelimit.Config{Prefix: "api:"})
//	...
//	l, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
//		Config: ratelimit.Config{Limit: 100, Period: time.Second},
//		Store:  store,
//	})
//
// Each key is one hash, and each Take is one Lua script run on the server
// (EVALSHA, falling back to EVAL when the server has lost the script), so
// a call reads and updates its key atomically in one round trip: calls
// racing from many processes never admit more than the limit between them.
// The scripts decide exactly as ratelimit.MemoryStore does, in integer
// arithmetic on nanoseconds (Lua's numbers are doubles, exact only to
// 2^53, so the scripts hold times as seconds and nanoseconds, and
// products in limbs, rather than round), and the conformance suite
// ratelimittest holds for both. They differ in two corners: a sliding
// window whose period changed (a redeployment) weighs a stored window
// that does not line up with the new period's as the previous one, where
// the memory store can return a negative wait; and a key refuses to count
// more than 2^36 calls in one window (an error, not a guess), which no
// Redis serves in a window shorter than days.
//
// A key expires two seconds after its state has become the same as none:
// a token bucket when it is full again, a sliding window two periods after
// its current window began. The two seconds cover the gap between the
// callers' clocks, by which the state is judged, and Redis's, by which
// keys expire: a call that reaches Redis late never finds its key gone
// early.
//
// # Configuration
//
// New takes the Redis client, which it requires, and a Config whose zero
// value is the default: the key prefix "ratelimit:". Limiters that share a
// Redis give their stores distinct prefixes. The store reports no events
// of its own: the ratelimit.Keyed limiter in front of it reports its
// rejections to its Observer. The zero Store is not usable: Take panics.
//
// # Clocks
//
// The time a call is decided at is the limiter's (KeyedConfig.Clock, the
// system clock by default), not Redis's: every process sharing a store
// needs a synchronised clock. NTP keeps clocks within milliseconds, well
// inside a rate limit's tolerance; a process whose clock runs ahead uses up
// permits early, and one behind has its calls decided at the latest time
// the key has seen, so it cannot refill a bucket by being late.
//
// # When Redis is down
//
// Take returns an error wrapping the client's, and the limiter returns it
// wrapped: such an error does not match ratelimit.ErrLimited. Whether a
// call then goes ahead (fail open) or is refused (fail closed) is the
// caller's choice; bulwarkhttp's RateLimiter serves the request unless
// FailClosed is set.
//
// How long a call takes to fail is the client's to bound. With go-redis's
// defaults a Redis that is down costs about 2 s (4 attempts, each dialling
// 5 times), and one that stops answering a 5 s ReadTimeout per attempt.
// Keyed.Allow gives the store no deadline; Keyed.Wait passes its ctx,
// which cuts the retries short and, on a client with
// ContextTimeoutEnabled, the wait for a reply too. A limiter in front of
// requests wants a client with MaxRetries -1 and DialerRetries 1, and a
// short ReadTimeout. (A retried call whose first attempt reached Redis
// takes two permits: the safe side for a limiter.)
package redisratelimit
