package timeout_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/timeout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTimeout(t *testing.T, cfg timeout.Config) *timeout.Timeout {
	t.Helper()
	tm, err := timeout.New(cfg)
	require.NoError(t, err)
	return tm
}

// call runs tm.Do in a goroutine and returns a channel with its error.
func call(tm *timeout.Timeout, ctx context.Context, op func(context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- tm.Do(ctx, op) }()
	return done
}

// notWithin asserts that nothing arrives on ch for a short while: the way to
// check that something has not happened yet.
func notWithin(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s, with %v", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// countTimeouts returns an Observer that counts TimedOut events in n.
func countTimeouts(n *int) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(timeout.TimedOut); ok {
			*n++
		}
	})
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	for _, d := range []time.Duration{-1, -time.Second, math.MinInt64} {
		cfg := timeout.DefaultConfig()
		cfg.Timeout = d
		tm, err := timeout.New(cfg)
		assert.Nil(t, tm)
		require.Error(t, err)
		assert.Equal(t, "timeout: Config.Timeout must be >= 0 (0 means 10s), got "+d.String(), err.Error())
	}
	_, err := timeout.New(timeout.DefaultConfig())
	assert.NoError(t, err, "the default config is valid")
}

func TestZeroConfigIsTheDefault(t *testing.T) {
	for name, cfg := range map[string]timeout.Config{"zero": {}, "DefaultConfig": timeout.DefaultConfig()} {
		fc := clocktest.New(epoch)
		cfg.Clock = fc
		tm := newTimeout(t, cfg)
		var deadline time.Time
		release := make(chan struct{})
		done := call(tm, context.Background(), func(ctx context.Context) error {
			deadline, _ = ctx.Deadline()
			<-release // ignores its context: the default waits for it
			return nil
		})
		fc.BlockUntil(1)
		fc.Advance(10 * time.Second)
		notWithin(t, done, name+": Do returned before op did")
		close(release)
		assert.ErrorIs(t, <-done, timeout.ErrTimeout, name)
		assert.Equal(t, epoch.Add(10*time.Second), deadline, name)
	}
}

func TestZeroTimeoutPanics(t *testing.T) {
	var tm timeout.Timeout
	assert.PanicsWithValue(t, "timeout: Timeout used without New", func() {
		_ = tm.Do(context.Background(), func(context.Context) error { return nil })
	})
}

func TestTimedOutEvent(t *testing.T) {
	errLate := errors.New("late")
	for _, tc := range []struct {
		detach bool
		opErr  error
		want   timeout.TimedOut
		log    string
	}{
		{false, errLate, timeout.TimedOut{Name: "inventory", Timeout: time.Second, Err: errLate}, "[timeout=1s detached=false error=late]"},
		{true, nil, timeout.TimedOut{Name: "inventory", Timeout: time.Second, Detached: true}, "[timeout=1s detached=true]"},
	} {
		type key struct{}
		fc := clocktest.New(epoch)
		var got []bulwark.Event
		var ctxValue any
		tm := newTimeout(t, timeout.Config{Name: "inventory", Timeout: time.Second, Detach: tc.detach, Clock: fc,
			Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
				got = append(got, e)
				ctxValue = ctx.Value(key{})
			})})
		release := make(chan struct{})
		done := call(tm, context.WithValue(context.Background(), key{}, "caller"), func(ctx context.Context) error {
			if tc.detach {
				<-release
				return nil
			}
			<-ctx.Done()
			return tc.opErr
		})
		fc.BlockUntil(1)
		fc.Advance(time.Second)
		require.ErrorIs(t, <-done, timeout.ErrTimeout)
		close(release)
		assert.Equal(t, []bulwark.Event{tc.want}, got, "detach=%v", tc.detach)
		assert.Equal(t, "caller", ctxValue, "the caller's context")
		assert.Equal(t, "timeout.timed_out", got[0].Kind())
		assert.Equal(t, "inventory", got[0].Component())
		assert.Equal(t, tc.log, got[0].LogValue().String())
	}
}

func TestOpFinishingInTimeKeepsItsResult(t *testing.T) {
	boom := errors.New("boom")
	for _, detach := range []bool{false, true} {
		for _, want := range []error{nil, boom} {
			fc := clocktest.New(epoch)
			timedOut := 0
			tm := newTimeout(t, timeout.Config{Timeout: time.Second, Detach: detach, Clock: fc, Observer: countTimeouts(&timedOut)})
			var deadline time.Time
			err := tm.Do(context.Background(), func(ctx context.Context) error {
				deadline, _ = ctx.Deadline()
				return want
			})
			assert.Equal(t, want, err, "detach=%v: op's own result, unwrapped", detach)
			assert.Equal(t, epoch.Add(time.Second), deadline, "op sees the deadline on the clock")
			assert.Zero(t, timedOut)
		}
	}
}

