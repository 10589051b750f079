package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// settled checks that in the seconds [from, to) the limit sat near the
// server's knee, the server ran at (nearly) full capacity, and latency
// stayed near the bare service time: the three faces of "the limit found the
// knee". Near means within 60% above; the limit settles a little above the
// knee by design, to keep a short queue so no worker idles.
func settled(t *testing.T, stats []second, from, to, knee int, service time.Duration) {
	t.Helper()
	limit, throughput, latency := window(stats, from, to)
	capacity := float64(knee) * float64(time.Second) / float64(service)
	t.Logf("seconds %d-%d: limit %.1f (knee %d), throughput %.0f/s (capacity %.0f/s), latency %v (service %v)",
		from, to, limit, knee, throughput, capacity, latency.Round(time.Millisecond), service)
	assert.GreaterOrEqual(t, limit, 0.9*float64(knee), "limit well below the knee (seconds %d-%d)", from, to)
	assert.LessOrEqual(t, limit, 1.6*float64(knee), "limit well above the knee (seconds %d-%d)", from, to)
	assert.GreaterOrEqual(t, throughput, 0.95*capacity, "capacity left unused (seconds %d-%d)", from, to)
	assert.LessOrEqual(t, latency, service*16/10, "latency climbed (seconds %d-%d)", from, to)
}

// TestAdaptiveSettlesNearTheKneeAndRecovers runs each algorithm against the
// simulated server under twice the load it can serve: the limit must settle
// near the knee (40 workers), follow it down when half the workers go
// (overload: the same load on half the capacity), come back when they
// return, and hold through a surge of three times the load.
func TestAdaptiveSettlesNearTheKneeAndRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		alg  bulkhead.Adaptive
	}{
		{"gradient", bulkhead.DefaultGradient()},
		{"aimd", bulkhead.AIMD{LatencyThreshold: serviceTime * 3 / 2}},
	} {
		seeds := uint64(3)
		if testenv.RaceEnabled {
			seeds = 1 // the race detector makes each run ten times slower
		}
		for seed := uint64(1); seed <= seeds; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", tc.name, seed), func(t *testing.T) {
				fc := clocktest.New(epoch)
				b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1000, Adaptive: tc.alg, Clock: fc})
				require.NoError(t, err)
				stats := simulate(t, b, fc, seed, []phase{
					{length: 60 * time.Second, workers: 40, arrival: 1600},
					{length: 30 * time.Second, workers: 20, arrival: 1600},
					{length: 30 * time.Second, workers: 40, arrival: 1600},
					{length: 20 * time.Second, workers: 40, arrival: 4800},
				})
				settled(t, stats, 30, 60, 40, serviceTime)
				settled(t, stats, 70, 90, 20, serviceTime)
				settled(t, stats, 105, 120, 40, serviceTime)
				settled(t, stats, 125, 140, 40, serviceTime)
				if t.Failed() {
					logStats(t, stats)
				}
			})
		}
	}
}

// TestAdaptiveKeepsLatencyDownWhereFixedDoesNot offers the simulated server
// twice what it can serve through a fixed bulkhead sized by guesswork and
// through a Gradient one: both keep the server busy, but the fixed one
// queues four times the knee inside it and its callers wait for it.
func TestAdaptiveKeepsLatencyDownWhereFixedDoesNot(t *testing.T) {
	run := func(cfg bulkhead.Config) (float64, time.Duration) {
		fc := clocktest.New(epoch)
		cfg.Clock = fc
		b, err := bulkhead.New(cfg)
		require.NoError(t, err)
		stats := simulate(t, b, fc, 7, []phase{{length: 60 * time.Second, workers: 40, arrival: 1600}})
		_, throughput, latency := window(stats, 30, 60)
		return throughput, latency
	}
	fixedThroughput, fixedLatency := run(bulkhead.Config{MaxConcurrent: 200})
	adaptiveThroughput, adaptiveLatency := run(bulkhead.Config{MaxConcurrent: 200, Adaptive: bulkhead.DefaultGradient()})
	t.Logf("fixed: %.0f/s at %v; gradient: %.0f/s at %v", fixedThroughput, fixedLatency, adaptiveThroughput, adaptiveLatency)
	assert.InDelta(t, fixedThroughput, adaptiveThroughput, 0.05*fixedThroughput)
	assert.Greater(t, fixedLatency, 4*serviceTime)
	assert.Less(t, adaptiveLatency, fixedLatency/3)
}

