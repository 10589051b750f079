package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// retryAfter returns the RetryAfter of err found the way the HTTP
// middleware and retry find it.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var ra interface{ RetryAfter() time.Duration }
	require.True(t, errors.As(err, &ra), "error %v carries no RetryAfter", err)
	return ra.RetryAfter()
}

func nop(context.Context) error { return nil }

// onRejected is an Observer that passes Rejected events to f and fails on
// any other.
func onRejected(f func(ratelimit.Rejected)) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		r, ok := e.(ratelimit.Rejected)
		if !ok {
			panic(fmt.Sprintf("unexpected event %T", e))
		}
		f(r)
	})
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ratelimit.Config
		want string
	}{
		{"default", ratelimit.DefaultConfig(), ""},
		{"zero", ratelimit.Config{}, ""},
		{"zero sliding window", ratelimit.Config{Algorithm: ratelimit.SlidingWindow}, ""},
		{"sliding window", ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 5, Period: time.Minute}, ""},
		{"unknown algorithm", ratelimit.Config{Algorithm: 7, Limit: 1, Period: time.Second}, "ratelimit: Config.Algorithm must be TokenBucket or SlidingWindow, got Algorithm(7)"},
		{"negative limit", ratelimit.Config{Limit: -1}, "ratelimit: Config.Limit must be in [1, 2147483647] (0 means 100), got -1"},
		{"huge limit", ratelimit.Config{Limit: math.MaxInt, Period: math.MaxInt64}, "ratelimit: Config.Limit must be in [1, 2147483647] (0 means 100), got 9223372036854775807"},
		{"negative period", ratelimit.Config{Period: -time.Second}, "ratelimit: Config.Period must be in (0, 8784h0m0s] (0 means 1s), got -1s"},
		{"huge period", ratelimit.Config{Period: math.MaxInt64}, "ratelimit: Config.Period must be in (0, 8784h0m0s] (0 means 1s), got 2562047h47m16.854775807s"},
		{"rate above a call per ns", ratelimit.Config{Limit: 10, Period: 5}, "ratelimit: Config.Period must be at least Limit nanoseconds (a rate of at most one call per nanosecond), got 5ns for Limit 10"},
		{"negative burst", ratelimit.Config{Limit: 1, Period: time.Second, Burst: -1}, "ratelimit: Config.Burst must be in [1, 2147483647] for a Period of 1s and Limit 1 (0 means Limit), got -1"},
		{"huge burst", ratelimit.Config{Limit: 1, Period: time.Hour, Burst: 1 << 40}, "ratelimit: Config.Burst must be in [1, 640511] for a Period of 1h0m0s and Limit 1 (0 means Limit), got 1099511627776"},
		{"burst on a window", ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 1, Period: time.Second, Burst: 2}, "ratelimit: Config.Burst applies only to TokenBucket and must be 0 for SlidingWindow, got 2"},
		{"negative wait", ratelimit.Config{Limit: 1, Period: time.Second, MaxWait: -1}, "ratelimit: Config.MaxWait must be in [0, 24h0m0s] (0 rejects at once), got -1ns"},
		{"wait past a day", ratelimit.Config{MaxWait: math.MaxInt64}, "ratelimit: Config.MaxWait must be in [0, 24h0m0s] (0 rejects at once), got 2562047h47m16.854775807s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ratelimit.New(tc.cfg)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, l)
				return
			}
			require.EqualError(t, err, tc.want)
			assert.Nil(t, l)
			_, err = ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: tc.cfg, MaxKeys: 1})
			assert.ErrorContains(t, err, "ratelimit: KeyedConfig.")
		})
	}
}

func TestZeroBurstMeansLimit(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Config{Limit: 5, Period: time.Second})
	require.NoError(t, err)
	assert.Equal(t, 5, l.Rule().Burst)
}

