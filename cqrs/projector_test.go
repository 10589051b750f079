package cqrs_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func appendN(t *testing.T, s eventsource.Store, n int) int64 {
	t.Helper()
	var last int64
	for range n {
		res, err := s.Append(context.Background(), "s", eventsource.Any, eventsourcetest.NewEvent("e", `{}`))
		require.NoError(t, err)
		last = res.GlobalPosition
	}
	return last
}

// counting is a projection that counts what it handled, into a memory read
// model.
type counting struct {
	mu      sync.Mutex
	handled []int64
}

func (c *counting) projection(name string) cqrs.Projection[cqrs.NoTx] {
	return cqrs.Projection[cqrs.NoTx]{Name: name, Handle: func(_ context.Context, _ cqrs.NoTx, e eventsource.Event) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.handled = append(c.handled, e.GlobalPosition)
		return nil
	}}
}

// setup is a projector's configuration (set the fields in place), stores
// and projections.
type setup struct {
	cqrs.Config
	events      eventsource.Store
	store       cqrs.Store[cqrs.NoTx]
	projections []cqrs.Projection[cqrs.NoTx]
}

func baseConfig(events eventsource.Store, store cqrs.Store[cqrs.NoTx], ps ...cqrs.Projection[cqrs.NoTx]) setup {
	return setup{
		Config: cqrs.Config{PollInterval: time.Hour, LeaseDuration: time.Hour, Logger: slog.New(slog.DiscardHandler)},
		events: events, store: store, projections: ps,
	}
}

func (s setup) new() (*cqrs.Projector[cqrs.NoTx], error) {
	return cqrs.New(s.events, s.store, s.projections, s.Config)
}

// on is an observer of the events of type E only.
func on[E bulwark.Event](f func(ctx context.Context, e E)) bulwark.Observer {
	return bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		if e, ok := e.(E); ok {
			f(ctx, e)
		}
	})
}

// runProjector runs p until the test ends.
func runProjector[Tx any](t *testing.T, p *cqrs.Projector[Tx]) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestNewValidates(t *testing.T) {
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	ok := cqrs.Projection[cqrs.NoTx]{Name: "p", Handle: func(context.Context, cqrs.NoTx, eventsource.Event) error { return nil }}
	for _, tc := range []struct {
		name string
		edit func(*setup)
		says string
	}{
		{"NoEvents", func(c *setup) { c.events = nil }, "cqrs: New needs an event store (events is nil)"},
		{"NoCheckpoints", func(c *setup) { c.store = nil }, "cqrs: New needs a checkpoint store (checkpoints is nil)"},
		{"NoProjections", func(c *setup) { c.projections = nil }, "at least one projection (projections is empty)"},
		{"LongInstance", func(c *setup) { c.InstanceID = string(make([]byte, 201)) }, "Config.InstanceID"},
		{"NULInstance", func(c *setup) { c.InstanceID = "a\x00b" }, "NUL"},
		{"BatchNegative", func(c *setup) { c.BatchSize = -1 }, "cqrs: Config.BatchSize must be 0 (meaning 100) or in [1, 10000], got -1"},
		{"BatchHuge", func(c *setup) { c.BatchSize = 10001 }, "Config.BatchSize must be 0 (meaning 100) or in [1, 10000], got 10001"},
		{"NegativePoll", func(c *setup) { c.PollInterval = -1 }, "Config.PollInterval must be 0 (meaning 1s) or in (0, 24h0m0s], got -1ns"},
		{"HugePoll", func(c *setup) { c.PollInterval = 25 * time.Hour }, "Config.PollInterval must be 0 (meaning 1s) or in (0, 24h0m0s], got 25h0m0s"},
		{"NegativeLease", func(c *setup) { c.LeaseDuration = -time.Second }, "Config.LeaseDuration must be 0 (meaning 15s) or in [1ms, 24h0m0s], got -1s"},
		{"TinyLease", func(c *setup) { c.LeaseDuration = time.Microsecond }, "Config.LeaseDuration must be 0 (meaning 15s) or in [1ms, 24h0m0s], got 1µs"},
		{"NegativeAttempts", func(c *setup) { c.MaxAttempts = -1 }, "Config.MaxAttempts must be 0 (meaning 5) or in [1, 1000], got -1"},
		{"BadBackoff", func(c *setup) { c.Backoff = retry.Exponential{Initial: -1} }, "Config.Backoff: Exponential.Initial must be >= 0"},
		{"NegativeMaxDelay", func(c *setup) { c.MaxDelay = -1 }, "Config.MaxDelay must be 0 (meaning 30s) or in (0, 24h0m0s], got -1ns"},
		{"NegativeWaitPoll", func(c *setup) { c.WaitPollInterval = -1 }, "Config.WaitPollInterval must be 0 (meaning 50ms) or in (0, 24h0m0s], got -1ns"},
		{"NoName", func(c *setup) { c.projections[0].Name = "" }, `projections[0].Name "": must not be empty`},
		{"BadName", func(c *setup) { c.projections[0].Name = "\xff" }, "not valid UTF-8"},
		{"SameName", func(c *setup) { c.projections = append(c.projections, ok) }, `projections[1].Name "p": another projection has that name`},
		{"NegativeVersion", func(c *setup) { c.projections[0].Version = -1 }, "projections[0].Version must be 0 or more, got -1"},
		{"NoHandle", func(c *setup) { c.projections[0].Handle = nil }, `projections[0] ("p").Handle must be set`},
		{"EmptyType", func(c *setup) { c.projections[0].Types = []string{"a", ""} }, "empty type name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(events, store, ok)
			cfg.Config = cqrs.Config{}
			tc.edit(&cfg)
			_, err := cfg.new()
			require.ErrorContains(t, err, tc.says)
		})
	}
	p, err := cqrs.New(events, store, []cqrs.Projection[cqrs.NoTx]{ok}, cqrs.Config{})
	require.NoError(t, err, "the zero Config")
	assert.NotEmpty(t, p.InstanceID(), "an instance ID is made up")
	_, err = cqrs.New(events, store, []cqrs.Projection[cqrs.NoTx]{ok}, cqrs.DefaultConfig())
	require.NoError(t, err, "the defaults spelled out")
}

