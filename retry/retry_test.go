package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*retry.Config)
		want   string
	}{
		{"negative MaxAttempts", func(c *retry.Config) { c.MaxAttempts = -3 }, "Config.MaxAttempts must be retry.Unlimited or in [1, 1e6], got -3"},
		{"huge MaxAttempts", func(c *retry.Config) { c.MaxAttempts = 2e6 }, "Config.MaxAttempts must be retry.Unlimited or in [1, 1e6], got 2000000"},
		{"negative MaxElapsedTime", func(c *retry.Config) { c.MaxElapsedTime = -time.Second }, "Config.MaxElapsedTime must be >= 0, got -1s"},
		{"negative MaxDelay", func(c *retry.Config) { c.MaxDelay = -1 }, "Config.MaxDelay must be >= 0 (0 means 30s), got -1ns"},
		{"negative AttemptTimeout", func(c *retry.Config) { c.AttemptTimeout = -time.Millisecond }, "Config.AttemptTimeout must be >= 0, got -1ms"},
		{"Budget not from NewBudget", func(c *retry.Config) { c.Budget = new(retry.Budget) }, "Config.Budget must be made by NewBudget"},
		{"negative Constant", func(c *retry.Config) { c.Backoff = retry.Constant{Delay: -1} }, "Config.Backoff: Constant.Delay must be >= 0, got -1ns"},
		{"negative Exponential.Initial", func(c *retry.Config) { c.Backoff = retry.Exponential{Initial: -1} }, "Exponential.Initial must be >= 0 (0 means 100ms), got -1ns"},
		{"small Exponential.Multiplier", func(c *retry.Config) { c.Backoff = retry.Exponential{Multiplier: 0.5} }, "Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got 0.5"},
		{"negative Exponential.Multiplier", func(c *retry.Config) { c.Backoff = retry.Exponential{Multiplier: -2} }, "Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got -2"},
		{"large Exponential.Multiplier", func(c *retry.Config) { c.Backoff = retry.Exponential{Multiplier: 101} }, "Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got 101"},
		{"NaN Exponential.Multiplier", func(c *retry.Config) { c.Backoff = retry.Exponential{Multiplier: math.NaN()} }, "Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got NaN"},
		{"+Inf Exponential.Multiplier", func(c *retry.Config) { c.Backoff = retry.Exponential{Multiplier: math.Inf(1)} }, "Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got +Inf"},
		{"-Inf Exponential.Multiplier", func(c *retry.Config) { c.Backoff = retry.Exponential{Multiplier: math.Inf(-1)} }, "Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got -Inf"},
		{"unknown Jitter", func(c *retry.Config) { c.Backoff = retry.Exponential{Jitter: 7} }, "Exponential.Jitter must be FullJitter, NoJitter or EqualJitter, got Jitter(7)"},
		{"negative Jitter", func(c *retry.Config) { c.Backoff = retry.Exponential{Jitter: -1} }, "Exponential.Jitter must be FullJitter, NoJitter or EqualJitter, got Jitter(-1)"},
		{"negative Decorrelated.Base", func(c *retry.Config) { c.Backoff = retry.Decorrelated{Base: -time.Second} }, "Decorrelated.Base must be >= 0 (0 means 100ms), got -1s"},
		{"nil BackOff.New", func(c *retry.Config) { c.Backoff = retry.BackOff{} }, "BackOff.New must not be nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := retry.DefaultConfig()
			tt.modify(&cfg)
			r, err := retry.New(cfg)
			assert.Nil(t, r)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "retry: ")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNewAcceptsEveryBackoff(t *testing.T) {
	for _, b := range []retry.Backoff{
		nil,
		retry.Constant{},
		retry.Exponential{},
		retry.Decorrelated{},
		retry.Exponential{Initial: time.Millisecond},
		retry.Exponential{Initial: time.Millisecond, Multiplier: 1, Jitter: retry.EqualJitter},
		retry.Decorrelated{Base: time.Millisecond},
		retry.BackOff{New: func() backoff.BackOff { return &backoff.ZeroBackOff{} }},
	} {
		cfg := retry.DefaultConfig()
		cfg.Backoff = b
		_, err := retry.New(cfg)
		assert.NoError(t, err, "%#v", b)
	}
}

func TestDoSucceedsFirstTimeWithoutWaiting(t *testing.T) {
	fr := newFakeRun(t)
	gaveUp := false
	cfg := retry.DefaultConfig()
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { _, gaveUp = e.(retry.GaveUp) })
	r := fr.retrier(cfg)
	op, calls := failing(0, nil)
	require.NoError(t, fr.do(context.Background(), r, op))
	assert.Equal(t, 1, *calls)
	assert.Empty(t, fr.seen, "no retry")
	assert.False(t, gaveUp)
	assert.Equal(t, epoch, fr.fc.Now())
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	fr := newFakeRun(t)
	gaveUp := false
	r := fr.retrier(retry.Config{
		MaxAttempts: 5,
		Backoff:     retry.Constant{Delay: time.Second},
		Observer:    bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { _, gaveUp = e.(retry.GaveUp) }),
	})
	op, calls := failing(3, errTransient)
	require.NoError(t, fr.do(context.Background(), r, op))
	assert.Equal(t, 4, *calls)
	assert.Equal(t, []retryEvent{
		{1, errTransient, time.Second},
		{2, errTransient, time.Second},
		{3, errTransient, time.Second},
	}, fr.seen)
	assert.Equal(t, epoch.Add(3*time.Second), fr.fc.Now(), "waited exactly the three delays")
	assert.False(t, gaveUp)
}

