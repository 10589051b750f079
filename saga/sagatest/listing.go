package sagatest

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runListing: List, the operator's view.
func runListing(t *testing.T, h harnesses) {
	ctx := context.Background()

	t.Run("ListFiltersPagesAndOrders", func(t *testing.T) {
		s := h.store(t)
		mk := func(id, name string, status saga.Status) {
			r := record(id)
			r.Name, r.Status = name, status
			require.NoError(t, s.Create(ctx, r))
		}
		mk("c", "order", saga.NeedsAttention)
		mk("a", "order", saga.NeedsAttention)
		mk("b", "order", saga.Completed)
		mk("d", "refund", saga.NeedsAttention)
		mk("e", "order", saga.NeedsAttention)
		ids := func(q saga.ListQuery) []string {
			recs, err := s.List(ctx, q)
			require.NoError(t, err)
			out := []string{}
			for _, r := range recs {
				out = append(out, r.ID)
			}
			return out
		}
		assert.Equal(t, []string{"a", "b", "c", "d", "e"}, ids(saga.ListQuery{}))
		assert.Equal(t, []string{"a", "c", "e"}, ids(saga.ListQuery{Name: "order", Status: saga.NeedsAttention}))
		assert.Equal(t, []string{"a", "c"}, ids(saga.ListQuery{Name: "order", Status: saga.NeedsAttention, Limit: 2}))
		assert.Equal(t, []string{"e"}, ids(saga.ListQuery{Name: "order", Status: saga.NeedsAttention, After: "c"}))
		assert.Equal(t, []string{"d"}, ids(saga.ListQuery{Name: "refund"}))
		assert.Equal(t, []string{}, ids(saga.ListQuery{Status: saga.Abandoned}))
		recs, err := s.List(ctx, saga.ListQuery{Name: "order", Status: saga.Completed})
		require.NoError(t, err)
		require.Len(t, recs, 1)
		sameRecord(t, func() saga.Record { r := record("b"); r.Status = saga.Completed; return r }(), recs[0])
	})
}
