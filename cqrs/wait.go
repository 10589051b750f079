package cqrs

import (
	"context"
	"fmt"
	"sync/atomic"
)

// WaitFor waits until projection name has applied every event up to global
// position (the position eventsource's Append, or an aggregate's Position
// after Handle, returned for a write), and returns the version that did:
// the one a query should read to see the write. It is how a query reads its
// own writes. The version waited for is the live one (see
// Projection.Version) or, before any version has caught up with the log
// once, the one being built.
//
// For a projection this projector runs, WaitFor returns as soon as the
// batch holding the event commits; otherwise it reads the checkpoints every
// Config.WaitPollInterval. (A Rebuild made by another process reaches the
// projector running the projection at its next lease renewal; until then
// WaitFor there answers from the checkpoint the rebuild replaced.) It returns a *ParkedError (errors.Is ErrParked)
// when the projection is parked before position, and ctx's error, wrapped,
// when ctx ends first. Any process with the projection in its Config may
// wait for it, whether or not it runs it.
func (p *Projector[Tx]) WaitFor(ctx context.Context, name string, position int64) (int, error) {
	r, err := p.runner(name)
	if err != nil {
		return 0, err
	}
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	for {
		changed := p.changes()
		version, done, err := p.reached(ctx, r, position)
		if done || err != nil {
			return version, err
		}
		t := p.clock.NewTimer(p.cfg.WaitPollInterval)
		select {
		case <-changed:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("cqrs: waiting for projection %q to reach position %d: %w", name, position, ctx.Err())
		}
		t.Stop()
	}
}

// reached reports whether the version of r's projection that queries read
// has reached position: from what this projector knows first hand when it
// runs the live version, from the checkpoint store otherwise.
func (p *Projector[Tx]) reached(ctx context.Context, r *runner[Tx], position int64) (int, bool, error) {
	var cp Checkpoint
	if l := r.local(); l.held && l.live {
		cp = Checkpoint{Name: r.proj.Name, Version: r.proj.Version, Position: l.position, Live: true, Failed: l.failed}
	} else {
		cps, err := p.list.get(ctx, p.checkpoints)
		if err != nil {
			return 0, false, fmt.Errorf("cqrs: waiting for projection %q to reach position %d: %w", r.proj.Name, position, err)
		}
		read, ok := queried(cps, r.proj.Name)
		if !ok {
			return 0, false, nil
		}
		cp = read
	}
	switch {
	case cp.Position >= position:
		return cp.Version, true, nil
	case cp.Parked():
		return 0, false, &ParkedError{Projection: cp.Name, Version: cp.Version, Failed: cp.Failed}
	}
	return 0, false, nil
}

// queried returns the checkpoint of the version of projection name that
// queries read: the greatest live version or, before any version has caught
// up with the log, the greatest version being built.
func queried(cps []Checkpoint, name string) (Checkpoint, bool) {
	if live, ok := greatestLive(cps, name); ok {
		return live, true
	}
	var best Checkpoint
	found := false
	for _, cp := range cps {
		if cp.Name == name && (!found || cp.Version > best.Version) {
			best, found = cp, true
		}
	}
	return best, found
}

// checkpointList reads the checkpoints for waiters, one read at a time. A
// waiter takes the result of a read that started after it asked (so it
// never sees checkpoints older than its question), waiting for the read in
// flight if there is one, or reads itself.
type checkpointList struct {
	sem   chan struct{} // holds a token during a read; guards cps
	reads atomic.Uint64 // reads completed
	cps   []Checkpoint  // the last read's result
}

// get returns the checkpoints as read by a read that started after the call.
func (l *checkpointList) get(ctx context.Context, store interface {
	List(context.Context) ([]Checkpoint, error)
}) ([]Checkpoint, error) {
	asked := l.reads.Load() // a read in flight now started before the call
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.sem }()
	if l.reads.Load() >= asked+2 {
		return l.cps, nil
	}
	cps, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	l.cps = cps
	l.reads.Add(1)
	return cps, nil
}