func TestRejectionMatchesErrLimitedAndSaysWhenToRetry(t *testing.T) {
	fc := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 10, Period: time.Second, Burst: 3, Clock: fc})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, l.Allow(), "call %d of the burst", i)
	}
	err = l.Allow()
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, 100*time.Millisecond, retryAfter(t, err))
	assert.EqualError(t, err, "ratelimit: rate limit exceeded, retry after 100ms")
	var le *ratelimit.LimitedError
	require.ErrorAs(t, fmt.Errorf("wrapped: %w", err), &le)
	assert.Equal(t, 100*time.Millisecond, le.Delay)
	fc.Advance(100 * time.Millisecond)
	require.NoError(t, l.Allow())
}

// TestLimiterAlgorithms runs the single-stream Limiter through the same
// schedules the Store suite uses, for both algorithms.
func TestLimiterAlgorithms(t *testing.T) {
	t.Run("token bucket", func(t *testing.T) {
		fc := clocktest.New(epoch)
		l, err := ratelimit.New(ratelimit.Config{Limit: 10, Period: time.Second, Burst: 3, Clock: fc})
		require.NoError(t, err)
		fc.Advance(time.Hour)
		for range 3 {
			require.NoError(t, l.Allow())
		}
		assert.Equal(t, 100*time.Millisecond, retryAfter(t, l.Allow()), "an idle hour refills to Burst, no more")
	})
	t.Run("sliding window", func(t *testing.T) {
		fc := clocktest.New(epoch.Add(500 * time.Millisecond))
		l, err := ratelimit.New(ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 10, Period: time.Second, Clock: fc})
		require.NoError(t, err)
		for range 10 {
			require.NoError(t, l.Allow())
		}
		assert.Equal(t, 600*time.Millisecond, retryAfter(t, l.Allow()))
		fc.Advance(600 * time.Millisecond)
		require.NoError(t, l.Allow())
		assert.Equal(t, 100*time.Millisecond, retryAfter(t, l.Allow()))
	})
}

// TestTokenBucketLongRunRate hammers a limiter at random instants for a
// simulated minute and counts what it let through: exactly the burst plus
// one per interval, since it is asked far more often than the rate.
func TestTokenBucketLongRunRate(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	fc := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 50, Period: time.Second, Burst: 7, Clock: fc})
	require.NoError(t, err)
	permitted := 0
	for fc.Now().Sub(epoch) < time.Minute {
		if l.Allow() == nil {
			permitted++
		}
		fc.Advance(time.Duration(rng.Int64N(int64(2 * time.Millisecond))))
	}
	elapsed := fc.Now().Sub(epoch)
	want := 7 + int(elapsed/(20*time.Millisecond))
	assert.InDelta(t, want, permitted, 1, "seed %d: %d permitted in %v", seed, permitted, elapsed)
}

// TestConcurrentAllowAdmitsExactlyTheBurst checks the lock-free hot path:
// many goroutines calling at one instant share exactly Burst permits.
func TestConcurrentAllowAdmitsExactlyTheBurst(t *testing.T) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.TokenBucket, ratelimit.SlidingWindow} {
		t.Run(alg.String(), func(t *testing.T) {
			fc := clocktest.New(epoch)
			cfg := ratelimit.Config{Algorithm: alg, Limit: 1000, Period: time.Hour, Clock: fc}
			l, err := ratelimit.New(cfg)
			require.NoError(t, err)
			var permitted atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 500 {
						if l.Allow() == nil {
							permitted.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int64(1000), permitted.Load())
		})
	}
}

func TestDoRunsOpOnlyWhenPermitted(t *testing.T) {
	fc := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 1, Period: time.Second, Clock: fc})
	require.NoError(t, err)
	boom := errors.New("boom")
	assert.Same(t, boom, l.Do(context.Background(), func(context.Context) error { return boom }))
	ran := false
	err = l.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	assert.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.False(t, ran)
}

