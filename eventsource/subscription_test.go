package eventsource_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
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

func subscribe(t *testing.T, ctx context.Context, store eventsource.Store, cfg eventsource.SubscriptionConfig) *delivery {
	t.Helper()
	d := &delivery{events: make(chan eventsource.Event, 100), caught: make(chan int64, 100), done: make(chan error, 1)}
	cfg.Observer = caughtUpTo(d.caught)
	sub, err := eventsource.NewSubscription(store, func(_ context.Context, e eventsource.Event) error {
		d.events <- e
		return nil
	}, cfg)
	require.NoError(t, err)
	go func() { d.done <- sub.Run(ctx) }()
	return d
}

// caughtUpTo is an observer that sends the position of each CaughtUp to c.
func caughtUpTo(c chan<- int64) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if e, ok := e.(eventsource.CaughtUp); ok {
			c <- e.Position
		}
	})
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
// events arrive with the next poll, and CaughtUp is not repeated by polls
// that find nothing.
func TestSubscriptionPolls(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	mem := eventsource.NewMemoryStore()
	fake := clocktest.New(time.Unix(0, 0))
	d := subscribe(t, ctx, plainStore{mem}, eventsource.SubscriptionConfig{PollInterval: 5 * time.Second, Clock: fake})
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
// reads (commits may have gone unannounced), polls, and listens again once
// Backoff's wait is over.
func TestSubscriptionListensAgain(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	store := &flakyListener{MemoryStore: eventsource.NewMemoryStore(), called: make(chan int64, 10)}
	fake := clocktest.New(time.Unix(0, 0))
	d := subscribe(t, ctx, store, eventsource.SubscriptionConfig{
		PollInterval: time.Hour, Clock: fake, Backoff: retry.Constant{Delay: time.Minute}, MaxDelay: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	d.caughtUp(t)
	require.Equal(t, int64(1), <-store.called)
	fake.BlockUntil(2) // the read loop's poll and the listener's pause
	fake.Advance(time.Minute - time.Nanosecond)
	select { // a listener woken too soon has 50ms of real time to show it
	case n := <-store.called:
		t.Fatalf("listened again (call %d) before Backoff's wait", n)
	case <-time.After(50 * time.Millisecond):
	}
	fake.Advance(time.Nanosecond)
	require.Equal(t, int64(2), <-store.called, "listening again after Backoff's wait")
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
	handle := func(context.Context, eventsource.Event) error { return nil }
	for _, tc := range []struct {
		name  string
		store eventsource.Store
		edit  func(*eventsource.SubscriptionConfig)
		says  string
	}{
		{"NoStore", nil, func(*eventsource.SubscriptionConfig) {}, "needs a Store (store is nil)"},
		{"NegativeCheckpoint", mem, func(c *eventsource.SubscriptionConfig) { c.Checkpoint = -1 }, "SubscriptionConfig.Checkpoint must be 0 or a position (> 0), got -1"},
		{"NegativePage", mem, func(c *eventsource.SubscriptionConfig) { c.PageSize = -1 }, "SubscriptionConfig.PageSize must be 0 (meaning 256) or in [1, 10000], got -1"},
		{"PageHuge", mem, func(c *eventsource.SubscriptionConfig) { c.PageSize = 10001 }, "PageSize must be 0 (meaning 256) or in [1, 10000], got 10001"},
		{"NegativePoll", mem, func(c *eventsource.SubscriptionConfig) { c.PollInterval = -1 }, "SubscriptionConfig.PollInterval must be 0 (meaning 1s) or in (0, 24h0m0s], got -1ns"},
		{"HugePoll", mem, func(c *eventsource.SubscriptionConfig) { c.PollInterval = 25 * time.Hour }, "PollInterval must be 0 (meaning 1s) or in (0, 24h0m0s], got 25h0m0s"},
		{"NegativeMaxDelay", mem, func(c *eventsource.SubscriptionConfig) { c.MaxDelay = -time.Second }, "SubscriptionConfig.MaxDelay must be 0 (meaning 30s)"},
		{"BadBackoff", mem, func(c *eventsource.SubscriptionConfig) { c.Backoff = retry.Exponential{Initial: -1} }, "SubscriptionConfig.Backoff: Exponential.Initial must be >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg eventsource.SubscriptionConfig
			tc.edit(&cfg)
			_, err := eventsource.NewSubscription(tc.store, handle, cfg)
			require.ErrorContains(t, err, tc.says)
			_, err = eventsource.NewBatchSubscription(tc.store, func(context.Context, []eventsource.Event) error { return nil }, cfg)
			require.ErrorContains(t, err, tc.says)
		})
	}
	_, err := eventsource.NewSubscription(mem, nil, eventsource.SubscriptionConfig{})
	require.ErrorContains(t, err, "NewSubscription needs a handler (handle is nil)")
	_, err = eventsource.NewBatchSubscription(mem, nil, eventsource.SubscriptionConfig{})
	require.ErrorContains(t, err, "NewBatchSubscription needs a handler (handle is nil)")
	_, err = eventsource.NewSubscription(mem, handle, eventsource.DefaultSubscriptionConfig())
	require.NoError(t, err, "the defaults spelled out are valid")
}

// TestSubscriptionStopsMidPage: a context canceled by the handler stops the
// subscription before the next event of the same page.
func TestSubscriptionStopsMidPage(t *testing.T) {
	leakcheck.Check(t)
	mem := eventsource.NewMemoryStore()
	_, err := mem.Append(context.Background(), "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	handled := 0
	sub, err := eventsource.NewSubscription(mem, func(context.Context, eventsource.Event) error {
		handled++
		cancel()
		return nil
	}, eventsource.SubscriptionConfig{})
	require.NoError(t, err)
	err = sub.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "eventsource: subscription stopped")
	assert.Equal(t, 1, handled)
	assert.Equal(t, int64(1), sub.Position())
}
