// Package ratelimittest is the conformance suite for ratelimit.Store
// implementations. Every store runs it, so that a Keyed limiter behaves the
// same whichever store holds its keys:
//
//	func TestStore(t *testing.T) {
//		ratelimittest.Run(t, func(t *testing.T) ratelimittest.Harness {
//			return ratelimittest.Harness{Store: newStore(t)}
//		})
//	}
//
// The function gives each subtest a Harness: an empty store (a shared store
// may instead give each subtest its own key prefix and clean it up), and
// optional capabilities that add the subtests which need them. The suite
// passes explicit times, starting at a whole minute, so it needs no clock,
// and it runs from any module.
package ratelimittest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Harness is what a store's test hands the suite for one subtest.
type Harness struct {
	// Store is the store under test, holding no state for the keys the
	// subtest uses. Required.
	Store ratelimit.Store
	// Peer, when set, is a second Store on the same state as Store, as
	// another process sharing it would have (another client, the same
	// server and prefix). The suite then checks that both see one limit
	// per key. Leave it nil for a store that lives in one process.
	Peer ratelimit.Store
}

// t0 is the suite's time zero: a whole minute, so that SlidingWindow's fixed
// windows (aligned to multiples of Period since the Unix epoch) of a
// second, or of any divisor of a minute, start there.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite, calling harness for each subtest.
func Run(t *testing.T, harness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, s ratelimit.Store)
	}{
		{"TokenBucketBurstThenRate", testTokenBucketBurstThenRate},
		{"TokenBucketRefillsToBurstOnly", testTokenBucketRefillsToBurstOnly},
		{"SlidingWindowWeighsThePreviousWindow", testSlidingWindowWeighsThePreviousWindow},
		{"SlidingWindowLimitOne", testSlidingWindowLimitOne},
		{"SlidingWindowPeriodChange", testSlidingWindowPeriodChange},
		{"RejectionsRecordNothing", testRejectionsRecordNothing},
		{"LateArrivalsAreDecidedAtTheLatestTime", testLateArrivals},
		{"KeysAreIndependent", testKeysAreIndependent},
		{"RetryAfterIsExact", testRetryAfterIsExact},
		{"NeverMoreThanTheLimit", testNeverMoreThanTheLimit},
		{"ConcurrentTakesAdmitExactlyTheBurst", testConcurrentTakes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, store(t, harness)) })
	}
	// Subtests of optional capabilities run only for harnesses that have
	// them; the first harness says which.
	if h := harness(t); h.Peer != nil {
		t.Run("PeersShareOneLimit", func(t *testing.T) { testPeersShareOneLimit(t, harness(t)) })
	}
}

// store returns the Store of a fresh harness, failing the test without one.
func store(t *testing.T, harness func(t *testing.T) Harness) ratelimit.Store {
	t.Helper()
	h := harness(t)
	require.NotNil(t, h.Store, "Harness.Store is required")
	return h.Store
}

// testPeersShareOneLimit: calls through either store count against one
// limit per key, for both algorithms.
func testPeersShareOneLimit(t *testing.T, h Harness) {
	require.NotNil(t, h.Store, "Harness.Store is required")
	for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
		key := "peers/" + r.Algorithm.String()
		permitted := 0
		for i := range 20 {
			s := h.Store
			if i%2 == 1 {
				s = h.Peer
			}
			if take(t, s, key, r, 0) == 0 {
				permitted++
			}
		}
		want := r.Burst
		if r.Algorithm == ratelimit.SlidingWindow {
			want = r.Limit
		}
		assert.Equal(t, want, permitted, "%v: calls through two stores on one state", r.Algorithm)
	}
}

var (
	// tenPerSecond: a token every 100 ms, three at once.
	tenPerSecond = ratelimit.Rule{Algorithm: ratelimit.TokenBucket, Limit: 10, Period: time.Second, Burst: 3}
	// tenPerWindow: at most ten calls in any second.
	tenPerWindow = ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 10, Period: time.Second}
)

// take calls s.Take and fails the test on an error.
func take(t *testing.T, s ratelimit.Store, key string, r ratelimit.Rule, at time.Duration) time.Duration {
	t.Helper()
	d, err := s.Take(context.Background(), key, r, t0.Add(at))
	require.NoError(t, err)
	require.GreaterOrEqual(t, d, time.Duration(0), "Take returned a negative wait")
	return d
}

func testTokenBucketBurstThenRate(t *testing.T, s ratelimit.Store) {
	for i := range 3 {
		require.Zero(t, take(t, s, "k", tenPerSecond, 0), "burst call %d", i)
	}
	assert.Equal(t, 100*time.Millisecond, take(t, s, "k", tenPerSecond, 0))
	assert.Equal(t, time.Millisecond, take(t, s, "k", tenPerSecond, 99*time.Millisecond))
	assert.Zero(t, take(t, s, "k", tenPerSecond, 100*time.Millisecond))
	assert.Equal(t, 100*time.Millisecond, take(t, s, "k", tenPerSecond, 100*time.Millisecond))
	assert.Zero(t, take(t, s, "k", tenPerSecond, 250*time.Millisecond))
	assert.Equal(t, 50*time.Millisecond, take(t, s, "k", tenPerSecond, 250*time.Millisecond))
}

