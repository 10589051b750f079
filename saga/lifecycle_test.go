package saga_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Orchestrator is a bulwark.Service.
var _ bulwark.Service = (*saga.Orchestrator[Order])(nil)

func TestNewStartsNothing(t *testing.T) {
	e := newEnv(t)
	before := runtime.NumGoroutine()
	o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)))
	assert.Equal(t, before, runtime.NumGoroutine(), "New started a goroutine")
	assert.Empty(t, e.clk.Live(), "New armed a timer")
	require.NoError(t, o.Close(context.Background()), "closing an orchestrator that never ran")
}

func TestCloseBeforeRunRefusesNewWorkButNotReads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.Create(ctx, saga.Record{
		ID: "stuck", Name: "order", Status: saga.NeedsAttention, Data: []byte(`{}`), Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
	}))
	o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)))
	require.NoError(t, o.Close(ctx))
	require.NoError(t, o.Close(ctx), "Close is idempotent")

	assert.ErrorIs(t, o.Run(ctx), bulwark.ErrClosed)
	assert.ErrorIs(t, o.Execute(ctx, "o1", Order{}), bulwark.ErrClosed)
	_, err := o.Recover(ctx)
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	assert.ErrorIs(t, o.Resume(ctx, "stuck"), bulwark.ErrClosed)
	_, err = e.store.Get(ctx, "o1")
	assert.ErrorIs(t, err, saga.ErrNotFound, "a closed orchestrator starts no saga")

	snap, err := o.Get(ctx, "stuck")
	require.NoError(t, err)
	assert.Equal(t, saga.NeedsAttention, snap.Status)
	list, err := o.List(ctx, saga.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, list, 1)
	require.NoError(t, o.Abandon(ctx, "stuck", "an operator may still abandon"))
}

func TestRunReturnsItsContextsErrorWrapped(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)))
			ctx, cancel := tc.ctx()
			done := make(chan error, 1)
			go func() { done <- o.Run(ctx) }()
			cancel()
			err := <-done
			assert.ErrorIs(t, err, tc.want)
			assert.NotEqual(t, tc.want, err, "wrapped")
			assert.ErrorContains(t, err, "saga: Run: ")
		})
	}
}

func TestRunReturnsNilAfterCloseAndOnlyOneRunsAtATime(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)), func(c *saga.Config) { c.PollInterval = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- o.Run(ctx) }()
	e.clk.Wait(time.Minute) // Run has looked once and sleeps
	assert.ErrorIs(t, o.Run(context.Background()), bulwark.ErrRunning, "a second Run while the first runs")
	cancel()
	assert.ErrorIs(t, <-first, context.Canceled)

	second := make(chan error, 1)
	go func() { second <- o.Run(context.Background()) }()
	e.clk.Wait(time.Minute)
	require.NoError(t, o.Close(context.Background()))
	assert.NoError(t, <-second, "Run returns nil after Close")
	assert.ErrorIs(t, o.Run(context.Background()), bulwark.ErrClosed)
}

func TestCloseLetsTheInvocationInFlightFinishThenReleasesTheSaga(t *testing.T) {
	e := newEnv(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	var chargeCtxErr error
	charge := e.blockingStep("charge", started, release)
	inner := charge.Action
	charge.Action = func(ctx context.Context, o *Order, inv saga.Invocation) error {
		err := inner(ctx, o, inv)
		chargeCtxErr = ctx.Err()
		return err
	}
	d := def(e.step("reserve", saga.Compensatable, nil, nil), charge, e.step("ship", saga.Pivot, nil, nil))
	a := e.orchestrator(d, func(c *saga.Config) { c.InstanceID = "a" })
	ctx := context.Background()
	running := make(chan error, 1)
	go func() { running <- a.Run(ctx) }()
	executed := make(chan error, 1)
	go func() { executed <- a.Execute(ctx, "o1", Order{}) }()
	<-started
	e.clk.Wait(saga.DefaultConfig().PollInterval) // Run has looked once and sleeps

	closed := make(chan error, 1)
	go func() { closed <- a.Close(ctx) }()
	require.NoError(t, <-running, "Close stops Run")
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the saga in flight stopped: %v", err)
	default:
	}
	close(release)
	require.NoError(t, <-closed)
	err := <-executed
	assert.ErrorIs(t, err, saga.ErrStopped)
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	assert.NoError(t, chargeCtxErr, "the invocation in flight was let finish")
	assert.Equal(t, []string{"o1/reserve", "o1/charge"}, e.j.list(), "its outcome was kept, and nothing else started")
	assert.Contains(t, e.events.list(), "stopped o1: bulwark: closed")

	rec, err := e.store.Get(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Running, rec.Status)
	assert.Equal(t, 2, rec.Step, "charge's completion was written")
	assert.Empty(t, rec.Owner, "the lease is released")
	assert.True(t, rec.LeaseUntil.IsZero())

	// Another instance takes it over at once, without waiting for a lease.
	b := e.orchestrator(d)
	n, err := b.Recover(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/ship"}, e.j.list())
}

func TestCloseCutsShortWhatOutlivesItsContext(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	var cause error
	charge := saga.Step[Order]{Name: "charge", Action: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
		started <- struct{}{}
		<-ctx.Done()
		cause = context.Cause(ctx)
		return ctx.Err()
	}, Compensate: nop}
	d := def(e.step("reserve", saga.Compensatable, nil, nil), charge, e.step("ship", saga.Pivot, nil, nil))
	a := e.orchestrator(d)
	ctx := context.Background()
	executed := make(chan error, 1)
	go func() { executed <- a.Execute(ctx, "o1", Order{}) }()
	<-started

	expired, cancel := context.WithCancel(ctx)
	cancel()
	err := a.Close(expired)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "saga: Close: ")
	err = <-executed
	assert.ErrorIs(t, err, saga.ErrStopped)
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	assert.ErrorIs(t, cause, bulwark.ErrClosed, "the invocation's context is cancelled with cause bulwark.ErrClosed")
	require.NoError(t, a.Close(ctx), "once the sagas have stopped, Close returns nil")

	rec, err := e.store.Get(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Running, rec.Status, "a cut-short invocation is not a failure")
	assert.Equal(t, 1, rec.Step, "left for recovery at the step that was cut short")
	assert.Empty(t, rec.Owner)
	assert.Equal(t, []string{"o1/reserve"}, e.j.list(), "nothing was compensated")
}

