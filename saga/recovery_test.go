package saga_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockingStep is a compensatable step whose action signals when it starts
// and then waits for release or for its context to end.
func (e *env) blockingStep(name string, started chan<- struct{}, release <-chan struct{}) saga.Step[Order] {
	s := e.step(name, saga.Compensatable, nil, nil)
	inner := s.Action
	s.Action = func(ctx context.Context, o *Order, inv saga.Invocation) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return inner(ctx, o, inv)
	}
	return s
}

// renewals counts the renewals that reach the store.
type renewals struct {
	saga.Store
	n atomic.Int32
}

func (r *renewals) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	r.n.Add(1)
	return r.Store.Renew(ctx, owner, ids, until)
}

func TestHeartbeatKeepsTheLeaseOfALongStep(t *testing.T) {
	e := newEnv(t)
	store := &renewals{Store: e.store}
	started, release := make(chan struct{}, 1), make(chan struct{})
	lease := func(c *saga.Config) { c.LeaseDuration = 30 * time.Second }
	d := def(e.blockingStep("charge", started, release))
	a := e.orchestratorOn(store, d, lease)
	done := make(chan error, 1)
	go func() { done <- a.Execute(context.Background(), "o1", Order{}) }()
	<-started
	e.clk.Wait(10 * time.Second) // the heartbeat, every third of the lease
	for range 9 {                // 90s: three times the lease
		e.fc.Advance(10 * time.Second)
		e.clk.Wait(10 * time.Second) // the heartbeat has renewed (or not) and sleeps again
	}
	assert.GreaterOrEqual(t, store.n.Load(), int32(4), "renewed every 20s or so")
	b := e.orchestrator(d, lease)
	n, err := b.Recover(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "the lease of a live instance never ran out")
	close(release)
	require.NoError(t, <-done)
}

func TestQuickSagasNeedNoRenewals(t *testing.T) {
	e := newEnv(t)
	store := &renewals{Store: e.store}
	o := e.orchestratorOn(store, def(e.step("a", saga.Compensatable, nil, nil)), func(c *saga.Config) { c.LeaseDuration = 30 * time.Second })
	require.NoError(t, o.Execute(context.Background(), "o1", Order{}))
	e.fc.Advance(time.Hour)
	assert.Zero(t, store.n.Load())
}

func TestRunTakesOverSagasAsTheirLeasesEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	leftBehind := func(id string, lease time.Duration) {
		require.NoError(t, e.store.Create(ctx, saga.Record{
			ID: id, Name: "order", Status: saga.Running, Step: 1, Data: []byte(`{"trail":["reserve"]}`),
			Owner: "dead", LeaseUntil: epoch.Add(lease), Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
		}))
	}
	leftBehind("now", -time.Second)
	leftBehind("later", 90*time.Second)
	ch := e.events.finished
	o := e.orchestrator(def(e.step("reserve", saga.Compensatable, nil, nil), e.step("charge", saga.Pivot, nil, nil)),
		func(c *saga.Config) { c.PollInterval = time.Minute })
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Run(runCtx) }()
	ev := <-ch
	assert.Equal(t, "now", ev.SagaID, "the first look is at once")
	e.clk.Wait(time.Minute) // Run sleeps until its next look
	e.fc.Advance(time.Minute)
	e.clk.Wait(time.Minute)
	assert.Equal(t, []string{"now/charge"}, e.j.list(), "a held lease is left alone")
	e.fc.Advance(time.Minute)
	ev = <-ch
	assert.Equal(t, "later", ev.SagaID)
	assert.Equal(t, saga.Completed, ev.Status)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestRecoverDrivesAtMostConcurrencySagasAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const sagas = 10
	for i := range sagas {
		require.NoError(t, e.store.Create(ctx, saga.Record{
			ID: string(rune('a' + i)), Name: "order", Status: saga.Running, Data: []byte(`{}`),
			Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
		}))
	}
	var running, most atomic.Int32
	gate, started := make(chan struct{}), make(chan struct{})
	step := saga.Step[Order]{Name: "a", Action: func(context.Context, *Order, saga.Invocation) error {
		n := running.Add(1)
		started <- struct{}{}
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		return nil
	}}
	o := e.orchestrator(def(step), func(c *saga.Config) { c.Concurrency = 3 })
	done := make(chan int, 1)
	go func() {
		n, err := o.Recover(ctx)
		assert.NoError(t, err)
		done <- n
	}()
	for range 3 {
		<-started
	}
	for range sagas - 3 { // one ends, the next one starts
		gate <- struct{}{}
		<-started
	}
	for range 3 {
		gate <- struct{}{}
	}
	assert.Equal(t, sagas, <-done)
	assert.Equal(t, int32(3), most.Load())
	recs, err := e.store.List(ctx, saga.ListQuery{Status: saga.Completed})
	require.NoError(t, err)
	assert.Len(t, recs, sagas)
}

// failingWrites fails every write after the first n.
type failingWrites struct {
	saga.Store
	left atomic.Int32
}

var errDiskFull = errors.New("disk full")

func (f *failingWrites) Update(ctx context.Context, rec saga.Record) error {
	if f.left.Add(-1) < 0 {
		return errDiskFull
	}
	return f.Store.Update(ctx, rec)
}