func testTokenBucketRefillsToBurstOnly(t *testing.T, s ratelimit.Store) {
	require.Zero(t, take(t, s, "k", tenPerSecond, 0))
	for i := range 3 {
		require.Zero(t, take(t, s, "k", tenPerSecond, time.Hour), "call %d after an idle hour", i)
	}
	assert.Equal(t, 100*time.Millisecond, take(t, s, "k", tenPerSecond, time.Hour))
}

func testSlidingWindowWeighsThePreviousWindow(t *testing.T, s ratelimit.Store) {
	at := 500 * time.Millisecond
	for i := range 10 {
		require.Zero(t, take(t, s, "k", tenPerWindow, at), "call %d", i)
	}
	// The window is full: the next call fits once the next window has
	// begun and this one's ten calls weigh at most nine: at 1.1 s.
	assert.Equal(t, 600*time.Millisecond, take(t, s, "k", tenPerWindow, at))
	assert.Equal(t, time.Nanosecond, take(t, s, "k", tenPerWindow, 1100*time.Millisecond-time.Nanosecond))
	assert.Zero(t, take(t, s, "k", tenPerWindow, 1100*time.Millisecond))
	// Now 10 × 0.9 + 1 = 10: the next fits when the old ten weigh at most
	// eight, at 1.2 s.
	assert.Equal(t, 100*time.Millisecond, take(t, s, "k", tenPerWindow, 1100*time.Millisecond))
	assert.Zero(t, take(t, s, "k", tenPerWindow, 1200*time.Millisecond))
	// Two windows later the old calls weigh nothing.
	for i := range 10 {
		require.Zero(t, take(t, s, "k", tenPerWindow, 3*time.Second), "call %d", i)
	}
}

func testSlidingWindowLimitOne(t *testing.T, s ratelimit.Store) {
	one := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 1, Period: time.Second}
	require.Zero(t, take(t, s, "k", one, 0))
	// The call at 0 weighs (1 - e) through the next window: nothing fits
	// until the one after.
	assert.Equal(t, 2*time.Second, take(t, s, "k", one, 0))
	assert.Equal(t, 500*time.Millisecond, take(t, s, "k", one, 1500*time.Millisecond))
	assert.Zero(t, take(t, s, "k", one, 2*time.Second))
}

// testSlidingWindowPeriodChange changes a live key's period, as a redeploy
// with a new rule does: a window that began less than one new period ago
// counts as the previous window, and no wait is ever negative.
func testSlidingWindowPeriodChange(t *testing.T, s ratelimit.Store) {
	twoPer5s := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 2, Period: 5 * time.Second}
	twoPer4s := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 2, Period: 4 * time.Second}
	require.Zero(t, take(t, s, "k", twoPer5s, 5*time.Second))
	require.Zero(t, take(t, s, "k", twoPer5s, 5*time.Second))
	// At 11.5 s the 4 s window began at 8 s, 3 s after the stored one (at
	// 5 s): that one is the previous window, its two calls weighing
	// 2 × 0.5 / 4 = 0.125 of a period. One call fits, a second does not.
	assert.Zero(t, take(t, s, "k", twoPer4s, 11500*time.Millisecond))
	assert.Positive(t, take(t, s, "k", twoPer4s, 11500*time.Millisecond))
}

func testRejectionsRecordNothing(t *testing.T, s ratelimit.Store) {
	for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
		key := r.Algorithm.String()
		var d time.Duration
		for d == 0 {
			d = take(t, s, key, r, 0)
		}
		for range 1000 {
			require.Equal(t, d, take(t, s, key, r, 0))
		}
		assert.Zero(t, take(t, s, key, r, d), "%v: a thousand rejections took no permits", r.Algorithm)
	}
}

// testLateArrivals sends calls with an earlier time than one already
// permitted for their key, as calls that raced to the store deliver them:
// each is decided at the latest time the key has seen, so it is neither
// refused as an early call nor let into a window that has passed.
func testLateArrivals(t *testing.T, s ratelimit.Store) {
	// The burst at 0 and a call at 200 ms leave one token at 200 ms.
	for i := range 3 {
		require.Zero(t, take(t, s, "bucket", tenPerSecond, 0), "burst call %d", i)
	}
	require.Zero(t, take(t, s, "bucket", tenPerSecond, 200*time.Millisecond))
	// Decided at 200 ms, a call reading 100 ms takes that token (at 100 ms
	// it would wait 100 ms); the next, reading 50 ms, waits 100 ms from
	// 200 ms, not 150 ms from 50 ms.
	assert.Zero(t, take(t, s, "bucket", tenPerSecond, 100*time.Millisecond), "TokenBucket: a late call decided at its own time")
	assert.Equal(t, 100*time.Millisecond, take(t, s, "bucket", tenPerSecond, 50*time.Millisecond), "TokenBucket: a late call's wait counted from its own time")

	// Ten calls at 500 ms fill the window [0, 1 s); at 1.5 s they weigh
	// five, and one call fits.
	for i := range 10 {
		require.Zero(t, take(t, s, "window", tenPerWindow, 500*time.Millisecond), "call %d", i)
	}
	require.Zero(t, take(t, s, "window", tenPerWindow, 1500*time.Millisecond))
	// Decided at 1.5 s, four calls reading 1.05 s fit (at 1.05 s the old
	// ten would weigh 9.5, leaving room for none), bringing the estimate
	// to 10: the next waits until the old ten weigh four, at 1.6 s.
	for i := range 4 {
		assert.Zero(t, take(t, s, "window", tenPerWindow, 1050*time.Millisecond), "SlidingWindow: late call %d decided at its own time", i)
	}
	assert.Equal(t, 100*time.Millisecond, take(t, s, "window", tenPerWindow, 1050*time.Millisecond), "SlidingWindow: a late call's wait counted from its own time")
	// A call reading a time in the previous window is decided in the
	// current one, not counted in the window that has passed.
	assert.Equal(t, 100*time.Millisecond, take(t, s, "window", tenPerWindow, 900*time.Millisecond), "SlidingWindow: a call from the previous window")
}