// TestRetryBackoff: a failing event is tried again after the waits Backoff
// gives, capped by MaxDelay, on the projector's clock, each reported in
// EventFailed.
func TestRetryBackoff(t *testing.T) {
	leakcheck.Check(t)
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	appendN(t, events, 1)
	fake := clocktest.New(epoch)
	tries := make(chan time.Time, 10)
	p := cqrs.Projection[cqrs.NoTx]{Name: "p", Handle: func(context.Context, cqrs.NoTx, eventsource.Event) error {
		tries <- fake.Now()
		return errors.New("down")
	}}
	cfg := baseConfig(events, store, p)
	cfg.Clock, cfg.MaxAttempts = fake, 5
	cfg.Backoff, cfg.MaxDelay = retry.Exponential{Initial: time.Second, Jitter: retry.NoJitter}, 3*time.Second
	reported := make(chan time.Duration, 10)
	cfg.Observer = on(func(_ context.Context, e cqrs.EventFailed) { reported <- e.Wait })
	pr, err := cqrs.New(cfg.events, cfg.store, cfg.projections, cfg.Config)
	require.NoError(t, err)
	runProjector(t, pr)
	require.Equal(t, epoch, <-tries)
	var got []time.Duration
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		fake.BlockUntil(2) // the renewal and the retry's wait
		fake.Advance(wait - time.Millisecond)
		select {
		case at := <-tries:
			t.Fatalf("tried again at %v, before the wait", at)
		default:
		}
		fake.Advance(time.Millisecond)
		got = append(got, (<-tries).Sub(epoch))
	}
	assert.Equal(t, []time.Duration{time.Second, 3 * time.Second, 6 * time.Second, 9 * time.Second}, got,
		"waits of 1s, 2s, then 3s (MaxDelay)")
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		assert.Equal(t, want, <-reported, "the wait reported in EventFailed")
	}
}

// flakyStore fails the first n Updates that move a checkpoint forward.
type flakyStore struct {
	*cqrs.MemoryStore
	failures atomic.Int64
}

func (f *flakyStore) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx cqrs.NoTx, cp *cqrs.Checkpoint) error) error {
	return f.MemoryStore.Update(ctx, name, version, func(ctx context.Context, tx cqrs.NoTx, cp *cqrs.Checkpoint) error {
		before := cp.Position
		if err := fn(ctx, tx, cp); err != nil {
			return err
		}
		if cp.Position > before && f.failures.Add(-1) >= 0 {
			return errors.New("database restarting")
		}
		return nil
	})
}

