package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nop(context.Context) error { return nil }

// hooks is an Observer that passes Rejected events to full and
// LimitChanged events to limit (either may be nil).
type hooks struct {
	full  func(bulkhead.Rejected)
	limit func(bulkhead.LimitChanged)
}

func (h hooks) Observe(_ context.Context, e bulwark.Event) {
	switch e := e.(type) {
	case bulkhead.Rejected:
		if h.full != nil {
			h.full(e)
		}
	case bulkhead.LimitChanged:
		if h.limit != nil {
			h.limit(e)
		}
	default:
		panic(fmt.Sprintf("unexpected event %T", e))
	}
}

// gradient returns DefaultGradient changed by change.
func gradient(change func(*bulkhead.Gradient)) bulkhead.Gradient {
	g := bulkhead.DefaultGradient()
	change(&g)
	return g
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  bulkhead.Config
		want string // "" for valid
	}{
		{"default", bulkhead.DefaultConfig(), ""},
		{"zero", bulkhead.Config{}, ""},
		{"waiting", bulkhead.Config{MaxConcurrent: 1, MaxWaiting: 5, MaxWait: time.Second}, ""},
		{"waiting, default wait", bulkhead.Config{MaxWaiting: 3}, ""},
		{"negative concurrency", bulkhead.Config{MaxConcurrent: -1}, "bulkhead: Config.MaxConcurrent must be in [1, 2147483647] (0 means 25), got -1"},
		{"huge concurrency", bulkhead.Config{MaxConcurrent: math.MaxInt32 + 1}, "bulkhead: Config.MaxConcurrent must be in [1, 2147483647] (0 means 25), got 2147483648"},
		{"negative waiting", bulkhead.Config{MaxConcurrent: 1, MaxWaiting: -1}, "bulkhead: Config.MaxWaiting must be in [0, 2147483647], got -1"},
		{"huge waiting", bulkhead.Config{MaxWaiting: math.MaxInt}, "bulkhead: Config.MaxWaiting must be in [0, 2147483647], got 9223372036854775807"},
		{"negative wait", bulkhead.Config{MaxConcurrent: 1, MaxWait: -time.Second}, "bulkhead: Config.MaxWait must be > 0 (0 means 100ms), got -1s"},
		{"overloaded without adaptive", bulkhead.Config{MaxConcurrent: 1, Overloaded: func(error) bool { return true }}, "bulkhead: Config.Overloaded is used only with Adaptive, which is nil"},
		{"aimd", bulkhead.Config{MaxConcurrent: 100, Adaptive: bulkhead.DefaultAIMD()}, ""},
		{"zero aimd", bulkhead.Config{Adaptive: bulkhead.AIMD{}}, ""},
		{"zero aimd under a low ceiling", bulkhead.Config{MaxConcurrent: 5, Adaptive: bulkhead.AIMD{}}, ""},
		{"aimd pointer", bulkhead.Config{Adaptive: &bulkhead.AIMD{}}, ""},
		{"nil aimd pointer", bulkhead.Config{Adaptive: (*bulkhead.AIMD)(nil)}, "bulkhead: Config.Adaptive must not be a nil *bulkhead.AIMD"},
		{"aimd initial above ceiling", bulkhead.Config{MaxConcurrent: 5, Adaptive: bulkhead.AIMD{InitialLimit: 10}}, "bulkhead: Config.Adaptive: AIMD.InitialLimit must be in [MinLimit=1, MaxConcurrent=5] (0 means 10, or the nearest in range), got 10"},
		{"aimd min negative", bulkhead.Config{MaxConcurrent: 20, Adaptive: bulkhead.AIMD{MinLimit: -1}}, "bulkhead: Config.Adaptive: AIMD.MinLimit must be in [1, MaxConcurrent=20] (0 means 1), got -1"},
		{"aimd negative threshold", bulkhead.Config{MaxConcurrent: 20, Adaptive: bulkhead.AIMD{LatencyThreshold: -1}}, "bulkhead: Config.Adaptive: AIMD.LatencyThreshold must be > 0 (0 means 1s), got -1ns"},
		{"aimd ratio", bulkhead.Config{MaxConcurrent: 20, Adaptive: bulkhead.AIMD{BackoffRatio: 1}}, "bulkhead: Config.Adaptive: AIMD.BackoffRatio must be in (0, 1) (0 means 0.9), got 1"},
		{"aimd NaN ratio", bulkhead.Config{Adaptive: bulkhead.AIMD{BackoffRatio: math.NaN()}}, "bulkhead: Config.Adaptive: AIMD.BackoffRatio must be in (0, 1) (0 means 0.9), got NaN"},
		{"gradient", bulkhead.Config{MaxConcurrent: 100, Adaptive: bulkhead.DefaultGradient()}, ""},
		{"zero gradient", bulkhead.Config{Adaptive: bulkhead.Gradient{}}, ""},
		{"zero gradient, long window", bulkhead.Config{Adaptive: bulkhead.Gradient{Window: time.Minute}}, ""},
		{"gradient tolerance", bulkhead.Config{MaxConcurrent: 100, Adaptive: gradient(func(g *bulkhead.Gradient) { g.Tolerance = 0.9 })}, "bulkhead: Config.Adaptive: Gradient.Tolerance must be in [1, 100] (0 means 1.1), got 0.9"},
		{"gradient infinite tolerance", bulkhead.Config{Adaptive: gradient(func(g *bulkhead.Gradient) { g.Tolerance = math.Inf(1) })}, "bulkhead: Config.Adaptive: Gradient.Tolerance must be in [1, 100] (0 means 1.1), got +Inf"},
		{"gradient smoothing", bulkhead.Config{MaxConcurrent: 100, Adaptive: gradient(func(g *bulkhead.Gradient) { g.Smoothing = -1 })}, "bulkhead: Config.Adaptive: Gradient.Smoothing must be in (0, 1] (0 means 0.2), got -1"},
		{"gradient NaN smoothing", bulkhead.Config{Adaptive: gradient(func(g *bulkhead.Gradient) { g.Smoothing = math.NaN() })}, "bulkhead: Config.Adaptive: Gradient.Smoothing must be in (0, 1] (0 means 0.2), got NaN"},
		{"gradient window", bulkhead.Config{MaxConcurrent: 100, Adaptive: gradient(func(g *bulkhead.Gradient) { g.Window = -1 })}, "bulkhead: Config.Adaptive: Gradient.Window must be in (0, 1h0m0s] (0 means 100ms), got -1ns"},
		{"gradient huge window", bulkhead.Config{Adaptive: gradient(func(g *bulkhead.Gradient) { g.Window = math.MaxInt64 })}, "bulkhead: Config.Adaptive: Gradient.Window must be in (0, 1h0m0s]"},
		{"gradient samples", bulkhead.Config{MaxConcurrent: 100, Adaptive: gradient(func(g *bulkhead.Gradient) { g.WindowSamples = -1 })}, "bulkhead: Config.Adaptive: Gradient.WindowSamples must be in [1, 2147483647] (0 means 10), got -1"},
		{"gradient probe", bulkhead.Config{MaxConcurrent: 100, Adaptive: gradient(func(g *bulkhead.Gradient) { g.ProbeInterval = 300 * time.Millisecond })}, "bulkhead: Config.Adaptive: Gradient.ProbeInterval must be bulkhead.NeverProbe or in [4 Windows (400ms), 24h0m0s], got 300ms"},
		{"gradient huge probe", bulkhead.Config{Adaptive: gradient(func(g *bulkhead.Gradient) { g.ProbeInterval = math.MaxInt64 })}, "bulkhead: Config.Adaptive: Gradient.ProbeInterval must be bulkhead.NeverProbe or in [4 Windows (400ms), 24h0m0s]"},
		{"gradient never probes", bulkhead.Config{MaxConcurrent: 100, Adaptive: gradient(func(g *bulkhead.Gradient) { g.ProbeInterval = bulkhead.NeverProbe })}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bulkhead.New(tc.cfg)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, b)
				return
			}
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, b)
		})
	}
}