func testKeysAreIndependent(t *testing.T, s ratelimit.Store) {
	for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
		a, b := r.Algorithm.String()+"/a", r.Algorithm.String()+"/b"
		for take(t, s, a, r, 0) == 0 {
		}
		assert.Zero(t, take(t, s, b, r, 0), "%v: key b is not limited by key a", r.Algorithm)
	}
}

// randomRule returns a rule of either algorithm with a small limit and a
// period that divides a minute.
func randomRule(rng *rand.Rand) ratelimit.Rule {
	r := ratelimit.Rule{Limit: 1 + rng.IntN(20), Period: []time.Duration{time.Second, 3 * time.Second, time.Minute}[rng.IntN(3)]}
	if rng.IntN(2) == 0 {
		r.Algorithm, r.Burst = ratelimit.TokenBucket, 1+rng.IntN(2*r.Limit)
	} else {
		r.Algorithm = ratelimit.SlidingWindow
	}
	return r
}

// testRetryAfterIsExact checks, over random rules and call times, that a
// rejection's wait d is exact: a call 1 ns sooner is rejected too, and a
// call at d is permitted.
func testRetryAfterIsExact(t *testing.T, s ratelimit.Store) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 2))
	for k := range 50 {
		r := randomRule(rng)
		key := fmt.Sprint("exact/", k)
		at := time.Duration(0)
		for range 200 {
			at += time.Duration(rng.Int64N(int64(r.Period) / int64(r.Limit) * 2))
			d := take(t, s, key, r, at)
			if d == 0 {
				continue
			}
			if d > 1 {
				require.NotZero(t, take(t, s, key, r, at+d-1), "seed %d, %+v: a call 1ns before the wait ended was permitted", seed, r)
			}
			require.Zero(t, take(t, s, key, r, at+d), "seed %d, %+v: the call at the end of the wait was rejected", seed, r)
			at += d
		}
	}
}

// testNeverMoreThanTheLimit sends random bursts of calls and counts what is
// permitted: a TokenBucket never permits more than Burst plus what the
// elapsed time refills, a SlidingWindow never more than Limit in one of its
// fixed windows.
func testNeverMoreThanTheLimit(t *testing.T, s ratelimit.Store) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 3))
	for k := range 30 {
		r := randomRule(rng)
		key := fmt.Sprint("count/", k)
		interval := (r.Period + time.Duration(r.Limit) - 1) / time.Duration(r.Limit)
		perWindow := map[time.Duration]int{}
		permitted := 0
		at := time.Duration(0)
		for range 300 {
			at += time.Duration(rng.Int64N(int64(interval)))
			for range 1 + rng.IntN(3) {
				if take(t, s, key, r, at) == 0 {
					permitted++
					perWindow[at/r.Period]++
				}
			}
			if r.Algorithm == ratelimit.TokenBucket {
				require.LessOrEqual(t, permitted, r.Burst+int(at/interval), "seed %d, %+v: more than the bucket holds by %v", seed, r, at)
			}
		}
		for w, n := range perWindow {
			if r.Algorithm == ratelimit.SlidingWindow {
				require.LessOrEqual(t, n, r.Limit, "seed %d, %+v: %d calls in window %d", seed, r, n, w)
			}
		}
	}
}

func testConcurrentTakes(t *testing.T, s ratelimit.Store) {
	for _, r := range []ratelimit.Rule{
		{Algorithm: ratelimit.TokenBucket, Limit: 100, Period: time.Second, Burst: 37},
		{Algorithm: ratelimit.SlidingWindow, Limit: 37, Period: time.Second},
	} {
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			permitted int
		)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					d, err := s.Take(context.Background(), "concurrent/"+r.Algorithm.String(), r, t0)
					assert.NoError(t, err)
					if err == nil && d == 0 {
						mu.Lock()
						permitted++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 37, permitted, "%v: 160 concurrent calls at one instant", r.Algorithm)
	}
}
