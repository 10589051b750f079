package circuitbreaker

import (
	"context"
	"errors"
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestBreaker(t *testing.T, cfg Config) *Breaker {
	t.Helper()
	b, err := New(cfg)
	require.NoError(t, err)
	return b
}

// calls runs n calls, the last failures of them failing.
func calls(b *Breaker, n, failures int) {
	for i := range n {
		op := succeeds
		if i >= n-failures {
			op = failOp
		}
		_ = b.Do(bg, op)
	}
}

// The window survives a threshold change: a tighter threshold the calls
// already counted meet trips the breaker at once.
func TestReconfigureTighterThresholdTripsOnTheKeptWindow(t *testing.T) {
	clk := clocktest.New(epoch)
	var ch changes
	cfg := testConfig(clk)
	cfg.Observer = hooks{change: ch.hook}
	b := newTestBreaker(t, cfg)
	calls(b, 10, 3)
	require.Equal(t, StateClosed, b.State(), "30% failures under a 50% threshold")

	cfg.FailureRateThreshold = 30
	require.NoError(t, b.Reconfigure(cfg))
	assert.Equal(t, StateOpen, b.State())
	assert.Equal(t, []State{StateClosed, StateOpen}, ch.path())
	assert.Equal(t, float64(30), b.Settings().FailureRateThreshold)
}

func TestReconfigureLooserThresholdKeepsTheWindow(t *testing.T) {
	clk := clocktest.New(epoch)
	cfg := testConfig(clk)
	b := newTestBreaker(t, cfg)
	calls(b, 10, 4)
	cfg.FailureRateThreshold = 80
	require.NoError(t, b.Reconfigure(cfg))
	m := b.Metrics()
	assert.Equal(t, 10, m.Calls, "the window's calls are kept")
	assert.Equal(t, 4, m.Failures)
	calls(b, 3, 3) // 7 of the last 10 failed: under 80%
	assert.Equal(t, StateClosed, b.State())
	calls(b, 1, 1) // 8 of 10
	assert.Equal(t, StateOpen, b.State())
}

// An open breaker keeps the wait it tripped with; the new one applies from
// the next trip.
func TestReconfigureOpenWaitAppliesFromTheNextTrip(t *testing.T) {
	clk := clocktest.New(epoch)
	cfg := testConfig(clk)
	b := newTestBreaker(t, cfg)
	calls(b, 4, 4)
	require.Equal(t, StateOpen, b.State())

	cfg.OpenWait = time.Second
	require.NoError(t, b.Reconfigure(cfg))
	clk.Advance(time.Second)
	assert.Equal(t, StateOpen, b.State(), "still waiting the 10s it tripped with")
	clk.Advance(9 * time.Second)
	require.Equal(t, StateHalfOpen, b.State())

	calls(b, 2, 2) // two failed probes of three: more than 3-2 failed
	require.Equal(t, StateOpen, b.State())
	var oe *OpenError
	require.True(t, errors.As(b.Do(bg, succeeds), &oe))
	assert.Equal(t, time.Second, oe.Wait)
	clk.Advance(time.Second)
	assert.Equal(t, StateHalfOpen, b.State())
}

func TestReconfigureDryRunLetsAnOpenBreakersCallsThrough(t *testing.T) {
	clk := clocktest.New(epoch)
	cfg := testConfig(clk)
	b := newTestBreaker(t, cfg)
	calls(b, 4, 4)
	require.ErrorIs(t, b.Do(bg, succeeds), ErrOpen)
	cfg.DryRun = true
	require.NoError(t, b.Reconfigure(cfg))
	ran := false
	require.NoError(t, b.Do(bg, func(context.Context) error { ran = true; return nil }))
	assert.True(t, ran)
	cfg.DryRun = false
	require.NoError(t, b.Reconfigure(cfg))
	require.ErrorIs(t, b.Do(bg, succeeds), ErrOpen)
}

func TestReconfigureRefusesWhatIsFixedAndWhatIsInvalid(t *testing.T) {
	clk := clocktest.New(epoch)
	cfg := testConfig(clk)
	b := newTestBreaker(t, cfg)

	other := cfg
	other.Window = LastCalls(20)
	assert.ErrorContains(t, b.Reconfigure(other), "Config.Window")
	other = cfg
	other.SlowCallDuration = time.Second
	assert.ErrorContains(t, b.Reconfigure(other), "Config.SlowCallDuration")
	other = cfg
	other.HalfOpenSuccesses = 4 // more than HalfOpenCalls
	assert.ErrorContains(t, b.Reconfigure(other), "HalfOpenSuccesses")
	other = cfg
	other.FailureRateThreshold = 120
	assert.ErrorContains(t, b.Reconfigure(other), "FailureRateThreshold")

	got := b.Settings()
	assert.Equal(t, float64(50), got.FailureRateThreshold)
	assert.Equal(t, 2, got.HalfOpenSuccesses)
	assert.Equal(t, 10*time.Second, got.OpenWait)
}

// Reconfiguring under full load races with nothing (run with -race) and
// counts every call: with only successes, the breaker never opens and the
// window holds its last calls whatever the thresholds.
func TestReconfigureUnderLoad(t *testing.T) {
	cfg := Config{Window: LastCalls(50), MinimumCalls: 10}
	b := newTestBreaker(t, cfg)
	var n atomic.Int64
	loadtest.While(8, func() {
		if b.Do(bg, succeeds) == nil {
			n.Add(1)
		}
	}, func() {
		for i := range 1000 {
			c := cfg
			c.FailureRateThreshold = float64(10 + i%80)
			c.OpenWait = time.Duration(1+i%5) * time.Second
			c.DryRun = i%2 == 0
			require.NoError(t, b.Reconfigure(c))
		}
	})
	assert.Equal(t, StateClosed, b.State())
	assert.NotZero(t, n.Load())
	assert.Equal(t, int(min(50, n.Load())), b.Metrics().Calls)
}

func TestKeyedReconfigureReachesEveryBreaker(t *testing.T) {
	clk := clocktest.New(epoch)
	k, err := NewKeyed(KeyedConfig[string]{Breaker: testConfig(clk), MaxOpenPercent: 50})
	require.NoError(t, err)
	for range 10 {
		_ = k.Do(bg, "a", succeeds)
	}
	_ = k.Do(bg, "a", failOp)
	_ = k.Do(bg, "a", failOp)
	_ = k.Do(bg, "a", failOp)

	cfg := testConfig(clk)
	cfg.FailureRateThreshold = 30
	require.NoError(t, k.Reconfigure(KeyedConfig[string]{Breaker: cfg, MaxOpenPercent: 50}))
	assert.Equal(t, StateOpen, k.Breaker("a").State(), "3 of 10 meet the new 30%")
	assert.Equal(t, float64(30), k.Breaker("b").Settings().FailureRateThreshold, "a breaker made later has the new settings")

	assert.ErrorContains(t, k.Reconfigure(KeyedConfig[string]{Breaker: cfg, MaxKeys: 5}), "MaxKeys")
	bad := cfg
	bad.MinimumCalls = 11
	assert.ErrorContains(t, k.Reconfigure(KeyedConfig[string]{Breaker: bad}), "MinimumCalls")
	assert.Equal(t, float64(30), k.Breaker("a").Settings().FailureRateThreshold)
}
