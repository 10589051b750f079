package saga_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var oneStep = saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{{Name: "a", Action: nop}}}

func TestDefaultConfigSpellsOutTheZeroConfig(t *testing.T) {
	d := saga.DefaultConfig()
	assert.Equal(t, 30*time.Second, d.LeaseDuration)
	assert.Equal(t, 5*time.Second, d.PollInterval)
	assert.Equal(t, 16, d.Concurrency)
	assert.Equal(t, 10, d.CompensationAttempts)
	assert.Equal(t, saga.Unlimited, d.RetriableAttempts)
	assert.Equal(t, retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.EqualJitter}, d.Backoff)
	assert.Equal(t, 30*time.Second, d.MaxDelay)
	assert.Equal(t, clock.System, d.Clock)
	assert.NotNil(t, d.Logger)
	assert.Empty(t, d.Name, "the Definition's name")
	assert.Empty(t, d.InstanceID, "random")
	assert.Nil(t, d.Observer)

	o, err := saga.New(oneStep, saga.NewMemoryStore(), saga.Config{})
	require.NoError(t, err, "the zero Config works")
	require.NoError(t, o.Close(context.Background()))
}

// observed is what an orchestrator made with a config does, as far as a
// test sees it: the lease it takes, how often Run looks, how many sagas it
// recovers at once, how often and how long it tries a compensation, and
// the name it reports under.
type observed struct {
	lease, poll time.Duration
	concurrency int
	tries       int
	waits       []time.Duration
	component   string
}

// claimLimits records the limit of every Claim.
type claimLimits struct {
	saga.Store
	limits []int
}

func (c *claimLimits) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	c.limits = append(c.limits, limit)
	return c.Store.Claim(ctx, name, owner, now, until, limit)
}

func watch(t *testing.T, cfg saga.Config) observed {
	var b observed
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.Create(ctx, saga.Record{
		ID: "left", Name: "order", Status: saga.Running, Data: []byte(`{}`), Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
	}))
	store := &claimLimits{Store: e.store}
	undo := func(inv saga.Invocation) error {
		b.tries++
		return errors.New("refund service down")
	}
	fails := func(inv saga.Invocation) error {
		if inv.SagaID == "o1" {
			return errDeclined
		}
		return nil
	}
	cfg.Clock, cfg.Observer, cfg.Logger = e.clk, bulwark.Observers(e.events, cfg.Observer), nil
	o, err := saga.New(def(e.step("charge", saga.Compensatable, nil, undo), e.step("ship", saga.Compensatable, fails, nil)), store, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, o.Close(ctx)) }()

	// Concurrency: how many sagas Recover claims at once.
	n, err := o.Recover(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	b.concurrency = store.limits[0]

	// Lease, tries and waits: a saga whose compensation always fails.
	done := make(chan error, 1)
	go func() { done <- o.Execute(ctx, "o1", Order{}) }()
	for {
		select {
		case err := <-done:
			require.ErrorIs(t, err, saga.ErrNeedsAttention)
			rec, err := e.store.Get(ctx, "o1")
			require.NoError(t, err)
			b.lease = rec.LeaseUntil.Sub(rec.UpdatedAt)
			for _, ev := range e.events.all() {
				if r, ok := ev.(saga.Retrying); ok {
					b.waits = append(b.waits, r.Wait)
				}
				if f, ok := ev.(saga.Finished); ok {
					b.component = f.Component()
				}
			}
			// Poll: how long Run sleeps between looks.
			runCtx, cancel := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- o.Run(runCtx) }()
			b.poll = e.clk.WaitFor(time.Millisecond, b.lease/3-1) // not the heartbeat's

			cancel()
			<-ran
			return b
		default:
			e.fc.Advance(time.Second)
			runtime.Gosched()
		}
	}
}

func TestZeroConfigBehavesAsDefaultConfig(t *testing.T) {
	zero := watch(t, saga.Config{})
	spelled := watch(t, saga.DefaultConfig())
	for _, b := range []observed{zero, spelled} {
		assert.Equal(t, 30*time.Second, b.lease)
		assert.Equal(t, 5*time.Second, b.poll)
		assert.Equal(t, 16, b.concurrency)
		assert.Equal(t, 10, b.tries)
		assert.Equal(t, "order", b.component, "events name the definition")
		require.Len(t, b.waits, 9)
		for i, w := range b.waits {
			full := min(100*time.Millisecond<<i, 30*time.Second)
			assert.True(t, w >= full/2 && w <= full, "wait %d: %v, want in [%v, %v]", i+1, w, full/2, full)
		}
	}
}

