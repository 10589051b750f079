package cqrstest

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// distinct returns the sorted distinct values of ps.
func distinct(ps []int64) []int64 { return slices.Compact(slices.Sorted(slices.Values(ps))) }

// requireApplied checks that the read model holds want: exactly once each
// with a transactional store, at least once each without.
func requireApplied[Tx any](t *testing.T, h Harness[Tx], table string, want []int64) {
	t.Helper()
	got := h.Recorded(t, table)
	if h.Transactional {
		require.Equal(t, want, got, "%s: every event applied exactly once", table)
		return
	}
	require.Equal(t, want, distinct(got), "%s: every event applied at least once", table)
}

// testAppliesOnce: a projector applies every event of the log once, in
// batches of at most BatchSize, catching up and then live; a projection
// with Types sees only those; Status tells where each stands; stopping
// gives the leases up.
func testAppliesOnce[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	last := g.appendEvents(250)
	onlyB := g.recording("only-b", nil)
	onlyB.Types = []string{"b.event"}
	var order atomic.Int64
	inOrder := g.recording("all", func(e eventsource.Event) error {
		if prev := order.Swap(e.GlobalPosition); prev >= e.GlobalPosition {
			t.Errorf("event %d handled after %d", e.GlobalPosition, prev)
		}
		return nil
	})
	r := g.start(g.config("p1", inOrder, onlyB))
	r.waitCaughtUp("all", last)
	r.waitCaughtUp("only-b", last)
	last = g.appendEvents(30)
	r.waitCaughtUp("all", last)
	r.waitCaughtUp("only-b", last)

	requireApplied(t, h, "all", positions(1, last))
	var evens []int64
	for p := int64(2); p <= last; p += 2 {
		evens = append(evens, p)
	}
	requireApplied(t, h, "only-b", evens)
	r.mu.Lock()
	var total int64
	for _, n := range r.applied["all"] {
		assert.LessOrEqual(t, n, int64(7), "a batch holds at most BatchSize events")
		total += n
	}
	r.mu.Unlock()
	assert.Equal(t, last, total, "Applied counts every event once")

	s := r.status("all", 0)
	assert.Equal(t, last, s.Position)
	assert.Equal(t, int64(0), s.Lag)
	assert.True(t, s.Live, "a version that caught up is live")
	assert.True(t, s.Running)
	assert.Equal(t, "p1", s.Owner)
	assert.False(t, s.Parked())
	r.stop()
	s = r.status("all", 0)
	assert.Equal(t, "", s.Owner, "a stopped projector gives its leases up")
	assert.False(t, s.Running)
	assert.Equal(t, last, s.Position)
}

// testRetriesBatch: a handler failing once in the middle of a batch rolls
// the batch back; the events before it, the event and those after are
// then applied, each once (with transactions), and nothing is parked.
func testRetriesBatch[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	last := g.appendEvents(30)
	var failedOnce atomic.Bool
	flaky := cqrs.Projection[Tx]{
		Name: "flaky",
		Handle: func(ctx context.Context, tx Tx, e eventsource.Event) error {
			if err := h.Record(ctx, tx, "flaky", e.GlobalPosition); err != nil {
				return err
			}
			if e.GlobalPosition == 11 && !failedOnce.Swap(true) { // the 4th event of the 2nd batch
				return errors.New("read model busy")
			}
			return nil
		},
	}
	r := g.start(g.config("p1", flaky))
	r.waitCaughtUp("flaky", last)
	requireApplied(t, h, "flaky", positions(1, last))
	failures := r.waitFailures(1)
	require.Len(t, failures, 1)
	assert.Equal(t, failure{projection: "flaky", position: 11, attempt: 1, next: cqrs.RetryEvent, err: failures[0].err}, failures[0])
	assert.ErrorContains(t, failures[0].err, "read model busy")
	assert.False(t, r.status("flaky", 0).Parked())
}