func TestDoReturnsOpsError(t *testing.T) {
	b, err := bulkhead.New(bulkhead.DefaultConfig())
	require.NoError(t, err)
	boom := errors.New("boom")
	assert.Same(t, boom, b.Do(context.Background(), func(context.Context) error { return boom }))
	assert.NoError(t, b.Do(context.Background(), nop))
}

func TestFullBulkheadRejectsAtOnce(t *testing.T) {
	var full []string
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 2, Name: "inventory", Observer: hooks{full: func(e bulkhead.Rejected) {
		full = append(full, fmt.Sprintf("%s %q limit %d waited %v", e.Name, e.Key, e.Limit, e.Waited))
	}}})
	require.NoError(t, err)
	p1, ok := b.TryAcquire()
	require.True(t, ok)
	p2, err := b.Acquire(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, b.InFlight())

	ran := false
	err = b.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	assert.ErrorIs(t, err, bulkhead.ErrFull)
	assert.False(t, ran)
	_, ok = b.TryAcquire()
	assert.False(t, ok)
	assert.Equal(t, []string{`inventory "" limit 2 waited false`}, full, "Do's rejection is reported, TryAcquire's is not")

	p1.Release(nil)
	assert.NoError(t, b.Do(context.Background(), nop))
	p2.Release(nil)
	assert.Equal(t, 0, b.InFlight())
}

