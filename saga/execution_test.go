package saga_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errDeclined = errors.New("card declined")

func TestCompletedSagaRanEveryStepInOrder(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		e.step("charge", saga.Pivot, nil, nil),
		e.step("ship", saga.Retriable, nil, nil),
	))
	require.NoError(t, o.Execute(context.Background(), "o1", Order{ID: "o1"}))
	assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/ship"}, e.j.list())
	assert.Equal(t, []string{
		"started reserve #1", "completed reserve #1",
		"started charge #1", "completed charge #1",
		"started ship #1", "completed ship #1",
		"finished completed",
	}, e.events.list())
	snap, err := o.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Completed, snap.Status)
	assert.Equal(t, []string{"reserve", "charge", "ship"}, snap.Data.Trail)
	assert.Empty(t, snap.Step)
}

func TestFailedStepIsCompensatedWithTheStepsBeforeItInReverse(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		saga.Step[Order]{Name: "notify", Action: nop}, // nothing to undo
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
		e.step("confirm", saga.Pivot, nil, nil),
	))
	err := o.Execute(context.Background(), "o1", Order{ID: "o1"})
	var serr *saga.Error
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, saga.Compensated, serr.Status)
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.ErrorIs(t, err, errDeclined, "the cause is kept")
	assert.NotErrorIs(t, err, saga.ErrNeedsAttention)
	assert.EqualError(t, err, `saga o1: compensated: step "charge": card declined`)

	// The failed step's compensation runs too: its action may have taken
	// effect before failing. The service sees its key and finds nothing.
	assert.Equal(t, []string{"o1/reserve", "o1/charge/compensation", "o1/reserve/compensation"}, e.j.list())
	assert.Equal(t, []string{
		"started reserve #1", "completed reserve #1",
		"started notify #1", "completed notify #1",
		"started charge #1", `failed charge #1: card declined`,
		`compensating: step "charge": card declined`,
		"started undo charge #1", "completed undo charge #1",
		"started undo reserve #1", "completed undo reserve #1",
		"finished compensated",
	}, e.events.list())
	snap, err := o.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Compensated, snap.Status)
	assert.Equal(t, `step "charge": card declined`, snap.Error)
	assert.Equal(t, []string{"reserve", "undo charge", "undo reserve"}, snap.Data.Trail,
		"compensations see the data as persisted, without the failed action's changes")
}

func TestFirstStepFailingWithoutCompensationEndsCompensated(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(saga.Step[Order]{Name: "validate", Action: func(context.Context, *Order, saga.Invocation) error { return errDeclined }}))
	err := o.Execute(context.Background(), "o1", Order{ID: "o1"})
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.Empty(t, e.j.list())
}

func TestPivotFailureCompensatesOnlyTheStepsBeforeIt(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		e.step("charge", saga.Pivot, always(errDeclined), nil),
		e.step("ship", saga.Retriable, nil, nil),
	))
	err := o.Execute(context.Background(), "o1", Order{ID: "o1"})
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.ErrorIs(t, err, errDeclined)
	assert.Equal(t, []string{"o1/reserve", "o1/reserve/compensation"}, e.j.list())
}

func TestRetriableStepIsRetriedUntilItSucceedsAndNeverCompensated(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		e.step("charge", saga.Pivot, nil, nil),
		e.step("ship", saga.Retriable, fails(4, errors.New("carrier down")), nil),
	))
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{ID: "o1"}) }()
	for range 4 {
		e.clk.WaitFor(time.Millisecond, saga.DefaultConfig().MaxDelay) // the backoff before the next try
		e.fc.Advance(saga.DefaultConfig().MaxDelay)
	}
	require.NoError(t, <-done)
	assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/ship"}, e.j.list())
	assert.Contains(t, e.events.list(), "completed ship #5")
}

