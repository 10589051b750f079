package sagatest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runOrchestration: an Orchestrator on the store drives sagas to their end
// with one write per transition, and resumes them from their log.
func runOrchestration(t *testing.T, h harnesses) {
	ctx := context.Background()

	t.Run("CompletesWithOneWritePerTransition", func(t *testing.T) {
		s := &countingStore{Store: h.store(t)}
		l := newLedger()
		fc := clocktest.New(epoch)
		o := orchestrator(t, definition(l, plan{}), s, config(fc, "a"))
		require.NoError(t, o.Execute(ctx, "o1", Order{ID: "o1"}))
		assert.Equal(t, 5, s.writes(), "one write per transition: create and one per step")
		assert.Equal(t, 0, s.reads(), "no reads on the happy path")
		snap, err := o.Get(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, snap.Status)
		assert.Equal(t, []string{"reserve", "charge", "confirm", "ship"}, snap.Data.Trail, "each step's change to the data is persisted")
		assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/confirm", "o1/ship"}, l.trail("o1"))
	})

	t.Run("CompensatesInReverseOrder", func(t *testing.T) {
		l := newLedger()
		fc := clocktest.New(epoch)
		o := orchestrator(t, definition(l, plan{failAction: map[string]bool{"confirm": true}}), h.store(t), config(fc, "a"))
		err := o.Execute(ctx, "o1", Order{ID: "o1"})
		assert.ErrorIs(t, err, saga.ErrCompensated)
		assert.ErrorContains(t, err, "confirm refused")
		assert.Equal(t, []string{"o1/reserve", "o1/charge", "o1/charge/compensation", "o1/reserve/compensation"}, l.trail("o1"))
		snap, err := o.Get(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, saga.Compensated, snap.Status)
		assert.Contains(t, snap.Error, "confirm refused")
		assert.Equal(t, []string{"reserve", "charge", "undo charge", "undo reserve"}, snap.Data.Trail)
	})

	t.Run("FailedCompensationNeedsAttentionThenResumes", func(t *testing.T) {
		store := h.store(t)
		l := newLedger()
		fc := clocktest.New(epoch)
		p := plan{failAction: map[string]bool{"charge": true}, failCompensate: map[string]bool{"reserve": true}}
		o := orchestrator(t, definition(l, p), store, config(fc, "a"))
		err := o.Execute(ctx, "o1", Order{ID: "o1"})
		assert.ErrorIs(t, err, saga.ErrNeedsAttention)
		stuck, err := o.List(ctx, saga.ListQuery{Status: saga.NeedsAttention})
		require.NoError(t, err)
		require.Len(t, stuck, 1)
		assert.Equal(t, "reserve", stuck[0].Step)
		assert.Contains(t, stuck[0].Error, "charge refused")
		assert.Contains(t, stuck[0].Error, "reserve cannot be undone")

		// The operator fixes the cause and resumes, with another instance.
		delete(p.failCompensate, "reserve")
		o2 := orchestrator(t, definition(l, p), store, config(fc, "b"))
		assert.ErrorIs(t, o2.Resume(ctx, "o1"), saga.ErrCompensated)
		snap, err := o2.Get(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, saga.Compensated, snap.Status)
		assert.Equal(t, []string{"o1/reserve", "o1/charge/compensation", "o1/reserve/compensation"}, l.trail("o1"))
	})

	t.Run("AbandonEndsASagaThatNeedsAttention", func(t *testing.T) {
		l := newLedger()
		fc := clocktest.New(epoch)
		p := plan{failAction: map[string]bool{"charge": true}, failCompensate: map[string]bool{"charge": true}}
		o := orchestrator(t, definition(l, p), h.store(t), config(fc, "a"))
		assert.ErrorIs(t, o.Execute(ctx, "o1", Order{ID: "o1"}), saga.ErrNeedsAttention)
		require.NoError(t, o.Abandon(ctx, "o1", "refunded by hand"))
		snap, err := o.Get(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, saga.Abandoned, snap.Status)
		assert.Contains(t, snap.Error, "refunded by hand")
		assert.ErrorIs(t, o.Resume(ctx, "o1"), saga.ErrNotNeedingAttention)
		n, err := o.Recover(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "abandoned sagas are never taken over")
	})

	t.Run("ResumesWhereTheLogSays", func(t *testing.T) {
		store := h.store(t)
		l := newLedger()
		fc := clocktest.New(epoch)
		// Sagas left by an instance that died: one going forward at the
		// pivot, one compensating at its second step.
		left := func(id string, status saga.Status, step int, trail ...string) {
			r := record(id)
			r.Status, r.Step, r.Owner, r.LeaseUntil = status, step, "dead", epoch.Add(-time.Second)
			r.Data = []byte(fmt.Sprintf(`{"id":%q,"trail":["%s"]}`, id, strings.Join(trail, `","`)))
			if status == saga.Compensating {
				r.Error = `step "confirm": refused`
			}
			require.NoError(t, store.Create(ctx, r))
		}
		left("forward", saga.Running, 2, "reserve", "charge")
		left("backward", saga.Compensating, 1, "reserve", "charge")
		o := orchestrator(t, definition(l, plan{}), store, config(fc, "b"))
		n, err := o.Recover(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, n)

		fwd, err := o.Get(ctx, "forward")
		require.NoError(t, err)
		assert.Equal(t, saga.Completed, fwd.Status)
		assert.Equal(t, []string{"reserve", "charge", "confirm", "ship"}, fwd.Data.Trail, "the data read back from the log reaches the later steps")
		assert.Equal(t, []string{"forward/confirm", "forward/ship"}, l.trail("forward"))

		back, err := o.Get(ctx, "backward")
		require.NoError(t, err)
		assert.Equal(t, saga.Compensated, back.Status)
		assert.Equal(t, []string{"backward/charge/compensation", "backward/reserve/compensation"}, l.trail("backward"))
		assert.Contains(t, back.Error, "confirm")
	})

	t.Run("ExecuteRejectsADuplicateID", func(t *testing.T) {
		l := newLedger()
		o := orchestrator(t, definition(l, plan{}), h.store(t), config(clocktest.New(epoch), "a"))
		require.NoError(t, o.Execute(ctx, "o1", Order{ID: "o1"}))
		assert.ErrorIs(t, o.Execute(ctx, "o1", Order{ID: "o1"}), saga.ErrExists)
		assert.Len(t, l.trail("o1"), 4)
	})
}