// testParks: an event that keeps failing parks its projection after
// MaxAttempts tries, at the checkpoint before it, with its position and
// error; the other projections go on; WaitFor reports the parking; Resume
// tries it again, Skip moves past it.
func testParks[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	g := newRig(t, h)
	last := g.appendEvents(40)
	var poison atomic.Int64
	poison.Store(17)
	bad := g.recording("poisoned", func(e eventsource.Event) error {
		if e.GlobalPosition == poison.Load() {
			return errors.New("cannot apply this one")
		}
		return nil
	})
	r := g.start(g.config("p1", bad, g.recording("healthy", nil)))
	r.waitCaughtUp("healthy", last)
	failures := r.waitFailures(3)
	for i, f := range failures {
		assert.Equal(t, int64(17), f.position)
		assert.Equal(t, i+1, f.attempt)
	}
	assert.Equal(t, []cqrs.Action{cqrs.RetryEvent, cqrs.RetryEvent, cqrs.ParkProjection}, []cqrs.Action{failures[0].next, failures[1].next, failures[2].next})
	r.waitLog("parking the projection")
	_, err := r.p.WaitFor(ctx, "poisoned", 17) // returns once the parking is stored
	var parked *cqrs.ParkedError
	require.ErrorAs(t, err, &parked)
	assert.ErrorIs(t, err, cqrs.ErrParked)
	assert.Equal(t, int64(17), parked.Failed.Position)
	assert.Equal(t, "poisoned", parked.Projection)

	s := r.status("poisoned", 0)
	assert.True(t, s.Parked())
	assert.Equal(t, int64(16), s.Position, "parked after the events before the failing one")
	assert.Equal(t, int64(17), s.Failed.Position)
	assert.Contains(t, s.Failed.Error, "cannot apply this one")
	assert.Contains(t, s.Failed.Error, `stream "stream-1"`)
	assert.False(t, s.Failed.At.IsZero())
	assert.Equal(t, last-16, s.Lag)
	assert.True(t, s.Running, "a parked projection keeps its lease")
	requireApplied(t, h, "poisoned", positions(1, 16))
	requireApplied(t, h, "healthy", positions(1, last))

	v, err := r.p.WaitFor(ctx, "poisoned", 16)
	require.NoError(t, err)
	assert.Equal(t, 0, v)

	// Resumed while the event still fails: it is tried MaxAttempts times
	// again and parks again.
	require.NoError(t, r.p.Resume(ctx, "poisoned"))
	r.waitFailures(6)
	r.waitFor("parked again", func() bool { return r.failed[5].next == cqrs.ParkProjection })
	// Fixed: resumed, it goes on to the end.
	poison.Store(0)
	require.NoError(t, r.p.Resume(ctx, "poisoned"))
	r.waitCaughtUp("poisoned", last)
	requireApplied(t, h, "poisoned", positions(1, last))
	require.ErrorIs(t, r.p.Resume(ctx, "poisoned"), cqrs.ErrNotParked)
	require.ErrorIs(t, r.p.Skip(ctx, "poisoned"), cqrs.ErrNotParked)

	// Skipped: the event is passed over without its effect.
	poison.Store(last + 5)
	last = g.appendEvents(10)
	r.waitCaughtUp("healthy", last)
	r.waitFailures(9)
	r.waitFor("parked at the new poison", func() bool { return r.failed[8].next == cqrs.ParkProjection })
	require.NoError(t, r.p.Skip(ctx, "poisoned"))
	r.waitCaughtUp("poisoned", last)
	want := positions(1, last)
	want = slices.Delete(want, int(poison.Load()-1), int(poison.Load()))
	requireApplied(t, h, "poisoned", want)
	assert.False(t, r.status("poisoned", 0).Parked())
	require.ErrorIs(t, r.p.Resume(ctx, "missing"), cqrs.ErrUnknownProjection)
}

// testSkipFailed: with SkipFailed, an event that fails MaxAttempts times is
// skipped and the projection goes on.
func testSkipFailed[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	last := g.appendEvents(20)
	p := g.recording("skipping", func(e eventsource.Event) error {
		if e.GlobalPosition == 5 {
			return errors.New("bad event")
		}
		return nil
	})
	p.SkipFailed = true
	cfg := g.config("p1", p)
	cfg.MaxAttempts = 2
	r := g.start(cfg)
	r.waitCaughtUp("skipping", last)
	failures := r.waitFailures(2)
	assert.Equal(t, []cqrs.Action{cqrs.RetryEvent, cqrs.SkipEvent}, []cqrs.Action{failures[0].next, failures[1].next})
	want := slices.Delete(positions(1, last), 4, 5)
	requireApplied(t, h, "skipping", want)
	assert.False(t, r.status("skipping", 0).Parked())
	r.waitLog("skipping an event")
}