func TestConfigSettingsTakeEffect(t *testing.T) {
	b := watch(t, saga.Config{
		Name: "orders-eu", LeaseDuration: time.Minute, PollInterval: 7 * time.Second, Concurrency: 3,
		CompensationAttempts: 4, Backoff: retry.Constant{Delay: time.Hour}, MaxDelay: 2 * time.Second,
	})
	assert.Equal(t, observed{
		lease: time.Minute, poll: 7 * time.Second, concurrency: 3, tries: 4,
		waits: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, component: "orders-eu",
	}, b)
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  saga.Config
		want string
	}{
		{saga.Config{LeaseDuration: -time.Second}, "saga: Config.LeaseDuration must be 0 (meaning 30s) or in [1ms, 24h0m0s], got -1s"},
		{saga.Config{LeaseDuration: time.Microsecond}, "saga: Config.LeaseDuration must be 0 (meaning 30s) or in [1ms, 24h0m0s], got 1µs"},
		{saga.Config{LeaseDuration: 25 * time.Hour}, "saga: Config.LeaseDuration must be 0 (meaning 30s) or in [1ms, 24h0m0s], got 25h0m0s"},
		{saga.Config{PollInterval: -time.Second}, "saga: Config.PollInterval must be 0 (meaning 5s) or in [1ms, 24h0m0s], got -1s"},
		{saga.Config{PollInterval: math.MaxInt64}, "saga: Config.PollInterval must be 0 (meaning 5s) or in [1ms, 24h0m0s], got 2562047h47m16.854775807s"},
		{saga.Config{MaxDelay: -1}, "saga: Config.MaxDelay must be 0 (meaning 30s) or in [1ns, 24h0m0s], got -1ns"},
		{saga.Config{Concurrency: -1}, "saga: Config.Concurrency must be 0 (meaning 16) or in [1, 10000], got -1"},
		{saga.Config{Concurrency: 10001}, "saga: Config.Concurrency must be 0 (meaning 16) or in [1, 10000], got 10001"},
		{saga.Config{CompensationAttempts: -5}, "saga: Config.CompensationAttempts must be 0 (meaning 10) or in [1, 1000000], got -5"},
		{saga.Config{CompensationAttempts: 1e6 + 1}, "saga: Config.CompensationAttempts must be 0 (meaning 10) or in [1, 1000000], got 1000001"},
		{saga.Config{RetriableAttempts: -2}, "saga: Config.RetriableAttempts must be 0 or saga.Unlimited (until it succeeds) or in [1, 1000000], got -2"},
		{saga.Config{RetriableAttempts: math.MaxInt}, "saga: Config.RetriableAttempts must be 0 or saga.Unlimited (until it succeeds) or in [1, 1000000], got 9223372036854775807"},
		{saga.Config{Backoff: retry.Exponential{Initial: -1}}, "saga: Config.Backoff: Exponential.Initial must be >= 0 (0 means 100ms), got -1ns"},
		{saga.Config{Backoff: retry.Constant{Delay: -1}}, "saga: Config.Backoff: Constant.Delay must be >= 0, got -1ns"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := saga.New(oneStep, saga.NewMemoryStore(), tc.cfg)
			assert.EqualError(t, err, tc.want)
		})
	}
	_, err := saga.New(oneStep, nil, saga.Config{})
	assert.EqualError(t, err, "saga: New: store must not be nil")
}

func TestNewAcceptsTheEdgesOfEveryRange(t *testing.T) {
	for _, cfg := range []saga.Config{
		{LeaseDuration: time.Millisecond, PollInterval: time.Millisecond, MaxDelay: 1, Concurrency: 1, CompensationAttempts: 1, RetriableAttempts: 1},
		{LeaseDuration: 24 * time.Hour, PollInterval: 24 * time.Hour, MaxDelay: 24 * time.Hour, Concurrency: 10000, CompensationAttempts: 1e6, RetriableAttempts: 1e6},
		{RetriableAttempts: saga.Unlimited},
	} {
		o, err := saga.New(oneStep, saga.NewMemoryStore(), cfg)
		require.NoError(t, err, "%+v", cfg)
		require.NoError(t, o.Close(context.Background()))
	}
}

func TestEachInstanceGetsItsOwnIDUnlessNamed(t *testing.T) {
	a, err := saga.New(oneStep, saga.NewMemoryStore(), saga.Config{})
	require.NoError(t, err)
	b, err := saga.New(oneStep, saga.NewMemoryStore(), saga.Config{})
	require.NoError(t, err)
	assert.NotEmpty(t, a.InstanceID())
	assert.NotEqual(t, a.InstanceID(), b.InstanceID(), "each instance gets its own ID")
	c, err := saga.New(oneStep, saga.NewMemoryStore(), saga.Config{InstanceID: "pod-7"})
	require.NoError(t, err)
	assert.Equal(t, "pod-7", c.InstanceID())
}

