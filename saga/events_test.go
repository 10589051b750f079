package saga_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventsHaveStableKindsAndNameTheirOrchestrator(t *testing.T) {
	inv := saga.Invocation{SagaID: "o1", Step: "charge", Compensation: true, Attempt: 2}
	boom := errors.New("boom")
	for _, tc := range []struct {
		ev   bulwark.Event
		kind string
		log  string
	}{
		{saga.StepStarted{Orchestrator: "orders", Invocation: inv}, "saga.step_started",
			"event.saga=o1 event.step=charge event.compensation=true event.attempt=2"},
		{saga.StepCompleted{Orchestrator: "orders", Invocation: inv, Duration: time.Second}, "saga.step_completed",
			"event.saga=o1 event.step=charge event.compensation=true event.attempt=2 event.duration=1s"},
		{saga.StepFailed{Orchestrator: "orders", Invocation: inv, Duration: time.Second, Err: boom}, "saga.step_failed",
			"event.saga=o1 event.step=charge event.compensation=true event.attempt=2 event.duration=1s event.error=boom"},
		{saga.Retrying{Orchestrator: "orders", Invocation: inv, Err: boom, Wait: time.Minute}, "saga.retrying",
			"event.saga=o1 event.step=charge event.compensation=true event.attempt=2 event.error=boom event.wait=1m0s"},
		{saga.CompensationStarted{Orchestrator: "orders", SagaID: "o1", Err: boom}, "saga.compensation_started",
			"event.saga=o1 event.error=boom"},
		{saga.Finished{Orchestrator: "orders", SagaID: "o1", Status: saga.Completed}, "saga.finished",
			"event.saga=o1 event.status=completed"},
		{saga.Finished{Orchestrator: "orders", SagaID: "o1", Status: saga.Compensated, Err: boom}, "saga.finished",
			"event.saga=o1 event.status=compensated event.error=boom"},
		{saga.TakenOver{Orchestrator: "orders", SagaID: "o1", Status: saga.Running, Step: "charge"}, "saga.taken_over",
			"event.saga=o1 event.status=running event.step=charge"},
		{saga.Stopped{Orchestrator: "orders", SagaID: "o1", Err: bulwark.ErrClosed}, "saga.stopped",
			`event.saga=o1 event.error="bulwark: closed"`},
	} {
		assert.Equal(t, tc.kind, tc.ev.Kind())
		assert.Equal(t, "orders", tc.ev.Component())
		var buf bytes.Buffer
		bulwark.LogEvents(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelInfo).Observe(context.Background(), tc.ev)
		assert.Contains(t, buf.String(), "msg="+tc.kind+" component=orders "+tc.log+"\n")
	}
}

func TestEventsCarryTheContextOfTheWork(t *testing.T) {
	e := newEnv(t)
	type key struct{}
	stepCtx := map[string]context.Context{}
	d := def(
		saga.Step[Order]{Name: "reserve", Timeout: time.Minute, Action: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
			stepCtx["reserve"] = ctx
			return nil
		}, Compensate: func(ctx context.Context, _ *Order, _ saga.Invocation) error {
			stepCtx["undo reserve"] = ctx
			return nil
		}},
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
	)
	o := e.orchestrator(d, func(c *saga.Config) { c.Name = "orders-eu" })
	ctx := context.WithValue(context.Background(), key{}, "trace-7")
	assert.ErrorIs(t, o.Execute(ctx, "o1", Order{}), saga.ErrCompensated)

	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	require.NotEmpty(t, e.events.events)
	for i, ev := range e.events.events {
		got := e.events.ctxs[i]
		assert.Equal(t, "orders-eu", ev.Component(), "%s names its orchestrator by Config.Name", ev.Kind())
		assert.Equal(t, "trace-7", got.Value(key{}), "%s carries the caller's values", ev.Kind())
		switch ev := ev.(type) {
		case saga.StepStarted:
			if want := stepCtx[describeStep(ev.Invocation)]; want != nil {
				assert.True(t, want == got, "%s gets the context the step runs with", describe(ev))
			}
		case saga.StepCompleted:
			if want := stepCtx[describeStep(ev.Invocation)]; want != nil {
				assert.True(t, want == got, "%s gets the context the step ran with", describe(ev))
			}
		}
	}
	assert.Equal(t, []string{
		"started reserve #1", "completed reserve #1",
		"started charge #1", "failed charge #1: card declined",
		`compensating: step "charge": card declined`,
		"started undo charge #1", "completed undo charge #1",
		"started undo reserve #1", "completed undo reserve #1",
		"finished compensated",
	}, e.events.lines)
}

func describeStep(inv saga.Invocation) string {
	if inv.Compensation {
		return "undo " + inv.Step
	}
	return inv.Step
}

func TestRecoveryReportsTakeoversWithRunsContext(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.Create(ctx, saga.Record{
		ID: "left", Name: "order", Status: saga.Running, Step: 1, Data: []byte(`{}`),
		Owner: "dead", Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
	}))
	o := e.orchestrator(def(e.step("reserve", saga.Compensatable, nil, nil), e.step("charge", saga.Compensatable, nil, nil)))
	type key struct{}
	n, err := o.Recover(context.WithValue(ctx, key{}, "recovery"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{`taken over left: running at "charge"`, "started charge #1", "completed charge #1", "finished completed"}, e.events.list())
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	for i, c := range e.events.ctxs {
		assert.Equal(t, "recovery", c.Value(key{}), e.events.lines[i])
	}
}

func TestRetryingReportsEachWait(t *testing.T) {
	e := newEnv(t)
	o := e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, fails(2, errors.New("inventory down"))),
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
	))
	done := make(chan error, 1)
	go func() { done <- o.Execute(context.Background(), "o1", Order{}) }()
	var waits []time.Duration
	for range 2 {
		d := e.clk.WaitFor(time.Millisecond, time.Second)
		waits = append(waits, d)
		e.fc.Advance(d)
	}
	assert.ErrorIs(t, <-done, saga.ErrCompensated)
	var reported []time.Duration
	for _, ev := range e.events.all() {
		if r, ok := ev.(saga.Retrying); ok {
			reported = append(reported, r.Wait)
			assert.Equal(t, "reserve", r.Step)
			assert.True(t, r.Compensation)
			assert.ErrorContains(t, r.Err, "inventory down")
		}
	}
	assert.Equal(t, waits, reported, "each Retrying names the wait that follows")
	assert.True(t, strings.Contains(strings.Join(e.events.list(), "\n"), "retrying undo reserve after #2: inventory down"))
}