func TestRetriableStepPastItsLimitNeedsAttentionAndResumes(t *testing.T) {
	e := newEnv(t)
	var broken = true
	ship := e.step("ship", saga.Retriable, func(saga.Invocation) error {
		if broken {
			return errors.New("carrier down")
		}
		return nil
	}, nil)
	o := e.orchestrator(def(e.step("charge", saga.Pivot, nil, nil), ship), func(c *saga.Config) { c.RetriableAttempts = 2 })
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{ID: "o1"}) }()
	e.clk.WaitFor(50*time.Millisecond, 100*time.Millisecond) // the default backoff's first wait
	e.fc.Advance(time.Minute)
	err := <-done
	assert.ErrorIs(t, err, saga.ErrNeedsAttention)
	assert.ErrorContains(t, err, `step "ship" failed 2 time(s): carrier down`)
	snap, err := o.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.NeedsAttention, snap.Status)
	assert.Equal(t, "ship", snap.Step)

	broken = false
	require.NoError(t, o.Resume(context.Background(), "o1"), "Resume goes forward from a stuck retriable step")
	assert.Equal(t, []string{"o1/charge", "o1/ship"}, e.j.list())
}

func TestCompensationRetriesWithBackoffThenNeedsAttention(t *testing.T) {
	e := newEnv(t)
	var fixed bool
	undoReserve := func(inv saga.Invocation) error {
		if fixed {
			return nil
		}
		return errors.New("inventory service down")
	}
	d := def(
		e.step("reserve", saga.Compensatable, nil, undoReserve),
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
	)
	o := e.orchestrator(d, func(c *saga.Config) { c.CompensationAttempts = 3 })
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{ID: "o1"}) }()
	for _, wait := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		// The default backoff doubles from 100ms, and its jitter takes up
		// to half off each wait.
		d := e.clk.WaitFor(wait/2, wait)
		e.fc.Advance(d - time.Millisecond)
		assert.Contains(t, e.clk.Live(), d, "still waiting")
		e.fc.Advance(time.Millisecond)
	}
	err := <-done
	assert.ErrorIs(t, err, saga.ErrNeedsAttention)
	assert.ErrorIs(t, err, errDeclined, "the original cause is kept")
	assert.ErrorContains(t, err, `compensation of step "reserve" failed 3 time(s): inventory service down`)
	assert.Contains(t, e.events.list(), "failed undo reserve #3: inventory service down")
	assert.Equal(t, "finished needs_attention", e.events.list()[len(e.events.list())-1])
	assert.Contains(t, e.logs.String(), "saga needs attention")

	stuck, err := o.List(context.Background(), saga.ListQuery{Status: saga.NeedsAttention})
	require.NoError(t, err)
	require.Len(t, stuck, 1)
	assert.Equal(t, "o1", stuck[0].ID)
	assert.Equal(t, "reserve", stuck[0].Step)
	n, err := o.Recover(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "a saga that needs attention is not retried on its own")

	fixed = true
	err = o.Resume(context.Background(), "o1")
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.Equal(t, []string{"o1/reserve", "o1/charge/compensation", "o1/reserve/compensation"}, e.j.list())
}

