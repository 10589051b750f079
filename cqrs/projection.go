package cqrs

import (
	"context"

	"github.com/bulwark-go/bulwark/eventsource"
)

// Projection builds one read model from the global log of an event store.
// A Projector feeds it every event in global order, in batches, each batch
// in one transaction of the checkpoint store together with the
// projection's checkpoint.
type Projection[Tx any] struct {
	// Name identifies the projection and its checkpoint: not empty, at
	// most 200 bytes of UTF-8 without NUL. Required.
	Name string
	// Version is the version of the read model's shape, from 0. Raising it
	// builds the new version from position 0, typically into new tables,
	// while queries keep reading the previous version; the new one becomes
	// live (Projector.WaitFor returns it, Switched is reported) once it has
	// caught up with the log, and older versions stop being run.
	Version int
	// Types, if not empty, are the only event types Handle is given; the
	// checkpoint moves past other events without calling it.
	Types []string
	// Handle applies one event to the read model. With a transactional
	// store it writes through tx, so its effect commits with the
	// checkpoint, exactly once; other read models (in memory, in another
	// system) are updated at least once, and should tolerate an event
	// applied again. An error (or a panic) rolls back the batch; the event
	// is then retried alone, with backoff, and after Config.MaxAttempts
	// tries the projection is parked (or the event skipped, with
	// SkipFailed). Handle must be deterministic: it sees the same events
	// again when the projection is rebuilt. Required.
	Handle func(ctx context.Context, tx Tx, e eventsource.Event) error
	// Reset, if set, empties the read model, in the transaction that sets
	// the checkpoint back to 0: Projector.Rebuild needs it.
	Reset func(ctx context.Context, tx Tx) error
	// SkipFailed skips an event that failed Config.MaxAttempts times (it is
	// reported as EventFailed and logged) instead of parking the projection
	// there. Off at false: the projection stops at the event until an
	// operator resumes it or skips it.
	SkipFailed bool
}

// Decoded returns a Handle function that decodes each event with reg,
// upcasting older schema versions, and calls apply with each current event
// value (an upcaster may turn one stored event into several, or none).
// An event reg cannot decode fails like any handler error: a
// *eventsource.DecodeError, retried, then parked or skipped. List the types
// reg knows in Projection.Types when the log holds others.
func Decoded[Tx any](reg *eventsource.Registry, apply func(ctx context.Context, tx Tx, e eventsource.Event, v any) error) func(ctx context.Context, tx Tx, e eventsource.Event) error {
	return func(ctx context.Context, tx Tx, e eventsource.Event) error {
		values, err := reg.Decode(e)
		if err != nil {
			return err
		}
		for _, v := range values {
			if err := apply(ctx, tx, e, v); err != nil {
				return err
			}
		}
		return nil
	}
}
