package ratelimit_test

import (
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func allowed(l interface{ Allow() error }, n int) int {
	ok := 0
	for range n {
		if l.Allow() == nil {
			ok++
		}
	}
	return ok
}

// Tightening a token bucket keeps the share of its burst already used:
// half of 10 used leaves half of 5.
func TestReconfigureTighterBucketKeepsWhatWasUsed(t *testing.T) {
	clk := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 10, Period: time.Second, Clock: clk})
	require.NoError(t, err)
	require.Equal(t, 5, allowed(l, 5))

	require.NoError(t, l.Reconfigure(ratelimit.Config{Limit: 5, Period: time.Second}))
	assert.Equal(t, 2, allowed(l, 10), "2.5 of 5 tokens were left")
	assert.Equal(t, 5, l.Rule().Limit)
}

// Loosening an exhausted bucket does not hand out a fresh burst: it refills
// at the new rate from where it was.
func TestReconfigureLooserBucketIsNoFreshBurst(t *testing.T) {
	clk := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 10, Period: time.Second, Clock: clk})
	require.NoError(t, err)
	require.Equal(t, 10, allowed(l, 20))

	require.NoError(t, l.Reconfigure(ratelimit.Config{Limit: 100, Period: time.Second}))
	assert.Zero(t, allowed(l, 10))
	clk.Advance(30 * time.Millisecond)
	assert.Equal(t, 3, allowed(l, 10), "10ms a token at the new rate")
}

func TestReconfigureSlidingWindowKeepsItsCounts(t *testing.T) {
	clk := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 10, Period: time.Second, Clock: clk})
	require.NoError(t, err)
	require.Equal(t, 10, allowed(l, 20))
	require.NoError(t, l.Reconfigure(ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 15, Period: time.Second}))
	assert.Equal(t, 5, allowed(l, 20), "the 10 calls of this window still count")

	// A new algorithm starts empty.
	require.NoError(t, l.Reconfigure(ratelimit.Config{Limit: 3, Period: time.Second}))
	assert.Equal(t, 3, allowed(l, 20))
}

func TestReconfigureRefusesInvalidLimitsAndKeepsTheOld(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Config{Limit: 7, Period: time.Minute, MaxWait: time.Second})
	require.NoError(t, err)
	err = l.Reconfigure(ratelimit.Config{Limit: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Limit")
	got := l.Settings()
	assert.Equal(t, 7, got.Limit)
	assert.Equal(t, time.Minute, got.Period)
	assert.Equal(t, time.Second, got.MaxWait)

	require.NoError(t, l.Reconfigure(ratelimit.Config{}))
	assert.Equal(t, ratelimit.DefaultConfig(), l.Settings())
}

// Under full load, reconfiguring between two rules of the same rate and
// burst neither loses nor duplicates a token: with the clock standing still,
// exactly one burst is permitted in all.
func TestReconfigureUnderLoadLosesNoToken(t *testing.T) {
	clk := clocktest.New(epoch)
	a := ratelimit.Config{Limit: 100, Period: time.Second, Burst: 50}
	b := ratelimit.Config{Limit: 200, Period: 2 * time.Second, Burst: 50} // the same 10ms a token
	l, err := ratelimit.New(ratelimit.Config{Limit: 100, Period: time.Second, Burst: 50, Clock: clk})
	require.NoError(t, err)
	var permitted atomic.Int64
	loadtest.While(8, func() {
		if l.Allow() == nil {
			permitted.Add(1)
		}
	}, func() {
		for i := range 2000 {
			cfg := a
			if i%2 == 0 {
				cfg = b
			}
			require.NoError(t, l.Reconfigure(cfg))
		}
	})
	assert.Equal(t, int64(50), permitted.Load())
}

func TestKeyedReconfigureAppliesToEveryKey(t *testing.T) {
	clk := clocktest.New(epoch)
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 10, Period: time.Second, Clock: clk}})
	require.NoError(t, err)
	for range 4 {
		require.NoError(t, k.Allow("a"))
	}
	require.NoError(t, k.Reconfigure(ratelimit.Config{Limit: 2, Period: time.Second}))
	// a used 40% of its burst: 1.2 of 2 tokens are left.
	assert.NoError(t, k.Allow("a"))
	assert.Error(t, k.Allow("a"))
	ok := 0
	for range 5 {
		if k.Allow("b") == nil {
			ok++
		}
	}
	assert.Equal(t, 2, ok, "a new key gets the new burst")
	assert.Equal(t, 2, k.Settings().Limit)
	require.Error(t, k.Reconfigure(ratelimit.Config{Period: -time.Second}))
	assert.Equal(t, 2, k.Rule().Limit)
}
