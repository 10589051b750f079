package bulkhead_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewKeyedValidatesConfig(t *testing.T) {
	_, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: -1}})
	assert.EqualError(t, err, "bulkhead: KeyedConfig.MaxConcurrent must be in [1, 2147483647] (0 means 25), got -1")
	_, err = bulkhead.NewKeyed(bulkhead.KeyedConfig{MaxIdleKeys: -1})
	assert.EqualError(t, err, "bulkhead: KeyedConfig.MaxIdleKeys must be in [1, 2147483647] (0 means 1000), got -1")
	_, err = bulkhead.NewKeyed(bulkhead.DefaultKeyedConfig())
	assert.NoError(t, err)
	_, err = bulkhead.NewKeyed(bulkhead.KeyedConfig{})
	assert.NoError(t, err)
}

// hold runs a call under key that holds its permit until the returned
// function is called.
func hold(t *testing.T, k *bulkhead.Keyed, key string) (release func()) {
	t.Helper()
	started, done, finished := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		finished <- k.Do(context.Background(), key, func(context.Context) error {
			close(started)
			<-done
			return nil
		})
	}()
	<-started
	return func() {
		close(done)
		require.NoError(t, <-finished)
	}
}

func TestKeyedIsolatesKeys(t *testing.T) {
	var full []string
	cfg := bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: 1, Observer: hooks{full: func(e bulkhead.Rejected) { full = append(full, e.Key) }}}, MaxIdleKeys: 10}
	k, err := bulkhead.NewKeyed(cfg)
	require.NoError(t, err)
	release := hold(t, k, "tenant-a")
	assert.ErrorIs(t, k.Do(context.Background(), "tenant-a", nop), bulkhead.ErrFull)
	assert.NoError(t, k.Do(context.Background(), "tenant-b", nop), "a full key does not block another")
	release()
	assert.NoError(t, k.Do(context.Background(), "tenant-a", nop))
	assert.Equal(t, []string{"tenant-a"}, full, "the Rejected event names the key")
}

func TestKeyedBoundsIdleKeys(t *testing.T) {
	k, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: 1}, MaxIdleKeys: 100})
	require.NoError(t, err)
	for i := range 10_000 {
		require.NoError(t, k.Do(context.Background(), fmt.Sprint("key-", i), nop))
		require.LessOrEqual(t, k.Len(), 100)
	}
	assert.Equal(t, 100, k.Len())
}

// TestKeyedKeepsBusyKeys churns through many keys while one key has its
// only permit taken: the busy key's bulkhead must survive the churn, or a
// second call on it would find a fresh, empty bulkhead and run.
func TestKeyedKeepsBusyKeys(t *testing.T) {
	k, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: 1}, MaxIdleKeys: 1})
	require.NoError(t, err)
	release := hold(t, k, "busy")
	for i := range 1000 {
		require.NoError(t, k.Do(context.Background(), fmt.Sprint("other-", i), nop))
	}
	assert.Equal(t, 2, k.Len(), "the busy key and one idle key")
	assert.ErrorIs(t, k.Do(context.Background(), "busy", nop), bulkhead.ErrFull)
	release()
}

// TestKeyedRemembersAdaptiveLimits checks that an idle key keeps the limit
// its adaptive bulkhead learnt until it is the least recently used of more
// than MaxIdleKeys idle keys.
func TestKeyedRemembersAdaptiveLimits(t *testing.T) {
	fc := clocktest.New(epoch)
	var changes []string
	k, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{
		Config: bulkhead.Config{
			MaxConcurrent: 10,
			Adaptive:      bulkhead.AIMD{InitialLimit: 8, MinLimit: 1, LatencyThreshold: time.Second, BackoffRatio: 0.5},
			Clock:         fc,
			Observer: hooks{limit: func(e bulkhead.LimitChanged) {
				changes = append(changes, fmt.Sprintf("%s: %d -> %d", e.Key, e.From, e.To))
			}},
		},
		MaxIdleKeys: 2,
	})
	require.NoError(t, err)
	slow := func(context.Context) error { fc.Advance(2 * time.Second); return nil }
	require.NoError(t, k.Do(context.Background(), "slow", slow))
	assert.Equal(t, 4, k.Limit("slow"))
	require.NoError(t, k.Do(context.Background(), "a", nop))
	assert.Equal(t, 4, k.Limit("slow"), "two idle keys fit")
	require.NoError(t, k.Do(context.Background(), "b", nop))
	assert.Equal(t, 8, k.Limit("slow"), "the third idle key pushed out the least recent")
	assert.Equal(t, []string{"slow: 8 -> 4"}, changes)
}