// waitingBulkhead returns a bulkhead of one permit, already taken, with a
// line of maxWaiting and a MaxWait of a minute on a fake clock.
func waitingBulkhead(t *testing.T, maxWaiting int) (*bulkhead.Bulkhead, bulkhead.Permit, *clocktest.Fake) {
	t.Helper()
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1, MaxWaiting: maxWaiting, MaxWait: time.Minute, Clock: fc})
	require.NoError(t, err)
	p, ok := b.TryAcquire()
	require.True(t, ok)
	return b, p, fc
}

func TestWaitersAreServedInArrivalOrder(t *testing.T) {
	b, held, fc := waitingBulkhead(t, 3)
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	release := make(chan struct{})
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, b.Do(context.Background(), func(context.Context) error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				<-release
				return nil
			}))
		}()
		fc.BlockUntil(i + 1) // caller i waits on its MaxWait timer: it is in line
	}
	assert.Equal(t, 3, b.Waiting())
	held.Release(nil)
	for range 3 {
		release <- struct{}{}
	}
	wg.Wait()
	assert.Equal(t, []int{0, 1, 2}, order)
	assert.Equal(t, 0, b.InFlight())
	assert.Equal(t, 0, b.Waiting())
}

func TestFullLineRejectsAtOnce(t *testing.T) {
	b, held, fc := waitingBulkhead(t, 1)
	done := make(chan error)
	go func() { done <- b.Do(context.Background(), nop) }()
	fc.BlockUntil(1)
	assert.ErrorIs(t, b.Do(context.Background(), nop), bulkhead.ErrFull, "the line of one is taken")
	held.Release(nil)
	assert.NoError(t, <-done)
}

func TestWaitEndsAfterMaxWait(t *testing.T) {
	b, held, fc := waitingBulkhead(t, 1)
	done := make(chan error)
	go func() { done <- b.Do(context.Background(), nop) }()
	fc.BlockUntil(1)
	fc.Advance(time.Minute - time.Nanosecond)
	select {
	case err := <-done:
		t.Fatalf("wait ended before MaxWait: %v", err)
	default:
	}
	fc.Advance(time.Nanosecond)
	assert.ErrorIs(t, <-done, bulkhead.ErrFull)
	assert.Equal(t, 0, b.Waiting())
	held.Release(nil)
	assert.Equal(t, 0, b.InFlight(), "the permit was not handed to the caller that gave up")
}

