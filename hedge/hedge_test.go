package hedge_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// attempt is one run of a scripted op: the test answers it through result.
type attempt struct {
	ctx    context.Context
	result chan error
}

// script is an op whose every run the test sees start and decides the
// outcome of. A run whose context is cancelled takes a few milliseconds to
// return, as a real call tearing down a connection would, so a Do that did
// not wait for it would return first.
type script struct {
	starts chan *attempt
	mu     sync.Mutex
	exited int
}

func newScript() *script { return &script{starts: make(chan *attempt, 16)} }

func (s *script) op(ctx context.Context) error {
	a := &attempt{ctx: ctx, result: make(chan error, 1)}
	s.starts <- a
	select {
	case err := <-a.result:
		return err
	case <-ctx.Done():
		time.Sleep(5 * time.Millisecond)
		s.mu.Lock()
		s.exited++
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *script) exitedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited
}

// notStarted fails the test if an attempt has started that it did not
// expect.
func (s *script) notStarted(t *testing.T) {
	t.Helper()
	select {
	case <-s.starts:
		t.Fatal("an attempt started that should not have")
	default:
	}
}

type hedgeEvent struct {
	attempt int
	delay   time.Duration
}

// newHedger returns a Hedger on fc that records its Hedged events. A
// Config without a Percentile gets NoPercentile: a fixed delay.
func newHedger(t *testing.T, cfg hedge.Config, fc *clocktest.Fake) (*hedge.Hedger, *[]hedgeEvent) {
	t.Helper()
	var (
		mu     sync.Mutex
		events []hedgeEvent
	)
	cfg.Clock = fc
	if cfg.Percentile == 0 {
		cfg.Percentile = hedge.NoPercentile
	}
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		h := e.(hedge.Hedged)
		mu.Lock()
		defer mu.Unlock()
		events = append(events, hedgeEvent{h.Attempt, h.Delay})
	})
	h, err := hedge.New(cfg)
	require.NoError(t, err)
	return h, &events
}

// hedgeAfter waits until the call has its hedge timer set, moves the clock
// on by d and returns the attempt that starts then.
func (s *script) hedgeAfter(fc *clocktest.Fake, d time.Duration) *attempt {
	fc.BlockUntil(1)
	fc.Advance(d)
	return <-s.starts
}

// twoAttempts starts an idempotent call on a hedger with one hedge after
// 10ms, lets the delay pass, and returns the call's result and both of its
// running attempts.
func twoAttempts(t *testing.T) (done <-chan error, first, second *attempt) {
	t.Helper()
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1}, fc)
	s := newScript()
	done = doAsync(hedge.Idempotent(context.Background()), h, s.op)
	first = <-s.starts
	return done, first, s.hedgeAfter(fc, 10*time.Millisecond)
}

func doAsync(ctx context.Context, h *hedge.Hedger, op func(context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- h.Do(ctx, op) }()
	return done
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*hedge.Config)
		want   string
	}{
		{"negative Delay", func(c *hedge.Config) { c.Delay = -2 }, "Config.Delay must be hedge.NoDelay or in [0, 1h] (0 means 50ms), got -2ns"},
		{"long Delay", func(c *hedge.Config) { c.Delay = 2 * time.Hour }, "Config.Delay must be hedge.NoDelay or in [0, 1h] (0 means 50ms), got 2h0m0s"},
		{"negative MaxHedges", func(c *hedge.Config) { c.MaxHedges = -1 }, "Config.MaxHedges must be in [0, 10] (0 means 1), got -1"},
		{"too many hedges", func(c *hedge.Config) { c.MaxHedges = 11 }, "Config.MaxHedges must be in [0, 10] (0 means 1), got 11"},
		{"negative Percentile", func(c *hedge.Config) { c.Percentile = -5 }, "Config.Percentile must be hedge.NoPercentile or in [0, 100] (0 means 95), got -5"},
		{"Percentile over 100", func(c *hedge.Config) { c.Percentile = 101 }, "Config.Percentile must be hedge.NoPercentile or in [0, 100] (0 means 95), got 101"},
		{"NaN Percentile", func(c *hedge.Config) { c.Percentile = math.NaN() }, "Config.Percentile must be hedge.NoPercentile or in [0, 100] (0 means 95), got NaN"},
		{"+Inf Percentile", func(c *hedge.Config) { c.Percentile = math.Inf(1) }, "Config.Percentile must be hedge.NoPercentile or in [0, 100] (0 means 95), got +Inf"},
		{"-Inf Percentile", func(c *hedge.Config) { c.Percentile = math.Inf(-1) }, "Config.Percentile must be hedge.NoPercentile or in [0, 100] (0 means 95), got -Inf"},
		{"negative Window", func(c *hedge.Config) { c.Window = -1 }, "Config.Window must be in [0, 100000] (0 means 100), got -1"},
		{"huge Window", func(c *hedge.Config) { c.Window = 100001 }, "Config.Window must be in [0, 100000] (0 means 100), got 100001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hedge.DefaultConfig()
			tt.modify(&cfg)
			h, err := hedge.New(cfg)
			assert.Nil(t, h)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "hedge: "+tt.want)
		})
	}
	_, err := hedge.New(hedge.DefaultConfig())
	assert.NoError(t, err)
	_, err = hedge.New(hedge.Config{})
	assert.NoError(t, err, "the zero Config is the default")
	_, err = hedge.New(hedge.Config{Delay: hedge.NoDelay, Percentile: hedge.NoPercentile, Window: 0})
	assert.NoError(t, err)
}

