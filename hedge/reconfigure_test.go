package hedge_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call keeps the delay and hedge count it started with; calls started
// after Reconfigure get the new ones.
func TestReconfigureAppliesToCallsStartedAfterIt(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1}, fc)
	ctx := hedge.Idempotent(context.Background())
	s := newScript()
	done := doAsync(ctx, h, s.op)
	first := <-s.starts
	fc.BlockUntil(1)

	require.NoError(t, h.Reconfigure(hedge.Config{Delay: 50 * time.Millisecond, MaxHedges: 3, Percentile: hedge.NoPercentile}))
	second := s.hedgeAfter(fc, 10*time.Millisecond) // the running call's 10ms
	assert.Equal(t, 0, fc.Timers(), "the running call keeps MaxHedges 1")
	second.result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, hedge.ErrLost, context.Cause(first.ctx))

	done = doAsync(ctx, h, s.op)
	<-s.starts
	fc.BlockUntil(1)
	fc.Advance(49 * time.Millisecond)
	s.notStarted(t)
	third := s.hedgeAfter(fc, time.Millisecond)
	third.result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, []hedgeEvent{{2, 10 * time.Millisecond}, {2, 50 * time.Millisecond}}, *events)
}

// The latencies measured so far survive a change of Percentile: the new
// percentile is known at once.
func TestReconfigureKeepsTheLatencies(t *testing.T) {
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: time.Hour, MaxHedges: 1, Percentile: 90, Window: 10}, fc)
	ctx := hedge.Idempotent(context.Background())
	for i := 1; i <= 10; i++ {
		require.NoError(t, h.Do(ctx, func(context.Context) error {
			fc.Advance(time.Duration(i) * time.Millisecond)
			return nil
		}))
	}
	require.Equal(t, 9*time.Millisecond, h.Delay())

	require.NoError(t, h.Reconfigure(hedge.Config{Delay: time.Hour, MaxHedges: 1, Percentile: 50, Window: 10}))
	assert.Equal(t, 5*time.Millisecond, h.Delay(), "the median of the same ten latencies")

	// A smaller window keeps the most recent latencies: 6..10ms.
	require.NoError(t, h.Reconfigure(hedge.Config{Delay: time.Hour, MaxHedges: 1, Percentile: 100, Window: 5}))
	assert.Equal(t, 10*time.Millisecond, h.Delay())
	require.NoError(t, h.Reconfigure(hedge.Config{Delay: time.Hour, MaxHedges: 1, Percentile: 20, Window: 5}))
	assert.Equal(t, 6*time.Millisecond, h.Delay())

	// A larger window than the samples known waits for it to fill.
	require.NoError(t, h.Reconfigure(hedge.Config{Delay: time.Hour, MaxHedges: 1, Percentile: 50, Window: 20}))
	assert.Equal(t, time.Hour, h.Delay())
	assert.Equal(t, 20, h.Settings().Window)
}

func TestReconfigureRefusesInvalidSettingsAndKeepsTheOld(t *testing.T) {
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2}, fc)
	err := h.Reconfigure(hedge.Config{MaxHedges: 11})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.MaxHedges")
	got := h.Settings()
	assert.Equal(t, 10*time.Millisecond, got.Delay)
	assert.Equal(t, 2, got.MaxHedges)
	assert.Equal(t, hedge.NoPercentile, got.Percentile)

	require.NoError(t, h.Reconfigure(hedge.Config{}))
	got = h.Settings()
	assert.Equal(t, hedge.DefaultDelay, got.Delay)
	assert.Equal(t, hedge.DefaultMaxHedges, got.MaxHedges)
	assert.Equal(t, hedge.DefaultPercentile, got.Percentile)
	assert.Equal(t, hedge.DefaultWindow, got.Window)
}