func TestDeadlineEndsAnOpThatHonoursItsContext(t *testing.T) {
	for _, detach := range []bool{false, true} {
		fc := clocktest.New(epoch)
		timedOut := 0
		tm := newTimeout(t, timeout.Config{Timeout: time.Second, Detach: detach, Clock: fc, Observer: countTimeouts(&timedOut)})
		seen := make(chan [2]error, 1)
		done := call(tm, context.Background(), func(ctx context.Context) error {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			seen <- [2]error{ctx.Err(), child.Err()}
			return ctx.Err()
		})
		fc.BlockUntil(1)
		fc.Advance(999 * time.Millisecond)
		notWithin(t, done, "Do returned before the deadline")
		fc.Advance(time.Millisecond)
		err := <-done

		assert.ErrorIs(t, err, timeout.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		if !detach {
			// Do waited for op, so op's error is part of Do's. A detached
			// call returns as the deadline passes, without op's.
			assert.Equal(t, "timeout: call exceeded 1s: context deadline exceeded", err.Error())
		}
		var te interface{ Timeout() bool }
		require.ErrorAs(t, err, &te)
		assert.True(t, te.Timeout())
		errs := <-seen
		assert.Equal(t, context.DeadlineExceeded, errs[0], "op's context reports the deadline")
		assert.Equal(t, context.DeadlineExceeded, errs[1], "so do contexts derived from it")
		assert.Equal(t, 1, timedOut, "TimedOut is reported once")
	}
}

func TestErrorWrapsOpError(t *testing.T) {
	fc := clocktest.New(epoch)
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Clock: fc})
	type queryError struct{ error }
	done := call(tm, context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return &queryError{errors.New("query interrupted")}
	})
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	err := <-done
	assert.ErrorIs(t, err, timeout.ErrTimeout)
	var qe *queryError
	assert.ErrorAs(t, err, &qe, "op's own error is kept")
}

// An op that ignores its context cannot be stopped. By default Do waits for
// it and reports the timeout when it finally returns, discarding even a
// success that came too late.
func TestWaitsForAnOpThatIgnoresItsContext(t *testing.T) {
	fc := clocktest.New(epoch)
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Clock: fc})
	opCtx := make(chan context.Context, 1)
	release := make(chan struct{})
	var opReturned atomic.Bool
	var returnedFirst bool
	done := make(chan error, 1)
	go func() {
		err := tm.Do(context.Background(), func(ctx context.Context) error {
			opCtx <- ctx
			<-release // ignores ctx
			opReturned.Store(true)
			return nil
		})
		returnedFirst = opReturned.Load()
		done <- err
	}()
	ctx := <-opCtx
	fc.BlockUntil(1)
	fc.Advance(time.Hour)
	<-ctx.Done() // the deadline has passed...
	notWithin(t, done, "Do returned while op was still running")
	close(release)
	err := <-done
	assert.ErrorIs(t, err, timeout.ErrTimeout, "a late success is a timeout")
	assert.Equal(t, "timeout: call exceeded 1s", err.Error())
	assert.True(t, returnedFirst, "Do returned only after op did")
}

// With Detach, Do returns at the deadline and the op runs on, left behind,
// until it returns by itself.
func TestDetachReturnsAtTheDeadline(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Detach: true, Clock: fc})
	release := make(chan struct{})
	opDone := make(chan struct{})
	done := call(tm, context.Background(), func(ctx context.Context) error {
		defer close(opDone)
		<-release // ignores ctx
		return nil
	})
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	err := <-done
	assert.ErrorIs(t, err, timeout.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case <-opDone:
		t.Fatal("op returned before it was released")
	default:
	}
	close(release)
	<-opDone
}

func TestDetachRaisesAPanicOnTheCaller(t *testing.T) {
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Detach: true, Clock: clocktest.New(epoch)})
	defer func() {
		assert.Equal(t, "op exploded", recover())
	}()
	_ = tm.Do(context.Background(), func(context.Context) error { panic("op exploded") })
	t.Fatal("Do returned instead of panicking")
}

func TestDetachLogsAPanicAfterTheDeadline(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	logged := make(chan string, 1)
	logger := slog.New(&captureHandler{lines: logged})
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Detach: true, Clock: fc, Logger: logger})
	release := make(chan struct{})
	done := call(tm, context.Background(), func(ctx context.Context) error {
		<-release
		panic("late explosion")
	})
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	require.ErrorIs(t, <-done, timeout.ErrTimeout)
	close(release)
	line := <-logged
	assert.Contains(t, line, "detached operation panicked after its deadline")
	assert.Contains(t, line, `panic="late explosion"`)
	assert.Contains(t, line, "timeout_test.go", "the log carries the panicking stack")
}

