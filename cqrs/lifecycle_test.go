package cqrs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseDuringRetryWait: Close does not wait for a failing event's next
// try: the wait is abandoned and Run returns nil at once; the event is
// tried again by the next Run of a new projector.
func TestCloseDuringRetryWait(t *testing.T) {
	leakcheck.Check(t)
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	appendN(t, events, 1)
	failed := make(chan struct{}, 10)
	p := cqrs.Projection[cqrs.NoTx]{Name: "p", Handle: func(context.Context, cqrs.NoTx, eventsource.Event) error { return errors.New("down") }}
	cfg := baseConfig(events, store, p)
	cfg.Clock, cfg.Backoff = clocktest.New(epoch), retry.Constant{Delay: time.Hour}
	cfg.Observer = on(func(context.Context, cqrs.EventFailed) { failed <- struct{}{} })
	pr, err := cfg.new()
	require.NoError(t, err)
	var _ bulwark.Service = pr
	done := make(chan error, 1)
	go func() { done <- pr.Run(context.Background()) }()
	<-failed
	require.NoError(t, pr.Close(context.Background()))
	require.NoError(t, <-done)
	st, err := pr.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(0), st[0].Position)
	assert.False(t, st[0].Parked())
	assert.Equal(t, "", st[0].Owner, "the lease is given up")
	require.ErrorIs(t, pr.Run(context.Background()), bulwark.ErrClosed)
}

// TestCloseBeforeRun: Close before Run is allowed, and Run then fails with
// ErrClosed; a Run ended by its ctx returns ctx's error, wrapped.
func TestCloseBeforeRun(t *testing.T) {
	c := &counting{}
	pr, err := baseConfig(eventsource.NewMemoryStore(), cqrs.NewMemoryStore(), c.projection("p")).new()
	require.NoError(t, err)
	require.NoError(t, pr.Close(context.Background()))
	require.ErrorIs(t, pr.Run(context.Background()), bulwark.ErrClosed)

	pr, err = baseConfig(eventsource.NewMemoryStore(), cqrs.NewMemoryStore(), c.projection("p")).new()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = pr.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "cqrs: projector stopped")
}

// TestZeroValuesPanic: the types made by a constructor panic, saying so,
// when used without it.
func TestZeroValuesPanic(t *testing.T) {
	ctx := context.Background()
	assert.PanicsWithValue(t, "cqrs: Projector used without New", func() { _ = (&cqrs.Projector[cqrs.NoTx]{}).Run(ctx) })
	assert.PanicsWithValue(t, "cqrs: Projector used without New", func() { _, _ = (&cqrs.Projector[cqrs.NoTx]{}).WaitFor(ctx, "p", 1) })
	assert.PanicsWithValue(t, "cqrs: MemoryStore used without NewMemoryStore", func() { _, _ = (&cqrs.MemoryStore{}).List(ctx) })
}

// TestEvents: each event names its kind and component and logs its fields.
func TestEvents(t *testing.T) {
	e := eventsource.Event{GlobalPosition: 9, StreamID: "s", StreamVersion: 2, Type: "t"}
	for _, tc := range []struct {
		e    bulwark.Event
		kind string
		log  string
	}{
		{cqrs.Applied{Name: "n", Projection: "p", Version: 1, Position: 9, Events: 3}, "cqrs.applied", "[projection=p version=1 position=9 events=3]"},
		{cqrs.EventFailed{Name: "n", Projection: "p", Event: e, Attempt: 2, Err: errors.New("boom"), Next: cqrs.RetryEvent, Wait: time.Second}, "cqrs.event_failed",
			"[projection=p version=0 position=9 stream=s stream_version=2 type=t attempt=2 next=retry wait=1s error=boom]"},
		{cqrs.CaughtUp{Name: "n", Projection: "p", Position: 9}, "cqrs.caught_up", "[projection=p version=0 position=9]"},
		{cqrs.Switched{Name: "n", Projection: "p", From: -1, To: 0}, "cqrs.switched", "[projection=p from=-1 to=0]"},
	} {
		assert.Equal(t, tc.kind, tc.e.Kind())
		assert.Equal(t, "n", tc.e.Component())
		assert.Equal(t, tc.log, tc.e.LogValue().String())
	}
}

