package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/eventsource"
)

// repositoryRetried counts a command an event-sourced repository tries
// again in bulwark.eventsource.retries, with the error.type of the failed
// try.
func (t *Telemetry) repositoryRetried(ctx context.Context, e eventsource.Retried) {
	t.inst.esRetries.Add(ctx, 1, with(e.Name, errorTypeKey.String(ErrorType(e.Err))))
}

// subscriptionCaughtUp records a subscription's position when it catches
// up in bulwark.eventsource.subscription.position.
func (t *Telemetry) subscriptionCaughtUp(ctx context.Context, e eventsource.CaughtUp) {
	t.inst.esPosition.Record(ctx, e.Position, with(e.Name))
}