func TestIdempotentMarksTheContext(t *testing.T) {
	ctx := context.Background()
	assert.False(t, hedge.IsIdempotent(ctx))
	assert.True(t, hedge.IsIdempotent(hedge.Idempotent(ctx)))
	child, cancel := context.WithCancel(hedge.Idempotent(ctx))
	defer cancel()
	assert.True(t, hedge.IsIdempotent(child), "the mark is inherited")
}

func TestDoRunsCallsNotMarkedIdempotentOnce(t *testing.T) {
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 3}, fc)
	s := newScript()
	done := doAsync(context.Background(), h, s.op)
	a := <-s.starts
	assert.Equal(t, 0, fc.Timers(), "no hedge is scheduled")
	fc.Advance(time.Hour)
	s.notStarted(t)
	errBoom := errors.New("boom")
	a.result <- errBoom
	assert.Same(t, errBoom, <-done, "the error passes through untouched")
	assert.Empty(t, *events)
}

func TestDoHedgesAfterTheDelayAndTheFirstSuccessWins(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1}, fc)
	s := newScript()
	done := doAsync(hedge.Idempotent(context.Background()), h, s.op)

	first := <-s.starts
	fc.BlockUntil(1)
	fc.Advance(9 * time.Millisecond)
	s.notStarted(t)
	fc.Advance(time.Millisecond)
	second := <-s.starts
	second.result <- nil

	require.NoError(t, <-done)
	assert.Equal(t, []hedgeEvent{{2, 10 * time.Millisecond}}, *events)
	assert.ErrorIs(t, first.ctx.Err(), context.Canceled, "the losing attempt is cancelled")
	assert.Equal(t, hedge.ErrLost, context.Cause(first.ctx))
	assert.Equal(t, 1, s.exitedCount(), "Do returned only after the loser did")
}

func TestDoStartsNoHedgeWhenTheFirstAttemptAnswersInTime(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2}, fc)
	s := newScript()
	done := doAsync(hedge.Idempotent(context.Background()), h, s.op)
	first := <-s.starts
	fc.BlockUntil(1)
	fc.Advance(9 * time.Millisecond)
	first.result <- nil
	require.NoError(t, <-done)
	assert.Empty(t, *events)
	assert.Equal(t, 0, fc.Timers(), "the hedge timer is stopped")
}

func TestDoStartsAtMostMaxHedges(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2}, fc)
	s := newScript()
	done := doAsync(hedge.Idempotent(context.Background()), h, s.op)
	var attempts []*attempt
	attempts = append(attempts, <-s.starts)
	for range 2 {
		attempts = append(attempts, s.hedgeAfter(fc, 10*time.Millisecond))
	}
	assert.Equal(t, 0, fc.Timers(), "no further hedge is scheduled")
	fc.Advance(time.Hour)
	s.notStarted(t)

	attempts[2].result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, []hedgeEvent{{2, 10 * time.Millisecond}, {3, 10 * time.Millisecond}}, *events)
	for _, a := range attempts[:2] {
		assert.Equal(t, hedge.ErrLost, context.Cause(a.ctx))
	}
	assert.Equal(t, 2, s.exitedCount())
}

func TestDoWithZeroDelayStartsEveryAttemptAtOnce(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: hedge.NoDelay, MaxHedges: 2}, fc)
	s := newScript()
	done := doAsync(hedge.Idempotent(context.Background()), h, s.op)
	a, b, c := <-s.starts, <-s.starts, <-s.starts
	assert.Equal(t, epoch, fc.Now(), "without the clock moving")
	b.result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, hedge.ErrLost, context.Cause(a.ctx))
	assert.Equal(t, hedge.ErrLost, context.Cause(c.ctx))
}

