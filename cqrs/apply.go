package cqrs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
)

// handlerFailure is the error of an advance whose handler failed at
// events[index]: nothing of it was committed.
type handlerFailure struct {
	index int
	err   error
}

func (f *handlerFailure) Error() string { return f.err.Error() }
func (f *handlerFailure) Unwrap() error { return f.err }

// applyPage applies a page of the log (the subscription's handler).
func (r *runner[Tx]) applyPage(ctx context.Context, page []eventsource.Event) error {
	return r.apply(ctx, r.relevant(page), page[len(page)-1].GlobalPosition)
}

// relevant returns the page's events of the projection's types.
func (r *runner[Tx]) relevant(page []eventsource.Event) []eventsource.Event {
	if r.types == nil {
		return page
	}
	r.buf = r.buf[:0]
	for _, e := range page {
		if _, ok := r.types[e.Type]; ok {
			r.buf = append(r.buf, e)
		}
	}
	return r.buf
}

// apply applies events in one transaction that moves the checkpoint to end.
// When an event fails, the events before it commit on their own, and it is
// retried alone until it succeeds, is skipped, or parks the projection; the
// rest follow. It returns nil, or why the run must stop.
func (r *runner[Tx]) apply(ctx context.Context, events []eventsource.Event, end int64) error {
	for {
		err := r.advance(ctx, events, end)
		var f *handlerFailure
		if !errors.As(err, &f) {
			return err
		}
		if f.index > 0 {
			if err := r.apply(ctx, events[:f.index], events[f.index-1].GlobalPosition); err != nil {
				return err
			}
		}
		if err := r.retry(ctx, events[f.index], f.err); err != nil {
			return err
		}
		events = events[f.index+1:]
	}
}

// advance applies events and moves the checkpoint to end in one
// transaction, if this projector still holds the lease and the checkpoint
// is where its subscription left it. A handler's failure is returned as a
// *handlerFailure.
func (r *runner[Tx]) advance(ctx context.Context, events []eventsource.Event, end int64) error {
	from := r.committed.Load()
	if len(events) == 0 && end <= from {
		return nil
	}
	now := r.p.clock.Now()
	var failed *handlerFailure
	err := r.p.checkpoints.Update(ctx, r.proj.Name, r.proj.Version, func(ctx context.Context, tx Tx, cp *Checkpoint) error {
		if err := r.fence(cp, from); err != nil {
			return err
		}
		for i := range events {
			if err := r.handle(ctx, tx, events[i]); err != nil {
				failed = &handlerFailure{index: i, err: err}
				return failed
			}
		}
		cp.Position, cp.UpdatedAt = end, now
		return nil
	})
	switch {
	case err == nil:
		r.committed.Store(end)
		r.p.notify()
		r.p.observe(ctx, Applied{Name: r.p.cfg.Name, Projection: r.proj.Name, Version: r.proj.Version, Position: end, Events: len(events)})
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case failed != nil:
		return failed
	}
	return err
}

// fence checks, inside a transaction, that the run may write the
// checkpoint it read at from.
func (r *runner[Tx]) fence(cp *Checkpoint, from int64) error {
	switch {
	case cp.Owner != r.p.cfg.InstanceID:
		return errLeaseLost
	case cp.Parked():
		return errParkedHere
	case cp.Position != from:
		return errMoved
	}
	return nil
}

// handle calls the projection's handler, turning a panic into an error.
func (r *runner[Tx]) handle(ctx context.Context, tx Tx, e eventsource.Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("cqrs: handler panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return r.proj.Handle(ctx, tx, e)
}

// retry tries e alone after its first failure err, with backoff, until it
// is applied, skipped, or the projection is parked (errParkedHere). A wait
// is abandoned when the projector is closed (errStopping).
func (r *runner[Tx]) retry(ctx context.Context, e eventsource.Event, err error) error {
	var prev time.Duration
	for attempt := 1; ; attempt++ {
		next := RetryEvent
		if attempt >= r.p.cfg.MaxAttempts {
			next = ParkProjection
			if r.proj.SkipFailed {
				next = SkipEvent
			}
		}
		switch next {
		case ParkProjection:
			stop := r.park(ctx, e, err)
			if errors.Is(stop, errParkedHere) {
				r.report(ctx, e, attempt, err, next, 0)
			}
			return stop
		case SkipEvent:
			if stop := r.advance(ctx, nil, e.GlobalPosition); stop != nil {
				return stop
			}
			r.report(ctx, e, attempt, err, next, 0)
			return nil
		}
		wait := r.p.backoff(attempt, prev)
		prev = wait
		r.report(ctx, e, attempt, err, next, wait)
		if err := r.pause(ctx, wait); err != nil {
			return err
		}
		err = r.advance(ctx, []eventsource.Event{e}, e.GlobalPosition)
		var f *handlerFailure
		if !errors.As(err, &f) {
			return err
		}
		err = f.err
	}
}

// pause waits for d, or returns ctx's error or errStopping.
func (r *runner[Tx]) pause(ctx context.Context, d time.Duration) error {
	t := r.p.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.p.stopping():
		return errStopping
	}
}

// report reports a failed try of e to the log and the Observer, once what
// comes next has begun (the projection is parked, the event skipped).
func (r *runner[Tx]) report(ctx context.Context, e eventsource.Event, attempt int, err error, next Action, wait time.Duration) {
	args := []any{"projection", r.proj.Name, "version", r.proj.Version, "position", e.GlobalPosition,
		"stream", e.StreamID, "stream_version", e.StreamVersion, "type", e.Type, "attempt", attempt, "next", next.String(), "error", err}
	switch next {
	case ParkProjection:
		r.p.log.ErrorContext(ctx, "cqrs: parking the projection at an event it cannot apply", args...)
	case SkipEvent:
		r.p.log.ErrorContext(ctx, "cqrs: skipping an event the projection cannot apply", args...)
	default:
		r.p.log.WarnContext(ctx, "cqrs: applying an event failed; retrying", append(args, "retry_in", wait)...)
	}
	r.p.observe(ctx, EventFailed{Name: r.p.cfg.Name, Projection: r.proj.Name, Version: r.proj.Version,
		Event: e, Attempt: attempt, Err: err, Next: next, Wait: wait})
}

// park records that the projection stopped at e and returns errParkedHere.
func (r *runner[Tx]) park(ctx context.Context, e eventsource.Event, cause error) error {
	from, now := r.committed.Load(), r.p.clock.Now()
	f := Failure{
		Position: e.GlobalPosition,
		Error:    fmt.Sprintf("event %d of stream %q (type %q, schema version %d): %v", e.StreamVersion, e.StreamID, e.Type, e.SchemaVersion, cause),
		At:       now,
	}
	err := r.p.checkpoints.Update(ctx, r.proj.Name, r.proj.Version, func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if err := r.fence(cp, from); err != nil {
			return err
		}
		cp.Failed, cp.UpdatedAt = f, now
		return nil
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.failed = f
	r.mu.Unlock()
	r.p.notify()
	return errParkedHere
}