func TestStoreErrorStopsTheSagaBeforeItsNextStep(t *testing.T) {
	e := newEnv(t)
	store := &failingWrites{Store: e.store}
	store.left.Store(1)
	d := def(e.step("reserve", saga.Compensatable, nil, nil), e.step("charge", saga.Compensatable, nil, nil), e.step("ship", saga.Compensatable, nil, nil))
	o := e.orchestratorOn(store, d)
	err := o.Execute(context.Background(), "o1", Order{})
	assert.ErrorIs(t, err, saga.ErrStopped)
	assert.ErrorIs(t, err, errDiskFull)
	assert.Equal(t, []string{"o1/reserve", "o1/charge"}, e.j.list(), "charge took effect but could not be recorded; ship never ran")
	assert.Contains(t, e.logs.String(), "saga stopped on a store error")

	// Once the lease runs out, a recovery re-runs charge with the same key
	// (the service deduplicates it) and goes on.
	store.left.Store(100)
	e.fc.Advance(2 * time.Hour)
	n, err := o.Recover(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/ship"}, e.j.list())
}

func TestCorruptRecordsNeedAttention(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status saga.Status
		step   int
		data   string
		want   string
	}{
		{"step past the end", saga.Running, 7, `{}`, "running at step 7 of a definition with 2 steps"},
		{"negative step", saga.Running, -1, `{}`, "running at step -1"},
		{"compensating a pivot", saga.Compensating, 1, `{}`, "compensating at step 1 of a definition with 1 compensatable steps"},
		{"undecodable data", saga.Running, 0, `{"trail": 5}`, "decoding data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			require.NoError(t, e.store.Create(ctx, saga.Record{
				ID: "o1", Name: "order", Status: tc.status, Step: tc.step, Data: []byte(tc.data),
				Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
			}))
			o := e.orchestrator(def(e.step("reserve", saga.Compensatable, nil, nil), e.step("charge", saga.Pivot, nil, nil)))
			n, err := o.Recover(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			rec, err := e.store.Get(ctx, "o1")
			require.NoError(t, err)
			assert.Equal(t, saga.NeedsAttention, rec.Status)
			assert.Contains(t, rec.Error, "cannot resume from the stored record")
			assert.Contains(t, rec.Error, tc.want)
			assert.Equal(t, tc.data, string(rec.Data), "the record is kept as found")
			assert.Empty(t, e.j.list())
			require.NoError(t, o.Abandon(ctx, "o1", "corrupt"))
		})
	}
}

func TestDeadlineAppliesToARecoveredSaga(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.Create(ctx, saga.Record{
		ID: "o1", Name: "order", Status: saga.Running, Step: 1, Data: []byte(`{"trail":["reserve"]}`),
		Deadline: epoch.Add(-time.Second), Owner: "dead", Version: 1, CreatedAt: epoch.Add(-time.Hour), UpdatedAt: epoch,
	}))
	o := e.orchestrator(def(e.step("reserve", saga.Compensatable, nil, nil), e.step("charge", saga.Compensatable, nil, nil), e.step("ship", saga.Pivot, nil, nil)))
	n, err := o.Recover(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	snap, err := o.Get(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, saga.Compensated, snap.Status)
	assert.Equal(t, saga.ErrDeadlineExceeded.Error(), snap.Error)
	// charge may have been started by the dead instance: it is compensated,
	// not run.
	assert.Equal(t, []string{"o1/charge/compensation", "o1/reserve/compensation"}, e.j.list())
}

func TestObserverMayCallTheOrchestrator(t *testing.T) {
	e := newEnv(t)
	var o *saga.Orchestrator[Order]
	var seen []saga.Status
	call := func(id string) {
		snap, err := o.Get(context.Background(), id)
		if assert.NoError(t, err) {
			seen = append(seen, snap.Status)
		}
		_, err = o.List(context.Background(), saga.ListQuery{})
		assert.NoError(t, err)
	}
	o = e.orchestrator(def(
		e.step("reserve", saga.Compensatable, nil, nil),
		e.step("charge", saga.Compensatable, always(errDeclined), nil),
	), func(c *saga.Config) {
		c.Observer = bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
			switch ev := ev.(type) {
			case saga.StepCompleted:
				call(ev.SagaID)
			case saga.CompensationStarted:
				call(ev.SagaID)
			case saga.Finished:
				call(ev.SagaID)
			}
		})
	})
	assert.ErrorIs(t, o.Execute(context.Background(), "o1", Order{}), saga.ErrCompensated)
	assert.Equal(t, []saga.Status{
		saga.Running,      // reserve completed, not yet recorded
		saga.Compensating, // recorded before the hook
		saga.Compensating, // undo charge completed
		saga.Compensating, // undo reserve completed
		saga.Compensated,
	}, seen)
}

// overclaiming ignores Claim's limit, as a broken store would.
type overclaiming struct{ saga.Store }

func (o overclaiming) Claim(ctx context.Context, name, owner string, now, until time.Time, _ int) ([]saga.Record, error) {
	return o.Store.Claim(ctx, name, owner, now, until, 1000)
}

// TestRecoverRefusesAStoreThatClaimsPastTheLimit: a store that hands back
// more sagas than the free slots fails Recover with an error saying so,
// instead of blocking on slots that cannot hold them.
func TestRecoverRefusesAStoreThatClaimsPastTheLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 5 {
		require.NoError(t, e.store.Create(ctx, saga.Record{
			ID: string(rune('a' + i)), Name: "order", Status: saga.Running, Data: []byte(`{}`),
			Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
		}))
	}
	o := e.orchestratorOn(overclaiming{e.store}, def(e.step("a", saga.Compensatable, nil, nil)), func(c *saga.Config) { c.Concurrency = 2 })
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := o.Recover(ctx)
	assert.Zero(t, n)
	assert.ErrorContains(t, err, "Claim returned 5 sagas for a limit of 2")
	assert.NoError(t, ctx.Err(), "Recover returned at once, not at its deadline")
}