// testRebuild: Rebuild empties the read model and the checkpoint in one
// transaction, and the idle projector replays the log into it, while the
// other projection is left alone.
func testRebuild[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	g := newRig(t, h)
	built := g.appendEvents(30)
	last := built
	var otherReplayed atomic.Bool
	other := g.recording("other", func(e eventsource.Event) error {
		if e.GlobalPosition <= built && otherReplayed.Load() {
			t.Errorf("the other projection saw event %d again", e.GlobalPosition)
		}
		return nil
	})
	r := g.start(g.config("p1", g.recording("rebuilt", nil), other))
	r.waitCaughtUp("rebuilt", last)
	r.waitCaughtUp("other", last)
	otherReplayed.Store(true)

	r.forget("rebuilt")
	require.NoError(t, r.p.Rebuild(ctx, "rebuilt"))
	r.waitCaughtUp("rebuilt", last)
	requireApplied(t, h, "rebuilt", positions(1, last))
	requireApplied(t, h, "other", positions(1, last))
	last = g.appendEvents(5)
	r.waitCaughtUp("rebuilt", last)
	r.waitCaughtUp("other", last)
	requireApplied(t, h, "rebuilt", positions(1, last))

	noReset := g.recording("no-reset", nil)
	noReset.Reset = nil
	q, err := g.newProjector(g.config("p2", noReset))
	require.NoError(t, err)
	require.ErrorContains(t, q.Rebuild(ctx, "no-reset"), "needs Projection.Reset")
	require.ErrorIs(t, r.p.Rebuild(ctx, "missing"), cqrs.ErrUnknownProjection)
	failing := g.recording("failing-reset", nil)
	failing.Reset = func(context.Context, Tx) error { return errors.New("cannot drop") }
	q, err = g.newProjector(g.config("p3", failing))
	require.NoError(t, err)
	require.ErrorContains(t, q.Rebuild(ctx, "failing-reset"), "cannot drop")
}

// testVersionSwitch: raising a projection's Version builds the new version
// from the start beside the old one, which queries keep reading until the
// new one has caught up; then the new one is live, Switched is reported, and
// projectors with the old version no longer run it.
func testVersionSwitch[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	g := newRig(t, h)
	last := g.appendEvents(20)
	old := g.start(g.config("old", g.recordingInto("accounts", "accounts_v0", nil)))
	old.waitCaughtUp("accounts", last)
	v, err := old.p.WaitFor(ctx, "accounts", last)
	require.NoError(t, err)
	assert.Equal(t, 0, v)
	old.stop()
	last = g.appendEvents(5)

	v1 := g.recordingInto("accounts", "accounts_v1", nil)
	v1.Version = 1
	switched := make(chan [2]int, 1)
	cfg := g.config("new", v1)
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if s, ok := e.(cqrs.Switched); ok {
			assert.Equal(t, "accounts", s.Projection)
			switched <- [2]int{s.From, s.To}
		}
	})
	r := g.start(cfg)
	v, err = r.p.WaitFor(ctx, "accounts", last)
	require.NoError(t, err)
	assert.Equal(t, 1, v, "the new version, once it has caught up")
	assert.Equal(t, [2]int{0, 1}, <-switched)
	requireApplied(t, h, "accounts_v1", positions(1, last))
	requireApplied(t, h, "accounts_v0", positions(1, 20))
	assert.True(t, r.status("accounts", 0).Retired)
	assert.False(t, r.status("accounts", 1).Retired)
	assert.True(t, r.status("accounts", 1).Live)

	// A projector still on version 0 does not run it any more.
	stale := &listSignal[Tx]{Store: h.Store, listed: make(chan struct{}, 10)}
	cfg = g.config("old-again", g.recordingInto("accounts", "accounts_v0", nil))
	cfg.Checkpoints = stale
	again := g.start(cfg)
	select {
	case <-stale.listed:
	case <-time.After(waitTimeout):
		t.Fatal("the projector never looked at the checkpoints")
	}
	again.stop()
	assert.Zero(t, stale.updates.Load(), "a retired version is not claimed")
	assert.Equal(t, "", again.status("accounts", 0).Owner)
	v, err = again.p.WaitFor(ctx, "accounts", last)
	require.NoError(t, err)
	assert.Equal(t, 1, v, "WaitFor of a projector on the old version names the live one")
}

// listSignal is a store that signals each List and counts Updates.
type listSignal[Tx any] struct {
	cqrs.Store[Tx]
	listed  chan struct{}
	updates atomic.Int64
}

func (s *listSignal[Tx]) List(ctx context.Context) ([]cqrs.Checkpoint, error) {
	cps, err := s.Store.List(ctx)
	select {
	case s.listed <- struct{}{}:
	default:
	}
	return cps, err
}

func (s *listSignal[Tx]) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, name, version, fn)
}

