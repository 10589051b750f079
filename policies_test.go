package bulwark_test

// Promises one policy package makes about another, tested with both: every
// pair of policies in a Chain under the failures they exist for (an open
// breaker, a full bulkhead, an exhausted rate limit, a timeout, a panic),
// and what the caller sees. The first policy of each name is the outer one.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/fallback"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errDown = errors.New("dependency down")
	epoch   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// openBreaker returns a breaker that is open, with a fixed 5s open wait.
func openBreaker(t *testing.T, fc *clocktest.Fake) *circuitbreaker.Breaker {
	t.Helper()
	b := newBreaker(t, fc, 1)
	_ = b.Do(context.Background(), func(context.Context) error { return errDown })
	require.Equal(t, circuitbreaker.StateOpen, b.State())
	return b
}

// newBreaker returns a closed breaker that opens after n failures in a row
// and waits a fixed 5s before one probe.
func newBreaker(t *testing.T, fc *clocktest.Fake, n int) *circuitbreaker.Breaker {
	t.Helper()
	b, err := circuitbreaker.New(circuitbreaker.Config{
		ConsecutiveFailures: n,
		OpenWait:            5 * time.Second,
		OpenWaitMultiplier:  circuitbreaker.FixedOpenWait,
		OpenWaitJitter:      circuitbreaker.NoJitter,
		HalfOpenCalls:       1,
		HalfOpenSuccesses:   1,
		Clock:               fc,
	})
	require.NoError(t, err)
	return b
}

// fullBulkhead returns a bulkhead of one permit, held until the test ends.
func fullBulkhead(t *testing.T) *bulkhead.Bulkhead {
	t.Helper()
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	p, ok := b.TryAcquire()
	require.True(t, ok)
	t.Cleanup(func() { p.Release(nil) })
	return b
}

// spentLimiter returns a limiter of one call per second whose call is spent.
func spentLimiter(t *testing.T, fc *clocktest.Fake) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(ratelimit.Config{Limit: 1, Period: time.Second, Burst: 1, Clock: fc})
	require.NoError(t, err)
	require.NoError(t, l.Allow())
	return l
}

func newRetrier(t *testing.T, fc *clocktest.Fake, mutate func(*retry.Config)) *retry.Retrier {
	t.Helper()
	cfg := retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: 100 * time.Millisecond}, Clock: fc}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := retry.New(cfg)
	require.NoError(t, err)
	return r
}

// counted returns an op that counts its runs and returns err.
func counted(runs *atomic.Int32, err error) func(context.Context) error {
	return func(context.Context) error {
		runs.Add(1)
		return err
	}
}

// TestRetryStopsAtARejection: retry → (open breaker | full bulkhead |
// spent limiter). The caller sees the rejection at once, wrapped in a
// *retry.Error with reason retry.ErrRejected; op never runs and the
// retrier never waits (its fake clock is never advanced).
func TestRetryStopsAtARejection(t *testing.T) {
	for name, tc := range map[string]struct {
		inner func(*testing.T, *clocktest.Fake) bulwark.Policy
		is    error
	}{
		"open breaker":  {func(t *testing.T, fc *clocktest.Fake) bulwark.Policy { return openBreaker(t, fc) }, circuitbreaker.ErrOpen},
		"full bulkhead": {func(t *testing.T, _ *clocktest.Fake) bulwark.Policy { return fullBulkhead(t) }, bulkhead.ErrFull},
		"spent limiter": {func(t *testing.T, fc *clocktest.Fake) bulwark.Policy { return spentLimiter(t, fc) }, ratelimit.ErrLimited},
	} {
		t.Run(name, func(t *testing.T) {
			fc := clocktest.New(epoch)
			p := bulwark.Chain(newRetrier(t, fc, nil), tc.inner(t, fc))
			var runs atomic.Int32
			start := time.Now()
			err := p.Do(context.Background(), counted(&runs, nil))
			elapsed := time.Since(start)

			assert.Zero(t, runs.Load(), "op ran behind the rejection")
			assert.ErrorIs(t, err, tc.is)
			assert.ErrorIs(t, err, bulwark.ErrRejected)
			assert.ErrorIs(t, err, retry.ErrRejected, "the retrier says why it stopped")
			var re *retry.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 1, re.Attempts)
			assert.Less(t, elapsed, 50*time.Millisecond, "a rejection fails fast")
		})
	}
}

