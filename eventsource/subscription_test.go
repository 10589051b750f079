package eventsource_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainStore hides the memory store's Listener: a store that can only be
// polled.
type plainStore struct{ eventsource.Store }

// delivery runs a subscription in the background and hands over what it
// delivers.
type delivery struct {
	events chan eventsource.Event
	caught chan int64
	done   chan error
}

func subscribe(t *testing.T, ctx context.Context, store eventsource.Store, cfg eventsource.SubscriptionConfig, checkpoint int64) *delivery {
	t.Helper()
	d := &delivery{events: make(chan eventsource.Event, 100), caught: make(chan int64, 100), done: make(chan error, 1)}
	cfg.OnCaughtUp = func(p int64) { d.caught <- p }
	sub, err := eventsource.NewSubscription(store, cfg)
	require.NoError(t, err)
	go func() {
		d.done <- sub.Run(ctx, checkpoint, func(_ context.Context, e eventsource.Event) error {
			d.events <- e
			return nil
		})
	}()
	return d
}

func (d *delivery) next(t *testing.T) eventsource.Event {
	t.Helper()
	select {
	case e := <-d.events:
		return e
	case err := <-d.done:
		t.Fatalf("subscription stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event delivered")
	}
	return eventsource.Event{}
}

func (d *delivery) caughtUp(t *testing.T) int64 {
	t.Helper()
	select {
	case p := <-d.caught:
		return p
	case err := <-d.done:
		t.Fatalf("subscription stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("never caught up")
	}
	return 0
}

// TestSubscriptionPolls: with a store that cannot announce commits, new
// events arrive with the next poll, and OnCaughtUp is not repeated by polls
// that find nothing.
func TestSubscriptionPolls(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	mem := eventsource.NewMemoryStore()
	fake := clocktest.New(time.Unix(0, 0))
	cfg := eventsource.DefaultSubscriptionConfig()
	cfg.PollInterval, cfg.Clock = 5*time.Second, fake
	d := subscribe(t, ctx, plainStore{mem}, cfg, 0)
	assert.Equal(t, int64(0), d.caughtUp(t), "an empty log is caught up at the checkpoint")

	fake.BlockUntil(1)
	fake.Advance(5 * time.Second) // an empty poll
	fake.BlockUntil(1)
	_, err := mem.Append(ctx, "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	select {
	case p := <-d.caught:
		t.Fatalf("caught up again at %d without a new event", p)
	case e := <-d.events:
		t.Fatalf("event %d delivered before the poll", e.GlobalPosition)
	default:
	}
	fake.Advance(5 * time.Second)
	assert.Equal(t, int64(1), d.next(t).GlobalPosition)
	assert.Equal(t, int64(1), d.caughtUp(t))
	cancel()
	require.ErrorIs(t, <-d.done, context.Canceled)
}

// flakyListener fails its first Listen, then listens as the memory store.
type flakyListener struct {
	*eventsource.MemoryStore
	calls  atomic.Int64
	called chan int64
}

func (f *flakyListener) Listen(ctx context.Context, wake func()) error {
	n := f.calls.Add(1)
	f.called <- n
	if n == 1 {
		return errors.New("notification connection lost")
	}
	return f.MemoryStore.Listen(ctx, wake)
}

// TestSubscriptionListensAgain: when notifications fail, the subscription
// reads (commits may have gone unannounced), polls, and listens again a
// PollInterval later.
func TestSubscriptionListensAgain(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	store := &flakyListener{MemoryStore: eventsource.NewMemoryStore(), called: make(chan int64, 10)}
	fake := clocktest.New(time.Unix(0, 0))
	cfg := eventsource.DefaultSubscriptionConfig()
	cfg.PollInterval, cfg.Clock = time.Minute, fake
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d := subscribe(t, ctx, store, cfg, 0)
	d.caughtUp(t)
	require.Equal(t, int64(1), <-store.called)
	fake.BlockUntil(2) // the read loop's poll and the listener's pause
	fake.Advance(time.Minute)
	require.Equal(t, int64(2), <-store.called, "listening again after PollInterval")
	// Listening again; the clock no longer moves, so only a notification
	// can deliver the next event.
	_, err := store.Append(ctx, "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.next(t).GlobalPosition)
	cancel()
	require.ErrorIs(t, <-d.done, context.Canceled)
}

func TestNewSubscriptionValidates(t *testing.T) {
	mem := eventsource.NewMemoryStore()
	for _, tc := range []struct {
		name  string
		store eventsource.Store
		edit  func(*eventsource.SubscriptionConfig)
		says  string
	}{
		{"NoStore", nil, func(*eventsource.SubscriptionConfig) {}, "needs a Store"},
		{"PageZero", mem, func(c *eventsource.SubscriptionConfig) { c.PageSize = 0 }, "PageSize must be in [1, 10000], got 0"},
		{"PageHuge", mem, func(c *eventsource.SubscriptionConfig) { c.PageSize = 10001 }, "PageSize must be in [1, 10000], got 10001"},
		{"NoPoll", mem, func(c *eventsource.SubscriptionConfig) { c.PollInterval = 0 }, "PollInterval must be more than 0, got 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := eventsource.DefaultSubscriptionConfig()
			tc.edit(&cfg)
			_, err := eventsource.NewSubscription(tc.store, cfg)
			require.ErrorContains(t, err, tc.says)
		})
	}
	sub, err := eventsource.NewSubscription(mem, eventsource.DefaultSubscriptionConfig())
	require.NoError(t, err)
	require.ErrorIs(t, sub.Run(context.Background(), 0, nil), eventsource.ErrInvalid)
}

// TestSubscriptionStopsMidPage: a context canceled by the handler stops the
// subscription before the next event of the same page.
func TestSubscriptionStopsMidPage(t *testing.T) {
	leakcheck.Check(t)
	mem := eventsource.NewMemoryStore()
	_, err := mem.Append(context.Background(), "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	sub, err := eventsource.NewSubscription(mem, eventsource.DefaultSubscriptionConfig())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	handled := 0
	err = sub.Run(ctx, 0, func(context.Context, eventsource.Event) error {
		handled++
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, handled)
}
