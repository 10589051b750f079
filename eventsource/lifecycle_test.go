package eventsource_test

import (
	"context"
	"log/slog"
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

// blockingHandler is a subscription handler that reports each event it
// starts and finishes it when told.
type blockingHandler struct {
	started chan eventsource.Event
	finish  chan struct{}
	ended   chan error // the handler's ctx error when it returned (nil if none)
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{started: make(chan eventsource.Event, 10), finish: make(chan struct{}), ended: make(chan error, 10)}
}

func (b *blockingHandler) handle(ctx context.Context, e eventsource.Event) error {
	b.started <- e
	select {
	case <-b.finish:
	case <-ctx.Done():
	}
	b.ended <- ctx.Err()
	return ctx.Err()
}

// TestSubscriptionLifecycle: a Subscription is a bulwark.Service: one Run
// at a time; Close lets the handler call in flight finish, handles nothing
// more, and makes Run return nil; Run after Close fails with ErrClosed;
// Close is idempotent.
func TestSubscriptionLifecycle(t *testing.T) {
	leakcheck.Check(t)
	mem := eventsource.NewMemoryStore()
	appendEvents(t, mem, 3)
	h := newBlockingHandler()
	sub, err := eventsource.NewSubscription(mem, h.handle, eventsource.SubscriptionConfig{})
	require.NoError(t, err)
	var _ bulwark.Service = sub
	done := make(chan error, 1)
	go func() { done <- sub.Run(context.Background()) }()
	first := <-h.started
	assert.Equal(t, int64(1), first.GlobalPosition)
	require.ErrorIs(t, sub.Run(context.Background()), bulwark.ErrRunning)

	closed := make(chan error, 1)
	go func() { closed <- sub.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while the handler was still working", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(h.finish) // the event in flight is handled to the end
	require.NoError(t, <-closed)
	require.NoError(t, <-done, "Run returns nil after Close")
	require.NoError(t, <-h.ended, "the handler's context was not cancelled")
	assert.Empty(t, h.started, "nothing handled after Close")
	assert.Equal(t, int64(1), sub.Position())
	require.ErrorIs(t, sub.Run(context.Background()), bulwark.ErrClosed)
	require.NoError(t, sub.Close(context.Background()), "Close again")
}

// TestSubscriptionCloseGivesUp: when Close's ctx ends before the handler
// returns, Close cancels the handler's context and returns ctx's error;
// Run returns nil.
func TestSubscriptionCloseGivesUp(t *testing.T) {
	leakcheck.Check(t)
	mem := eventsource.NewMemoryStore()
	appendEvents(t, mem, 1)
	h := newBlockingHandler()
	sub, err := eventsource.NewSubscription(mem, h.handle, eventsource.SubscriptionConfig{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- sub.Run(context.Background()) }()
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = sub.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "eventsource: subscription")
	require.ErrorIs(t, <-h.ended, context.Canceled, "the handler's context is cancelled")
	require.NoError(t, <-done)
	assert.Equal(t, int64(0), sub.Position(), "the cancelled event does not count as handled")
}

// TestSubscriptionCloseBeforeRun: Close before Run is allowed; Run then
// fails with ErrClosed without reading the store.
func TestSubscriptionCloseBeforeRun(t *testing.T) {
	sub, err := eventsource.NewSubscription(eventsource.NewMemoryStore(), func(context.Context, eventsource.Event) error { return nil }, eventsource.SubscriptionConfig{})
	require.NoError(t, err)
	require.NoError(t, sub.Close(context.Background()))
	require.ErrorIs(t, sub.Run(context.Background()), bulwark.ErrClosed)
}

// TestSubscriptionCloseWhileIdle: Close of a subscription waiting at the
// head of the log ends Run at once.
func TestSubscriptionCloseWhileIdle(t *testing.T) {
	leakcheck.Check(t)
	caught := make(chan int64, 1)
	sub, err := eventsource.NewBatchSubscription(eventsource.NewMemoryStore(), func(context.Context, []eventsource.Event) error { return nil },
		eventsource.SubscriptionConfig{PollInterval: time.Hour, Observer: caughtUpTo(caught)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- sub.Run(context.Background()) }()
	<-caught
	require.NoError(t, sub.Close(context.Background()))
	require.NoError(t, <-done)
}

// TestZeroValuesPanic: the types made by a constructor panic, saying so,
// when used without it.
func TestZeroValuesPanic(t *testing.T) {
	ctx := context.Background()
	for name, use := range map[string]func(){
		"Subscription": func() { _ = (&eventsource.Subscription{}).Run(ctx) },
		"Repository":   func() { _, _ = (&eventsource.Repository[Account]{}).Load(ctx, "1") },
		"Registry":     func() { _, _ = (&eventsource.Registry{}).Encode(Opened{}, eventsource.Metadata{}) },
		"MemoryStore":  func() { _, _ = (&eventsource.MemoryStore{}).ReadAll(ctx, 1, 1) },
	} {
		assert.PanicsWithValue(t, "eventsource: "+name+" used without New"+name, use, name)
	}
}

// TestHandleWaitsBetweenTries: Handle waits as Backoff says, capped by
// MaxDelay, on its Clock, and reports each wait in Retried.
func TestHandleWaitsBetweenTries(t *testing.T) {
	leakcheck.Check(t)
	store := &flakyStore{Store: eventsource.NewMemoryStore(), failures: 3}
	fake := clocktest.New(time.Unix(0, 0))
	observed := &retries{}
	accounts := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) {
		c.Backoff, c.MaxDelay, c.Clock, c.Observer = retry.Exponential{Initial: time.Second, Jitter: retry.NoJitter}, 3*time.Second, fake, observed
	})
	done := make(chan error, 1)
	go func() {
		_, err := accounts.Handle(context.Background(), "1", deposit(1))
		done <- err
	}()
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		fake.BlockUntil(1)
		fake.Advance(wait - time.Nanosecond)
		select {
		case err := <-done:
			t.Fatalf("Handle returned %v before its wait of %v", err, wait)
		default:
		}
		fake.Advance(time.Nanosecond)
	}
	require.NoError(t, <-done)
	var waits []time.Duration
	for _, r := range observed.list() {
		waits = append(waits, r.Wait)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, waits)
	assert.Equal(t, 4, store.appends)
}