func TestRejectedEvent(t *testing.T) {
	fc := clocktest.New(epoch)
	var got []string
	var l *ratelimit.Limiter
	nested := false
	l, err := ratelimit.New(ratelimit.Config{Limit: 1, Period: time.Second, Clock: fc, Observer: onRejected(func(e ratelimit.Rejected) {
		got = append(got, fmt.Sprintf("%q %v", e.Key, e.RetryAfter))
		if !nested {
			nested = true
			_ = l.Allow() // an observer may call back in
		}
	})})
	require.NoError(t, err)
	require.NoError(t, l.Allow())
	require.Error(t, l.Allow())
	assert.Equal(t, []string{`"" 1s`, `"" 1s`}, got, "the nested Allow's rejection is reported too")
}

// waitingLimiter returns a limiter of one call per second, whose permit is
// taken, that waits up to maxWait.
func waitingLimiter(t *testing.T, maxWait time.Duration) (*ratelimit.Limiter, *clocktest.Fake) {
	t.Helper()
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 1, Period: time.Second, MaxWait: maxWait, Clock: fc})
	require.NoError(t, err)
	require.NoError(t, l.Allow())
	return l, fc
}

func TestWaitWaitsForThePermit(t *testing.T) {
	l, fc := waitingLimiter(t, 2*time.Second)
	done := make(chan error)
	go func() { done <- l.Do(context.Background(), nop) }()
	fc.BlockUntil(1)
	fc.Advance(time.Second - time.Nanosecond)
	select {
	case err := <-done:
		t.Fatalf("wait ended early: %v", err)
	default:
	}
	fc.Advance(time.Nanosecond)
	assert.NoError(t, <-done)
	assert.ErrorIs(t, l.Allow(), ratelimit.ErrLimited, "the waiter took the permit")
}

// TestWaitersTakeTurns has three callers wait for permits that come one a
// second: each gets one, and none is turned away while within MaxWait.
func TestWaitersTakeTurns(t *testing.T) {
	l, fc := waitingLimiter(t, 5*time.Second)
	done := make(chan error)
	for range 3 {
		go func() { done <- l.Wait(context.Background()) }()
	}
	for range 3 {
		fc.BlockUntil(1)
		fc.Advance(time.Second)
		assert.NoError(t, <-done)
	}
}

func TestWaitRejectsAtOnceBeyondMaxWait(t *testing.T) {
	l, _ := waitingLimiter(t, 500*time.Millisecond)
	err := l.Wait(context.Background())
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, time.Second, retryAfter(t, err))
}

func TestWaitRejectsAtOnceBeyondCtxDeadline(t *testing.T) {
	l, fc := waitingLimiter(t, time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), fc.Now().Add(500*time.Millisecond))
	defer cancel()
	err := l.Wait(ctx)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, time.Second, retryAfter(t, err))
}

func TestCancelledWaitReturnsCtxError(t *testing.T) {
	l, fc := waitingLimiter(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	fc.BlockUntil(1)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ratelimit.ErrLimited)
	fc.Advance(time.Second)
	assert.NoError(t, l.Allow(), "the cancelled wait took nothing")
}

// interruptingClock runs interrupt, once, inside a call to Now: another
// goroutine acting between this one's clock reading and its decision.
type interruptingClock struct {
	*clocktest.Fake
	interrupt func()
}

func (c *interruptingClock) Now() time.Time {
	now := c.Fake.Now()
	if f := c.interrupt; f != nil {
		c.interrupt = nil
		f()
	}
	return now
}

// TestAllowIsNotFooledByAStaleClockReading has another call, 6 ms later,
// take a permit while Allow is between reading the clock and deciding. The
// bucket holds two tokens, so Allow must still be permitted; deciding on its
// stale reading against the newer state would make it wait 6 ms.
func TestAllowIsNotFooledByAStaleClockReading(t *testing.T) {
	c := &interruptingClock{Fake: clocktest.New(epoch)}
	l, err := ratelimit.New(ratelimit.Config{Limit: 1000, Period: time.Second, Burst: 2, Clock: c})
	require.NoError(t, err)
	c.interrupt = func() {
		c.Advance(6 * time.Millisecond)
		require.NoError(t, l.Allow())
	}
	assert.NoError(t, l.Allow())
}