func TestDoReturnsTheFirstAttemptsErrorWhenEveryAttemptFails(t *testing.T) {
	leakcheck.Check(t)
	errFirst, errSecond := errors.New("first"), errors.New("second")

	t.Run("a fast failure is not hedged", func(t *testing.T) {
		fc := clocktest.New(epoch)
		h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2}, fc)
		s := newScript()
		done := doAsync(hedge.Idempotent(context.Background()), h, s.op)
		(<-s.starts).result <- errFirst
		assert.Same(t, errFirst, <-done)
		assert.Empty(t, *events)
		assert.Equal(t, 0, fc.Timers())
	})

	t.Run("a failed hedge waits for the first attempt", func(t *testing.T) {
		done, first, second := twoAttempts(t)
		second.result <- errSecond
		select {
		case err := <-done:
			t.Fatalf("Do returned %v while the first attempt was still running", err)
		default:
		}
		first.result <- errFirst
		assert.Same(t, errFirst, <-done)
	})

	t.Run("the first attempt's error even when it fails first", func(t *testing.T) {
		done, first, second := twoAttempts(t)
		first.result <- errFirst
		second.result <- errSecond
		assert.Same(t, errFirst, <-done)
	})

	t.Run("a failed hedge does not stop a later success", func(t *testing.T) {
		done, first, second := twoAttempts(t)
		second.result <- errSecond
		first.result <- nil
		assert.NoError(t, <-done)
	})
}

func TestDoStopsEveryAttemptWhenTheCallerCancels(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 3}, fc)
	s := newScript()
	ctx, cancel := context.WithCancel(hedge.Idempotent(context.Background()))
	done := doAsync(ctx, h, s.op)
	first := <-s.starts
	second := s.hedgeAfter(fc, 10*time.Millisecond)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "hedge: ")
	assert.Equal(t, 2, s.exitedCount(), "both attempts returned before Do")
	assert.ErrorIs(t, context.Cause(first.ctx), context.Canceled)
	assert.ErrorIs(t, context.Cause(second.ctx), context.Canceled)
	assert.Equal(t, 0, fc.Timers(), "the pending hedge timer is stopped")
}

func TestDoDoesNotStartWithADoneContext(t *testing.T) {
	h, err := hedge.New(hedge.DefaultConfig())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(hedge.Idempotent(context.Background()))
	cancel()
	ran := false
	err = h.Do(ctx, func(context.Context) error { ran = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
}

func TestAllIdempotentHedgesUnmarkedCalls(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: time.Millisecond, MaxHedges: 1, AllIdempotent: true}, fc)
	s := newScript()
	done := doAsync(context.Background(), h, s.op)
	<-s.starts
	s.hedgeAfter(fc, time.Millisecond).result <- nil
	require.NoError(t, <-done)
	assert.Len(t, *events, 1)
}

func TestPercentileSetsTheDelayFromRecentLatencies(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, events := newHedger(t, hedge.Config{Delay: time.Hour, MaxHedges: 1, Percentile: 90, Window: 10}, fc)
	ctx := hedge.Idempotent(context.Background())
	for i := 1; i <= 10; i++ {
		assert.Equal(t, time.Hour, h.Delay(), "the configured delay until the window is full")
		require.NoError(t, h.Do(ctx, func(context.Context) error {
			fc.Advance(time.Duration(i) * time.Millisecond) // this call takes i ms
			return nil
		}))
	}
	assert.Equal(t, 9*time.Millisecond, h.Delay(), "the 90th percentile of 1..10ms")

	s := newScript()
	done := doAsync(ctx, h, s.op)
	<-s.starts
	fc.BlockUntil(1)
	fc.Advance(8 * time.Millisecond)
	s.notStarted(t)
	fc.Advance(time.Millisecond)
	(<-s.starts).result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, []hedgeEvent{{2, 9 * time.Millisecond}}, *events)
}

func TestPercentileCountsALosingFirstAttemptAsFarAsItRan(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1, Percentile: 100, Window: 1}, fc)
	ctx := hedge.Idempotent(context.Background())
	s := newScript()
	done := doAsync(ctx, h, s.op)
	<-s.starts
	second := s.hedgeAfter(fc, 10*time.Millisecond)
	fc.Advance(5 * time.Millisecond)
	second.result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, 15*time.Millisecond, h.Delay())
}