func TestDoGivesUpAfterMaxAttempts(t *testing.T) {
	fr := newFakeRun(t)
	var hooked retry.GaveUp
	r := fr.retrier(retry.Config{
		Name:        "inventory",
		MaxAttempts: 3,
		Backoff:     retry.Constant{Delay: time.Millisecond},
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if g, ok := e.(retry.GaveUp); ok {
				hooked = g
			}
		}),
	})
	cause := fmt.Errorf("read inventory: %w", io.ErrUnexpectedEOF)
	op, calls := failing(100, cause)
	err := fr.do(context.Background(), r, op)

	assert.Equal(t, 3, *calls)
	assert.Len(t, fr.seen, 2)
	e := giveUpError(t, err)
	assert.Equal(t, 3, e.Attempts)
	assert.Equal(t, retry.ErrMaxAttempts, e.Reason)
	assert.Equal(t, cause, e.Err)
	assert.ErrorIs(t, err, retry.ErrMaxAttempts)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "wraps the last error")
	assert.Equal(t, retry.GaveUp{Name: "inventory", Attempts: 3, Reason: retry.ErrMaxAttempts, Err: cause}, hooked, "GaveUp reports the returned error's fields")
	assert.Equal(t, "retry: gave up after 3 attempts (max attempts reached): read inventory: unexpected EOF", err.Error())
}

func TestErrorMessageForOneAttempt(t *testing.T) {
	e := &retry.Error{Attempts: 1, Reason: context.Canceled, Err: errTransient}
	assert.Equal(t, "retry: gave up after 1 attempt (context canceled): transient", e.Error())
}

func TestDoWithoutAttemptLimitRetriesUntilSuccess(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: retry.Unlimited, Backoff: retry.Constant{}})
	require.NoError(t, err)
	op, calls := failing(500, errTransient)
	require.NoError(t, r.Do(context.Background(), op))
	assert.Equal(t, 501, *calls)
}

func TestDoBacksOffExponentiallyUpToMaxDelay(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{
		MaxAttempts: 8,
		Backoff:     retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.NoJitter},
		MaxDelay:    time.Second,
	})
	op, _ := failing(100, errTransient)
	require.ErrorIs(t, fr.do(context.Background(), r, op), retry.ErrMaxAttempts)
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second}, fr.delays())
	assert.Equal(t, epoch.Add(4500*ms), fr.fc.Now())
}

func TestDoWithMultiplierThree(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{MaxAttempts: 4, Backoff: retry.Exponential{Initial: time.Second, Multiplier: 3, Jitter: retry.NoJitter}})
	op, _ := failing(100, errTransient)
	require.Error(t, fr.do(context.Background(), r, op))
	assert.Equal(t, []time.Duration{time.Second, 3 * time.Second, 9 * time.Second}, fr.delays())
}

