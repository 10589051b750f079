package cqrstest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockAt returns a projection recording into the read model that, at the
// event at position, signals blocked and waits for release or the end of
// its ctx.
func (g *rig[Tx]) blockAt(name string, position int64, blocked chan<- struct{}, release <-chan struct{}) cqrs.Projection[Tx] {
	return cqrs.Projection[Tx]{
		Name: name,
		Handle: func(ctx context.Context, tx Tx, e eventsource.Event) error {
			if err := g.h.Record(ctx, tx, name, e.GlobalPosition); err != nil {
				return err
			}
			if e.GlobalPosition == position {
				blocked <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		},
	}
}

// checkpointOf returns the stored checkpoint of projection name, version 0.
func checkpointOf[Tx any](t *testing.T, s cqrs.Store[Tx], name string) cqrs.Checkpoint {
	t.Helper()
	cps, err := s.List(testContext(t))
	require.NoError(t, err)
	for _, cp := range cps {
		if cp.Name == name && cp.Version == 0 {
			return cp
		}
	}
	t.Fatalf("no checkpoint of %s", name)
	return cqrs.Checkpoint{}
}

// testCloseCommitsTheBatch: Close lets the batch in flight commit whole,
// with its checkpoint, applies nothing after it, gives the lease up and
// makes Run return nil; Run after Close fails with ErrClosed.
func testCloseCommitsTheBatch[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	g.appendEvents(20)
	blocked, release := make(chan struct{}, 1), make(chan struct{})
	p, err := g.newProjector(g.config("p1", g.blockAt("closing", 10, blocked, release))) // batches of 7: 8..14 in flight
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-blocked
	closed := make(chan error, 1)
	go func() { closed <- p.Close(testContext(t)) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a batch was in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-closed)
	require.NoError(t, <-done, "Run returns nil after Close")
	requireApplied(t, h, "closing", positions(1, 14))
	cp := checkpointOf(t, h.Store, "closing")
	assert.Equal(t, int64(14), cp.Position, "the batch in flight committed with its checkpoint")
	assert.Equal(t, "", cp.Owner, "the lease is given up")
	require.ErrorIs(t, p.Run(context.Background()), bulwark.ErrClosed)
	require.NoError(t, p.Close(testContext(t)), "Close again")
}

// testCloseRollsBackWhenItGivesUp: when Close's ctx ends before the batch
// in flight does, the batch is cancelled and rolled back (with a
// transactional store, none of its effects remain; the checkpoint stays
// before it), Close returns ctx's error, and Run returns nil.
func testCloseRollsBackWhenItGivesUp[Tx any](t *testing.T, h Harness[Tx]) {
	g := newRig(t, h)
	g.appendEvents(20)
	blocked := make(chan struct{}, 1)
	p, err := g.newProjector(g.config("p1", g.blockAt("abandoned", 10, blocked, nil)))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-blocked
	ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Close(ctx), context.DeadlineExceeded)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after Close cancelled its work")
	}
	cp := checkpointOf(t, h.Store, "abandoned")
	assert.Equal(t, int64(7), cp.Position, "the batch in flight did not commit")
	assert.Equal(t, "", cp.Owner, "the lease is given up")
	if h.Transactional {
		requireApplied(t, h, "abandoned", positions(1, 7))
	} else {
		assert.Subset(t, positions(1, 10), distinct(h.Recorded(t, "abandoned")))
	}
}