func TestCancelledWaitReturnsCtxError(t *testing.T) {
	b, held, fc := waitingBulkhead(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Do(ctx, nop) }()
	fc.BlockUntil(1)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, bulkhead.ErrFull)
	assert.Equal(t, 0, b.Waiting())

	_, err = b.Acquire(ctx)
	assert.ErrorIs(t, err, context.Canceled, "a done ctx does not join the line")
	held.Release(nil)
	assert.NoError(t, b.Do(context.Background(), nop))
	assert.Equal(t, 0, b.InFlight())
}

// TestPermitIsReleasedExactlyOnce runs a bulkhead of one permit through every
// way a call can end, and checks after each that the permit came back, once:
// the next call gets it, and nothing is left in flight. (failsafe-go 0.9.8
// loses the permit when op panics, leaving a bulkhead of one full for good;
// benchmarks/bulkhead shows it side by side.)
func TestPermitIsReleasedExactlyOnce(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		op   func(ctx context.Context) error
	}{
		{"success", nil, nop},
		{"error", nil, func(context.Context) error { return boom }},
		{"ctx cancelled during op", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"panic", nil, func(context.Context) error { panic(boom) }},
		{"panic with nil", nil, func(context.Context) error { panic(nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
			require.NoError(t, err)
			for range 3 {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				func() {
					defer func() { _ = recover() }()
					if tc.ctx != nil {
						go cancel()
					}
					_ = b.Do(ctx, tc.op)
				}()
				cancel()
				require.Equal(t, 0, b.InFlight())
				require.NoError(t, b.Do(context.Background(), nop), "the permit came back")
			}
		})
	}
}

func TestPanicPropagatesUnchanged(t *testing.T) {
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	boom := errors.New("boom")
	assert.PanicsWithValue(t, boom, func() {
		_ = b.Do(context.Background(), func(context.Context) error { panic(boom) })
	})
}

func TestReleasingMoreThanTakenPanics(t *testing.T) {
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 2})
	require.NoError(t, err)
	p, ok := b.TryAcquire()
	require.True(t, ok)
	p.Release(nil)
	assert.PanicsWithValue(t, "bulkhead: permit released more times than acquired", func() { p.Release(nil) })
}

// TestConcurrentCallsNeverExceedTheLimit hammers a bulkhead with callers
// that run, wait, give up and get cancelled, and checks that no more than
// MaxConcurrent ever ran at once and that every call is accounted for.
func TestConcurrentCallsNeverExceedTheLimit(t *testing.T) {
	const limit, goroutines, calls = 3, 8, 2000
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: limit, MaxWaiting: 4, MaxWait: time.Millisecond})
	require.NoError(t, err)
	var running, peak, ran, full, cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				ctx, cancel := context.WithCancel(context.Background())
				if (g+i)%7 == 0 {
					cancel()
				}
				err := b.Do(ctx, func(context.Context) error {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					running.Add(-1)
					return nil
				})
				cancel()
				switch {
				case err == nil:
					ran.Add(1)
				case errors.Is(err, bulkhead.ErrFull):
					full.Add(1)
				case errors.Is(err, context.Canceled):
					cancelled.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("ran %d, rejected %d, cancelled %d; peak concurrency %d", ran.Load(), full.Load(), cancelled.Load(), peak.Load())
	assert.LessOrEqual(t, peak.Load(), int64(limit))
	assert.Equal(t, int64(goroutines*calls), ran.Load()+full.Load()+cancelled.Load())
	assert.Equal(t, 0, b.InFlight())
	assert.Equal(t, 0, b.Waiting())
}