// TestGradientFollowsALastingSlowdown doubles the server's service time for
// good. No-load latency as first measured is now out of reach, so without
// its periodic probe the gradient would hold the limit far below the knee;
// the probe re-measures it and the limit climbs back.
func TestGradientFollowsALastingSlowdown(t *testing.T) {
	for _, probe := range []time.Duration{30 * time.Second, bulkhead.NeverProbe} {
		t.Run(fmt.Sprintf("probe=%v", probe), func(t *testing.T) {
			g := bulkhead.DefaultGradient()
			g.ProbeInterval = probe
			fc := clocktest.New(epoch)
			b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1000, Adaptive: g, Clock: fc})
			require.NoError(t, err)
			stats := simulate(t, b, fc, 11, []phase{
				{length: 40 * time.Second, workers: 40, arrival: 1600},
				{length: 100 * time.Second, workers: 40, arrival: 1600, service: 2 * serviceTime},
			})
			limit, _, _ := window(stats, 120, 140)
			t.Logf("limit over the last 20 s: %.1f", limit)
			if probe == bulkhead.NeverProbe {
				assert.Less(t, limit, 20.0, "without probes the stale no-load latency holds the limit down")
				return
			}
			settled(t, stats, 120, 140, 40, 2*serviceTime)
		})
	}
}

// call admits a call through b at the fake clock's time, lets it take d,
// and releases it with err.
func call(t *testing.T, b *bulkhead.Bulkhead, fc *clocktest.Fake, d time.Duration, err error) {
	t.Helper()
	p, ok := b.TryAcquire()
	require.True(t, ok, "no permit")
	fc.Advance(d)
	p.Release(err)
}

func TestAIMDRules(t *testing.T) {
	newAIMD := func(t *testing.T, overloaded func(error) bool) (*bulkhead.Bulkhead, *clocktest.Fake) {
		fc := clocktest.New(epoch)
		b, err := bulkhead.New(bulkhead.Config{
			MaxConcurrent: 8,
			Adaptive:      bulkhead.AIMD{InitialLimit: 4, MinLimit: 2, LatencyThreshold: 100 * time.Millisecond, BackoffRatio: 0.5},
			Overloaded:    overloaded,
			Clock:         fc,
		})
		require.NoError(t, err)
		return b, fc
	}
	t.Run("about a limit's worth of fast calls at half use raises it by one", func(t *testing.T) {
		b, fc := newAIMD(t, nil)
		hold1, _ := b.TryAcquire()
		hold2, _ := b.TryAcquire() // with the call below: 3 of 4 in use
		for range 5 {              // 4 + 1/4 + 1/4.25 + …
			call(t, b, fc, 10*time.Millisecond, nil)
		}
		assert.Equal(t, 5, b.Limit())
		hold1.Release(nil)
		hold2.Release(nil)
	})
	t.Run("calls while under half used do not raise it", func(t *testing.T) {
		b, fc := newAIMD(t, nil)
		for range 20 {
			call(t, b, fc, 10*time.Millisecond, nil) // 1 of 4 in use
		}
		assert.Equal(t, 4, b.Limit())
	})
	t.Run("it never exceeds MaxConcurrent", func(t *testing.T) {
		b, fc := newAIMD(t, nil)
		for range 1000 {
			var held []bulkhead.Permit
			for p, ok := b.TryAcquire(); ok; p, ok = b.TryAcquire() {
				held = append(held, p)
			}
			fc.Advance(time.Millisecond)
			for _, p := range held {
				p.Release(nil)
			}
		}
		assert.Equal(t, 8, b.Limit())
	})
	t.Run("a slow call backs off once for the calls in flight with it", func(t *testing.T) {
		b, fc := newAIMD(t, nil)
		var inFlight []bulkhead.Permit
		for range 4 {
			p, _ := b.TryAcquire()
			inFlight = append(inFlight, p)
		}
		fc.Advance(200 * time.Millisecond)
		for _, p := range inFlight {
			p.Release(nil)
		}
		assert.Equal(t, 2, b.Limit(), "4 × 0.5, once")
		call(t, b, fc, 200*time.Millisecond, nil) // started after the backoff
		assert.Equal(t, 2, b.Limit(), "MinLimit holds")
	})
	t.Run("an overloaded error backs off", func(t *testing.T) {
		b, fc := newAIMD(t, nil)
		call(t, b, fc, time.Millisecond, fmt.Errorf("call: %w", context.DeadlineExceeded))
		assert.Equal(t, 2, b.Limit())
	})
	t.Run("other errors and panics teach nothing", func(t *testing.T) {
		b, fc := newAIMD(t, nil)
		hold, _ := b.TryAcquire()
		for range 8 {
			call(t, b, fc, time.Second, errors.New("not found"))
		}
		assert.Panics(t, func() {
			_ = b.Do(context.Background(), func(context.Context) error { fc.Advance(time.Second); panic("boom") })
		})
		assert.Equal(t, 4, b.Limit())
		hold.Release(nil)
	})
	t.Run("Overloaded decides which errors back off", func(t *testing.T) {
		busy := errors.New("503")
		b, fc := newAIMD(t, func(err error) bool { return errors.Is(err, busy) })
		call(t, b, fc, time.Millisecond, context.DeadlineExceeded)
		assert.Equal(t, 4, b.Limit())
		call(t, b, fc, time.Millisecond, busy)
		assert.Equal(t, 2, b.Limit())
	})
}

