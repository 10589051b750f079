package eventsourcetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startSubscription runs a subscription from checkpoint with a clock that
// never moves, so that it can only learn of new events through the store's
// notifications. It returns the collector, the channel of caught-up
// positions and the channel of Run's result.
func startSubscription(t *testing.T, ctx context.Context, s Store, checkpoint int64, pageSize int) (*collector, <-chan int64, <-chan error) {
	t.Helper()
	caught := make(chan int64, 100)
	c := newCollector()
	sub, err := eventsource.NewSubscription(s, c.handle, eventsource.SubscriptionConfig{
		Checkpoint:   checkpoint,
		PageSize:     pageSize,
		PollInterval: time.Hour,
		Clock:        clocktest.New(time.Now()),
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(eventsource.CaughtUp); ok {
				caught <- c.Position
			}
		}),
	})
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- sub.Run(ctx) }()
	return c, caught, runErr
}

func waitCaughtUp(t *testing.T, caught <-chan int64, runErr <-chan error, want int64) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case p := <-caught:
			if p == want {
				return
			}
		case err := <-runErr:
			t.Fatalf("subscription stopped: %v", err)
		case <-deadline:
			t.Fatalf("subscription never caught up to position %d", want)
		}
	}
}

// testSubscriptionCatchUpThenLive: a subscription delivers the history, says
// it caught up, then delivers events appended later as they are committed —
// notified by the store, since its clock never moves for a poll — and stops
// with ctx.Err() when canceled.
func testSubscriptionCatchUpThenLive(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	s := h.Store
	_, err := s.Append(ctx, "a", eventsource.NoStream, events(4, "e")...)
	require.NoError(t, err)
	_, err = s.Append(ctx, "b", eventsource.NoStream, events(3, "e")...)
	require.NoError(t, err)
	history := readAll(t, s, 100)

	c, caught, runErr := startSubscription(t, ctx, s, 0, 3)
	waitCaughtUp(t, caught, runErr, history[len(history)-1].GlobalPosition)
	assert.Equal(t, ids(history), ids(c.snapshot()), "catch-up delivers the history in order")

	for i := range 3 {
		_, err := s.Append(ctx, "live", eventsource.ExpectedVersion(i), NewEvent("e", `{}`))
		require.NoError(t, err)
		log := readAll(t, s, 100)
		waitCaughtUp(t, caught, runErr, log[len(log)-1].GlobalPosition)
		assert.Equal(t, ids(log), ids(c.snapshot()), "live event %d delivered", i)
	}
	cancel()
	select {
	case err := <-runErr:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
}

// testSubscriptionFromCheckpoint: Run delivers only the events after the
// checkpoint it is given.
func testSubscriptionFromCheckpoint(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	_, err := h.Store.Append(ctx, "a", eventsource.NoStream, events(6, "e")...)
	require.NoError(t, err)
	log := readAll(t, h.Store, 100)
	c, caught, runErr := startSubscription(t, ctx, h.Store, log[3].GlobalPosition, 256)
	waitCaughtUp(t, caught, runErr, log[5].GlobalPosition)
	assert.Equal(t, ids(log[4:]), ids(c.snapshot()))
}

// testSubscriptionHandlerError: a failing handler stops Run with its error
// and the position; running again goes on from the failed event.
func testSubscriptionHandlerError(t *testing.T, h Harness) {
	ctx := testContext(t)
	_, err := h.Store.Append(ctx, "a", eventsource.NoStream, events(5, "e")...)
	require.NoError(t, err)
	log := readAll(t, h.Store, 100)
	boom := errors.New("projection failed")
	var handled []uuid.UUID
	var failing atomic.Bool
	failing.Store(true)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := eventsource.NewSubscription(h.Store, func(_ context.Context, e eventsource.Event) error {
		if e.ID == log[2].ID && failing.Load() {
			return boom
		}
		handled = append(handled, e.ID)
		if e.ID == log[4].ID {
			cancel()
		}
		return nil
	}, eventsource.SubscriptionConfig{})
	require.NoError(t, err)
	err = sub.Run(rctx)
	require.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, fmt.Sprintf("at position %d", log[2].GlobalPosition))
	assert.Equal(t, ids(log[:2]), handled)
	assert.Equal(t, log[1].GlobalPosition, sub.Position(), "the position of the last event handled")

	failing.Store(false)
	err = sub.Run(rctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, ids(log), handled, "running again goes on from the failed event")
}

// testListenWakes: Listen calls wake once it listens and again after a
// commit, and returns ctx.Err() when canceled.
func testListenWakes(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	woke := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- h.Store.Listen(ctx, func() {
			select {
			case woke <- struct{}{}:
			default:
			}
		})
	}()
	waitWake := func(what string) {
		select {
		case <-woke:
		case err := <-done:
			t.Fatalf("Listen returned %v before %s", err, what)
		case <-time.After(30 * time.Second):
			t.Fatalf("no wake %s", what)
		}
	}
	waitWake("once listening")
	_, err := h.Store.Append(ctx, "s", eventsource.NoStream, NewEvent("e", `{}`))
	require.NoError(t, err)
	waitWake("after a commit")
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("Listen did not return after its context was canceled")
	}
}