// TestWaitersAreNotStrandedByRejectedCalls hammers a full bulkhead with
// TryAcquire while callers wait in line. A rejected TryAcquire counts a
// permit for a moment before giving it back; a release in that moment sees
// no free permit to hand on, so the give-back must hand it on itself, or the
// waiter stays in line although a permit is free. Every waiter must get in
// long before its hour-long MaxWait.
func TestWaitersAreNotStrandedByRejectedCalls(t *testing.T) {
	const limit, waiters, hammerers = 2, 200, 4
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: limit, MaxWaiting: waiters, MaxWait: time.Hour})
	require.NoError(t, err)
	stop := make(chan struct{})
	var hammering sync.WaitGroup
	for range hammerers {
		hammering.Add(1)
		go func() {
			defer hammering.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if p, ok := b.TryAcquire(); ok {
					p.Release(nil)
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var served sync.WaitGroup
	for range waiters {
		served.Add(1)
		go func() {
			defer served.Done()
			p, err := b.Acquire(ctx)
			if err != nil {
				t.Errorf("a waiter was stranded: %v", err)
				return
			}
			p.Release(nil)
		}()
	}
	served.Wait()
	close(stop)
	hammering.Wait()
	assert.Equal(t, 0, b.InFlight())
	assert.Equal(t, 0, b.Waiting())
}

// TestHooksMayCallBack checks that hooks run outside the bulkhead's locks:
// hooks that call back into the bulkhead do not deadlock.
func TestHooksMayCallBack(t *testing.T) {
	var b *bulkhead.Bulkhead
	var seen []string
	fc := clocktest.New(epoch)
	nested := false
	cfg := bulkhead.Config{
		MaxConcurrent: 2,
		Adaptive:      bulkhead.AIMD{InitialLimit: 1, MinLimit: 1, LatencyThreshold: time.Second, BackoffRatio: 0.5},
		Clock:         fc,
		Observer: hooks{
			full: func(e bulkhead.Rejected) {
				_, ok := b.TryAcquire()
				seen = append(seen, fmt.Sprintf("full %q: limit %d, in flight %d, acquired %v", e.Key, b.Limit(), b.InFlight(), ok))
			},
			limit: func(e bulkhead.LimitChanged) {
				seen = append(seen, fmt.Sprintf("limit %q: %d -> %d", e.Key, e.From, e.To))
				if !nested {
					nested = true
					assert.NoError(t, b.Do(context.Background(), nop))
				}
			},
		},
	}
	var err error
	b, err = bulkhead.New(cfg)
	require.NoError(t, err)
	p, ok := b.TryAcquire()
	require.True(t, ok)
	assert.ErrorIs(t, b.Do(context.Background(), nop), bulkhead.ErrFull)
	fc.Advance(2 * time.Second)
	p.Release(nil) // slow: the limit cannot go below 1, so no change
	require.NoError(t, b.Do(context.Background(), nop))
	assert.Equal(t, []string{
		`full "": limit 1, in flight 1, acquired false`,
		`limit "": 1 -> 2`,
	}, seen)
}

// TestPanickingHookKeepsNoPermit has OnLimitChange panic as a call's
// completion changes the limit: the permit must be back all the same.
func TestPanickingHookKeepsNoPermit(t *testing.T) {
	fc := clocktest.New(epoch)
	b, err := bulkhead.New(bulkhead.Config{
		MaxConcurrent: 4,
		Adaptive:      bulkhead.AIMD{InitialLimit: 2, MinLimit: 1, LatencyThreshold: time.Second, BackoffRatio: 0.5},
		Clock:         fc,
		Observer:      hooks{limit: func(bulkhead.LimitChanged) { panic("hook") }},
	})
	require.NoError(t, err)
	assert.PanicsWithValue(t, "hook", func() {
		_ = b.Do(context.Background(), func(context.Context) error { fc.Advance(2 * time.Second); return nil })
	})
	assert.Equal(t, 1, b.Limit())
	assert.Equal(t, 0, b.InFlight())
}