// TestRetryRejectedWaitsOutTheBreaker: retry (RetryRejected) → open
// breaker. The retrier waits the breaker's RetryAfter, then the call is the
// half-open probe that closes it; the caller sees success.
func TestRetryRejectedWaitsOutTheBreaker(t *testing.T) {
	fc := clocktest.New(epoch)
	breaker := openBreaker(t, fc)
	p := bulwark.Chain(newRetrier(t, fc, func(c *retry.Config) { c.RetryRejected = true }), breaker)
	var runs atomic.Int32
	done := make(chan error, 1)
	go func() { done <- p.Do(context.Background(), counted(&runs, nil)) }()

	fc.BlockUntil(1) // the retrier waits on the clock
	select {
	case err := <-done:
		t.Fatalf("Do returned %v before the open wait ended", err)
	default:
	}
	fc.Advance(5 * time.Second)
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, runs.Load(), "one probe")
	assert.Equal(t, circuitbreaker.StateClosed, breaker.State())
}

// TestRetryRejectedWaitIsCappedByMaxDelay: the wait for a rejection is
// capped by MaxDelay; when it would end after the caller's deadline, the
// retrier gives up at once with retry.ErrDeadline.
func TestRetryRejectedWaitIsCappedByMaxDelay(t *testing.T) {
	fc := clocktest.New(epoch)
	breaker := openBreaker(t, fc) // RetryAfter 5s
	var delays []time.Duration
	r := newRetrier(t, fc, func(c *retry.Config) {
		c.RetryRejected, c.MaxAttempts, c.MaxDelay = true, 2, time.Second
		c.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if ev, ok := e.(retry.Retried); ok {
				delays = append(delays, ev.Delay)
			}
		})
	})
	done := make(chan error, 1)
	go func() {
		done <- bulwark.Chain(r, breaker).Do(context.Background(), func(context.Context) error { return nil })
	}()
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	err := <-done
	assert.ErrorIs(t, err, circuitbreaker.ErrOpen, "still open after a capped wait of 1s")
	assert.Equal(t, []time.Duration{time.Second}, delays)

	// The retrier judges the deadline on its own clock: one that reads the
	// real time here, since a context's deadline is real time.
	now := clocktest.New(time.Now())
	breaker = openBreaker(t, now)
	r = newRetrier(t, now, func(c *retry.Config) { c.RetryRejected, c.MaxDelay = true, time.Second })
	ctx, cancel := context.WithDeadline(context.Background(), now.Now().Add(500*time.Millisecond))
	defer cancel()
	err = bulwark.Chain(r, breaker).Do(ctx, func(context.Context) error { return nil })
	assert.ErrorIs(t, err, retry.ErrDeadline, "a wait past the deadline is not begun")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestRetryStopsWhenTheBreakerOpensMidway: retry → breaker over a failing
// op. The breaker opens after two failures; the third attempt is rejected
// and the retries stop there, so op ran twice, not five times.
func TestRetryStopsWhenTheBreakerOpensMidway(t *testing.T) {
	fc := clocktest.New(epoch)
	breaker := newBreaker(t, fc, 2)
	r := newRetrier(t, fc, func(c *retry.Config) { c.MaxAttempts, c.Backoff = 5, retry.Constant{} })
	var runs atomic.Int32
	err := bulwark.Chain(r, breaker).Do(context.Background(), counted(&runs, errDown))
	assert.EqualValues(t, 2, runs.Load())
	assert.ErrorIs(t, err, circuitbreaker.ErrOpen)
	assert.ErrorIs(t, err, retry.ErrRejected)
}

// TestBreakerOutsideRetrySeesOneOutcomePerCall: breaker → retry. The
// breaker records one failure per call, however many attempts it took.
func TestBreakerOutsideRetrySeesOneOutcomePerCall(t *testing.T) {
	fc := clocktest.New(epoch)
	breaker := newBreaker(t, fc, 10)
	r := newRetrier(t, fc, func(c *retry.Config) { c.Backoff = retry.Constant{} })
	var runs atomic.Int32
	for range 2 {
		_ = bulwark.Chain(breaker, r).Do(context.Background(), counted(&runs, errDown))
	}
	assert.EqualValues(t, 6, runs.Load(), "three attempts per call")
	assert.Equal(t, 2, breaker.Metrics().ConsecutiveFailures, "one failure per call")
}

// TestRetryAroundATimeoutRetriesEachTimedOutAttempt: retry → timeout. Each
// attempt that outlives the timeout ends with timeout.ErrTimeout and is
// retried; the caller sees the last one, matching ErrTimeout and
// context.DeadlineExceeded.
func TestRetryAroundATimeoutRetriesEachTimedOutAttempt(t *testing.T) {
	tm, err := timeout.New(timeout.Config{Timeout: 5 * time.Millisecond})
	require.NoError(t, err)
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{}})
	require.NoError(t, err)
	var runs atomic.Int32
	err = bulwark.Chain(r, tm).Do(context.Background(), func(ctx context.Context) error {
		runs.Add(1)
		<-ctx.Done()
		return ctx.Err()
	})
	assert.EqualValues(t, 3, runs.Load())
	assert.ErrorIs(t, err, timeout.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, retry.ErrMaxAttempts)
}

