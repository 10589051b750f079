package retry_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewBudgetRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*retry.BudgetConfig)
		want   string
	}{
		{"negative Ratio", func(c *retry.BudgetConfig) { c.Ratio = -0.1 }, "BudgetConfig.Ratio must be retry.None or in [0, 100], got -0.1"},
		{"huge Ratio", func(c *retry.BudgetConfig) { c.Ratio = 101 }, "BudgetConfig.Ratio must be retry.None or in [0, 100], got 101"},
		{"NaN Ratio", func(c *retry.BudgetConfig) { c.Ratio = math.NaN() }, "BudgetConfig.Ratio must be retry.None or in [0, 100], got NaN"},
		{"infinite Ratio", func(c *retry.BudgetConfig) { c.Ratio = math.Inf(1) }, "BudgetConfig.Ratio must be retry.None or in [0, 100], got +Inf"},
		{"negative MinPerSecond", func(c *retry.BudgetConfig) { c.MinPerSecond = -2 }, "BudgetConfig.MinPerSecond must be retry.None or in [0, 1e6], got -2"},
		{"NaN MinPerSecond", func(c *retry.BudgetConfig) { c.MinPerSecond = math.NaN() }, "BudgetConfig.MinPerSecond must be retry.None or in [0, 1e6], got NaN"},
		{"-Inf MinPerSecond", func(c *retry.BudgetConfig) { c.MinPerSecond = math.Inf(-1) }, "BudgetConfig.MinPerSecond must be retry.None or in [0, 1e6], got -Inf"},
		{"both None", func(c *retry.BudgetConfig) { c.Ratio, c.MinPerSecond = retry.None, retry.None }, "BudgetConfig.Ratio and BudgetConfig.MinPerSecond are both retry.None"},
		{"negative Window", func(c *retry.BudgetConfig) { c.Window = -1 }, "BudgetConfig.Window must be in [0, 1h] (0 means 10s), got -1ns"},
		{"long Window", func(c *retry.BudgetConfig) { c.Window = 2 * time.Hour }, "BudgetConfig.Window must be in [0, 1h] (0 means 10s), got 2h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := retry.DefaultBudgetConfig()
			tt.modify(&cfg)
			b, err := retry.NewBudget(cfg)
			assert.Nil(t, b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "retry: "+tt.want)
		})
	}
	_, err := retry.NewBudget(retry.DefaultBudgetConfig())
	assert.NoError(t, err)
	_, err = retry.NewBudget(retry.BudgetConfig{})
	assert.NoError(t, err, "the zero BudgetConfig is the default")
}

// budgeted is a Retrier of two attempts and no wait, sharing budget, that
// counts its retries.
type budgeted struct {
	r       *retry.Retrier
	retries int
}

func newBudgeted(t *testing.T, fc *clocktest.Fake, budget *retry.Budget) *budgeted {
	b := &budgeted{}
	r, err := retry.New(retry.Config{
		MaxAttempts: 2,
		Backoff:     retry.Constant{},
		Budget:      budget,
		Clock:       fc,
		Observer:    counting(&b.retries, new(int)),
	})
	require.NoError(t, err)
	b.r = r
	return b
}

func succeed(context.Context) error { return nil }
func fail(context.Context) error    { return errTransient }

func TestBudgetLimitsRetriesToARatioOfCalls(t *testing.T) {
	fc := clocktest.New(epoch)
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: retry.None, Window: 10 * time.Second, Clock: fc})
	require.NoError(t, err)
	b := newBudgeted(t, fc, budget)
	for range 100 {
		require.NoError(t, b.r.Do(context.Background(), succeed))
	}
	rejected := 0
	for k := 1; k <= 100; k++ {
		calls := 0
		err := b.r.Do(context.Background(), func(context.Context) error { calls++; return errTransient })
		if errors.Is(err, retry.ErrBudgetExhausted) {
			rejected++
			assert.Equal(t, 1, calls, "a rejected call fails fast")
			assert.ErrorIs(t, err, errTransient, "with its own error")
			assert.Equal(t, 1, giveUpError(t, err).Attempts)
		} else {
			assert.ErrorIs(t, err, retry.ErrMaxAttempts)
		}
		total := float64(100 + k)
		assert.LessOrEqual(t, float64(b.retries), 0.1*total+1e-9, "after %d failing calls", k)
		assert.GreaterOrEqual(t, float64(b.retries), min(float64(k), 0.1*total-1), "after %d failing calls: the budget gives what it promises", k)
	}
	assert.Equal(t, 20, b.retries)
	assert.Equal(t, 80, rejected)
}

func TestBudgetIsSharedByItsRetriers(t *testing.T) {
	fc := clocktest.New(epoch)
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: retry.None, Window: 10 * time.Second, Clock: fc})
	require.NoError(t, err)
	healthy, failing := newBudgeted(t, fc, budget), newBudgeted(t, fc, budget)
	for range 50 {
		require.NoError(t, healthy.r.Do(context.Background(), succeed))
	}
	for range 10 {
		_ = failing.r.Do(context.Background(), fail)
	}
	// 60 calls in all earn 6 retries, of which the failing retrier took all.
	assert.Equal(t, 6, failing.retries)
}