func TestCloseStopsBackgroundCompensationWithoutFailingIt(t *testing.T) {
	e := newEnv(t)
	undoing := make(chan struct{}, 1)
	d := def(
		saga.Step[Order]{Name: "reserve", Action: nop, Compensate: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
			undoing <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}},
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
	)
	a := e.orchestrator(d, func(c *saga.Config) { c.CompensationAttempts = 1 })
	done := make(chan error, 1)
	go func() { done <- a.Execute(context.Background(), "o1", Order{}) }()
	<-undoing
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, a.Close(expired), context.Canceled)
	assert.ErrorIs(t, <-done, saga.ErrStopped)
	rec, err := e.store.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Compensating, rec.Status, "a compensation cut short by Close is resumed, not counted as failed")
	assert.Equal(t, 0, rec.Step)
}

func TestCloseEndsTheWaitBetweenTries(t *testing.T) {
	e := newEnv(t)
	d := def(
		e.step("reserve", saga.Compensatable, nil, always(errors.New("inventory down"))),
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
	)
	a := e.orchestrator(d, func(c *saga.Config) {
		c.Backoff, c.MaxDelay = retry.Constant{Delay: time.Hour}, 2*time.Hour
	})
	done := make(chan error, 1)
	go func() { done <- a.Execute(context.Background(), "o1", Order{}) }()
	e.clk.Wait(time.Hour) // the wait before the second try of undo reserve
	require.NoError(t, a.Close(context.Background()), "Close does not wait out the backoff")
	assert.ErrorIs(t, <-done, saga.ErrStopped)
	rec, err := e.store.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Compensating, rec.Status, "an interrupted wait is no failure: the compensation is tried again later")
	assert.Empty(t, rec.Owner)
	assert.Empty(t, e.clk.Live(), "no timer is left")
}

func TestTheHeartbeatRunsWhileSagasAreDrivenAndEndsWhenIdle(t *testing.T) {
	e := newEnv(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	// Not closed by the test: nothing may be left running all the same.
	o, err := saga.New(def(e.blockingStep("charge", started, release)), e.store, e.config())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{}) }()
	<-started
	assert.Equal(t, []time.Duration{heartbeat}, e.clk.Live(), "the heartbeat runs while a saga is driven")
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, o.Execute(context.Background(), "o2", Order{}))
	assert.Equal(t, []time.Duration{heartbeat}, e.clk.Live(), "one heartbeat serves one saga after another")
	e.fc.Advance(heartbeat) // it finds no saga to renew, and ends
}

func TestZeroValuesPanicFromTheirMethods(t *testing.T) {
	ctx := context.Background()
	var o saga.Orchestrator[Order]
	for name, call := range map[string]func(){
		"Execute":    func() { _ = o.Execute(ctx, "x", Order{}) },
		"Run":        func() { _ = o.Run(ctx) },
		"Close":      func() { _ = o.Close(ctx) },
		"Recover":    func() { _, _ = o.Recover(ctx) },
		"Resume":     func() { _ = o.Resume(ctx, "x") },
		"Abandon":    func() { _ = o.Abandon(ctx, "x", "why") },
		"Get":        func() { _, _ = o.Get(ctx, "x") },
		"List":       func() { _, _ = o.List(ctx, saga.ListQuery{}) },
		"InstanceID": func() { _ = o.InstanceID() },
	} {
		assert.PanicsWithValue(t, "saga: Orchestrator used without New", call, name)
	}
	var m saga.MemoryStore
	assert.PanicsWithValue(t, "saga: MemoryStore used without NewMemoryStore", func() { _ = m.Create(ctx, saga.Record{ID: "x"}) })
	assert.PanicsWithValue(t, "saga: MemoryStore used without NewMemoryStore", func() { _, _ = m.Get(ctx, "x") })
}

func TestRecoverReturnsItsContextsErrorWrappedAndErrClosedAfterClose(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.Recover(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "saga: Recover: ")
	require.NoError(t, o.Close(context.Background()))
	_, err = o.Recover(context.Background())
	assert.ErrorIs(t, err, bulwark.ErrClosed)
}
