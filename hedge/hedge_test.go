package hedge_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

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

func newHedger(t *testing.T, cfg hedge.Config, fc *clocktest.Fake) (*hedge.Hedger, *[]hedgeEvent) {
	t.Helper()
	var (
		mu     sync.Mutex
		events []hedgeEvent
	)
	cfg.Clock = fc
	cfg.OnHedge = func(attempt int, delay time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, hedgeEvent{attempt, delay})
	}
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
		{"negative Delay", func(c *hedge.Config) { c.Delay = -1 }, "Config.Delay must be in [0, 1h], got -1ns"},
		{"long Delay", func(c *hedge.Config) { c.Delay = 2 * time.Hour }, "Config.Delay must be in [0, 1h], got 2h0m0s"},
		{"no hedges", func(c *hedge.Config) { c.MaxHedges = 0 }, "Config.MaxHedges must be in [1, 10], got 0"},
		{"too many hedges", func(c *hedge.Config) { c.MaxHedges = 11 }, "Config.MaxHedges must be in [1, 10], got 11"},
		{"negative Percentile", func(c *hedge.Config) { c.Percentile = -5 }, "Config.Percentile must be 0 (off) or in (0, 100], got -5"},
		{"Percentile over 100", func(c *hedge.Config) { c.Percentile = 101 }, "Config.Percentile must be 0 (off) or in (0, 100], got 101"},
		{"negative Window", func(c *hedge.Config) { c.Window = -1 }, "Config.Window must be in [1, 100000], got -1"},
		{"Percentile without Window", func(c *hedge.Config) { c.Window = 0 }, "Config.Window must be in [1, 100000] when Percentile is set, got 0"},
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
	_, err = hedge.New(hedge.Config{MaxHedges: 1})
	assert.NoError(t, err, "a fixed delay needs no window")
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
	h, _ := newHedger(t, hedge.Config{MaxHedges: 2}, fc)
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