func TestCallersCancellationIsNotATimeout(t *testing.T) {
	for _, detach := range []bool{false, true} {
		fc := clocktest.New(epoch)
		timedOut := 0
		tm := newTimeout(t, timeout.Config{Timeout: time.Second, Detach: detach, Clock: fc, Observer: countTimeouts(&timedOut)})
		ctx, cancel := context.WithCancel(context.Background())
		release := make(chan struct{})
		started := make(chan struct{})
		done := call(tm, ctx, func(ctx context.Context) error {
			close(started)
			if detach {
				<-release // ignores ctx: Do still returns at once
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		})
		<-started
		cancel()
		err := <-done
		close(release)
		assert.ErrorIs(t, err, context.Canceled, "detach=%v", detach)
		assert.NotErrorIs(t, err, timeout.ErrTimeout, "detach=%v", detach)
		assert.Zero(t, timedOut)
	}
}

func TestDoneContextDoesNotRunOp(t *testing.T) {
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Clock: clocktest.New(epoch)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := tm.Do(ctx, func(context.Context) error { ran = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
}

// The system clock uses the runtime's timers: a real (short) deadline.
func TestSystemClockDeadline(t *testing.T) {
	tm := newTimeout(t, timeout.Config{Timeout: 20 * time.Millisecond})
	var opErr, cause error
	start := time.Now()
	err := tm.Do(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		opErr, cause = ctx.Err(), context.Cause(ctx)
		return opErr
	})
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	assert.ErrorIs(t, err, timeout.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, context.DeadlineExceeded, opErr)
	assert.ErrorIs(t, cause, timeout.ErrTimeout, "context.Cause names the timeout")
	assert.Equal(t, "timeout: deadline of 20ms exceeded", cause.Error())
}

// When the caller's deadline comes first, it is the caller's: op sees it and
// its expiry is reported as the caller's, not as this policy's timeout.
func TestCallersEarlierDeadlineWins(t *testing.T) {
	for _, detach := range []bool{false, true} {
		timedOut := 0
		tm := newTimeout(t, timeout.Config{Timeout: time.Hour, Detach: detach, Observer: countTimeouts(&timedOut)})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		want, _ := ctx.Deadline()
		got := make(chan time.Time, 1)
		err := tm.Do(ctx, func(ctx context.Context) error {
			d, _ := ctx.Deadline()
			got <- d
			<-ctx.Done()
			return ctx.Err()
		})
		cancel()
		assert.Equal(t, want, <-got, "detach=%v", detach)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "detach=%v", detach)
		assert.NotErrorIs(t, err, timeout.ErrTimeout, "detach=%v", detach)
		assert.Zero(t, timedOut)
	}
}

// The context behind a fake clock's deadline costs a goroutine per call; it
// must end with the call.
func TestNoGoroutineOutlivesTheCall(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Clock: fc})
	for range 100 {
		require.NoError(t, tm.Do(context.Background(), func(context.Context) error { return nil }))
	}
	assert.Zero(t, fc.Timers(), "every deadline timer was stopped")
}

func TestConcurrentCalls(t *testing.T) {
	fc := clocktest.New(epoch)
	var timedOut atomic.Int64
	tm := newTimeout(t, timeout.Config{Timeout: time.Second, Clock: fc, Observer: bulwark.ObserverFunc(func(context.Context, bulwark.Event) { timedOut.Add(1) })})
	const slow, fast = 20, 20
	var slowCalls, fastCalls sync.WaitGroup
	started := make(chan struct{}, slow)
	slowErrs := make(chan error, slow)
	for range slow {
		slowCalls.Add(1)
		go func() {
			defer slowCalls.Done()
			slowErrs <- tm.Do(context.Background(), func(ctx context.Context) error {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			})
		}()
	}
	for range slow {
		<-started
	}
	for range fast {
		fastCalls.Add(1)
		go func() {
			defer fastCalls.Done()
			assert.NoError(t, tm.Do(context.Background(), func(context.Context) error { return nil }))
		}()
	}
	fastCalls.Wait()
	fc.Advance(time.Second)
	slowCalls.Wait()
	close(slowErrs)
	for err := range slowErrs {
		assert.ErrorIs(t, err, timeout.ErrTimeout)
	}
	assert.Equal(t, int64(slow), timedOut.Load())
}

// captureHandler sends each formatted record to lines.
type captureHandler struct{ lines chan<- string }

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if err := slog.NewTextHandler(&b, nil).Handle(context.Background(), r); err != nil {
		return err
	}
	h.lines <- strings.TrimSpace(b.String())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }
