package retry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type order struct{ ID string }

// handle runs h on msg on the fake clock of fr, advancing through waits.
func (fr *fakeRun) handle(ctx context.Context, h func(context.Context, order) error, msg order) error {
	done := make(chan error, 1)
	go func() { done <- h(ctx, msg) }()
	return fr.drive(done)
}

func TestHandlerDeadLettersAMessageWhoseRetriesRunOut(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{MaxAttempts: 3, Backoff: retry.Exponential{Initial: time.Second, Jitter: retry.NoJitter}})
	var sink retry.MemorySink[order]
	errs := []error{errors.New("timeout 1"), errors.New("timeout 2"), errors.New("timeout 3")}
	calls := 0
	h := retry.Handler(r, &sink, func(ctx context.Context, o order) error {
		calls++
		fr.fc.Advance(100 * time.Millisecond) // each attempt takes 100ms
		return errs[calls-1]
	})

	require.NoError(t, fr.handle(context.Background(), h, order{"o-1"}), "a dead-lettered message is handled")
	require.Equal(t, 1, sink.Len())
	letter := sink.Letters()[0]
	assert.Equal(t, order{"o-1"}, letter.Item)
	assert.ErrorIs(t, letter.Err, retry.ErrMaxAttempts)
	assert.ErrorIs(t, letter.Err, errs[2])
	ms := time.Millisecond
	assert.Equal(t, []retry.Attempt{
		{Number: 1, Start: epoch, Duration: 100 * ms, Err: errs[0], Delay: time.Second},
		{Number: 2, Start: epoch.Add(1100 * ms), Duration: 100 * ms, Err: errs[1], Delay: 2 * time.Second},
		{Number: 3, Start: epoch.Add(3200 * ms), Duration: 100 * ms, Err: errs[2]},
	}, letter.Attempts)
}

func TestHandlerDeadLettersPoisonMessagesAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		retryIf func(error) bool
	}{
		{"permanent error", retry.Permanent(errPoison), nil},
		{"error RetryIf rejects", errPoison, func(err error) bool { return !errors.Is(err, errPoison) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := retry.New(retry.Config{MaxAttempts: 5, Backoff: retry.Constant{}, RetryIf: tt.retryIf})
			require.NoError(t, err)
			var sink retry.MemorySink[order]
			calls := 0
			h := retry.Handler(r, &sink, func(context.Context, order) error { calls++; return tt.err })
			require.NoError(t, h(context.Background(), order{"poison"}))
			assert.Equal(t, 1, calls)
			letters := sink.Letters()
			require.Len(t, letters, 1)
			assert.ErrorIs(t, letters[0].Err, retry.ErrNotRetryable)
			assert.ErrorIs(t, letters[0].Err, errPoison)
			assert.Len(t, letters[0].Attempts, 1)
		})
	}
}

func TestHandlerPassesGoodMessagesThrough(t *testing.T) {
	fr := newFakeRun(t)
	r := fr.retrier(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Second}})
	var sink retry.MemorySink[order]
	var got []order
	calls := 0
	h := retry.Handler(r, &sink, func(ctx context.Context, o order) error {
		calls++
		if calls == 1 {
			return errTransient
		}
		got = append(got, o)
		return nil
	})
	require.NoError(t, fr.handle(context.Background(), h, order{"o-2"}))
	assert.Equal(t, []order{{"o-2"}}, got, "the handler sees the message")
	assert.Equal(t, 0, sink.Len())
}

func TestHandlerNeverDeadLettersOnShutdown(t *testing.T) {
	tests := []struct {
		name string
		// handler returns the message handler; it may call cancel, as a
		// consumer shutting down would.
		handler func(cancel context.CancelFunc) func(context.Context, order) error
		// drive moves the test along while the handler runs.
		drive func(fc *clocktest.Fake, cancel context.CancelFunc)
	}{
		{
			name: "cancelled during an attempt",
			handler: func(cancel context.CancelFunc) func(context.Context, order) error {
				return func(ctx context.Context, _ order) error {
					cancel()
					<-ctx.Done()
					return fmt.Errorf("publish: %w", ctx.Err())
				}
			},
		},
		{
			name: "cancellation turned into a permanent error",
			handler: func(cancel context.CancelFunc) func(context.Context, order) error {
				return func(context.Context, order) error {
					cancel()
					return retry.Permanent(errors.New("connection closed"))
				}
			},
		},
		{
			name: "cancelled during a wait",
			handler: func(context.CancelFunc) func(context.Context, order) error {
				return func(context.Context, order) error { return errTransient }
			},
			drive: func(fc *clocktest.Fake, cancel context.CancelFunc) {
				fc.BlockUntil(1)
				cancel()
			},
		},
		{
			name: "cancelled during the last attempt",
			handler: func(cancel context.CancelFunc) func(context.Context, order) error {
				calls := 0
				return func(context.Context, order) error {
					if calls++; calls == 2 {
						cancel()
					}
					return errTransient
				}
			},
			drive: func(fc *clocktest.Fake, _ context.CancelFunc) {
				fc.BlockUntil(1)
				fc.Advance(time.Hour)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := clocktest.New(epoch)
			r, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{Delay: time.Hour}, Clock: fc})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var sink retry.MemorySink[order]
			h := retry.Handler(r, &sink, tt.handler(cancel))
			done := make(chan error, 1)
			go func() { done <- h(ctx, order{"good"}) }()
			if tt.drive != nil {
				tt.drive(fc, cancel)
			}
			err = <-done
			assert.ErrorIs(t, err, context.Canceled, "the message is not handled")
			assert.Equal(t, 0, sink.Len(), "a shutdown dead-letters nothing")
		})
	}
}