// FuzzNew feeds arbitrary settings to New: it returns an error naming a
// Config field, or an orchestrator that drives a saga to its end without
// ever waiting longer than MaxDelay between tries, and whose Run stops on
// Close.
func FuzzNew(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), 0, 0, 0, uint8(0), int64(0), 0.0, 0)
	f.Add(int64(time.Second), int64(time.Millisecond), int64(time.Minute), 3, 2, 5, uint8(1), int64(time.Hour), 0.0, 0)
	f.Add(int64(time.Millisecond), int64(time.Millisecond), int64(1), 1, 1, -1, uint8(2), int64(time.Millisecond), 100.0, 1)
	f.Add(int64(-1), int64(0), int64(0), 0, 0, 0, uint8(0), int64(0), 0.0, 0)
	f.Add(int64(0), int64(0), int64(time.Hour), 0, 7, 0, uint8(2), int64(1), math.NaN(), 2)
	f.Add(int64(0), int64(0), int64(0), 0, 0, 0, uint8(2), int64(math.MaxInt64), math.Inf(1), 9)
	f.Add(int64(0), int64(0), int64(0), 0, 0, 0, uint8(3), int64(math.MaxInt64/2), 0.0, 0)
	f.Add(int64(math.MaxInt64), int64(math.MinInt64), int64(-1), math.MaxInt, math.MinInt, -7, uint8(4), int64(-1), -1.0, -1)
	f.Fuzz(func(t *testing.T, lease, poll, maxDelay int64, concurrency, compAttempts, retrAttempts int, kind uint8, base int64, multiplier float64, jitter int) {
		cfg := saga.Config{
			LeaseDuration: time.Duration(lease), PollInterval: time.Duration(poll), MaxDelay: time.Duration(maxDelay),
			Concurrency: concurrency, CompensationAttempts: compAttempts, RetriableAttempts: retrAttempts,
		}
		switch kind % 5 {
		case 1:
			cfg.Backoff = retry.Constant{Delay: time.Duration(base)}
		case 2:
			cfg.Backoff = retry.Exponential{Initial: time.Duration(base), Multiplier: multiplier, Jitter: retry.Jitter(jitter)}
		case 3:
			cfg.Backoff = retry.Decorrelated{Base: time.Duration(base)}
		}
		fc := clocktest.New(epoch)
		var waits []time.Duration
		cfg.Clock, cfg.Logger = fc, slog.New(slog.DiscardHandler)
		cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
			if r, ok := ev.(saga.Retrying); ok {
				waits = append(waits, r.Wait)
			}
		})
		var tries int
		d := def(
			saga.Step[Order]{Name: "a", Action: nop, Compensate: func(context.Context, *Order, saga.Invocation) error {
				if tries++; tries <= 3 {
					return errors.New("down")
				}
				return nil
			}},
			saga.Step[Order]{Name: "b", Action: func(context.Context, *Order, saga.Invocation) error { return errDeclined }},
		)
		o, err := saga.New(d, saga.NewMemoryStore(), cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "saga: Config.") {
				t.Fatalf("the error names no Config field: %v", err)
			}
			return
		}
		ctx := context.Background()
		done := make(chan error, 1)
		go func() { done <- o.Execute(ctx, "s", Order{}) }()
		step := max(time.Duration(maxDelay), time.Millisecond)
		if maxDelay == 0 {
			step = 30 * time.Second
		}
		for i := 0; ; i++ {
			select {
			case err = <-done:
			default:
				if i > 1e5 {
					t.Fatal("the saga did not end")
				}
				fc.Advance(step) // past any wait up to MaxDelay
				runtime.Gosched()
				continue
			}
			break
		}
		if !errors.Is(err, saga.ErrCompensated) && !errors.Is(err, saga.ErrNeedsAttention) {
			t.Fatalf("Execute: %v", err)
		}
		limit := time.Duration(maxDelay)
		if limit == 0 {
			limit = 30 * time.Second
		}
		for _, w := range waits {
			if w < 0 || w > limit {
				t.Fatalf("waited %v, MaxDelay %v", w, limit)
			}
		}
		ran := make(chan error, 1)
		go func() { ran <- o.Run(ctx) }()
		if err := o.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-ran; err != nil && !errors.Is(err, bulwark.ErrClosed) {
			t.Fatalf("Run: %v", err)
		}
	})
}
