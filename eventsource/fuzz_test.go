package eventsource_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instantClock fires every timer at once and records the durations asked
// for: a test can run code that waits and check the waits.
type instantClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *instantClock) Now() time.Time { return time.Unix(0, 0) }

func (c *instantClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Unix(0, 0)
	return firedTimer(ch)
}

func (c *instantClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type firedTimer chan time.Time

func (t firedTimer) C() <-chan time.Time { return t }
func (t firedTimer) Stop() bool          { return false }

// backoffOf builds one of the retry package's backoffs from fuzzed values.
func backoffOf(kind uint8, d int64, m float64) retry.Backoff {
	switch kind % 4 {
	case 1:
		return retry.Constant{Delay: time.Duration(d)}
	case 2:
		return retry.Exponential{Initial: time.Duration(d), Multiplier: m, Jitter: retry.Jitter(kind / 4 % 4)}
	case 3:
		return retry.Decorrelated{Base: time.Duration(d)}
	}
	return nil
}

// FuzzNewRepository: any RepositoryConfig gives an error, or a repository
// that runs a command through failures without a panic, within
// MaxAttempts, never waiting beyond MaxDelay.
func FuzzNewRepository(f *testing.F) {
	f.Add(0, int64(0), uint8(0), int64(0), 0.0, 0, 0)
	f.Add(3, int64(time.Second), uint8(2), int64(time.Millisecond), 2.0, 2, 1)
	f.Add(1000, int64(24*time.Hour), uint8(2), int64(time.Hour), 100.0, 1, 0)
	f.Add(-1, int64(-1), uint8(1), int64(-1), -1.0, -1, -1)
	f.Add(5, int64(0), uint8(3), int64(1), 0.5, 0, 0)
	f.Fuzz(func(t *testing.T, attempts int, maxDelay int64, kind uint8, d int64, m float64, every, schema int) {
		clk := &instantClock{}
		mem := eventsource.NewMemoryStore()
		store := &flakyStore{Store: mem, failures: 3}
		cfg := eventsource.RepositoryConfig[Account]{
			MaxAttempts: attempts, MaxDelay: time.Duration(maxDelay), Backoff: backoffOf(kind, d, m),
			SnapshotEvery: every, SnapshotSchema: schema, Clock: clk,
		}
		if every != 0 {
			cfg.Snapshots = mem
		}
		r, err := eventsource.NewRepository(store, accountRegistry(t), evolve, cfg)
		if err != nil {
			assert.Contains(t, err.Error(), "eventsource: RepositoryConfig.")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = r.Handle(ctx, "1", deposit(1))
		tries := attempts
		if tries == 0 {
			tries = 5
		}
		if tries > 3 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, errConnectionReset)
		}
		assert.Equal(t, min(tries, 4), store.appends, "tries")
		limit := time.Duration(maxDelay)
		if limit == 0 {
			limit = time.Second
		}
		for _, w := range clk.recorded() {
			assert.LessOrEqual(t, w, limit, "a wait beyond MaxDelay")
			assert.GreaterOrEqual(t, w, time.Duration(0))
		}
	})
}

// FuzzNewSubscription: any SubscriptionConfig gives an error, or a
// subscription that delivers the log after its checkpoint, reports that it
// caught up and stops on Close.
func FuzzNewSubscription(f *testing.F) {
	f.Add(int64(0), 0, int64(0), int64(0), uint8(0), int64(0), 0.0)
	f.Add(int64(2), 1, int64(time.Millisecond), int64(time.Second), uint8(2), int64(time.Second), 3.0)
	f.Add(int64(-1), -5, int64(-1), int64(25*time.Hour), uint8(1), int64(-1), 0.0)
	f.Add(int64(9), 10000, int64(24*time.Hour), int64(1), uint8(3), int64(1), 0.0)
	f.Add(int64(1), 10001, int64(1), int64(1), uint8(6), int64(0), 101.0)
	f.Fuzz(func(t *testing.T, checkpoint int64, page int, poll, maxDelay int64, kind uint8, d int64, m float64) {
		mem := eventsource.NewMemoryStore()
		appendEvents(t, mem, 5)
		var mu sync.Mutex
		var handled []int64
		caught := make(chan int64, 100)
		sub, err := eventsource.NewBatchSubscription(mem, func(_ context.Context, events []eventsource.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				handled = append(handled, e.GlobalPosition)
			}
			return nil
		}, eventsource.SubscriptionConfig{
			Checkpoint: checkpoint, PageSize: page, PollInterval: time.Duration(poll), MaxDelay: time.Duration(maxDelay),
			Backoff: backoffOf(kind, d, m), Clock: &instantClock{}, Observer: caughtUpTo(caught),
		})
		if err != nil {
			assert.Contains(t, err.Error(), "eventsource: SubscriptionConfig.")
			return
		}
		done := make(chan error, 1)
		go func() { done <- sub.Run(context.Background()) }()
		want := max(checkpoint, 5)
		for p := int64(-1); p != want; {
			select {
			case p = <-caught:
			case err := <-done:
				t.Fatalf("Run returned %v", err)
			case <-time.After(10 * time.Second):
				t.Fatalf("never caught up at %d", want)
			}
		}
		require.NoError(t, sub.Close(context.Background()))
		require.NoError(t, <-done)
		mu.Lock()
		defer mu.Unlock()
		var expect []int64
		for p := checkpoint + 1; p <= 5; p++ {
			expect = append(expect, p)
		}
		assert.Equal(t, expect, handled)
	})
}

var _ bulwark.Observer = (*retries)(nil)
