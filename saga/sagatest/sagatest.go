// Package sagatest is the conformance suite for saga.Store drivers: the
// behaviour the orchestrator relies on, specified once and run against every
// store. A driver's test calls
//
//	sagatest.Run(t, func(t *testing.T) saga.Store { return newStore(t) })
//
// where each call returns an empty store of its own.
package sagatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// epoch is a time with microsecond precision, as every store keeps.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// Run runs the suite. newStore returns a new, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) saga.Store) {
	t.Run("Store", func(t *testing.T) { runStore(t, newStore) })
	t.Run("Orchestrator", func(t *testing.T) { runOrchestrator(t, newStore) })
}

func record(id string) saga.Record {
	return saga.Record{
		ID: id, Name: "order", Status: saga.Running, Step: 0,
		Data: []byte(`{"n":1}`), Owner: "a", LeaseUntil: epoch.Add(time.Minute),
		Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
	}
}

// sameRecord compares records, times by instant.
func sameRecord(t *testing.T, want, got saga.Record) {
	t.Helper()
	for _, p := range []struct {
		name      string
		want, got time.Time
	}{
		{"Deadline", want.Deadline, got.Deadline},
		{"LeaseUntil", want.LeaseUntil, got.LeaseUntil},
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
		{"UpdatedAt", want.UpdatedAt, got.UpdatedAt},
	} {
		assert.True(t, p.want.Equal(p.got), "%s: want %v, got %v", p.name, p.want, p.got)
	}
	want.Deadline, want.LeaseUntil, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.Deadline, got.LeaseUntil, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(want.Data) == 0 && len(got.Data) == 0 {
		want.Data, got.Data = nil, nil
	}
	assert.Equal(t, want, got)
}

