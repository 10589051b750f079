package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPermittedCallsAllocateNothing: a permitted call allocates nothing,
// with either algorithm, and per key once the key is known.
func TestPermittedCallsAllocateNothing(t *testing.T) {
	ctx := context.Background()
	bucket, err := ratelimit.New(ratelimit.Config{Limit: 1_000_000_000, Period: time.Second, Burst: 1_000_000})
	require.NoError(t, err)
	window, err := ratelimit.New(ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 1_000_000_000, Period: time.Second})
	require.NoError(t, err)
	keyed, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config:  ratelimit.Config{Limit: 1_000_000_000, Period: time.Second, Burst: 1_000_000},
		MaxKeys: 16,
	})
	require.NoError(t, err)
	nop := func(context.Context) error { return nil }

	for name, call := range map[string]func() error{
		"Allow, TokenBucket":   bucket.Allow,
		"Allow, SlidingWindow": window.Allow,
		"Wait":                 func() error { return bucket.Wait(ctx) },
		"Do":                   func() error { return bucket.Do(ctx, nop) },
		"Keyed.Allow":          func() error { return keyed.Allow("10.0.0.1") },
	} {
		require.NoError(t, call(), name) // a keyed limiter allocates a key's entry on first use
		assert.Zero(t, testing.AllocsPerRun(1000, func() {
			if err := call(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}), name)
	}
}