func TestHandlerDoesNotDeadLetterWhenTheBudgetRefuses(t *testing.T) {
	fc := clocktest.New(epoch)
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: retry.None, Window: time.Second, Clock: fc})
	require.NoError(t, err)
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{}, Budget: budget, Clock: fc})
	require.NoError(t, err)
	var sink retry.MemorySink[order]
	h := retry.Handler(r, &sink, func(context.Context, order) error { return errTransient })
	err = h(context.Background(), order{"o-3"})
	assert.ErrorIs(t, err, retry.ErrBudgetExhausted, "the message goes back to the caller")
	assert.ErrorIs(t, err, errTransient)
	assert.Equal(t, 0, sink.Len())
}

func TestHandlerDoesNotDeadLetterARejectionOrAWaitPastTheDeadline(t *testing.T) {
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		reason error
	}{
		{"rejected by a policy", context.Background(), rejection{after: time.Second}, retry.ErrRejected},
		{"the wait would pass the deadline", withDeadline(epoch.Add(time.Second)), hinted{time.Minute}, retry.ErrDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			r, err := retry.New(retry.Config{Clock: clocktest.New(epoch), Observer: &rec})
			require.NoError(t, err)
			var sink retry.MemorySink[order]
			h := retry.Handler(r, &sink, func(context.Context, order) error { return tt.err })
			err = h(tt.ctx, order{"o-5"})
			assert.ErrorIs(t, err, tt.reason, "the message goes back to the caller")
			assert.ErrorIs(t, err, tt.err)
			assert.Equal(t, 0, sink.Len())
			for _, e := range rec.all() {
				assert.NotEqual(t, "retry.dead_lettered", e.Kind())
			}
		})
	}
}

func TestHandlerReportsDeadLettered(t *testing.T) {
	var rec recorder
	r, err := retry.New(retry.Config{Name: "orders", MaxAttempts: 2, Backoff: retry.Constant{}, Observer: &rec})
	require.NoError(t, err)
	var sink retry.MemorySink[order]
	h := retry.Handler(r, &sink, func(context.Context, order) error { return errTransient })
	require.NoError(t, h(context.Background(), order{"o-6"}))
	events := rec.all()
	require.Len(t, events, 3)
	assert.Equal(t, "retry.retried", events[0].Kind())
	assert.Equal(t, "retry.gave_up", events[1].Kind())
	dl, ok := events[2].(retry.DeadLettered)
	require.True(t, ok, "%T", events[2])
	assert.Equal(t, "orders", dl.Name)
	assert.Equal(t, 2, dl.Attempts)
	assert.ErrorIs(t, dl.Err, retry.ErrMaxAttempts)
	assert.Same(t, sink.Letters()[0].Err, dl.Err)
}

func TestHandlerPanicsOnNilArguments(t *testing.T) {
	r, err := retry.New(retry.Config{})
	require.NoError(t, err)
	var sink retry.MemorySink[order]
	handle := func(context.Context, order) error { return nil }
	assert.PanicsWithValue(t, "retry: Handler: r (the Retrier) is nil", func() { retry.Handler(nil, &sink, handle) })
	assert.PanicsWithValue(t, "retry: Handler: sink is nil", func() { retry.Handler[order](r, nil, handle) })
	assert.PanicsWithValue(t, "retry: Handler: handle is nil", func() { retry.Handler(r, &sink, nil) })
}

type failingSink struct{ err error }

func (s failingSink) DeadLetter(context.Context, retry.DeadLetter[order]) error { return s.err }

func TestHandlerReportsASinkFailure(t *testing.T) {
	r, err := retry.New(retry.Config{MaxAttempts: 1, Backoff: retry.Constant{}})
	require.NoError(t, err)
	errSink := errors.New("dlq unavailable")
	h := retry.Handler[order](r, failingSink{errSink}, func(context.Context, order) error { return errPoison })
	err = h(context.Background(), order{"o-4"})
	assert.ErrorIs(t, err, errSink, "the message is not handled when it could not be kept")
	assert.ErrorIs(t, err, errPoison)
	assert.Contains(t, err.Error(), "dead-letter sink failed")
}

func TestMemorySink(t *testing.T) {
	var sink retry.MemorySink[int]
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, sink.DeadLetter(ctx, retry.DeadLetter[int]{Item: i}))
		}()
	}
	wg.Wait()
	assert.Equal(t, 50, sink.Len())

	letters := sink.Letters()
	letters[0].Item = -1
	assert.NotEqual(t, -1, sink.Letters()[0].Item, "Letters returns a copy")

	seen := map[int]bool{}
	for _, l := range sink.Drain() {
		seen[l.Item] = true
	}
	assert.Len(t, seen, 50)
	assert.Equal(t, 0, sink.Len(), "Drain empties the sink")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, sink.DeadLetter(cancelled, retry.DeadLetter[int]{Item: 1}), context.Canceled)
	assert.Equal(t, 0, sink.Len())
}