func TestDoJitteredDelaysStayUnderMaxDelay(t *testing.T) {
	for _, b := range []retry.Backoff{
		retry.Exponential{Initial: 300 * time.Millisecond, Jitter: retry.FullJitter},
		retry.Exponential{Initial: 300 * time.Millisecond, Jitter: retry.EqualJitter},
		retry.Decorrelated{Base: 300 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%T", b), func(t *testing.T) {
			fr := newFakeRun(t)
			r := fr.retrier(retry.Config{MaxAttempts: 12, Backoff: b, MaxDelay: 2 * time.Second})
			op, _ := failing(100, errTransient)
			require.Error(t, fr.do(context.Background(), r, op))
			require.Len(t, fr.seen, 11)
			for _, d := range fr.delays() {
				assert.LessOrEqual(t, d, 2*time.Second)
				assert.GreaterOrEqual(t, d, time.Duration(0))
			}
		})
	}
}

func TestDoUsesAnyBackOff(t *testing.T) {
	fr := newFakeRun(t)
	made := 0
	r := fr.retrier(retry.Config{
		MaxAttempts: retry.Unlimited,
		Backoff: retry.BackOff{New: func() backoff.BackOff {
			made++
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(2*time.Second), 3)
		}},
		MaxDelay: 1500 * time.Millisecond,
	})

	op, _ := failing(0, nil)
	require.NoError(t, fr.do(context.Background(), r, op))
	assert.Equal(t, 0, made, "a first-attempt success builds no BackOff")

	op, calls := failing(100, errTransient)
	err := fr.do(context.Background(), r, op)
	assert.Equal(t, 1, made, "one BackOff per call that retries")
	assert.Equal(t, 4, *calls, "WithMaxRetries(3) allows three retries")
	assert.ErrorIs(t, err, retry.ErrBackoffStopped)
	assert.Equal(t, 4, giveUpError(t, err).Attempts)
	assert.Equal(t, []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond}, fr.delays(), "capped by MaxDelay")

	op, _ = failing(1, errTransient)
	require.NoError(t, fr.do(context.Background(), r, op))
	assert.Equal(t, 2, made, "each call gets a fresh BackOff")
}

func TestDoGivesUpWhenTheNextWaitWouldPassMaxElapsedTime(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{Backoff: retry.Constant{Delay: time.Second}, MaxElapsedTime: 2500 * time.Millisecond})
	calls := 0
	op := func(context.Context) error {
		calls++
		fr.fc.Advance(300 * time.Millisecond) // each attempt takes 300ms
		return errTransient
	}
	// Attempt 1 ends at 0.3s, waits until 1.3s; attempt 2 ends at 1.6s, and a
	// wait until 2.6s would pass 2.5s.
	err := fr.do(context.Background(), r, op)
	assert.Equal(t, 2, calls)
	assert.ErrorIs(t, err, retry.ErrMaxElapsedTime)
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, epoch.Add(1600*time.Millisecond), fr.fc.Now(), "gave up without waiting")
}

func TestDoStopsAtOnceWhenContextIsCancelledDuringAWait(t *testing.T) {
	fc := clocktest.New(epoch)
	r, err := retry.New(retry.Config{Backoff: retry.Constant{Delay: time.Hour}, Clock: fc})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	op, calls := failing(100, errTransient)
	done := make(chan error, 1)
	go func() { done <- r.Do(ctx, op) }()
	fc.BlockUntil(1)
	cancel()
	err = <-done

	assert.Equal(t, 1, *calls)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errTransient, "the last attempt's error is kept")
	e := giveUpError(t, err)
	assert.Equal(t, context.Canceled, e.Reason)
	assert.Equal(t, 1, e.Attempts)
	assert.Equal(t, epoch, fc.Now(), "no time passed")
	assert.Equal(t, 0, fc.Timers(), "the wait's timer is stopped")
}

func TestDoStopsWhenContextIsCancelledDuringAnAttempt(t *testing.T) {
	r, err := retry.New(retry.Config{Backoff: retry.Constant{}, MaxAttempts: 5})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err = r.Do(ctx, func(ctx context.Context) error {
		calls++
		cancel()
		return fmt.Errorf("query: %w", ctx.Err())
	})
	assert.Equal(t, 1, calls, "no retry after the caller cancelled")
	assert.Equal(t, context.Canceled, giveUpError(t, err).Reason)
}

func TestDoStopsWhenContextDeadlinePasses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err := retry.New(retry.Config{Backoff: retry.Constant{Delay: time.Millisecond}, MaxAttempts: retry.Unlimited})
	require.NoError(t, err)
	calls := 0
	err = r.Do(ctx, func(ctx context.Context) error {
		if calls++; calls == 1 {
			return errTransient // a wait of 1ms fits before the deadline
		}
		<-ctx.Done() // the deadline passes during the second attempt
		return fmt.Errorf("query: %w", ctx.Err())
	})
	assert.Equal(t, 2, calls)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, context.DeadlineExceeded, giveUpError(t, err).Reason)
}

func TestDoGivesUpAtOnceWhenTheWaitWouldPassTheDeadline(t *testing.T) {
	t.Run("fake clock", func(t *testing.T) {
		fr := newFakeRun(t)
		r := fr.retrier(retry.Config{Backoff: retry.Constant{Delay: 10 * time.Second}})
		ctx := withDeadline(fr.fc.Now().Add(5 * time.Second))
		for _, wait := range []struct {
			name string
			err  error
		}{{"backoff", errTransient}, {"hint", hinted{20 * time.Second}}} {
			op, calls := failing(100, wait.err)
			err := fr.do(ctx, r, op)
			assert.Equal(t, 1, *calls, wait.name)
			assert.ErrorIs(t, err, retry.ErrDeadline, wait.name)
			assert.ErrorIs(t, err, context.DeadlineExceeded, wait.name)
			assert.ErrorIs(t, err, wait.err, wait.name)
			assert.Equal(t, retry.ErrDeadline, giveUpError(t, err).Reason)
		}
		assert.Empty(t, fr.seen, "no wait began")
		assert.Equal(t, epoch, fr.fc.Now(), "no time passed")

		// A wait that ends exactly at the deadline is in vain too; one that
		// ends before it is waited.
		op, calls := failing(100, hinted{5 * time.Second})
		require.ErrorIs(t, fr.do(ctx, r, op), retry.ErrDeadline)
		assert.Equal(t, 1, *calls)
		op, _ = failing(1, hinted{5*time.Second - 1})
		require.NoError(t, fr.do(ctx, r, op))
		assert.Equal(t, []time.Duration{5*time.Second - 1}, fr.delays())
	})
	t.Run("system clock", func(t *testing.T) {
		r, err := retry.New(retry.Config{})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		calls := 0
		start := time.Now()
		err = r.Do(ctx, func(context.Context) error { calls++; return hinted{time.Hour} })
		elapsed := time.Since(start)
		assert.Equal(t, 1, calls)
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.Less(t, elapsed, 100*time.Millisecond, "gave up at once instead of sleeping until the deadline")
	})
}

// deadlineCtx has a deadline on a test's fake clock and never ends by
// itself, as a context a timeout.Timeout on that clock would give.
type deadlineCtx struct {
	context.Context
	at time.Time
}

func withDeadline(at time.Time) context.Context {
	return deadlineCtx{context.Background(), at}
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.at, true }

func TestDoDoesNotRunOpWhenContextIsAlreadyDone(t *testing.T) {
	r, err := retry.New(retry.DefaultConfig())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	op, calls := failing(0, nil)
	err = r.Do(ctx, op)
	assert.Equal(t, 0, *calls)
	assert.ErrorIs(t, err, context.Canceled)
	var e *retry.Error
	assert.False(t, errors.As(err, &e), "nothing was attempted, so there is nothing to give up on")
}

func TestDoRetriesOnlyWhatRetryIfAccepts(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantCalls int
		wantErr   error
	}{
		{"accepted error is retried", errTransient, 3, retry.ErrMaxAttempts},
		{"rejected error is returned at once", errPoison, 1, retry.ErrNotRetryable},
		{"wrapped rejected error is returned at once", fmt.Errorf("handle: %w", errPoison), 1, retry.ErrNotRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []error
			r, err := retry.New(retry.Config{
				MaxAttempts: 3,
				Backoff:     retry.Constant{},
				RetryIf: func(err error) bool {
					seen = append(seen, err)
					return !errors.Is(err, errPoison)
				},
			})
			require.NoError(t, err)
			op, calls := failing(100, tt.err)
			err = r.Do(context.Background(), op)
			assert.Equal(t, tt.wantCalls, *calls)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.err, seen[0], "RetryIf sees op's error")
		})
	}
}

func TestDoNeverRetriesPermanentErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"retry.Permanent", retry.Permanent(errPoison)},
		{"backoff.Permanent", backoff.Permanent(errPoison)},
		{"wrapped retry.Permanent", fmt.Errorf("decode: %w", retry.Permanent(errPoison))},
		{"joined backoff.Permanent", errors.Join(errTransient, backoff.Permanent(errPoison))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := retry.New(retry.Config{
				MaxAttempts: 5,
				Backoff:     retry.Constant{},
				RetryIf:     func(error) bool { return true },
			})
			require.NoError(t, err)
			op, calls := failing(100, tt.err)
			err = r.Do(context.Background(), op)
			assert.Equal(t, 1, *calls)
			assert.ErrorIs(t, err, retry.ErrNotRetryable)
			assert.ErrorIs(t, err, errPoison)
			assert.True(t, retry.IsPermanent(err))
		})
	}
}

func TestPermanent(t *testing.T) {
	assert.NoError(t, retry.Permanent(nil))
	p := retry.Permanent(errPoison)
	assert.Equal(t, "poison", p.Error())
	assert.ErrorIs(t, p, errPoison)
	assert.True(t, retry.IsPermanent(p))
	assert.False(t, retry.IsPermanent(nil))
	assert.False(t, retry.IsPermanent(errPoison))
	assert.False(t, retry.IsPermanent(errors.Join(errTransient, errPoison)))
}

func TestDoHonoursRetryAfterHints(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		maxDelay time.Duration
		want     time.Duration
	}{
		{"hint replaces the backoff", hinted{5 * time.Second}, 0, 5 * time.Second},
		{"shorter hint than the backoff", hinted{100 * time.Millisecond}, 0, 100 * time.Millisecond},
		{"hint found through wrapping", fmt.Errorf("call: %w", hinted{3 * time.Second}), 0, 3 * time.Second},
		{"hint found in a joined error", errors.Join(errTransient, hinted{4 * time.Second}), 0, 4 * time.Second},
		{"hint capped by MaxDelay", hinted{time.Minute}, 2 * time.Second, 2 * time.Second},
		{"an hour's hint capped by the default MaxDelay", hinted{time.Hour}, 0, retry.DefaultMaxDelay},
		{"negative hint means now", hinted{-time.Second}, 0, 0},
		{"no hint", errTransient, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRun(t)
			r := fr.retrier(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{Delay: time.Second}, MaxDelay: tt.maxDelay})
			op, _ := failing(1, tt.err)
			require.NoError(t, fr.do(context.Background(), r, op))
			assert.Equal(t, []time.Duration{tt.want}, fr.delays())
			assert.Equal(t, epoch.Add(tt.want), fr.fc.Now())
		})
	}
}

func TestAttemptTimeoutCutsSlowAttemptsAndRetriesThem(t *testing.T) {
	leakcheck.Check(t)
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{
		MaxAttempts:    3,
		Backoff:        retry.Constant{},
		AttemptTimeout: time.Second,
		RetryIf:        func(error) bool { return false }, // timeouts are retried anyway
	})
	var causes []error
	op := func(ctx context.Context) error {
		<-ctx.Done()
		causes = append(causes, context.Cause(ctx))
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() { done <- r.Do(context.Background(), op) }()
	for attempt := 1; attempt <= 3; attempt++ {
		fr.fc.BlockUntil(1)
		fr.fc.Advance(time.Second)
		if attempt < 3 {
			ev := <-fr.events
			assert.Equal(t, attempt, ev.attempt)
			assert.ErrorIs(t, ev.err, retry.ErrAttemptTimeout)
		}
	}
	err := <-done
	assert.ErrorIs(t, err, retry.ErrMaxAttempts)
	assert.ErrorIs(t, err, retry.ErrAttemptTimeout)
	assert.Equal(t, 3, giveUpError(t, err).Attempts)
	assert.Equal(t, []error{retry.ErrAttemptTimeout, retry.ErrAttemptTimeout, retry.ErrAttemptTimeout}, causes)
	assert.Contains(t, err.Error(), "attempt timed out after 1s")
}

func TestAttemptTimeoutLetsFastAttemptsFinish(t *testing.T) {
	leakcheck.Check(t)
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{}, AttemptTimeout: time.Second})
	calls := 0
	op := func(ctx context.Context) error {
		calls++
		fr.fc.Advance(999 * time.Millisecond)
		return ctx.Err()
	}
	require.NoError(t, fr.do(context.Background(), r, op))
	assert.Equal(t, 1, calls)
	assert.Equal(t, 0, fr.fc.Timers(), "the attempt's timer is stopped")
}

func TestAttemptTimeoutIsNotTheCallerDeadline(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{MaxAttempts: 5, Backoff: retry.Constant{}, AttemptTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := fr.do(ctx, r, func(ctx context.Context) error {
		calls++
		cancel() // the caller gives up during the attempt
		<-ctx.Done()
		return ctx.Err()
	})
	assert.Equal(t, 1, calls, "the caller's cancellation is not an attempt timeout")
	assert.Equal(t, context.Canceled, giveUpError(t, err).Reason)
	assert.NotErrorIs(t, err, retry.ErrAttemptTimeout)
}

func TestAttemptTimeoutOnTheSystemClock(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}, AttemptTimeout: 5 * time.Millisecond})
	require.NoError(t, err)
	var deadlines []bool
	err = r.Do(context.Background(), func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		deadlines = append(deadlines, ok)
		<-ctx.Done()
		assert.Equal(t, retry.ErrAttemptTimeout, context.Cause(ctx))
		return ctx.Err()
	})
	assert.Equal(t, []bool{true, true}, deadlines)
	assert.ErrorIs(t, err, retry.ErrAttemptTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, retry.ErrMaxAttempts)

	// The caller's own earlier deadline is not an attempt timeout.
	r, err = retry.New(retry.Config{MaxAttempts: 5, Backoff: retry.Constant{}, AttemptTimeout: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	calls := 0
	err = r.Do(ctx, func(ctx context.Context) error {
		calls++
		<-ctx.Done()
		return ctx.Err()
	})
	assert.Equal(t, 1, calls)
	assert.Equal(t, context.DeadlineExceeded, giveUpError(t, err).Reason)
	assert.NotErrorIs(t, err, retry.ErrAttemptTimeout)
}

func TestRetriedReportsEachRetry(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{MaxAttempts: 4, Backoff: retry.Exponential{Initial: time.Second, Jitter: retry.NoJitter}})
	errs := []error{errors.New("one"), errors.New("two"), errors.New("three"), errors.New("four")}
	calls := 0
	err := fr.do(context.Background(), r, func(context.Context) error {
		calls++
		return errs[calls-1]
	})
	require.Error(t, err)
	assert.Equal(t, []retryEvent{
		{1, errs[0], time.Second},
		{2, errs[1], 2 * time.Second},
		{3, errs[2], 4 * time.Second},
	}, fr.seen, "Retried is not reported for the attempt Do gives up on")
	assert.Equal(t, errs[3], giveUpError(t, err).Err)
}

func TestRetrierIsSafeForConcurrentUse(t *testing.T) {
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.5, MinPerSecond: 1, Window: time.Second})
	require.NoError(t, err)
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Decorrelated{Base: time.Microsecond}, MaxDelay: 10 * time.Microsecond, Budget: budget})
	require.NoError(t, err)
	done := make(chan int)
	for g := range 8 {
		go func() {
			ok := 0
			for i := range 200 {
				op, _ := failing((g+i)%3, errTransient)
				if r.Do(context.Background(), op) == nil {
					ok++
				}
			}
			done <- ok
		}()
	}
	total := 0
	for range 8 {
		total += <-done
	}
	assert.Greater(t, total, 8*200/3)
}