func TestPercentileIgnoresFailedCalls(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1, Percentile: 100, Window: 1}, fc)
	ctx := hedge.Idempotent(context.Background())

	require.Error(t, h.Do(ctx, func(context.Context) error { fc.Advance(time.Millisecond); return errors.New("refused") }))
	assert.Equal(t, 10*time.Millisecond, h.Delay())

}

func TestHedgerIsSafeForConcurrentUse(t *testing.T) {
	leakcheck.Check(t)
	h, err := hedge.New(hedge.Config{Delay: 50 * time.Microsecond, MaxHedges: 2, Percentile: 50, Window: 20, AllIdempotent: true})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				err := h.Do(context.Background(), func(ctx context.Context) error {
					if (g+i)%5 == 0 {
						select {
						case <-time.After(200 * time.Microsecond):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					return nil
				})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
}

func TestUnhedgedCallsAllocateNothing(t *testing.T) {
	h, err := hedge.New(hedge.DefaultConfig())
	require.NoError(t, err)
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = h.Do(ctx, op) }))
}

func TestHedgedCallAnsweredInTimeStartsNoGoroutine(t *testing.T) {
	h, err := hedge.New(hedge.Config{Delay: time.Hour, MaxHedges: 2, AllIdempotent: true})
	require.NoError(t, err)
	for range 5 {
		before, during := runtime.NumGoroutine(), 0
		require.NoError(t, h.Do(context.Background(), func(context.Context) error {
			during = runtime.NumGoroutine()
			return nil
		}))
		assert.Equal(t, before, during, "the first attempt runs on the caller's goroutine, and no hedge is waiting on one")
	}
}

// doRecover runs h.Do(ctx, op) on a goroutine of its own, which is the
// caller's goroutine as far as Do knows, and delivers what a recover there
// caught (nil when Do returned).
func doRecover(ctx context.Context, h *hedge.Hedger, op func(context.Context) error) <-chan any {
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_ = h.Do(ctx, op)
	}()
	return recovered
}

// within waits for a value from c, failing the test if none comes in time.
func within[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived within 10s")
		panic("unreachable")
	}
}

func TestAPanicInAHedgeReachesTheCaller(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 3}, fc)
	s := newScript()
	var calls atomic.Int32
	recovered := doRecover(hedge.Idempotent(context.Background()), h, func(ctx context.Context) error {
		if calls.Add(1) == 2 {
			panic("hedge boom")
		}
		return s.op(ctx)
	})
	first := <-s.starts
	fc.BlockUntil(1)
	fc.Advance(10 * time.Millisecond) // the hedge starts, and panics

	assert.Equal(t, "hedge boom", within(t, recovered), "the panic reaches the caller's recover")
	assert.Equal(t, 1, s.exitedCount(), "the first attempt had returned before Do panicked")
	assert.Error(t, first.ctx.Err(), "the first attempt was cancelled")
	assert.Equal(t, 0, fc.Timers(), "no further hedge is scheduled")
	fc.Advance(time.Hour)
	assert.Equal(t, int32(2), calls.Load(), "no attempt starts after the panic")
}

func TestAPanicInAHedgeIsNotLostToASuccess(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 1}, fc)
	var calls atomic.Int32
	recovered := doRecover(hedge.Idempotent(context.Background()), h, func(ctx context.Context) error {
		if calls.Add(1) == 2 {
			panic("hedge boom")
		}
		fc.BlockUntil(1)
		fc.Advance(10 * time.Millisecond)
		<-ctx.Done() // cancelled by the panic…
		return nil   // …yet answers success
	})
	assert.Equal(t, "hedge boom", within(t, recovered))
}

