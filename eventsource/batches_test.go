package eventsource_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchSubscriptionHandsOverPages: a batch subscription delivers the history in order in
// batches of at most PageSize events, then live events as they come, each
// once.
func TestBatchSubscriptionHandsOverPages(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	mem := eventsource.NewMemoryStore()
	for i := range 7 {
		_, err := mem.Append(ctx, "s", eventsource.ExpectedVersion(i), eventsourcetest.NewEvent("e", `{}`))
		require.NoError(t, err)
	}
	caught := make(chan int64, 10)
	batches := make(chan []int64, 10)
	sub, err := eventsource.NewBatchSubscription(mem, func(_ context.Context, events []eventsource.Event) error {
		var positions []int64
		for _, e := range events {
			positions = append(positions, e.GlobalPosition)
		}
		batches <- positions
		return nil
	}, eventsource.SubscriptionConfig{
		Checkpoint: 1, PageSize: 3, PollInterval: time.Hour, Clock: clocktest.New(time.Unix(0, 0)),
		Observer: caughtUpTo(caught),
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	assert.Equal(t, []int64{2, 3, 4}, <-batches)
	assert.Equal(t, []int64{5, 6, 7}, <-batches)
	assert.Equal(t, int64(7), <-caught, "a full last page is followed by an empty read")
	_, err = mem.Append(ctx, "s", 7, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	assert.Equal(t, []int64{8, 9}, <-batches, "a live append arrives as one batch, announced by the store")
	assert.Equal(t, int64(9), <-caught)
	_, err = mem.Append(ctx, "s", 9, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	assert.Equal(t, []int64{10, 11, 12}, <-batches)
	assert.Equal(t, int64(12), <-caught, "live events filling a whole page are reported too")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Empty(t, batches)
}

// TestBatchSubscriptionStopsOnError: a failing handler stops Run with its
// error, wrapped with the positions of the batch, none of which counts as
// handled.
func TestBatchSubscriptionStopsOnError(t *testing.T) {
	mem := eventsource.NewMemoryStore()
	_, err := mem.Append(context.Background(), "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	boom := errors.New("read model down")
	calls := 0
	sub, err := eventsource.NewBatchSubscription(mem, func(context.Context, []eventsource.Event) error {
		calls++
		return boom
	}, eventsource.SubscriptionConfig{})
	require.NoError(t, err)
	err = sub.Run(context.Background())
	require.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "positions 1 to 2")
	assert.Equal(t, 1, calls)
	assert.Equal(t, int64(0), sub.Position())
}
