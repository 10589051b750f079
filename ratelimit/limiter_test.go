package ratelimit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// retryAfter returns the RetryAfter of err found the way the HTTP
// middleware and retry find it.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var ra interface{ RetryAfter() time.Duration }
	require.True(t, errors.As(err, &ra), "error %v carries no RetryAfter", err)
	return ra.RetryAfter()
}

func TestTokenBucketBurstThenRate(t *testing.T) {
	fc := clocktest.New(epoch)
	l, err := ratelimit.New(ratelimit.Config{Limit: 10, Period: time.Second, Burst: 3, Clock: fc})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, l.Allow(), "call %d of the burst", i)
	}
	err = l.Allow()
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, 100*time.Millisecond, retryAfter(t, err))
	fc.Advance(100 * time.Millisecond)
	require.NoError(t, l.Allow())
	require.ErrorIs(t, l.Allow(), ratelimit.ErrLimited)
}

func TestKeyedAllowSatisfiesTheMiddlewareContract(t *testing.T) {
	fc := clocktest.New(epoch)
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Second, Clock: fc}, MaxKeys: 10})
	require.NoError(t, err)
	var allower interface{ Allow(key string) error } = k
	require.NoError(t, allower.Allow("a"))
	require.NoError(t, allower.Allow("b"))
	err = allower.Allow("a")
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, time.Second, retryAfter(t, err))
}
