package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFirstAttemptSuccessAllocatesNothing(t *testing.T) {
	budget, err := retry.NewBudget(retry.DefaultBudgetConfig())
	require.NoError(t, err)
	configs := map[string]retry.Config{
		"default":      retry.DefaultConfig(),
		"zero":         {},
		"decorrelated": {MaxAttempts: 3, Backoff: retry.Decorrelated{Base: time.Millisecond}},
		"elapsed":      {MaxAttempts: 3, MaxElapsedTime: time.Second, Backoff: retry.Constant{}},
		"hooks": {
			MaxAttempts: 3, Backoff: retry.Constant{},
			RetryIf:  func(error) bool { return true },
			Observer: bulwark.ObserverFunc(func(context.Context, bulwark.Event) {}),
		},
		"budget": {MaxAttempts: 3, Backoff: retry.Constant{}, Budget: budget},
	}
	ctx := context.Background()
	for name, cfg := range configs {
		r, err := retry.New(cfg)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(1000, func() { _ = r.Do(ctx, succeed) })
		assert.Zero(t, allocs, name)
	}
}

func TestFailurePathAllocatesOnlyTheGiveUpError(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Exponential{Initial: 1, Jitter: retry.FullJitter}, MaxDelay: 1})
	require.NoError(t, err)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		err := r.Do(ctx, fail)
		if !errors.Is(err, errTransient) || !errors.Is(err, retry.ErrMaxAttempts) {
			t.Fatal("wrong error")
		}
	})
	assert.Equal(t, 1.0, allocs, "matching the error allocates nothing either")
}