func TestRejectionEndsTheRetriesAtOnce(t *testing.T) {
	// A policy's refusal: an open breaker's error, wrapped as a chain
	// would pass it up, with a hint of when the breaker half-opens.
	open := fmt.Errorf("inventory: %w", rejection{after: 5 * time.Second})
	t.Run("fake clock", func(t *testing.T) {
		fr := newFakeRun(t)
		var rec recorder
		r := fr.retrier(retry.Config{Name: "inventory", Observer: &rec})
		op, calls := failing(100, open)
		err := fr.do(context.Background(), r, op)
		assert.Equal(t, 1, *calls, "op is not called again")
		assert.Empty(t, fr.seen, "no wait")
		assert.Equal(t, epoch, fr.fc.Now(), "no time passed")
		assert.ErrorIs(t, err, bulwark.ErrRejected, "the rejection still matches")
		assert.ErrorIs(t, err, rejection{after: 5 * time.Second}, "and so does its own error")
		assert.ErrorIs(t, err, retry.ErrRejected)
		e := giveUpError(t, err)
		assert.Equal(t, retry.ErrRejected, e.Reason)
		assert.Equal(t, 1, e.Attempts)
		assert.Equal(t, []bulwark.Event{retry.GaveUp{Name: "inventory", Attempts: 1, Reason: retry.ErrRejected, Err: open}}, rec.all())
	})
	t.Run("system clock", func(t *testing.T) {
		r, err := retry.New(retry.DefaultConfig())
		require.NoError(t, err)
		for range 20 { // the fastest of several runs, so a busy machine does not fail it
			op, calls := failing(100, open)
			start := time.Now()
			err = r.Do(context.Background(), op)
			elapsed := time.Since(start)
			require.Equal(t, 1, *calls)
			require.ErrorIs(t, err, bulwark.ErrRejected)
			if elapsed < 100*time.Microsecond {
				return
			}
		}
		t.Fatal("a rejected call took 100µs or more in each of 20 runs")
	})
	t.Run("after a retryable failure", func(t *testing.T) {
		fr := newFakeRun(t)
		r := fr.retrier(retry.Config{MaxAttempts: 5, Backoff: retry.Constant{Delay: time.Second}})
		calls := 0
		err := fr.do(context.Background(), r, func(context.Context) error {
			if calls++; calls == 1 {
				return errTransient
			}
			return open
		})
		assert.Equal(t, 2, calls)
		assert.Equal(t, retry.ErrRejected, giveUpError(t, err).Reason)
		assert.Equal(t, []time.Duration{time.Second}, fr.delays())
	})
}

func TestRetryRejectedWaitsTheCappedHint(t *testing.T) {
	tests := []struct {
		name     string
		hint     time.Duration
		maxDelay time.Duration
		want     time.Duration
	}{
		{"the hint", 5 * time.Second, 0, 5 * time.Second},
		{"capped by MaxDelay", time.Minute, 2 * time.Second, 2 * time.Second},
		{"capped by the default MaxDelay", time.Hour, 0, retry.DefaultMaxDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRun(t)
			r := fr.retrier(retry.Config{RetryRejected: true, MaxDelay: tt.maxDelay, Backoff: retry.Constant{Delay: time.Millisecond}})
			op, calls := failing(2, rejection{after: tt.hint})
			require.NoError(t, fr.do(context.Background(), r, op))
			assert.Equal(t, 3, *calls)
			assert.Equal(t, []time.Duration{tt.want, tt.want}, fr.delays())
			assert.Equal(t, epoch.Add(2*tt.want), fr.fc.Now(), "waited exactly the capped hint, twice")
		})
	}
	t.Run("the backoff without a hint", func(t *testing.T) {
		fr := newFakeRun(t)
		r := fr.retrier(retry.Config{RetryRejected: true, Backoff: retry.Constant{Delay: 7 * time.Second}})
		op, _ := failing(1, fmt.Errorf("bulkhead: %w", bulwark.ErrRejected))
		require.NoError(t, fr.do(context.Background(), r, op))
		assert.Equal(t, []time.Duration{7 * time.Second}, fr.delays())
	})
	t.Run("not past the deadline", func(t *testing.T) {
		fr := newFakeRun(t)
		r := fr.retrier(retry.Config{RetryRejected: true})
		op, calls := failing(1, rejection{after: 5 * time.Second})
		err := fr.do(withDeadline(epoch.Add(time.Second)), r, op)
		assert.Equal(t, 1, *calls)
		assert.ErrorIs(t, err, retry.ErrDeadline)
		assert.ErrorIs(t, err, bulwark.ErrRejected)
		assert.Equal(t, epoch, fr.fc.Now())
	})
	t.Run("RetryIf still decides", func(t *testing.T) {
		r, err := retry.New(retry.Config{RetryRejected: true, RetryIf: func(err error) bool { return !errors.Is(err, bulwark.ErrRejected) }})
		require.NoError(t, err)
		op, calls := failing(1, rejection{})
		assert.ErrorIs(t, r.Do(context.Background(), op), retry.ErrNotRetryable)
		assert.Equal(t, 1, *calls)
	})
}

