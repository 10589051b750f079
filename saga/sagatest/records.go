package sagatest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runRecords: what Create, Get and Update keep and refuse.
func runRecords(t *testing.T, h harnesses) {
	ctx := context.Background()

	t.Run("CreateThenGetReturnsTheRecord", func(t *testing.T) {
		s := h.store(t)
		for _, rec := range []saga.Record{
			record("plain"),
			func() saga.Record {
				r := record("full")
				r.Status, r.Step, r.Error = saga.Compensating, 3, "step \"charge\": declined ' \" \\ ünïcode"
				r.Deadline = epoch.Add(time.Hour)
				r.Data = []byte{0, 1, 2, 255, '\'', '"'}
				return r
			}(),
			func() saga.Record {
				r := record("empty-data")
				r.Data, r.Owner, r.LeaseUntil = nil, "", time.Time{}
				return r
			}(),
			func() saga.Record {
				r := record("big")
				r.Data = make([]byte, 1<<20)
				for i := range r.Data {
					r.Data[i] = byte(i * 7)
				}
				return r
			}(),
		} {
			require.NoError(t, s.Create(ctx, rec), rec.ID)
			got, err := s.Get(ctx, rec.ID)
			require.NoError(t, err, rec.ID)
			sameRecord(t, rec, got)
		}
	})

	t.Run("CreateRejectsAnExistingID", func(t *testing.T) {
		s := h.store(t)
		require.NoError(t, s.Create(ctx, record("x")))
		other := record("x")
		other.Name = "other"
		assert.ErrorIs(t, s.Create(ctx, other), saga.ErrExists)
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, "order", got.Name, "the first saga stays")
	})

	t.Run("GetReportsNotFound", func(t *testing.T) {
		_, err := h.store(t).Get(ctx, "missing")
		assert.ErrorIs(t, err, saga.ErrNotFound)
	})

	t.Run("StoreKeepsItsOwnCopyOfData", func(t *testing.T) {
		s := h.store(t)
		rec := record("x")
		require.NoError(t, s.Create(ctx, rec))
		rec.Data[0] = 'X'
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, `{"n":1}`, string(got.Data))
		got.Data[0] = 'Y'
		again, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, `{"n":1}`, string(again.Data))
	})

	t.Run("UpdateReplacesAndBumpsVersion", func(t *testing.T) {
		s := h.store(t)
		rec := record("x")
		rec.Deadline = epoch.Add(time.Hour)
		require.NoError(t, s.Create(ctx, rec))
		next := rec
		next.Status, next.Step, next.Data, next.Error = saga.Compensating, 2, []byte(`{"n":2}`), "boom"
		next.Owner, next.LeaseUntil, next.UpdatedAt = "b", epoch.Add(2*time.Minute), epoch.Add(time.Second)
		// Immutable fields are ignored by Update.
		next.Name, next.Deadline, next.CreatedAt = "renamed", epoch, epoch.Add(time.Hour)
		require.NoError(t, s.Update(ctx, next))
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		want := next
		want.Version = 2
		want.Name, want.Deadline, want.CreatedAt = rec.Name, rec.Deadline, rec.CreatedAt
		sameRecord(t, want, got)

		want.Status, want.Step = saga.Compensated, -1
		require.NoError(t, s.Update(ctx, want))
		got, err = s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, int64(3), got.Version)
		assert.Equal(t, -1, got.Step)
		assert.Equal(t, saga.Compensated, got.Status)
	})

	t.Run("UpdateIsConditionalOnTheVersion", func(t *testing.T) {
		s := h.store(t)
		rec := record("x")
		require.NoError(t, s.Create(ctx, rec))
		require.NoError(t, s.Update(ctx, rec))
		stale := rec
		stale.Step = 9
		assert.ErrorIs(t, s.Update(ctx, stale), saga.ErrConflict, "version 1 was already written")
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, 0, got.Step)
		assert.Equal(t, int64(2), got.Version)
		missing := record("missing")
		assert.ErrorIs(t, s.Update(ctx, missing), saga.ErrNotFound)
	})

	t.Run("ConcurrentUpdatesOfOneVersionOnlyOneWins", func(t *testing.T) {
		s := h.store(t)
		require.NoError(t, s.Create(ctx, record("x")))
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := record("x")
				r.Step = i + 1
				errs[i] = s.Update(ctx, r)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				assert.ErrorIs(t, err, saga.ErrConflict)
			}
		}
		assert.Equal(t, 1, won)
	})

	t.Run("CancelledContextFails", func(t *testing.T) {
		s := h.store(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		assert.Error(t, s.Create(cctx, record("x")))
		_, err := s.Get(cctx, "x")
		assert.Error(t, err)
	})
}