func runStore(t *testing.T, newStore func(t *testing.T) saga.Store) {
	ctx := context.Background()

	t.Run("CreateThenGetReturnsTheRecord", func(t *testing.T) {
		s := newStore(t)
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
		s := newStore(t)
		require.NoError(t, s.Create(ctx, record("x")))
		other := record("x")
		other.Name = "other"
		assert.ErrorIs(t, s.Create(ctx, other), saga.ErrExists)
		got, err := s.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, "order", got.Name, "the first saga stays")
	})

	t.Run("GetReportsNotFound", func(t *testing.T) {
		_, err := newStore(t).Get(ctx, "missing")
		assert.ErrorIs(t, err, saga.ErrNotFound)
	})

	t.Run("StoreKeepsItsOwnCopyOfData", func(t *testing.T) {
		s := newStore(t)
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
		s := newStore(t)
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
		s := newStore(t)
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
		s := newStore(t)
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

	t.Run("ClaimTakesUnfinishedSagasWithEndedLeases", func(t *testing.T) {
		s := newStore(t)
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
		s := newStore(t)
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
		s := newStore(t)
		const sagas, claimers = 60, 6
		for i := range sagas {
			require.NoError(t, s.Create(ctx, record(fmt.Sprintf("s%03d", i))))
		}
		now := epoch.Add(time.Hour)
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("c%d", c)
				for {
					got, err := s.Claim(ctx, "order", owner, now, now.Add(time.Minute), 3)
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
		s := newStore(t)
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

	t.Run("ListFiltersPagesAndOrders", func(t *testing.T) {
		s := newStore(t)
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

	t.Run("CancelledContextFails", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		assert.Error(t, s.Create(cctx, record("x")))
		_, err := s.Get(cctx, "x")
		assert.Error(t, err)
	})
}

// Order is the saga data of the suite's orchestration tests.
type Order struct {
	ID    string   `json:"id"`
	Trail []string `json:"trail"`
}

// ledger records the effects of steps by idempotency key, as a service that
// deduplicates would, and counts invocations.
type ledger struct {
	mu          sync.Mutex
	effects     map[string]int // key -> times it took effect (must stay <= 1)
	invocations map[string]int
	order       map[string][]string // saga -> keys in the order they took effect
}

func newLedger() *ledger {
	return &ledger{effects: map[string]int{}, invocations: map[string]int{}, order: map[string][]string{}}
}

func (l *ledger) do(inv saga.Invocation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.invocations[inv.Key()]++
	if l.effects[inv.Key()] == 0 {
		l.order[inv.SagaID] = append(l.order[inv.SagaID], inv.Key())
	}
	l.effects[inv.Key()] = 1
}

func (l *ledger) trail(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order[id]...)
}

type plan struct {
	failAction     map[string]bool // step -> its action fails
	failCompensate map[string]bool
	block          map[string]chan struct{} // step -> its action waits for this
}

func definition(l *ledger, p plan) saga.Definition[Order] {
	step := func(name string, kind saga.Kind) saga.Step[Order] {
		s := saga.Step[Order]{
			Name: name, Kind: kind,
			Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
				if ch := p.block[name]; ch != nil {
					select {
					case <-ch:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				if p.failAction[name] {
					return errors.New(name + " refused")
				}
				l.do(inv)
				o.Trail = append(o.Trail, name)
				return nil
			},
		}
		if kind == saga.Compensatable {
			s.Compensate = func(ctx context.Context, o *Order, inv saga.Invocation) error {
				if p.failCompensate[name] {
					return errors.New(name + " cannot be undone")
				}
				l.do(inv)
				o.Trail = append(o.Trail, "undo "+name)
				return nil
			}
		}
		return s
	}
	return saga.Definition[Order]{
		Name: "order",
		Steps: []saga.Step[Order]{
			step("reserve", saga.Compensatable),
			step("charge", saga.Compensatable),
			step("confirm", saga.Pivot),
			step("ship", saga.Retriable),
		},
	}
}

func config(fc *clocktest.Fake, id string) saga.Config {
	cfg := saga.DefaultConfig()
	cfg.Clock = fc
	cfg.InstanceID = id
	cfg.LeaseDuration = time.Hour // the heartbeat's timer fires only every 20 minutes
	cfg.PollInterval = time.Minute
	cfg.CompensationAttempts = 1
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

func runOrchestrator(t *testing.T, newStore func(t *testing.T) saga.Store) {
	ctx := context.Background()

	t.Run("CompletesWithOneWritePerTransition", func(t *testing.T) {
		s := &countingStore{Store: newStore(t)}
		l := newLedger()
		fc := clocktest.New(epoch)
		o, err := saga.New(definition(l, plan{}), s, config(fc, "a"))
		require.NoError(t, err)
		defer o.Close()
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
		o, err := saga.New(definition(l, plan{failAction: map[string]bool{"confirm": true}}), newStore(t), config(fc, "a"))
		require.NoError(t, err)
		defer o.Close()
		err = o.Execute(ctx, "o1", Order{ID: "o1"})
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
		store := newStore(t)
		l := newLedger()
		fc := clocktest.New(epoch)
		p := plan{failAction: map[string]bool{"charge": true}, failCompensate: map[string]bool{"reserve": true}}
		o, err := saga.New(definition(l, p), store, config(fc, "a"))
		require.NoError(t, err)
		defer o.Close()
		err = o.Execute(ctx, "o1", Order{ID: "o1"})
		assert.ErrorIs(t, err, saga.ErrNeedsAttention)
		stuck, err := o.List(ctx, saga.ListQuery{Status: saga.NeedsAttention})
		require.NoError(t, err)
		require.Len(t, stuck, 1)
		assert.Equal(t, "reserve", stuck[0].Step)
		assert.Contains(t, stuck[0].Error, "charge refused")
		assert.Contains(t, stuck[0].Error, "reserve cannot be undone")

		// The operator fixes the cause and resumes, with another instance.
		delete(p.failCompensate, "reserve")
		o2, err := saga.New(definition(l, p), store, config(fc, "b"))
		require.NoError(t, err)
		defer o2.Close()
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
		o, err := saga.New(definition(l, p), newStore(t), config(fc, "a"))
		require.NoError(t, err)
		defer o.Close()
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
		store := newStore(t)
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
		o, err := saga.New(definition(l, plan{}), store, config(fc, "b"))
		require.NoError(t, err)
		defer o.Close()
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

	t.Run("DeadInstancesSagasAreTakenOver", func(t *testing.T) {
		store := &faultyStore{Store: newStore(t)}
		l := newLedger()
		fc := clocktest.New(epoch)
		hold := make(chan struct{})
		charging := make(chan struct{}, 1)
		cfgA := config(fc, "a")
		cfgA.OnStepStarted = func(ev saga.StepEvent) {
			if ev.Step == "charge" {
				charging <- struct{}{}
			}
		}
		a, err := saga.New(definition(l, plan{block: map[string]chan struct{}{"charge": hold}}), store, cfgA)
		require.NoError(t, err)
		defer a.Close()
		started := make(chan error, 1)
		go func() { started <- a.Execute(ctx, "o1", Order{ID: "o1"}) }()
		<-charging

		b, err := saga.New(definition(l, plan{}), store.Store, config(fc, "b"))
		require.NoError(t, err)
		defer b.Close()
		n, err := b.Recover(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "a live instance's lease holds")

		// a dies: it reaches the store no more. Once its lease has ended,
		// b takes over and finishes the saga.
		store.dead.Store(true)
		fc.Advance(cfgA.LeaseDuration + time.Second)
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
		store := &faultyStore{Store: newStore(t)}
		l := newLedger()
		fc := clocktest.New(epoch)
		hold := make(chan struct{})
		charging := make(chan struct{}, 1)
		cfgA := config(fc, "a")
		cfgA.OnStepStarted = func(ev saga.StepEvent) {
			if ev.Step == "charge" {
				charging <- struct{}{}
			}
		}
		a, err := saga.New(definition(l, plan{block: map[string]chan struct{}{"charge": hold}}), store, cfgA)
		require.NoError(t, err)
		defer a.Close()
		started := make(chan error, 1)
		go func() { started <- a.Execute(ctx, "o1", Order{ID: "o1"}) }()
		<-charging

		// a is paused (its renewals get lost), so its lease ends and b takes
		// the saga over.
		store.dropRenew.Store(true)
		fc.Advance(cfgA.LeaseDuration + time.Second)
		b, err := saga.New(definition(l, plan{}), store.Store, config(fc, "b"))
		require.NoError(t, err)
		defer b.Close()
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
		store := newStore(t)
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
			cfg.OnStepStarted = func(ev saga.StepEvent) {
				mu.Lock()
				defer mu.Unlock()
				if prev, ok := drivers[ev.SagaID]; ok && prev != id {
					t.Errorf("saga %s driven by %s and %s", ev.SagaID, prev, id)
				}
				drivers[ev.SagaID] = id
			}
			cfg.OnFinished = func(ev saga.SagaEvent) { finished <- ev.SagaID }
			o, err := saga.New(definition(l, plan{}), store, cfg)
			require.NoError(t, err)
			defer o.Close()
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

	t.Run("ExecuteRejectsADuplicateID", func(t *testing.T) {
		l := newLedger()
		o, err := saga.New(definition(l, plan{}), newStore(t), config(clocktest.New(epoch), "a"))
		require.NoError(t, err)
		defer o.Close()
		require.NoError(t, o.Execute(ctx, "o1", Order{ID: "o1"}))
		assert.ErrorIs(t, o.Execute(ctx, "o1", Order{ID: "o1"}), saga.ErrExists)
		assert.Len(t, l.trail("o1"), 4)
	})
}

// countingStore counts the calls the orchestrator makes.
type countingStore struct {
	saga.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
}

func (c *countingStore) total(ops ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, op := range ops {
		n += c.calls[op]
	}
	return n
}

func (c *countingStore) writes() int { return c.total("Create", "Update", "Claim", "Renew") }
func (c *countingStore) reads() int  { return c.total("Get", "List") }

func (c *countingStore) Create(ctx context.Context, rec saga.Record) error {
	c.count("Create")
	return c.Store.Create(ctx, rec)
}

func (c *countingStore) Update(ctx context.Context, rec saga.Record) error {
	c.count("Update")
	return c.Store.Update(ctx, rec)
}

func (c *countingStore) Get(ctx context.Context, id string) (saga.Record, error) {
	c.count("Get")
	return c.Store.Get(ctx, id)
}

func (c *countingStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	c.count("Claim")
	return c.Store.Claim(ctx, name, owner, now, until, limit)
}

func (c *countingStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	c.count("Renew")
	return c.Store.Renew(ctx, owner, ids, until)
}

func (c *countingStore) List(ctx context.Context, q saga.ListQuery) ([]saga.Record, error) {
	c.count("List")
	return c.Store.List(ctx, q)
}

// faultyStore simulates an instance cut off from the store: dead fails
// every call, dropRenew loses lease renewals.
type faultyStore struct {
	saga.Store
	dead, dropRenew atomic.Bool
}

var errUnreachable = errors.New("sagatest: store unreachable")

func (f *faultyStore) Create(ctx context.Context, rec saga.Record) error {
	if f.dead.Load() {
		return errUnreachable
	}
	return f.Store.Create(ctx, rec)
}

func (f *faultyStore) Update(ctx context.Context, rec saga.Record) error {
	if f.dead.Load() {
		return errUnreachable
	}
	return f.Store.Update(ctx, rec)
}

func (f *faultyStore) Get(ctx context.Context, id string) (saga.Record, error) {
	if f.dead.Load() {
		return saga.Record{}, errUnreachable
	}
	return f.Store.Get(ctx, id)
}

func (f *faultyStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	if f.dead.Load() {
		return nil, errUnreachable
	}
	return f.Store.Claim(ctx, name, owner, now, until, limit)
}

func (f *faultyStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	if f.dead.Load() {
		return errUnreachable
	}
	if f.dropRenew.Load() {
		return nil
	}
	return f.Store.Renew(ctx, owner, ids, until)
}

func (f *faultyStore) List(ctx context.Context, q saga.ListQuery) ([]saga.Record, error) {
	if f.dead.Load() {
		return nil, errUnreachable
	}
	return f.Store.List(ctx, q)
}