func TestAPanicInAHedgeOnTheSystemClock(t *testing.T) {
	leakcheck.Check(t)
	h, err := hedge.New(hedge.Config{Delay: time.Millisecond, Percentile: hedge.NoPercentile})
	require.NoError(t, err)
	var calls atomic.Int32
	errBoom := errors.New("boom")
	recovered := doRecover(hedge.Idempotent(context.Background()), h, func(ctx context.Context) error {
		if calls.Add(1) == 2 {
			panic(errBoom)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	assert.Same(t, errBoom, within(t, recovered), "the panic value is passed on as is")
}

func TestAPanickingFirstAttemptStartsNoHedge(t *testing.T) {
	t.Run("before the delay", func(t *testing.T) {
		leakcheck.Check(t)
		fc := clocktest.New(epoch)
		h, events := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2}, fc)
		var calls atomic.Int32
		recovered := doRecover(hedge.Idempotent(context.Background()), h, func(context.Context) error {
			calls.Add(1)
			panic("first boom")
		})
		assert.Equal(t, "first boom", within(t, recovered))
		assert.Equal(t, 0, fc.Timers(), "the armed hedge timer is stopped")
		fc.Advance(time.Hour)
		assert.Equal(t, int32(1), calls.Load())
		assert.Empty(t, *events)
	})
	t.Run("after a hedge started", func(t *testing.T) {
		leakcheck.Check(t)
		fc := clocktest.New(epoch)
		h, _ := newHedger(t, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2}, fc)
		s := newScript()
		var calls atomic.Int32
		recovered := doRecover(hedge.Idempotent(context.Background()), h, func(ctx context.Context) error {
			if calls.Add(1) > 1 {
				return s.op(ctx)
			}
			fc.BlockUntil(1)
			fc.Advance(10 * time.Millisecond)
			<-s.starts // the hedge is running
			panic("first boom")
		})
		assert.Equal(t, "first boom", within(t, recovered))
		assert.Equal(t, 1, s.exitedCount(), "the hedge returned before the panic left Do")
		assert.Equal(t, 0, fc.Timers(), "the next hedge timer is stopped")
		fc.Advance(time.Hour)
		assert.Equal(t, int32(2), calls.Load())
	})
}

func TestZeroHedgerPanics(t *testing.T) {
	var h hedge.Hedger
	assert.PanicsWithValue(t, "hedge: Hedger used without New", func() { _ = h.Do(context.Background(), succeedOp) })
	assert.PanicsWithValue(t, "hedge: Hedger used without New", func() { h.Delay() })
}

func succeedOp(context.Context) error { return nil }

func TestZeroConfigIsTheDefault(t *testing.T) {
	for name, cfg := range map[string]hedge.Config{"zero": {}, "DefaultConfig": hedge.DefaultConfig()} {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			fc := clocktest.New(epoch)
			cfg.Clock = fc
			h, err := hedge.New(cfg)
			require.NoError(t, err)
			assert.Equal(t, 50*time.Millisecond, h.Delay())

			// Calls not marked idempotent are not hedged.
			s := newScript()
			done := doAsync(context.Background(), h, s.op)
			(<-s.starts).result <- nil
			require.NoError(t, <-done)
			assert.Equal(t, 0, fc.Timers())

			// One hedge at most.
			ctx := hedge.Idempotent(context.Background())
			done = doAsync(ctx, h, s.op)
			first := <-s.starts
			s.hedgeAfter(fc, 50*time.Millisecond).result <- errors.New("refused")
			assert.Equal(t, 0, fc.Timers(), "no second hedge is scheduled")
			fc.Advance(time.Hour)
			s.notStarted(t)
			first.result <- nil
			require.NoError(t, <-done)

			// The 95th percentile of the last 100 calls. From 50ms on, each
			// call's hedge starts as the first attempt moves the clock: only
			// the first attempt moves it.
			for i := 1; i <= 100; i++ {
				var first atomic.Bool
				require.NoError(t, h.Do(ctx, func(context.Context) error {
					if first.CompareAndSwap(false, true) {
						fc.Advance(time.Duration(i) * time.Millisecond)
					}
					return nil
				}))
			}
			assert.Equal(t, 95*time.Millisecond, h.Delay())
		})
	}
}

func TestHedgedEvent(t *testing.T) {
	e := hedge.Hedged{Name: "profiles", Attempt: 2, Delay: 30 * time.Millisecond}
	assert.Equal(t, "hedge.hedged", e.Kind())
	assert.Equal(t, "profiles", e.Component())
	assert.Equal(t, "[attempt=2 delay=30ms]", e.LogValue().String())

	type key struct{}
	fc := clocktest.New(epoch)
	got := make(chan string, 1)
	h, err := hedge.New(hedge.Config{Name: "profiles", Delay: 10 * time.Millisecond, Clock: fc,
		Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			got <- e.Component() + ":" + ctx.Value(key{}).(string)
		})})
	require.NoError(t, err)
	s := newScript()
	done := doAsync(context.WithValue(hedge.Idempotent(context.Background()), key{}, "caller"), h, s.op)
	<-s.starts
	s.hedgeAfter(fc, 10*time.Millisecond).result <- nil
	require.NoError(t, <-done)
	assert.Equal(t, "profiles:caller", <-got, "with the caller's context")
}