func TestGradientRules(t *testing.T) {
	newGradient := func(t *testing.T) (*bulkhead.Bulkhead, *clocktest.Fake, *[]int) {
		fc := clocktest.New(epoch)
		var changes []int
		b, err := bulkhead.New(bulkhead.Config{
			MaxConcurrent: 100,
			Adaptive: bulkhead.Gradient{
				InitialLimit: 16, MinLimit: 1, Tolerance: 1, Smoothing: 1,
				Window: time.Second, WindowSamples: 1,
			},
			Clock:    fc,
			Observer: hooks{limit: func(e bulkhead.LimitChanged) { changes = append(changes, e.To) }},
		})
		require.NoError(t, err)
		return b, fc, &changes
	}
	// windowOf runs the next one-second window: batches of calls that each
	// take d with all 16 permits busy, then a single call of d that ends
	// exactly at the window's end and closes it. It returns the limit after.
	windowOf := func(t *testing.T, b *bulkhead.Bulkhead, fc *clocktest.Fake, d time.Duration, err error) int {
		t.Helper()
		end := epoch.Add(fc.Now().Sub(epoch).Truncate(time.Second) + time.Second)
		for fc.Now().Add(d).Before(end) {
			var held []bulkhead.Permit
			for range 16 {
				p, ok := b.TryAcquire()
				require.True(t, ok)
				held = append(held, p)
			}
			fc.Advance(d)
			for _, p := range held {
				p.Release(err)
			}
		}
		fc.Set(end.Add(-d))
		call(t, b, fc, d, err)
		return b.Limit()
	}
	t.Run("latency at no-load grows the limit by its square root", func(t *testing.T) {
		b, fc, _ := newGradient(t)
		assert.Equal(t, 20, windowOf(t, b, fc, 100*time.Millisecond, nil), "16×1 + √16")
	})
	t.Run("doubled latency halves the limit before the queue allowance", func(t *testing.T) {
		b, fc, _ := newGradient(t)
		windowOf(t, b, fc, 100*time.Millisecond, nil) // no-load: 100 ms; limit 20
		assert.Equal(t, 14, windowOf(t, b, fc, 200*time.Millisecond, nil), "20×0.5 + √20")
	})
	t.Run("an overloaded error halves it", func(t *testing.T) {
		b, fc, changes := newGradient(t)
		assert.Equal(t, 12, windowOf(t, b, fc, 100*time.Millisecond, context.DeadlineExceeded), "16×0.5 + √16")
		assert.Equal(t, []int{12}, *changes)
	})
}
