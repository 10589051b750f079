package bulkhead_test

import (
	"context"
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newBulkhead(t *testing.T, cfg bulkhead.Config) *bulkhead.Bulkhead {
	t.Helper()
	b, err := bulkhead.New(cfg)
	require.NoError(t, err)
	return b
}

func TestReconfigureRaisedLimitLetsWaitersIn(t *testing.T) {
	b := newBulkhead(t, bulkhead.Config{MaxConcurrent: 1, MaxWaiting: 5, MaxWait: time.Hour})
	p, ok := b.TryAcquire()
	require.True(t, ok)
	got := make(chan error, 2)
	for range 2 {
		go func() {
			q, err := b.Acquire(context.Background())
			if err == nil {
				defer q.Release(nil)
			}
			got <- err
		}()
	}
	require.Eventually(t, func() bool { return b.Waiting() == 2 }, 5*time.Second, time.Millisecond)
	require.NoError(t, b.Reconfigure(bulkhead.Config{MaxConcurrent: 3, MaxWaiting: 5, MaxWait: time.Hour}))
	require.NoError(t, <-got)
	require.NoError(t, <-got)
	p.Release(nil)
	assert.Equal(t, 3, b.Limit())
}

func TestReconfigureLoweredLimitTakesEffectAsPermitsComeBack(t *testing.T) {
	b := newBulkhead(t, bulkhead.Config{MaxConcurrent: 3})
	var held []bulkhead.Permit
	for range 3 {
		p, ok := b.TryAcquire()
		require.True(t, ok)
		held = append(held, p)
	}
	require.NoError(t, b.Reconfigure(bulkhead.Config{MaxConcurrent: 1}))
	assert.Equal(t, 3, b.InFlight(), "running calls finish")
	held[0].Release(nil)
	_, ok := b.TryAcquire()
	assert.False(t, ok, "2 run, over the new limit of 1")
	held[1].Release(nil)
	held[2].Release(nil)
	p, ok := b.TryAcquire()
	require.True(t, ok)
	_, ok = b.TryAcquire()
	assert.False(t, ok)
	p.Release(nil)
}

func TestReconfigureRefusesInvalidAndFixedSettings(t *testing.T) {
	b := newBulkhead(t, bulkhead.Config{MaxConcurrent: 4, MaxWaiting: 2, MaxWait: time.Second})
	assert.ErrorContains(t, b.Reconfigure(bulkhead.Config{MaxConcurrent: -1}), "MaxConcurrent")
	assert.ErrorContains(t, b.Reconfigure(bulkhead.Config{Adaptive: bulkhead.AIMD{}}), "Config.Adaptive")
	got := b.Settings()
	assert.Equal(t, 4, got.MaxConcurrent)
	assert.Equal(t, 2, got.MaxWaiting)
	assert.Equal(t, time.Second, got.MaxWait)

	a := newBulkhead(t, bulkhead.Config{MaxConcurrent: 50, Adaptive: bulkhead.AIMD{}})
	assert.ErrorContains(t, a.Reconfigure(bulkhead.Config{MaxConcurrent: 60, Adaptive: bulkhead.AIMD{}}), "MaxConcurrent")
	require.NoError(t, a.Reconfigure(bulkhead.Config{MaxConcurrent: 50, Adaptive: bulkhead.AIMD{}, MaxWaiting: 10}))
	assert.Equal(t, 10, a.Settings().MaxWaiting)
}

// Under full load, the limit moving between 2 and 5: no more than 5 calls
// ever run at once, and when the load stops every permit is back, none
// lost and none made up.
func TestReconfigureUnderLoadLosesNoPermit(t *testing.T) {
	b := newBulkhead(t, bulkhead.Config{MaxConcurrent: 2, MaxWaiting: 100, MaxWait: time.Hour})
	var running, most atomic.Int64
	loadtest.While(16, func() {
		_ = b.Do(context.Background(), func(context.Context) error {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			running.Add(-1)
			return nil
		})
	}, func() {
		for i := range 1000 {
			limit := 2
			if i%2 == 0 {
				limit = 5
			}
			require.NoError(t, b.Reconfigure(bulkhead.Config{MaxConcurrent: limit, MaxWaiting: 100, MaxWait: time.Hour}))
		}
		require.NoError(t, b.Reconfigure(bulkhead.Config{MaxConcurrent: 3, MaxWaiting: 100, MaxWait: time.Hour}))
	})
	assert.LessOrEqual(t, most.Load(), int64(5))
	assert.Zero(t, b.InFlight())
	assert.Zero(t, b.Waiting())
	var held []bulkhead.Permit
	for {
		p, ok := b.TryAcquire()
		if !ok {
			break
		}
		held = append(held, p)
	}
	assert.Len(t, held, 3, "exactly the limit's permits are free")
	for _, p := range held {
		p.Release(nil)
	}
}

func TestKeyedReconfigureReachesEveryKey(t *testing.T) {
	k, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: 1}})
	require.NoError(t, err)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = k.Do(context.Background(), "a", func(context.Context) error { close(started); <-release; return nil })
	}()
	<-started
	require.ErrorIs(t, k.Do(context.Background(), "a", func(context.Context) error { return nil }), bulkhead.ErrFull)
	require.NoError(t, k.Reconfigure(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: 2}}))
	assert.Equal(t, 2, k.Limit("a"))
	assert.Equal(t, 2, k.Limit("b"), "a new key starts with the new limit")
	require.NoError(t, k.Do(context.Background(), "a", func(context.Context) error { return nil }))
	close(release)
	assert.ErrorContains(t, k.Reconfigure(bulkhead.KeyedConfig{MaxIdleKeys: 3}), "MaxIdleKeys")
}