func TestResumeAndAbandonOnlyApplyToSagasNeedingAttention(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)))
	ctx := context.Background()
	require.NoError(t, o.Execute(ctx, "done", Order{}))
	assert.ErrorIs(t, o.Resume(ctx, "done"), saga.ErrNotNeedingAttention)
	assert.ErrorIs(t, o.Abandon(ctx, "done", "why"), saga.ErrNotNeedingAttention)
	assert.ErrorIs(t, o.Resume(ctx, "missing"), saga.ErrNotFound)
	assert.ErrorIs(t, o.Abandon(ctx, "missing", "why"), saga.ErrNotFound)

	other := e.orchestrator(saga.Definition[Order]{Name: "refund", Steps: []saga.Step[Order]{{Name: "a", Action: nop}}})
	_, err := other.Get(ctx, "done")
	assert.ErrorIs(t, err, saga.ErrNotFound, "an orchestrator sees only its definition's sagas")
	assert.ErrorIs(t, other.Resume(ctx, "done"), saga.ErrNotFound)
	list, err := other.List(ctx, saga.ListQuery{})
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestAbandonedSagaStaysAbandoned(t *testing.T) {
	e := newEnv(t)
	ch := e.events.finished
	o := e.orchestrator(def(
		e.step("charge", saga.Compensatable, always(errDeclined), always(errors.New("refund failed"))),
	), func(c *saga.Config) { c.CompensationAttempts = 1 })
	ctx := context.Background()
	assert.ErrorIs(t, o.Execute(ctx, "o1", Order{}), saga.ErrNeedsAttention)
	assert.Equal(t, saga.NeedsAttention, (<-ch).Status)
	require.NoError(t, o.Abandon(ctx, "o1", "refunded by hand, ticket 77"))
	ev := <-ch
	assert.Equal(t, saga.Abandoned, ev.Status)
	assert.ErrorContains(t, ev.Err, "ticket 77")
	snap, err := o.Get(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Abandoned, snap.Status)
	assert.Contains(t, snap.Error, "refund failed")
	assert.Contains(t, snap.Error, "abandoned: refunded by hand, ticket 77")
	assert.ErrorIs(t, o.Resume(ctx, "o1"), saga.ErrNotNeedingAttention)
	err = (&saga.Error{SagaID: "o1", Status: saga.Abandoned, Err: errors.New(snap.Error)})
	assert.ErrorIs(t, err, saga.ErrAbandoned)
}

func TestCompensationSurvivesTheCallerGoingAway(t *testing.T) {
	e := newEnv(t)
	type key struct{}
	charging := make(chan struct{})
	release := make(chan struct{})
	var undoCtxErr, undoValue []any
	undo := func(name string) saga.StepFunc[Order] {
		return func(ctx context.Context, o *Order, inv saga.Invocation) error {
			if name == "reserve" {
				<-release // Execute has long returned by now
			}
			undoCtxErr = append(undoCtxErr, ctx.Err())
			undoValue = append(undoValue, ctx.Value(key{}))
			e.j.record(inv)
			return nil
		}
	}
	ch := e.events.finished
	o := e.orchestrator(def(
		saga.Step[Order]{Name: "reserve", Action: nop, Compensate: undo("reserve")},
		saga.Step[Order]{Name: "charge", Action: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
			close(charging)
			<-ctx.Done()
			return ctx.Err()
		}, Compensate: undo("charge")},
		saga.Step[Order]{Name: "ship", Kind: saga.Pivot, Action: nop},
	))

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "trace-1"))
	done := make(chan error, 1)
	go func() { done <- o.Execute(ctx, "o1", Order{}) }()
	<-charging
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled, "Execute returns at once when its caller goes away")
	assert.NotContains(t, e.j.list(), "o1/reserve/compensation", "the compensations are still going on")
	close(release)
	ev := <-ch
	assert.Equal(t, saga.Compensated, ev.Status)
	assert.ErrorIs(t, ev.Err, context.Canceled)
	assert.ErrorContains(t, ev.Err, "the caller of the saga went away")
	assert.Equal(t, []string{"o1/charge/compensation", "o1/reserve/compensation"}, e.j.list())
	assert.Equal(t, []any{nil, nil}, undoCtxErr, "compensations run in a context the caller's cancellation does not reach")
	assert.Equal(t, []any{"trace-1", "trace-1"}, undoValue, "and that keeps the caller's values")
}