// TestTimeoutAroundRetryBoundsTheWholeCall: timeout → retry. The timeout
// bounds every attempt and wait together: the caller sees ErrTimeout once
// the time is up, and the retrier begins no wait that would outlast it.
func TestTimeoutAroundRetryBoundsTheWholeCall(t *testing.T) {
	tm, err := timeout.New(timeout.Config{Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	r, err := retry.New(retry.Config{MaxAttempts: retry.Unlimited, Backoff: retry.Constant{Delay: 20 * time.Millisecond}})
	require.NoError(t, err)
	var runs atomic.Int32
	start := time.Now()
	err = bulwark.Chain(tm, r).Do(context.Background(), counted(&runs, errDown))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
	assert.GreaterOrEqual(t, runs.Load(), int32(1))
	assert.LessOrEqual(t, runs.Load(), int32(3), "at most the attempts that fit in 50ms with 20ms waits")
}

// TestRetryChargesTheLimiterPerAttempt: retry → limiter costs a call of
// the limit per attempt; limiter → retry one per call.
func TestRetryChargesTheLimiterPerAttempt(t *testing.T) {
	fc := clocktest.New(epoch)
	newLimiter := func() *ratelimit.Limiter {
		l, err := ratelimit.New(ratelimit.Config{Limit: 3, Period: time.Hour, Burst: 3, Clock: fc})
		require.NoError(t, err)
		return l
	}
	r := newRetrier(t, fc, func(c *retry.Config) { c.MaxAttempts, c.Backoff = 2, retry.Constant{} })

	inner := newLimiter()
	_ = bulwark.Chain(r, inner).Do(context.Background(), func(context.Context) error { return errDown })
	assert.NoError(t, inner.Allow(), "two attempts took two of three calls")
	assert.ErrorIs(t, inner.Allow(), ratelimit.ErrLimited)

	outer := newLimiter()
	_ = bulwark.Chain(outer, r).Do(context.Background(), func(context.Context) error { return errDown })
	assert.NoError(t, outer.Allow())
	assert.NoError(t, outer.Allow(), "the whole retried call took one of three")
}

// TestBulkheadPermitsAndRetries: retry → bulkhead takes a permit per
// attempt and returns it before the wait; bulkhead → retry holds one
// permit for the whole call, waits included.
func TestBulkheadPermitsAndRetries(t *testing.T) {
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	fc := clocktest.New(epoch)
	r := newRetrier(t, fc, func(c *retry.Config) { c.MaxAttempts = 2 })

	done := make(chan error, 1)
	go func() {
		done <- bulwark.Chain(r, bh).Do(context.Background(), func(context.Context) error { return errDown })
	}()
	fc.BlockUntil(1)
	assert.Zero(t, bh.InFlight(), "no permit held while the retrier waits")
	fc.Advance(time.Second)
	<-done

	go func() {
		done <- bulwark.Chain(bh, r).Do(context.Background(), func(context.Context) error { return errDown })
	}()
	fc.BlockUntil(1)
	assert.Equal(t, 1, bh.InFlight(), "the permit is held across the wait")
	fc.Advance(time.Second)
	<-done
	assert.Zero(t, bh.InFlight())
}

// TestFallbackAnswersForEveryFailure: fallback → X, through bulwark.Call.
// Whatever X fails with — a rejection, a timeout, exhausted retries — the
// caller gets the fallback's value and no error.
func TestFallbackAnswersForEveryFailure(t *testing.T) {
	fb, err := fallback.New(fallback.Value(-1), fallback.Config{})
	require.NoError(t, err)
	for name, inner := range map[string]func(*testing.T, *clocktest.Fake) bulwark.Policy{
		"open breaker":  func(t *testing.T, fc *clocktest.Fake) bulwark.Policy { return openBreaker(t, fc) },
		"full bulkhead": func(t *testing.T, _ *clocktest.Fake) bulwark.Policy { return fullBulkhead(t) },
		"spent limiter": func(t *testing.T, fc *clocktest.Fake) bulwark.Policy { return spentLimiter(t, fc) },
		"timeout": func(t *testing.T, _ *clocktest.Fake) bulwark.Policy {
			tm, err := timeout.New(timeout.Config{Timeout: time.Millisecond})
			require.NoError(t, err)
			return tm
		},
		"retries exhausted": func(t *testing.T, fc *clocktest.Fake) bulwark.Policy {
			return newRetrier(t, fc, func(c *retry.Config) { c.MaxAttempts, c.Backoff = 2, retry.Constant{} })
		},
	} {
		t.Run(name, func(t *testing.T) {
			fc := clocktest.New(epoch)
			v, err := bulwark.Call(context.Background(), bulwark.Chain(fb, inner(t, fc)), func(ctx context.Context) (int, error) {
				if name == "timeout" {
					<-ctx.Done()
					return 0, ctx.Err()
				}
				return 0, errDown
			})
			require.NoError(t, err)
			assert.Equal(t, -1, v)
		})
	}
}

// TestPanicsReachTheCaller: a panic in op passes through every policy to
// the caller's recover, on the caller's goroutine, and leaves each policy
// consistent: the retrier does not retry it, the bulkhead gets its permit
// back, the breaker counts a failure, a hedge's panic does not kill the
// process.
func TestPanicsReachTheCaller(t *testing.T) {
	fc := clocktest.New(epoch)
	breaker := newBreaker(t, fc, 10)
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	tm, err := timeout.New(timeout.Config{Timeout: time.Minute})
	require.NoError(t, err)
	detached, err := timeout.New(timeout.Config{Timeout: time.Minute, Detach: true})
	require.NoError(t, err)
	hd, err := hedge.New(hedge.Config{Delay: hedge.NoDelay, Percentile: hedge.NoPercentile, MaxHedges: 1, AllIdempotent: true})
	require.NoError(t, err)
	fb, err := fallback.New(fallback.Value(0), fallback.Config{})
	require.NoError(t, err)
	lim, err := ratelimit.New(ratelimit.Config{Limit: 1000, Period: time.Second})
	require.NoError(t, err)

	for name, p := range map[string]bulwark.Policy{
		"retry":            newRetrier(t, fc, nil),
		"breaker":          breaker,
		"bulkhead":         bh,
		"ratelimit":        lim,
		"timeout":          tm,
		"detached timeout": detached,
		"hedge":            hd,
		"fallback":         fb,
		"retry → breaker → bulkhead → timeout": bulwark.Chain(newRetrier(t, fc, nil), breaker, bh, tm),
	} {
		t.Run(name, func(t *testing.T) {
			var runs atomic.Int32
			got := func() (v any) {
				defer func() { v = recover() }()
				_ = p.Do(context.Background(), func(context.Context) error {
					runs.Add(1) // a hedge runs op twice at once: one panic is raised
					panic("boom")
				})
				return nil
			}()
			assert.Equal(t, "boom", got, "the caller recovers op's panic")
			if name != "hedge" {
				assert.EqualValues(t, 1, runs.Load(), "a panic is not retried")
			}
		})
	}
	assert.Zero(t, bh.InFlight(), "the bulkhead got its permit back")
	assert.Equal(t, 2, breaker.Metrics().ConsecutiveFailures, "each panic counted as a failure")
}

// TestHedgeBehindAnOpenBreakerFailsFast: hedge → open breaker. Every
// attempt is rejected at once; the caller sees the rejection, op never
// runs.
func TestHedgeBehindAnOpenBreakerFailsFast(t *testing.T) {
	fc := clocktest.New(epoch)
	hd, err := hedge.New(hedge.Config{Delay: hedge.NoDelay, Percentile: hedge.NoPercentile, MaxHedges: 2, AllIdempotent: true})
	require.NoError(t, err)
	var runs atomic.Int32
	err = bulwark.Chain(hd, openBreaker(t, fc)).Do(context.Background(), counted(&runs, nil))
	assert.ErrorIs(t, err, circuitbreaker.ErrOpen)
	assert.Zero(t, runs.Load())
}

// TestHedgeIntoAFullBulkheadKeepsTheFirstAttempt: hedge → bulkhead of one
// permit. The hedge is turned away by the full bulkhead, and the first
// attempt's success is what the caller sees.
func TestHedgeIntoAFullBulkheadKeepsTheFirstAttempt(t *testing.T) {
	rejected := make(chan struct{}, 1)
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1, Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(bulkhead.Rejected); ok {
			rejected <- struct{}{}
		}
	})})
	require.NoError(t, err)
	fc := clocktest.New(epoch)
	hd, err := hedge.New(hedge.Config{Delay: time.Millisecond, Percentile: hedge.NoPercentile, MaxHedges: 1, AllIdempotent: true, Clock: fc})
	require.NoError(t, err)
	release := make(chan struct{})
	var runs atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- bulwark.Chain(hd, bh).Do(context.Background(), func(ctx context.Context) error {
			runs.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	fc.BlockUntil(1) // the hedge's timer
	fc.Advance(time.Millisecond)
	<-rejected // the hedge met the full bulkhead
	close(release)
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, runs.Load(), "only the first attempt got a permit")
}