// TestStoreFailuresNeverPark: failures of the checkpoint store (here at the
// commit of batches) are retried without counting against MaxAttempts and
// without EventFailed; the projection gets through.
func TestStoreFailuresNeverPark(t *testing.T) {
	leakcheck.Check(t)
	events := eventsource.NewMemoryStore()
	store := &flakyStore{MemoryStore: cqrs.NewMemoryStore()}
	store.failures.Store(5)
	last := appendN(t, events, 10)
	c := &counting{}
	cfg := baseConfig(events, store, c.projection("p"))
	cfg.MaxAttempts, cfg.BatchSize = 1, 3
	cfg.Backoff, cfg.MaxDelay = retry.Constant{Delay: time.Millisecond}, time.Millisecond
	caught := make(chan int64, 100)
	cfg.Observer = bulwark.Observers(
		on(func(_ context.Context, e cqrs.CaughtUp) { caught <- e.Position }),
		on(func(context.Context, cqrs.EventFailed) { t.Error("a store failure was reported as the event's") }))
	pr, err := cfg.new()
	require.NoError(t, err)
	runProjector(t, pr)
	for pos := int64(0); pos != last; pos = <-caught {
	}
	assert.Negative(t, store.failures.Load(), "all five failures happened")
	st, err := pr.Status(context.Background())
	require.NoError(t, err)
	assert.False(t, st[0].Parked())
	assert.Equal(t, last, st[0].Position)
}

// TestPanickingHandler: a panic in a handler is a failure of the event: the
// projection parks with the panic's message; the process goes on.
func TestPanickingHandler(t *testing.T) {
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	appendN(t, events, 3)
	p := cqrs.Projection[cqrs.NoTx]{Name: "p", Handle: func(_ context.Context, _ cqrs.NoTx, e eventsource.Event) error {
		if e.GlobalPosition == 2 {
			panic("nil map somewhere")
		}
		return nil
	}}
	cfg := baseConfig(events, store, p)
	cfg.MaxAttempts = 1
	pr, err := cfg.new()
	require.NoError(t, err)
	runProjector(t, pr)
	_, err = pr.WaitFor(context.Background(), "p", 3)
	var parked *cqrs.ParkedError
	require.ErrorAs(t, err, &parked)
	assert.Equal(t, int64(2), parked.Failed.Position)
	assert.Contains(t, parked.Failed.Error, "handler panicked: nil map somewhere")
}

type opened struct{ Owner string }
type deposited struct{ Amount int }
type depositedV1 struct{ Cents int }

// TestDecoded: Decoded hands the handler current event values, upcasting
// old schema versions, and fails on events the registry cannot decode.
func TestDecoded(t *testing.T) {
	reg := eventsource.NewRegistry(nil)
	require.NoError(t, eventsource.Register[opened](reg, "opened", 1))
	require.NoError(t, eventsource.Register[deposited](reg, "deposited", 2))
	require.NoError(t, eventsource.Upcast(reg, "deposited", 1, func(d depositedV1) ([]any, error) {
		return []any{deposited{Amount: d.Cents / 100}}, nil
	}))
	var got []any
	handle := cqrs.Decoded(reg, func(_ context.Context, _ cqrs.NoTx, e eventsource.Event, v any) error {
		assert.Equal(t, "acc-1", e.StreamID)
		got = append(got, v)
		return nil
	})
	ctx := context.Background()
	for _, e := range []eventsource.Event{
		{StreamID: "acc-1", Type: "opened", SchemaVersion: 1, Data: []byte(`{"Owner":"ada"}`)},
		{StreamID: "acc-1", Type: "deposited", SchemaVersion: 1, Data: []byte(`{"Cents":500}`)},
		{StreamID: "acc-1", Type: "deposited", SchemaVersion: 2, Data: []byte(`{"Amount":7}`)},
	} {
		require.NoError(t, handle(ctx, cqrs.NoTx{}, e))
	}
	assert.Equal(t, []any{opened{Owner: "ada"}, deposited{Amount: 5}, deposited{Amount: 7}}, got)
	err := handle(ctx, cqrs.NoTx{}, eventsource.Event{StreamID: "acc-1", Type: "closed", SchemaVersion: 1})
	require.ErrorIs(t, err, eventsource.ErrUnknownEventType)
	var de *eventsource.DecodeError
	require.ErrorAs(t, err, &de)
	boom := errors.New("boom")
	failing := cqrs.Decoded(reg, func(context.Context, cqrs.NoTx, eventsource.Event, any) error { return boom })
	require.ErrorIs(t, failing(ctx, cqrs.NoTx{}, eventsource.Event{Type: "opened", SchemaVersion: 1, Data: []byte(`{}`)}), boom)
}