func TestEveryWaitIsCappedByTheDefaultMaxDelay(t *testing.T) {
	for _, b := range []retry.Backoff{
		retry.Constant{Delay: time.Hour},
		retry.Exponential{Initial: time.Minute, Jitter: retry.NoJitter},
		retry.Decorrelated{Base: time.Hour},
		retry.BackOff{New: func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }},
	} {
		fr := newFakeRun(t)
		r := fr.retrier(retry.Config{Backoff: b})
		op, _ := failing(2, errTransient)
		require.NoError(t, fr.do(context.Background(), r, op))
		assert.Equal(t, []time.Duration{retry.DefaultMaxDelay, retry.DefaultMaxDelay}, fr.delays(), "%T", b)
	}
}

func TestZeroConfigIsTheDefault(t *testing.T) {
	for name, cfg := range map[string]retry.Config{"zero": {}, "DefaultConfig": retry.DefaultConfig()} {
		t.Run(name, func(t *testing.T) {
			fr := newFakeRun(t)
			r := fr.retrier(cfg)
			op, calls := failing(100, errTransient)
			err := fr.do(context.Background(), r, op)
			assert.Equal(t, 3, *calls, "three attempts")
			assert.Equal(t, retry.ErrMaxAttempts, giveUpError(t, err).Reason)
			for i, d := range fr.delays() {
				full := 100 * time.Millisecond << i
				assert.True(t, d >= 0 && d < full, "retry %d: full jitter under %v, got %v", i+1, full, d)
			}
		})
	}
}

func TestZeroRetrierPanics(t *testing.T) {
	var r retry.Retrier
	assert.PanicsWithValue(t, "retry: Retrier used without New", func() { _ = r.Do(context.Background(), succeed) })
	var sink retry.MemorySink[string]
	assert.PanicsWithValue(t, "retry: Retrier used without New", func() {
		_ = retry.Handler(&r, &sink, func(context.Context, string) error { return nil })(context.Background(), "m")
	})
}

func TestEvents(t *testing.T) {
	tests := []struct {
		event bulwark.Event
		kind  string
		log   string
	}{
		{retry.Retried{Name: "inv", Attempt: 2, Err: errTransient, Delay: time.Second}, "retry.retried", "[attempt=2 delay=1s error=transient]"},
		{retry.GaveUp{Name: "inv", Attempts: 3, Reason: retry.ErrMaxAttempts, Err: errTransient}, "retry.gave_up", "[attempts=3 reason=retry: max attempts reached error=transient]"},
		{retry.DeadLettered{Name: "inv", Attempts: 1, Err: errPoison}, "retry.dead_lettered", "[attempts=1 error=poison]"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.kind, tt.event.Kind())
		assert.Equal(t, "inv", tt.event.Component())
		assert.Equal(t, tt.log, tt.event.LogValue().String())
	}
}

func TestEventsReachTheObserverOnTheCallersGoroutineWithItsContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "caller")
	var got []string
	r, err := retry.New(retry.Config{
		Name: "inv", MaxAttempts: 2, Backoff: retry.Constant{},
		Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			got = append(got, e.Kind()+":"+ctx.Value(key{}).(string))
		}),
	})
	require.NoError(t, err)
	op, _ := failing(100, errTransient)
	require.Error(t, r.Do(ctx, op))
	assert.Equal(t, []string{"retry.retried:caller", "retry.gave_up:caller"}, got)
}
