package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/ratelimit/ratelimittest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryStoreConforms(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Harness {
		s, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: 1000})
		require.NoError(t, err)
		return ratelimittest.Harness{Store: s}
	})
}

func TestNewMemoryStoreValidates(t *testing.T) {
	_, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: -1})
	assert.EqualError(t, err, "ratelimit: MemoryStoreConfig.MaxKeys must be in [1, 2147483647] (0 means 10000), got -1")
	s, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{})
	require.NoError(t, err)
	for i := range 20_000 {
		_, err := s.Take(context.Background(), fmt.Sprint(i), ratelimit.Rule{Limit: 1, Period: time.Second, Burst: 1}, epoch)
		require.NoError(t, err)
	}
	assert.Equal(t, 10_000, s.Len(), "the zero MemoryStoreConfig holds 10,000 keys")
}

// TestMemoryStoreDecidesALateArrivalAtTheLatestTime replays two calls that
// raced to the store: the one that read the clock later got there first. The
// late arrival's older reading must not make it look early: with a burst of
// two it is permitted, where deciding at its own reading would wait 6 ms.
func TestMemoryStoreDecidesALateArrivalAtTheLatestTime(t *testing.T) {
	s, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: 10})
	require.NoError(t, err)
	r := ratelimit.Rule{Algorithm: ratelimit.TokenBucket, Limit: 1000, Period: time.Second, Burst: 2}
	ctx := context.Background()
	d, err := s.Take(ctx, "k", r, epoch.Add(6*time.Millisecond))
	require.NoError(t, err)
	require.Zero(t, d)
	d, err = s.Take(ctx, "k", r, epoch)
	require.NoError(t, err)
	assert.Zero(t, d)
}
