package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/ratelimit/ratelimittest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryStoreConforms(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Store {
		s, err := ratelimit.NewMemoryStore(1000)
		require.NoError(t, err)
		return s
	})
}

func TestNewMemoryStoreValidates(t *testing.T) {
	_, err := ratelimit.NewMemoryStore(0)
	assert.EqualError(t, err, "ratelimit: NewMemoryStore maxKeys must be > 0, got 0")
}

// TestMemoryStoreDecidesALateArrivalAtTheLatestTime replays two calls that
// raced to the store: the one that read the clock later got there first. The
// late arrival's older reading must not make it look early: with a burst of
// two it is permitted, where deciding at its own reading would wait 6 ms.
func TestMemoryStoreDecidesALateArrivalAtTheLatestTime(t *testing.T) {
	s, err := ratelimit.NewMemoryStore(10)
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