// instantClock fires every timer at once and records the durations asked
// for.
type instantClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *instantClock) Now() time.Time { return epoch }

func (c *instantClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- epoch
	return firedTimer(ch)
}

type firedTimer chan time.Time

func (t firedTimer) C() <-chan time.Time { return t }
func (t firedTimer) Stop() bool          { return false }

// FuzzNew: any Config gives an error, or a projector that applies the log,
// parks at a failing event after MaxAttempts tries with waits capped by
// MaxDelay, and stops on Close.
func FuzzNew(f *testing.F) {
	f.Add(0, int64(0), int64(0), 0, uint8(0), int64(0), 0.0, int64(0), int64(0))
	f.Add(3, int64(time.Millisecond), int64(time.Second), 2, uint8(2), int64(time.Millisecond), 2.0, int64(time.Second), int64(1))
	f.Add(-1, int64(-1), int64(-1), -1, uint8(1), int64(-1), 0.0, int64(-1), int64(-1))
	f.Add(10000, int64(24*time.Hour), int64(time.Microsecond), 1000, uint8(3), int64(1), 0.0, int64(24*time.Hour), int64(25*time.Hour))
	f.Add(10001, int64(1), int64(time.Millisecond), 1001, uint8(6), int64(1), 101.0, int64(1), int64(1))
	f.Fuzz(func(t *testing.T, batch int, poll, lease int64, attempts int, kind uint8, d int64, m float64, maxDelay, waitPoll int64) {
		events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
		appendN(t, events, 6)
		clk := &instantClock{}
		parked := make(chan struct{})
		var once sync.Once
		p := cqrs.Projection[cqrs.NoTx]{Name: "p", Handle: func(_ context.Context, _ cqrs.NoTx, e eventsource.Event) error {
			if e.GlobalPosition == 4 {
				return errors.New("poison")
			}
			return nil
		}}
		var backoff retry.Backoff
		switch kind % 4 {
		case 1:
			backoff = retry.Constant{Delay: time.Duration(d)}
		case 2:
			backoff = retry.Exponential{Initial: time.Duration(d), Multiplier: m, Jitter: retry.Jitter(kind / 4 % 4)}
		case 3:
			backoff = retry.Decorrelated{Base: time.Duration(d)}
		}
		var tries int
		limit := time.Duration(maxDelay)
		if limit == 0 {
			limit = 30 * time.Second
		}
		pr, err := cqrs.New(events, store, []cqrs.Projection[cqrs.NoTx]{p}, cqrs.Config{
			BatchSize: batch, PollInterval: time.Duration(poll), LeaseDuration: time.Duration(lease), MaxAttempts: attempts,
			Backoff: backoff, MaxDelay: time.Duration(maxDelay), WaitPollInterval: time.Duration(waitPoll), Clock: clk,
			Logger: baseConfig(nil, nil).Logger,
			Observer: on(func(_ context.Context, e cqrs.EventFailed) {
				tries++
				if e.Wait > limit || e.Wait < 0 {
					t.Errorf("a wait of %v, beyond MaxDelay %v", e.Wait, limit)
				}
				if e.Next == cqrs.ParkProjection {
					once.Do(func() { close(parked) })
				}
			}),
		})
		if err != nil {
			assert.Contains(t, err.Error(), "cqrs: Config.")
			return
		}
		done := make(chan error, 1)
		go func() { done <- pr.Run(context.Background()) }()
		select {
		case <-parked:
		case err := <-done:
			t.Fatalf("Run returned %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("never parked")
		}
		require.NoError(t, pr.Close(context.Background()))
		require.NoError(t, <-done)
		want := attempts
		if want == 0 {
			want = 5
		}
		assert.Equal(t, want, tries, "tries before parking")
		clk.mu.Lock()
		defer clk.mu.Unlock()
		for _, w := range clk.waits {
			assert.LessOrEqual(t, w, max(limit, time.Duration(poll), time.Duration(lease), time.Duration(waitPoll), 15*time.Second), "a wait beyond the caps")
		}
		st, err := pr.Status(context.Background())
		require.NoError(t, err)
		assert.Equal(t, int64(3), st[0].Position)
	})
}