// TestHandleWaitEndsWithContext: a wait between tries ends with ctx, and
// Handle returns ctx's error and the attempt's.
func TestHandleWaitEndsWithContext(t *testing.T) {
	store := &flakyStore{Store: eventsource.NewMemoryStore(), failures: 10}
	accounts := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) {
		c.Backoff = retry.Constant{Delay: time.Hour}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := accounts.Handle(ctx, "1", deposit(1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, errConnectionReset.Error())
	assert.Equal(t, 1, store.appends)
}

// TestEvents: each event names its kind and component and logs its fields.
func TestEvents(t *testing.T) {
	for _, tc := range []struct {
		e    bulwark.Event
		kind string
		log  string
	}{
		{eventsource.CaughtUp{Name: "n", Position: 7}, "eventsource.caught_up", "[position=7]"},
		{eventsource.Retried{Name: "n", ID: "1", StreamID: "a-1", Attempt: 2, Err: errConnectionReset, Wait: time.Second}, "eventsource.retried",
			"[id=1 stream=a-1 attempt=2 wait=1s error=connection reset by peer]"},
		{eventsource.SnapshotFailed{Name: "n", StreamID: "a-1", Err: errSnapshotsDown}, "eventsource.snapshot_failed", "[stream=a-1 error=snapshot store down]"},
	} {
		assert.Equal(t, tc.kind, tc.e.Kind())
		assert.Equal(t, "n", tc.e.Component())
		assert.Equal(t, tc.log, tc.e.LogValue().String())
	}
}

// TestRepositoryLogsSnapshotFailures: a snapshot that cannot be saved is
// logged at Warn with the key "error".
func TestRepositoryLogsSnapshotFailures(t *testing.T) {
	var logged []string
	accounts := newAccounts(t, eventsource.NewMemoryStore(), func(c *eventsource.RepositoryConfig[Account]) {
		c.Snapshots, c.SnapshotEvery = failingSnapshots{}, 1
		c.Logger = slog.New(&recordingHandler{add: func(r slog.Record) {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "error" {
					logged = append(logged, r.Level.String()+" "+a.Value.String())
				}
				return true
			})
		}})
	})
	_, err := accounts.Handle(context.Background(), "1", deposit(1))
	require.NoError(t, err)
	assert.Equal(t, []string{"WARN loading the snapshot: snapshot store down", "WARN saving the snapshot of version 1: snapshot store down"}, logged)
}

type recordingHandler struct{ add func(slog.Record) }

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error { h.add(r); return nil }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler                 { return h }

func appendEvents(t *testing.T, s eventsource.Store, n int) {
	t.Helper()
	for range n {
		_, err := s.Append(context.Background(), "s", eventsource.Any, eventsourcetest.NewEvent("e", `{}`))
		require.NoError(t, err)
	}
}