func TestCallerGoingAwayPastThePivotDoesNotStopTheSaga(t *testing.T) {
	e := newEnv(t)
	shipping := make(chan struct{})
	release := make(chan struct{})
	var shipCtxErr error
	ch := e.events.finished
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		e.step("charge", saga.Pivot, nil, nil),
		saga.Step[Order]{Name: "ship", Kind: saga.Retriable, Action: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
			close(shipping)
			<-release
			shipCtxErr = ctx.Err()
			return nil
		}},
	))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Execute(ctx, "o1", Order{}) }()
	<-shipping
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	close(release)
	assert.Equal(t, saga.Completed, (<-ch).Status)
	assert.NoError(t, shipCtxErr)
	assert.Equal(t, []string{"o1/reserve", "o1/charge"}, e.j.list())
}

func TestCallerGoneBeforeThePivotCompensatesInsteadOfEnteringIt(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := e.events.finished
	o := e.orchestrator(def(
		saga.Step[Order]{Name: "reserve", Action: func(_ context.Context, _ *Order, inv saga.Invocation) error {
			e.j.record(inv)
			cancel() // the caller leaves while the step finishes
			return nil
		}, Compensate: func(_ context.Context, _ *Order, inv saga.Invocation) error { e.j.record(inv); return nil }},
		e.step("charge", saga.Pivot, nil, nil),
	))
	assert.ErrorIs(t, o.Execute(ctx, "o1", Order{}), context.Canceled)
	assert.Equal(t, saga.Compensated, (<-ch).Status)
	assert.Equal(t, []string{"o1/reserve", "o1/reserve/compensation"}, e.j.list())
}

func TestDeadlineCompensatesTheRunningStep(t *testing.T) {
	e := newEnv(t)
	var cause error
	charging := make(chan struct{})
	d := def(
		e.step("reserve", saga.Compensatable, nil, nil),
		saga.Step[Order]{Name: "charge", Action: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
			close(charging)
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ctx.Err()
		}, Compensate: func(_ context.Context, _ *Order, inv saga.Invocation) error { e.j.record(inv); return nil }},
		e.step("ship", saga.Pivot, nil, nil),
	)
	d.Timeout = 10 * time.Second
	o := e.orchestrator(d)
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{}) }()
	<-charging
	e.clk.Wait(10 * time.Second) // the deadline's timer
	e.fc.Advance(10*time.Second - time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("saga ended before its deadline: %v", err)
	default:
	}
	e.fc.Advance(time.Millisecond)
	err := <-done
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.ErrorIs(t, err, saga.ErrDeadlineExceeded)
	assert.ErrorIs(t, cause, saga.ErrDeadlineExceeded)
	assert.Equal(t, []string{"o1/reserve", "o1/charge/compensation", "o1/reserve/compensation"}, e.j.list())
	snap, err := o.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.True(t, epoch.Add(10*time.Second).Equal(snap.Deadline))
}

func TestDeadlinePassedBetweenStepsCompensatesBeforeTheNextStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nextKind saga.Kind
		want     []string
	}{
		// The next step may have been started by a dead instance, so its
		// compensation runs too.
		{"compensatable next", saga.Compensatable, []string{"o1/reserve", "o1/charge/compensation", "o1/reserve/compensation"}},
		{"pivot next", saga.Pivot, []string{"o1/reserve", "o1/reserve/compensation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			late := func(saga.Invocation) error { e.fc.Advance(time.Minute); return nil }
			d := def(e.step("reserve", saga.Compensatable, late, nil), e.step("charge", tc.nextKind, nil, nil))
			d.Timeout = 10 * time.Second
			o := e.orchestrator(d)
			err := o.Execute(context.Background(), "o1", Order{})
			assert.ErrorIs(t, err, saga.ErrDeadlineExceeded)
			assert.Equal(t, tc.want, e.j.list(), "charge never ran")
		})
	}
}

