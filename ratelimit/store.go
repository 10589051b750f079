package ratelimit

import (
	"context"
	"time"
)

// Store holds the per-key state of a Keyed limiter and applies its Rule
// atomically per key. The in-memory store (NewMemoryStore) serves one
// process; a store backed by a shared database (a Redis store in
// adapters/redis, say) makes one limit hold across every process that uses
// the same keys.
//
// Take must behave exactly as the in-memory store does for the same rule,
// keys and times: package ratelimittest checks that, and every Store
// implementation runs it. A Store holds one state per key, so limiters that
// share a store give their keys distinct prefixes.
//
// A shared store receives the limiter process's clock reading as now, so the
// processes sharing it need synchronised clocks (NTP keeps them well within
// a rate limit's tolerance). State for a key may be dropped once it is
// equivalent to no state: for TokenBucket when the bucket is full again
// (tat has passed), for SlidingWindow two periods after its last call; a
// shared store sets that as the key's expiry.
type Store interface {
	// Take applies one call for key at now under rule. When rule permits
	// the call, Take records it and returns 0. Otherwise it records nothing
	// and returns how long until a call would be permitted (> 0). An error
	// means the store could not decide; the limiter returns it wrapped.
	//
	// Calls race to the store, so one may arrive with an earlier now than a
	// call for the same key already applied; a store decides it at the
	// latest time it has seen for the key, so that a late arrival is not
	// taken for an early call.
	Take(ctx context.Context, key string, rule Rule, now time.Time) (time.Duration, error)
}