// TestRunOnce: a second concurrent Run is refused.
func TestRunOnce(t *testing.T) {
	leakcheck.Check(t)
	c := &counting{}
	cfg := baseConfig(eventsource.NewMemoryStore(), cqrs.NewMemoryStore(), c.projection("p"))
	running := make(chan struct{})
	cfg.Observer = on(func(context.Context, cqrs.CaughtUp) { close(running) })
	pr, err := cfg.new()
	require.NoError(t, err)
	stop := runProjector(t, pr)
	<-running
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.ErrorIs(t, pr.Run(ctx), bulwark.ErrRunning)
	stop()
}

// TestObserverMayCallBack: events are observed outside any lock, so the
// observer may call the projector back (Status, WaitFor, Resume) without
// deadlocking.
func TestObserverMayCallBack(t *testing.T) {
	leakcheck.Check(t)
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	last := appendN(t, events, 5)
	var pr *cqrs.Projector[cqrs.NoTx]
	var failedOnce atomic.Bool
	p := cqrs.Projection[cqrs.NoTx]{Name: "p", Handle: func(_ context.Context, _ cqrs.NoTx, e eventsource.Event) error {
		if e.GlobalPosition == 3 && !failedOnce.Swap(true) {
			return errors.New("once")
		}
		return nil
	}}
	cfg := baseConfig(events, store, p)
	cfg.MaxAttempts = 1
	ctx := context.Background()
	done := make(chan struct{})
	cfg.Observer = bulwark.Observers(
		on(func(_ context.Context, e cqrs.Applied) {
			_, err := pr.Status(ctx)
			assert.NoError(t, err)
			_, err = pr.WaitFor(ctx, e.Projection, e.Position)
			assert.NoError(t, err)
		}),
		on(func(_ context.Context, e cqrs.EventFailed) {
			assert.Equal(t, cqrs.ParkProjection, e.Next)
			assert.NoError(t, pr.Resume(ctx, e.Projection), "the projection is parked when EventFailed says so")
		}),
		on(func(_ context.Context, e cqrs.CaughtUp) {
			if e.Position == last {
				close(done)
			}
		}))
	var err error
	pr, err = cfg.new()
	require.NoError(t, err)
	runProjector(t, pr)
	<-done
}

// TestLeaseRenewal: the holder renews its lease every LeaseDuration/3, so
// it never ends while the holder lives.
func TestLeaseRenewal(t *testing.T) {
	leakcheck.Check(t)
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	fake := clocktest.New(epoch)
	c := &counting{}
	cfg := baseConfig(events, store, c.projection("p"))
	cfg.Clock, cfg.LeaseDuration, cfg.InstanceID = fake, 30*time.Second, "me"
	pr, err := cfg.new()
	require.NoError(t, err)
	runProjector(t, pr)
	leaseUntil := func() time.Time {
		cps, err := store.List(context.Background())
		require.NoError(t, err)
		require.Len(t, cps, 1)
		assert.Equal(t, "me", cps[0].Owner)
		return cps[0].LeaseUntil
	}
	fake.BlockUntil(2) // the renewal and the subscription's poll
	assert.Equal(t, epoch.Add(30*time.Second), leaseUntil())
	for i := 1; i <= 3; i++ {
		fake.Advance(10 * time.Second)
		want := epoch.Add(time.Duration(10*i+30) * time.Second)
		for !leaseUntil().Equal(want) {
			fake.BlockUntil(2)
		}
	}
}

// TestStatusLag: Status reports each projection's lag behind the head of
// the log, or -1 when the event store cannot tell its head.
func TestStatusLag(t *testing.T) {
	events, store := eventsource.NewMemoryStore(), cqrs.NewMemoryStore()
	last := appendN(t, events, 12)
	require.NoError(t, store.Update(context.Background(), "p", 0, func(_ context.Context, _ cqrs.NoTx, cp *cqrs.Checkpoint) error {
		cp.Position = 5
		return nil
	}))
	c := &counting{}
	pr, err := baseConfig(events, store, c.projection("p"), c.projection("q")).new()
	require.NoError(t, err)
	st, err := pr.Status(context.Background())
	require.NoError(t, err)
	require.Len(t, st, 2)
	assert.Equal(t, last-5, st[0].Lag)
	assert.Equal(t, "q", st[1].Name, "a projection not started yet")
	assert.Equal(t, last, st[1].Lag)

	pr, err = baseConfig(struct{ eventsource.Store }{events}, store, c.projection("p")).new()
	require.NoError(t, err)
	st, err = pr.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(-1), st[0].Lag)
}