func TestDeadlineDoesNotReachPastThePivot(t *testing.T) {
	e := newEnv(t)
	late := func(saga.Invocation) error { e.fc.Advance(time.Minute); return nil }
	d := def(
		e.step("reserve", saga.Compensatable, nil, nil),
		e.step("charge", saga.Pivot, late, nil),
		e.step("ship", saga.Retriable, nil, nil),
	)
	d.Timeout = 10 * time.Second
	o := e.orchestrator(d)
	require.NoError(t, o.Execute(context.Background(), "o1", Order{}))
	assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/ship"}, e.j.list())
}

func TestStepTimeoutCancelsEachInvocation(t *testing.T) {
	e := newEnv(t)
	var causes []error
	slowOnce := saga.Step[Order]{
		Name: "charge", Timeout: 5 * time.Second,
		Policy: retryPolicy(2),
		Action: func(ctx context.Context, _ *Order, inv saga.Invocation) error {
			if inv.Attempt == 1 {
				<-ctx.Done()
				causes = append(causes, context.Cause(ctx))
				return ctx.Err()
			}
			e.j.record(inv)
			return nil
		},
	}
	o := e.orchestrator(def(slowOnce))
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{}) }()
	e.clk.Wait(5 * time.Second) // the step's timeout
	e.fc.Advance(5 * time.Second)
	require.NoError(t, <-done)
	assert.Equal(t, []error{saga.ErrStepTimeout}, causes)
	assert.Contains(t, e.events.list(), "failed charge #1: context canceled (saga: step timeout)")
	assert.Equal(t, []string{"o1/charge"}, e.j.list())
}

// retryPolicy is a retry.Retrier trying op up to n times without waiting,
// so the tests need not move a clock for it.
func retryPolicy(n int) bulwark.Policy {
	r, err := retry.New(retry.Config{MaxAttempts: n, Backoff: retry.Constant{}})
	if err != nil {
		panic(err)
	}
	return r
}

func TestPermanentErrorsSkipTheStepsRetries(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		saga.Step[Order]{Name: "charge", Policy: retryPolicy(5), Action: func(context.Context, *Order, saga.Invocation) error {
			return retry.Permanent(errDeclined)
		}},
	))
	err := o.Execute(context.Background(), "o1", Order{})
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.ErrorIs(t, err, errDeclined)
	assert.Contains(t, e.events.list(), "failed charge #1: card declined")
	assert.NotContains(t, e.events.list(), "started charge #2")
}

func TestPolicyRunsEachAttemptOnThePersistedData(t *testing.T) {
	e := newEnv(t)
	charge := saga.Step[Order]{
		Name: "charge", Policy: retryPolicy(3),
		Action: func(_ context.Context, o *Order, inv saga.Invocation) error {
			o.Amount++
			o.Trail = append(o.Trail, "charge")
			if inv.Attempt < 3 {
				return errors.New("timeout")
			}
			return nil
		},
	}
	o := e.orchestrator(def(charge))
	require.NoError(t, o.Execute(context.Background(), "o1", Order{Amount: 10}))
	snap, err := o.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, 11.0, snap.Data.Amount, "a failed attempt's changes to the data are discarded")
	assert.Equal(t, []string{"charge"}, snap.Data.Trail)
	assert.Equal(t, []string{
		"started charge #1", "failed charge #1: timeout",
		"started charge #2", "failed charge #2: timeout",
		"started charge #3", "completed charge #3",
		"finished completed",
	}, e.events.list())
}

func TestStepsPassDataToLaterStepsAndCompensations(t *testing.T) {
	e := newEnv(t)
	var seen []string
	o := e.orchestrator(def(
		saga.Step[Order]{Name: "reserve",
			Action: func(_ context.Context, o *Order, _ saga.Invocation) error { o.Reservation = "R-1"; return nil },
			Compensate: func(_ context.Context, o *Order, _ saga.Invocation) error {
				seen = append(seen, "release "+o.Reservation+" charge="+o.Charge)
				return nil
			}},
		saga.Step[Order]{Name: "charge",
			Action: func(_ context.Context, o *Order, _ saga.Invocation) error {
				seen = append(seen, "charge for "+o.Reservation)
				o.Charge = "C-1"
				return errDeclined // after changing the data
			},
			Compensate: func(_ context.Context, o *Order, _ saga.Invocation) error {
				seen = append(seen, "refund charge="+o.Charge)
				o.Reservation += " (refunded)"
				return nil
			}},
	))
	assert.ErrorIs(t, o.Execute(context.Background(), "o1", Order{}), saga.ErrCompensated)
	assert.Equal(t, []string{"charge for R-1", "refund charge=", "release R-1 (refunded) charge="}, seen)
}

