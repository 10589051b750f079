package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newKeyed(t *testing.T, cfg ratelimit.KeyedConfig) *ratelimit.Keyed {
	t.Helper()
	k, err := ratelimit.NewKeyed(cfg)
	require.NoError(t, err)
	return k
}

func TestNewKeyedValidatesMaxKeys(t *testing.T) {
	_, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{MaxKeys: -1})
	assert.EqualError(t, err, "ratelimit: KeyedConfig.MaxKeys must be in [1, 2147483647] (0 means 10000), got -1")
	_, err = ratelimit.NewKeyed(ratelimit.KeyedConfig{MaxKeys: math.MaxInt})
	assert.ErrorContains(t, err, "ratelimit: KeyedConfig.MaxKeys must be in [1, 2147483647]")
	s, _ := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: 1})
	_, err = ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.DefaultConfig(), MaxKeys: -1, Store: s})
	assert.NoError(t, err, "MaxKeys is not used with a Store")
	_, err = ratelimit.NewKeyed(ratelimit.DefaultKeyedConfig())
	assert.NoError(t, err)
	_, err = ratelimit.NewKeyed(ratelimit.KeyedConfig{})
	assert.NoError(t, err)
}

// TestKeyedAllowSatisfiesTheMiddlewareContract uses Keyed through the
// interface the HTTP middleware takes.
func TestKeyedAllowSatisfiesTheMiddlewareContract(t *testing.T) {
	fc := clocktest.New(epoch)
	var limitedKeys []string
	var allower interface{ Allow(key string) error } = newKeyed(t, ratelimit.KeyedConfig{
		Config: ratelimit.Config{Limit: 1, Period: time.Second, Clock: fc, Observer: onRejected(func(e ratelimit.Rejected) {
			limitedKeys = append(limitedKeys, e.Key)
		})},
		MaxKeys: 10,
	})
	require.NoError(t, allower.Allow("10.0.0.1"))
	require.NoError(t, allower.Allow("10.0.0.2"), "another key has its own limit")
	err := allower.Allow("10.0.0.1")
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, time.Second, retryAfter(t, err))
	assert.Equal(t, []string{"10.0.0.1"}, limitedKeys)
	fc.Advance(time.Second)
	assert.NoError(t, allower.Allow("10.0.0.1"))
}

func TestKeyedMemoryIsBounded(t *testing.T) {
	for _, maxKeys := range []int{1, 3, 100, 1000, 10_000} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			s, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: maxKeys})
			require.NoError(t, err)
			k := newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.DefaultConfig(), Store: s})
			for i := range 3 * maxKeys {
				require.NoError(t, k.Allow(fmt.Sprint("client-", i)))
			}
			assert.Equal(t, maxKeys, s.Len())
		})
	}
}

// TestKeyedForgetsTheLeastRecentlyUsedKey fills a store of three keys (one
// shard, so the order is exact), touches the oldest, and adds a fourth:
// the least recently used key is the one forgotten, and it comes back with a
// full bucket.
func TestKeyedForgetsTheLeastRecentlyUsedKey(t *testing.T) {
	fc := clocktest.New(epoch)
	s, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: 3})
	require.NoError(t, err)
	k := newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Hour, Clock: fc}, Store: s})
	for _, key := range []string{"a", "b", "c"} {
		require.NoError(t, k.Allow(key))
	}
	require.ErrorIs(t, k.Allow("a"), ratelimit.ErrLimited) // a is now the most recent
	require.NoError(t, k.Allow("d"))                       // evicts b
	assert.ErrorIs(t, k.Allow("a"), ratelimit.ErrLimited, "a was kept")
	assert.ErrorIs(t, k.Allow("c"), ratelimit.ErrLimited, "c was kept")
	assert.NoError(t, k.Allow("b"), "b was forgotten, and starts afresh")
}

type failingStore struct{ err error }

func (s failingStore) Take(context.Context, string, ratelimit.Rule, time.Time) (time.Duration, error) {
	return 0, s.err
}

func TestKeyedReturnsStoreErrors(t *testing.T) {
	down := errors.New("connection refused")
	k := newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Second, MaxWait: time.Second}, Store: failingStore{down}})
	err := k.Allow("a")
	assert.ErrorIs(t, err, down)
	assert.NotErrorIs(t, err, ratelimit.ErrLimited)
	assert.EqualError(t, err, "ratelimit: store: connection refused")
	assert.ErrorIs(t, k.Wait(context.Background(), "a"), down)
	assert.ErrorIs(t, k.Do(context.Background(), "a", nop), down)
}

// flakyStore permits nothing and fails from its second call on.
type flakyStore struct {
	mu    sync.Mutex
	calls int
}

func (s *flakyStore) Take(context.Context, string, ratelimit.Rule, time.Time) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls++; s.calls > 1 {
		return 0, errors.New("store went away")
	}
	return time.Second, nil
}

func TestKeyedWaitReturnsAStoreErrorMetWhileWaiting(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	k := newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Second, MaxWait: time.Minute, Clock: fc}, Store: &flakyStore{}})
	done := make(chan error)
	go func() { done <- k.Wait(context.Background(), "a") }()
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	assert.EqualError(t, <-done, "ratelimit: store: store went away")
}

func TestKeyedWaitAndDo(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	k := newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Second, MaxWait: 2 * time.Second, Clock: fc}, MaxKeys: 10})
	require.NoError(t, k.Do(context.Background(), "a", nop))
	done := make(chan error)
	go func() { done <- k.Do(context.Background(), "a", nop) }()
	fc.BlockUntil(1)
	assert.NoError(t, k.Wait(context.Background(), "b"), "b's permit is free: no wait")
	fc.Advance(time.Second)
	assert.NoError(t, <-done)

	require.NoError(t, k.Allow("c"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- k.Wait(ctx, "c") }()
	fc.BlockUntil(1)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)

	k = newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1, Period: time.Second, Clock: fc}, MaxKeys: 10})
	require.NoError(t, k.Allow("a"))
	assert.ErrorIs(t, k.Wait(context.Background(), "a"), ratelimit.ErrLimited, "MaxWait 0 rejects at once")
	assert.ErrorIs(t, k.Do(context.Background(), "a", nop), ratelimit.ErrLimited)
}

func TestKeyedConcurrentKeys(t *testing.T) {
	fc := clocktest.New(epoch)
	k := newKeyed(t, ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 5, Period: time.Hour, Clock: fc}, MaxKeys: 10_000})
	var wg sync.WaitGroup
	var mu sync.Mutex
	permitted := map[string]int{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				key := fmt.Sprint("k", (g+i)%40)
				if k.Allow(key) == nil {
					mu.Lock()
					permitted[key]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, permitted, 40)
	for key, n := range permitted {
		assert.Equal(t, 5, n, key)
	}
}
