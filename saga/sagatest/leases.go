package sagatest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runLeases: Claim and Renew, which hand sagas from instance to instance.
func runLeases(t *testing.T, h harnesses) {
	ctx := context.Background()

	t.Run("ClaimTakesUnfinishedSagasWithEndedLeases", func(t *testing.T) {
		s := h.store(t)
		now := epoch.Add(time.Hour)
		mk := func(id, name string, status saga.Status, lease time.Time) {
			r := record(id)
			r.Name, r.Status, r.LeaseUntil, r.Owner = name, status, lease, "dead"
			require.NoError(t, s.Create(ctx, r))
		}
		mk("expired-running", "order", saga.Running, now.Add(-time.Second))
		mk("expired-compensating", "order", saga.Compensating, now.Add(-time.Minute))
		mk("ends-now", "order", saga.Running, now)
		mk("released", "order", saga.Running, time.Time{})
		mk("held", "order", saga.Running, now.Add(time.Microsecond))
		mk("other-definition", "refund", saga.Running, now.Add(-time.Hour))
		for _, st := range []saga.Status{saga.Completed, saga.Compensated, saga.NeedsAttention, saga.Abandoned} {
			mk("terminal-"+string(st), "order", st, now.Add(-time.Hour))
		}

		until := now.Add(time.Minute)
		got, err := s.Claim(ctx, "order", "me", now, until, 10)
		require.NoError(t, err)
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
			assert.Equal(t, "me", r.Owner)
			assert.True(t, until.Equal(r.LeaseUntil), "lease of %s", r.ID)
			assert.Equal(t, int64(2), r.Version, "a claim is a write: %s", r.ID)
			assert.Equal(t, `{"n":1}`, string(r.Data))
		}
		assert.ElementsMatch(t, []string{"released", "expired-compensating", "expired-running", "ends-now"}, ids)

		again, err := s.Claim(ctx, "order", "other", now, until, 10)
		require.NoError(t, err)
		assert.Empty(t, again, "claimed sagas are held until their new lease ends")
		stored, err := s.Get(ctx, "expired-running")
		require.NoError(t, err)
		assert.Equal(t, "me", stored.Owner)
		assert.Equal(t, int64(2), stored.Version)
	})

	t.Run("ClaimRespectsTheLimit", func(t *testing.T) {
		s := h.store(t)
		for i := range 5 {
			r := record(fmt.Sprintf("s%d", i))
			r.LeaseUntil = epoch.Add(time.Duration(i) * time.Second)
			require.NoError(t, s.Create(ctx, r))
		}
		now := epoch.Add(time.Hour)
		first, err := s.Claim(ctx, "order", "me", now, now.Add(time.Minute), 2)
		require.NoError(t, err)
		require.Len(t, first, 2)
		assert.ElementsMatch(t, []string{"s0", "s1"}, []string{first[0].ID, first[1].ID}, "the leases that ended first")
		rest, err := s.Claim(ctx, "order", "me", now, now.Add(time.Minute), 10)
		require.NoError(t, err)
		assert.Len(t, rest, 3)
	})

	t.Run("ConcurrentClaimsNeverShareASaga", func(t *testing.T) {
		s, reopen := h.stores(t)
		const sagas, claimers = 60, 6
		for i := range sagas {
			require.NoError(t, s.Create(ctx, record(fmt.Sprintf("s%03d", i))))
		}
		now := epoch.Add(time.Hour)
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		handles := []saga.Store{s, reopen()} // claimers of two processes, when the store can tell
		for c := range claimers {
			wg.Add(1)
			handle := handles[c%2]
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("c%d", c)
				for range sagas { // a store that never runs dry fails below, not hangs
					got, err := handle.Claim(ctx, "order", owner, now, now.Add(time.Minute), 3)
					if !assert.NoError(t, err) || len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						assert.Empty(t, seen[r.ID], "saga %s claimed by %s and %s", r.ID, seen[r.ID], owner)
						seen[r.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Len(t, seen, sagas)
		for id, owner := range seen {
			r, err := s.Get(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, owner, r.Owner)
		}
	})

	t.Run("RenewExtendsOnlyTheOwnersUnfinishedLeases", func(t *testing.T) {
		s := h.store(t)
		mk := func(id, owner string, status saga.Status) {
			r := record(id)
			r.Owner, r.Status = owner, status
			require.NoError(t, s.Create(ctx, r))
		}
		mk("mine", "me", saga.Running)
		mk("mine-compensating", "me", saga.Compensating)
		mk("theirs", "them", saga.Running)
		mk("mine-done", "me", saga.Completed)
		until := epoch.Add(time.Hour)
		require.NoError(t, s.Renew(ctx, "me", []string{"mine", "mine-compensating", "theirs", "mine-done", "missing"}, until))
		for id, renewed := range map[string]bool{"mine": true, "mine-compensating": true, "theirs": false, "mine-done": false} {
			r, err := s.Get(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, renewed, until.Equal(r.LeaseUntil), "%s lease %v", id, r.LeaseUntil)
			assert.Equal(t, int64(1), r.Version, "Renew leaves the version: %s", id)
		}
		require.NoError(t, s.Renew(ctx, "me", nil, until), "renewing nothing is fine")
	})
}
