package cqrs

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/bulwark-go/bulwark/eventsource"
)

// Status is a projection's state as an operator sees it.
type Status struct {
	Checkpoint
	// Lag is how many positions of the global log the projection has
	// still to read: the head's position minus Position (positions may
	// skip values, so it bounds the events left). -1 when the event store
	// cannot tell its head (it is not an eventsource.HeadReader).
	Lag int64
	// Running reports that this projector holds the lease and runs the
	// projection.
	Running bool
	// Retired reports that a greater version of the projection is live,
	// so nobody runs this one any more.
	Retired bool
}

// Status returns the state of every projection in the checkpoint store, by
// name and version (those of this projector that have not started yet at
// position 0), with their lag behind the head of the log.
func (p *Projector[Tx]) Status(ctx context.Context) ([]Status, error) {
	p.check()
	cps, err := p.checkpoints.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("cqrs: reading the checkpoints: %w", err)
	}
	head := int64(-1)
	if h, ok := p.events.(eventsource.HeadReader); ok {
		if head, err = h.HeadPosition(ctx); err != nil {
			return nil, fmt.Errorf("cqrs: reading the head of the log: %w", err)
		}
	}
	for _, r := range p.runners {
		if !slices.ContainsFunc(cps, func(cp Checkpoint) bool { return cp.Name == r.proj.Name && cp.Version == r.proj.Version }) {
			cps = append(cps, Checkpoint{Name: r.proj.Name, Version: r.proj.Version})
		}
	}
	slices.SortFunc(cps, func(a, b Checkpoint) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	out := make([]Status, len(cps))
	for i, cp := range cps {
		s := Status{Checkpoint: cp, Lag: -1}
		if head >= 0 {
			s.Lag = max(head-cp.Position, 0)
		}
		if r, ok := p.byName[cp.Name]; ok && r.proj.Version == cp.Version {
			s.Running = r.holding()
		}
		if live, ok := greatestLive(cps, cp.Name); ok && live.Version > cp.Version {
			s.Retired = true
		}
		out[i] = s
	}
	return out, nil
}

// Resume makes a parked projection try its failed event again (and go on
// from there once it succeeds). It fails with ErrNotParked when the
// projection is not parked. The projector running it resumes at once when
// it is this one, otherwise at its next lease renewal
// (Config.LeaseDuration/3).
func (p *Projector[Tx]) Resume(ctx context.Context, name string) error {
	return p.operate(ctx, name, "resuming", func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if !cp.Parked() {
			return ErrNotParked
		}
		cp.Failed = Failure{}
		return nil
	})
}

// Skip moves a parked projection past its failed event, without its
// effect, and lets it go on. It fails with ErrNotParked when the projection
// is not parked. Like Resume, it takes effect at once here, or at the next
// lease renewal of the projector running it.
func (p *Projector[Tx]) Skip(ctx context.Context, name string) error {
	return p.operate(ctx, name, "skipping the failed event of", func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if !cp.Parked() {
			return ErrNotParked
		}
		// The events before the failed one are applied (see apply), so
		// the checkpoint moves to it.
		cp.Position, cp.Failed = cp.Failed.Position, Failure{}
		return nil
	})
}

// Rebuild empties the projection's read model with Projection.Reset and
// sets its checkpoint back to 0, in one transaction, so that it is built
// again from the first event; a parked projection is resumed. The other
// projections go on. The projector running it (this one, at once, or
// another at its next lease renewal) starts over; a batch it was applying
// is rolled back. Queries meanwhile see the read model being rebuilt
// (WaitFor waits until it has passed the position again): to keep serving
// the old read model while the new one is built, raise Projection.Version
// instead.
func (p *Projector[Tx]) Rebuild(ctx context.Context, name string) error {
	r, err := p.runner(name)
	if err != nil {
		return err
	}
	if r.proj.Reset == nil {
		return fmt.Errorf("cqrs: rebuilding projection %q needs Projection.Reset to empty its read model", name)
	}
	return p.operate(ctx, name, "rebuilding", func(ctx context.Context, tx Tx, cp *Checkpoint) error {
		if err := r.proj.Reset(ctx, tx); err != nil {
			return fmt.Errorf("cqrs: Projection.Reset: %w", err)
		}
		cp.Position, cp.Failed = 0, Failure{}
		return nil
	})
}

// operate changes the checkpoint of the projection's version in this
// projector's configuration, then has the runner here look at it.
func (p *Projector[Tx]) operate(ctx context.Context, name, doing string, change func(ctx context.Context, tx Tx, cp *Checkpoint) error) error {
	r, err := p.runner(name)
	if err != nil {
		return err
	}
	now := p.clock.Now()
	err = p.checkpoints.Update(ctx, name, r.proj.Version, func(ctx context.Context, tx Tx, cp *Checkpoint) error {
		if err := change(ctx, tx, cp); err != nil {
			return err
		}
		cp.UpdatedAt = now
		return nil
	})
	if err != nil {
		return fmt.Errorf("cqrs: %s projection %q: %w", doing, name, err)
	}
	r.markStale()
	return nil
}
