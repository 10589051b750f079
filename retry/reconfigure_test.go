package retry_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/loadtest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errFlaky = errors.New("flaky")

func TestReconfigureChangesTheAttemptsOfLaterCalls(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}})
	require.NoError(t, err)
	op, calls := failing(100, errFlaky)
	require.ErrorIs(t, r.Do(context.Background(), op), retry.ErrMaxAttempts)
	assert.Equal(t, 2, *calls)

	require.NoError(t, r.Reconfigure(retry.Config{MaxAttempts: 5, Backoff: retry.Constant{}}))
	op, calls = failing(100, errFlaky)
	require.ErrorIs(t, r.Do(context.Background(), op), retry.ErrMaxAttempts)
	assert.Equal(t, 5, *calls)
	assert.Equal(t, 5, r.Settings().MaxAttempts)
}

// A call keeps the settings it started with: one that began under 5
// attempts makes 5 even when Reconfigure lowers it to 2 meanwhile.
func TestReconfigureLeavesARunningCallAlone(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: 5, Backoff: retry.Constant{}})
	require.NoError(t, err)
	calls := 0
	err = r.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			require.NoError(t, r.Reconfigure(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}}))
		}
		return errFlaky
	})
	require.ErrorIs(t, err, retry.ErrMaxAttempts)
	assert.Equal(t, 5, calls)
}

func TestReconfigureRefusesInvalidSettingsAndKeepsTheOld(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: 4, MaxDelay: time.Second})
	require.NoError(t, err)
	assert.ErrorContains(t, r.Reconfigure(retry.Config{MaxAttempts: -7}), "Config.MaxAttempts")
	assert.ErrorContains(t, r.Reconfigure(retry.Config{Backoff: retry.Exponential{Multiplier: 0.5}}), "Config.Backoff")
	got := r.Settings()
	assert.Equal(t, 4, got.MaxAttempts)
	assert.Equal(t, time.Second, got.MaxDelay)

	require.NoError(t, r.Reconfigure(retry.Config{MaxAttempts: retry.Unlimited}))
	assert.Equal(t, retry.Unlimited, r.Settings().MaxAttempts)
	assert.Equal(t, retry.DefaultMaxDelay, r.Settings().MaxDelay)
}

// Under full load every call runs under one configuration whole: with A a
// call makes 2 attempts, with B 3, never another count.
func TestReconfigureUnderLoadIsNeverTorn(t *testing.T) {
	a := retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}}
	b := retry.Config{MaxAttempts: 3, Backoff: retry.Constant{}, RetryRejected: true}
	r, err := retry.New(a)
	require.NoError(t, err)
	var torn, calls atomic.Int64
	loadtest.While(8, func() {
		n := 0
		_ = r.Do(context.Background(), func(context.Context) error { n++; return errFlaky })
		if n != 2 && n != 3 {
			torn.Add(1)
		}
		calls.Add(1)
	}, func() {
		for i := range 2000 {
			cfg := a
			if i%2 == 0 {
				cfg = b
			}
			require.NoError(t, r.Reconfigure(cfg))
		}
	})
	assert.Zero(t, torn.Load())
	assert.NotZero(t, calls.Load())
}