func TestPanickingStepFailsAndIsCompensated(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		saga.Step[Order]{Name: "charge", Action: func(context.Context, *Order, saga.Invocation) error { panic("nil map") }},
	))
	err := o.Execute(context.Background(), "o1", Order{})
	assert.ErrorIs(t, err, saga.ErrCompensated)
	assert.ErrorContains(t, err, `step "charge": panic: nil map`)
	assert.Equal(t, []string{"o1/reserve", "o1/reserve/compensation"}, e.j.list())
	assert.Contains(t, e.logs.String(), "saga step panicked")
}

func TestDataThatCannotBeEncodedNeedsAttention(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		saga.Step[Order]{Name: "price", Action: func(_ context.Context, o *Order, _ saga.Invocation) error {
			o.Amount = math.NaN() // JSON has no NaN
			return nil
		}},
		e.step("charge", saga.Compensatable, nil, nil),
	))
	ctx := context.Background()
	err := o.Execute(ctx, "o1", Order{})
	assert.ErrorIs(t, err, saga.ErrNeedsAttention)
	assert.ErrorContains(t, err, "encoding the data")
	snap, err := o.Get(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.NeedsAttention, snap.Status)
	assert.Equal(t, []string{"reserve"}, snap.Data.Trail, "the last data that could be encoded is kept")
	assert.Equal(t, []string{"o1/reserve"}, e.j.list(), "nothing ran after the transition could not be written")

	err = o.Execute(ctx, "o2", Order{Amount: math.Inf(1)})
	assert.ErrorContains(t, err, "encoding data")
	_, err = o.Get(ctx, "o2")
	assert.ErrorIs(t, err, saga.ErrNotFound, "a saga whose data cannot be written is not started")
}

func TestExecuteValidatesItsArguments(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(e.step("a", saga.Compensatable, nil, nil)))
	assert.EqualError(t, o.Execute(context.Background(), "", Order{}), "saga: Execute: id must not be empty")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, o.Execute(ctx, "o1", Order{}), context.Canceled)
	_, err := o.Get(context.Background(), "o1")
	assert.ErrorIs(t, err, saga.ErrNotFound, "a cancelled Execute starts nothing")
	assert.Empty(t, e.j.list())
}

// gobless is a codec of its own: a prefix before JSON, to see it is used.
type prefixed struct{ saga.JSON[Order] }

func (p prefixed) Marshal(v *Order) ([]byte, error) {
	b, err := p.JSON.Marshal(v)
	return append([]byte("v1:"), b...), err
}

func (p prefixed) Unmarshal(b []byte, v *Order) error {
	if len(b) < 3 || string(b[:3]) != "v1:" {
		return errors.New("not a v1 record")
	}
	return p.JSON.Unmarshal(b[3:], v)
}

func TestDefinitionCodecPersistsTheData(t *testing.T) {
	e := newEnv(t)
	d := def(e.step("a", saga.Compensatable, nil, nil), e.step("b", saga.Compensatable, nil, nil))
	d.Codec = prefixed{}
	o := e.orchestrator(d)
	require.NoError(t, o.Execute(context.Background(), "o1", Order{ID: "o1"}))
	rec, err := e.store.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, `v1:{"id":"o1","trail":["a","b"],"amount":0}`, string(rec.Data))
	snap, err := o.Get(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, snap.Data.Trail)
}