// testLeaseTakeover: with two projectors, one runs the projection and the
// other never applies anything while the first holds the lease; when the
// first dies (its store calls fail, its clock stops, it gives nothing up),
// the second takes over once the lease has ended — not before — and goes
// on from the checkpoint, every event applied once.
func testLeaseTakeover[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	last := g.appendEvents(20)
	clockA, clockB := clocktest.New(epoch), clocktest.New(epoch)
	var callsB atomic.Int64
	dying := &killableStore[Tx]{Store: h.Store}
	cfgA := g.config("A", g.recording("p", nil))
	cfgA.Checkpoints, cfgA.Clock, cfgA.LeaseDuration = dying, clockA, 30*time.Second
	a := g.start(cfgA)
	a.waitCaughtUp("p", last)

	cfgB := g.config("B", g.recording("p", func(eventsource.Event) error { callsB.Add(1); return nil }))
	cfgB.Clock, cfgB.LeaseDuration = clockB, 30*time.Second
	b := g.start(cfgB)
	clockB.BlockUntil(1) // B found the lease taken and waits
	last = g.appendEvents(10)
	a.waitCaughtUp("p", last)
	assert.Equal(t, "A", b.status("p", 0).Owner)
	assert.False(t, b.status("p", 0).Running)

	dying.killed.Store(true)
	dead := last
	last = g.appendEvents(10)
	for range 2 { // 10s and 20s after A took the lease: still A's
		clockB.Advance(10 * time.Second)
		clockB.BlockUntil(1)
	}
	assert.Zero(t, callsB.Load(), "B applied nothing while A's lease lasted")
	requireApplied(t, h, "p", positions(1, dead))
	clockB.Advance(10 * time.Second) // 30s: the lease has ended
	b.waitCaughtUp("p", last)
	requireApplied(t, h, "p", positions(1, last))
	assert.Equal(t, last-dead, callsB.Load(), "B went on from A's checkpoint")
	s := b.status("p", 0)
	assert.Equal(t, "B", s.Owner)
	assert.True(t, s.Running)
	assert.True(t, s.LeaseUntil.Equal(epoch.Add(60*time.Second)), "B's lease: %v", s.LeaseUntil)
}

// testStaleHolder: a projector whose lease was taken over while it was
// still alive (its clock behind) cannot commit: its batch is refused, it
// says it lost the lease, and each event is applied once, by the new
// holder.
func testStaleHolder[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	last := g.appendEvents(10)
	var callsA atomic.Int64
	counting := g.recording("p", func(eventsource.Event) error { callsA.Add(1); return nil })
	cfgA := g.config("A", counting)
	cfgA.Clock, cfgA.LeaseDuration = clocktest.New(epoch), 30*time.Second
	a := g.start(cfgA)
	a.waitCaughtUp("p", last)

	cfgB := g.config("B", g.recording("p", nil))
	cfgB.Clock, cfgB.LeaseDuration = clocktest.New(epoch.Add(time.Hour)), 30*time.Second
	b := g.start(cfgB)
	b.waitCaughtUp("p", last) // B took the lease A no longer renews
	before := callsA.Load()
	last = g.appendEvents(10)
	b.waitCaughtUp("p", last)
	a.waitLog("lost a projection's lease")
	requireApplied(t, h, "p", positions(1, last))
	assert.Equal(t, before, callsA.Load(), "A's refused batches never reached the handler")
	assert.False(t, a.status("p", 0).Running)
}

// testWaitForElsewhere: WaitFor on a projector that does not run the
// projection waits, through the checkpoint store, until the one running it
// has applied the position; it is bounded by ctx; the running one answers
// from what it committed.
func testWaitForElsewhere[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	g := newRig(t, h)
	last := g.appendEvents(3)
	runner := g.start(g.config("runner", g.recording("p", nil)))
	runner.waitCaughtUp("p", last)
	other := g.start(g.config("other", g.recording("p", nil)))

	for range 5 {
		pos := g.appendEvents(1)
		for _, r := range []*running[Tx]{other, runner} {
			v, err := r.p.WaitFor(ctx, "p", pos)
			require.NoError(t, err)
			assert.Equal(t, 0, v)
			assert.Contains(t, distinct(h.Recorded(t, "p")), pos, "after WaitFor the read model has the event")
		}
	}
	assert.False(t, other.status("p", 0).Running)

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := other.p.WaitFor(short, "p", 1<<40)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, `projection "p" to reach position`)
	_, err = other.p.WaitFor(ctx, "missing", 1)
	require.ErrorIs(t, err, cqrs.ErrUnknownProjection)
}
