package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/cqrs"
	"go.opentelemetry.io/otel/attribute"
)

// projection returns the attributes of a projection's version.
func projection(name string, version int) []attribute.KeyValue {
	return []attribute.KeyValue{cqrsProjectionKey.String(name), cqrsVersionKey.Int(version)}
}

// applied counts the events of a committed batch in
// bulwark.cqrs.applied_events and records the new checkpoint in
// bulwark.cqrs.position.
func (t *Telemetry) applied(ctx context.Context, e cqrs.Applied) {
	opt := with(e.Name, projection(e.Projection, e.Version)...)
	if e.Events > 0 {
		t.inst.cqrsApplied.Add(ctx, int64(e.Events), opt)
	}
	t.inst.cqrsPosition.Record(ctx, e.Position, opt)
}

// projectionFailed counts a failed try of an event in
// bulwark.cqrs.failed_events, with the error.type and what the projector
// did next.
func (t *Telemetry) projectionFailed(ctx context.Context, e cqrs.EventFailed) {
	t.inst.cqrsFailed.Add(ctx, 1, with(e.Name, append(projection(e.Projection, e.Version),
		errorTypeKey.String(ErrorType(e.Err)), cqrsActionKey.String(e.Next.String()))...))
}

// projectionCaughtUp records a projection's checkpoint in
// bulwark.cqrs.position.
func (t *Telemetry) projectionCaughtUp(ctx context.Context, e cqrs.CaughtUp) {
	t.inst.cqrsPosition.Record(ctx, e.Position, with(e.Name, projection(e.Projection, e.Version)...))
}

// switched counts a version of a projection becoming live in
// bulwark.cqrs.switches.
func (t *Telemetry) switched(ctx context.Context, e cqrs.Switched) {
	t.inst.cqrsSwitches.Add(ctx, 1, with(e.Name, projection(e.Projection, e.To)...))
}
