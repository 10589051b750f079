package sagatest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runInstances: several orchestrator instances share the store; one drives
// each saga at a time, and the living take over the sagas of the dead.
func runInstances(t *testing.T, h harnesses) {
	ctx := context.Background()

	t.Run("DeadInstancesSagasAreTakenOver", func(t *testing.T) {
		w := startCharging(t, h)
		store, reopen, l, fc, hold, started := w.store, w.reopen, w.l, w.fc, w.hold, w.started

		b := orchestrator(t, definition(l, plan{}), reopen(), config(fc, "b"))
		n, err := b.Recover(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "a live instance's lease holds")

		// a dies: it reaches the store no more. Once its lease has ended,
		// b takes over and finishes the saga.
		store.dead.Store(true)
		fc.Advance(config(fc, "a").LeaseDuration + time.Second)
		n, err = b.Recover(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		snap, err := b.Get(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, snap.Status)
		assert.Equal(t, "b", snap.Owner)
		assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/confirm", "o1/ship"}, l.trail("o1"))
		close(hold)
		assert.Error(t, <-started)
	})

	t.Run("AnInstanceThatLostItsLeaseStops", func(t *testing.T) {
		w := startCharging(t, h)
		store, reopen, l, fc, hold, started := w.store, w.reopen, w.l, w.fc, w.hold, w.started

		// a is paused (its renewals get lost), so its lease ends and b takes
		// the saga over.
		store.dropRenew.Store(true)
		fc.Advance(config(fc, "a").LeaseDuration + time.Second)
		b := orchestrator(t, definition(l, plan{}), reopen(), config(fc, "b"))
		n, err := b.Recover(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		// a wakes up: its next write fails, and it runs nothing more.
		close(hold)
		assert.ErrorIs(t, <-started, saga.ErrLeaseLost)
		snap, err := b.Get(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, snap.Status)
		l.mu.Lock()
		defer l.mu.Unlock()
		assert.Equal(t, 2, l.invocations["o1/charge"], "both ran the step, under one idempotency key")
		assert.Equal(t, 1, l.effects["o1/charge"])
		assert.Equal(t, 1, l.invocations["o1/confirm"], "only b went on")
	})

	t.Run("TwoInstancesShareTheTakeOver", func(t *testing.T) {
		store, reopen := h.stores(t)
		l := newLedger()
		fc := clocktest.New(epoch)
		const sagas = 24
		for i := range sagas {
			r := record(fmt.Sprintf("o%02d", i))
			r.Owner, r.LeaseUntil, r.Data = "dead", epoch.Add(-time.Second), []byte(`{}`)
			require.NoError(t, store.Create(ctx, r))
		}
		finished := make(chan string, sagas)
		drivers := map[string]string{}
		var mu sync.Mutex
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, id := range []string{"a", "b"} {
			cfg := config(fc, id)
			cfg.Concurrency = 3
			cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
				switch ev := ev.(type) {
				case saga.StepStarted:
					mu.Lock()
					defer mu.Unlock()
					if prev, ok := drivers[ev.SagaID]; ok && prev != id {
						t.Errorf("saga %s driven by %s and %s", ev.SagaID, prev, id)
					}
					drivers[ev.SagaID] = id
				case saga.Finished:
					finished <- ev.SagaID
				}
			})
			handle := store
			if id == "b" {
				handle = reopen()
			}
			o := orchestrator(t, definition(l, plan{}), handle, cfg)
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.ErrorIs(t, o.Run(runCtx), context.Canceled)
			}()
		}
		for range sagas {
			<-finished
		}
		cancel()
		wg.Wait()
		recs, err := store.List(ctx, saga.ListQuery{})
		require.NoError(t, err)
		for _, r := range recs {
			assert.Equal(t, saga.Completed, r.Status, r.ID)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		assert.Len(t, l.invocations, 4*sagas)
		for key, n := range l.invocations {
			assert.Equal(t, 1, n, "%s ran once", key)
		}
		t.Logf("drivers: %v", drivers)
	})
}

// charging is an instance a, on a store that can cut it off, driving saga
// o1 and held in its step "charge" until hold is closed; started delivers
// what a's Execute returns.
type charging struct {
	store   *faultyStore
	reopen  func() saga.Store
	l       *ledger
	fc      *clocktest.Fake
	hold    chan struct{}
	started chan error
}

func startCharging(t *testing.T, h harnesses) charging {
	first, reopen := h.stores(t)
	w := charging{
		store: &faultyStore{Store: first}, reopen: reopen, l: newLedger(), fc: clocktest.New(epoch),
		hold: make(chan struct{}), started: make(chan error, 1),
	}
	entered := make(chan struct{}, 1)
	cfg := config(w.fc, "a")
	cfg.Observer = onStepStarted(func(inv saga.Invocation) {
		if inv.Step == "charge" {
			entered <- struct{}{}
		}
	})
	a := orchestrator(t, definition(w.l, plan{block: map[string]chan struct{}{"charge": w.hold}}), w.store, cfg)
	go func() { w.started <- a.Execute(context.Background(), "o1", Order{ID: "o1"}) }()
	<-entered
	return w
}