func TestBudgetFloorAllowsRetriesWithoutTraffic(t *testing.T) {
	fc := clocktest.New(epoch)
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: retry.None, MinPerSecond: 2, Window: 10 * time.Second, Clock: fc})
	require.NoError(t, err)
	b := newBudgeted(t, fc, budget)
	for range 30 {
		_ = b.r.Do(context.Background(), fail)
	}
	assert.Equal(t, 20, b.retries, "2 per second over a 10s window")

	fc.Advance(5 * time.Second)
	_ = b.r.Do(context.Background(), fail)
	assert.Equal(t, 20, b.retries, "half a window later the retries still count")

	fc.Advance(5 * time.Second)
	for range 30 {
		_ = b.r.Do(context.Background(), fail)
	}
	assert.Equal(t, 40, b.retries, "a window later the floor is available again")
}

func TestBudgetForgetsCallsOlderThanTheWindow(t *testing.T) {
	for _, wait := range []time.Duration{0, 11 * time.Second} {
		fc := clocktest.New(epoch)
		budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.5, MinPerSecond: retry.None, Window: 10 * time.Second, Clock: fc})
		require.NoError(t, err)
		b := newBudgeted(t, fc, budget)
		for range 128 {
			require.NoError(t, b.r.Do(context.Background(), succeed))
		}
		fc.Advance(wait)
		err = b.r.Do(context.Background(), fail)
		if wait == 0 {
			assert.Equal(t, 1, b.retries, "128 recent calls earn retries")
		} else {
			assert.ErrorIs(t, err, retry.ErrBudgetExhausted, "calls from before the window earn nothing")
		}
	}
}

// TestBudgetStopsARetryStorm simulates seeded random traffic against a
// dependency that is down for a while, and checks the budget's promise in
// every window: retries ≤ Ratio × calls + floor, where at most 63 calls from
// just outside the window may be counted in it.
func TestBudgetStopsARetryStorm(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	const (
		ratio    = 0.1
		perSec   = 1.0
		window   = 10 * time.Second
		step     = 10 * time.Millisecond
		attempts = 4
	)
	fc := clocktest.New(epoch)
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: ratio, MinPerSecond: perSec, Window: window, Clock: fc})
	require.NoError(t, err)
	var callTimes, retryTimes []time.Duration
	r, err := retry.New(retry.Config{
		MaxAttempts: attempts,
		Backoff:     retry.Constant{},
		Budget:      budget,
		Clock:       fc,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(retry.Retried); ok {
				retryTimes = append(retryTimes, fc.Now().Sub(epoch))
			}
		}),
	})
	require.NoError(t, err)

	downFrom, downTo := time.Duration(rng.IntN(10))*time.Second, time.Duration(20+rng.IntN(20))*time.Second
	outageCalls, outageRetries := 0, 0
	for now := time.Duration(0); now < 60*time.Second; now += step {
		down := now >= downFrom && now < downTo
		for range rng.IntN(4) {
			callTimes = append(callTimes, now)
			before := len(retryTimes)
			op := succeed
			if down {
				op = fail
			}
			_ = r.Do(context.Background(), op)
			if down {
				outageCalls++
				outageRetries += len(retryTimes) - before
			}
		}
		fc.Advance(step)
	}

	count := func(times []time.Duration, from, to time.Duration) int {
		n := 0
		for _, at := range times {
			if at > from && at <= to {
				n++
			}
		}
		return n
	}
	for _, at := range retryTimes {
		retries := count(retryTimes, at-window*9/10, at)
		calls := count(callTimes, at-window-step, at)
		limit := ratio*float64(calls+63) + perSec*window.Seconds()
		if float64(retries) > limit {
			t.Fatalf("at %v: %d retries in the window, over the budget %.1f for %d calls", at, retries, limit, calls)
		}
	}
	// Over the outage, retries are earned by the outage's calls and floor,
	// plus whatever was left in the window when it began.
	earned := ratio*float64(outageCalls) + perSec*(downTo-downFrom).Seconds()
	carried := ratio*float64(count(callTimes, downFrom-window-step, downFrom)+63) + perSec*window.Seconds()
	t.Logf("outage %v-%v: %d calls, %d retries (without a budget: %d); earned %.0f, carried in at most %.0f",
		downFrom, downTo, outageCalls, outageRetries, (attempts-1)*outageCalls, earned, carried)
	assert.LessOrEqual(t, float64(outageRetries), earned+carried, "the storm is held to the budget")
	assert.Greater(t, float64(outageRetries), 0.9*earned, "and the budget is spent, not hoarded")
}

func TestBudgetUnderConcurrentCallers(t *testing.T) {
	fc := clocktest.New(epoch)
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.2, MinPerSecond: retry.None, Window: time.Minute, Clock: fc})
	require.NoError(t, err)
	var retries [8]int
	done := make(chan struct{})
	for g := range 8 {
		r, err := retry.New(retry.Config{
			MaxAttempts: 3,
			Backoff:     retry.Constant{},
			Budget:      budget,
			Clock:       fc,
			Observer:    counting(&retries[g], new(int)),
		})
		require.NoError(t, err)
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				op := succeed
				if i%2 == 0 {
					op = fail
				}
				_ = r.Do(context.Background(), op)
			}
		}()
	}
	for range 8 {
		<-done
	}
	total := 0
	for _, n := range retries {
		total += n
	}
	assert.LessOrEqual(t, total, int(0.2*8*500))
	assert.GreaterOrEqual(t, total, int(0.2*8*500)-8, "all goroutines together get what the budget promises")
}
