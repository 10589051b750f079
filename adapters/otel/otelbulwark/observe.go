package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/fallback"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/timeout"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Observe records e, an event of any bulwark component whose Observer the
// Telemetry is: in the metric the package doc lists for its type, with
// bulwark.name set to e.Component(), and as an event on the span in ctx
// when that span is recording (see the package doc). Events of other types
// are recorded as span events only.
//
// Rejections (circuitbreaker.Rejected, bulkhead.Rejected,
// ratelimit.Rejected, bulwarkhttp.Shed and Limited), which come at request
// rate when a dependency is down or overloaded, cost one atomic add once
// their series exists and allocate nothing; they are read when metrics are
// collected, so they carry no exemplar. Every other measurement is made
// with ctx, so an SDK that samples exemplars links it to the trace in ctx.
func (t *Telemetry) Observe(ctx context.Context, e bulwark.Event) {
	t.check()
	switch ev := e.(type) {
	case circuitbreaker.Rejected:
		t.breakerRejected(ev)
	case bulkhead.Rejected:
		t.bulkheadRejected(ev)
	case ratelimit.Rejected:
		t.rateLimitRejected(ev)
	case circuitbreaker.StateChange:
		t.breakerChanged(ctx, ev)
	case bulkhead.LimitChanged:
		t.bulkheadLimitChanged(ctx, ev)
	case retry.Retried:
		t.retried(ctx, ev)
	case retry.GaveUp:
		t.gaveUp(ctx, ev)
	case retry.DeadLettered:
		t.retryDeadLettered(ctx, ev)
	case timeout.TimedOut:
		t.timedOut(ctx, ev)
	case hedge.Hedged:
		t.hedged(ctx, ev)
	case fallback.FellBack:
		t.fellBack(ctx, ev)
	case chaos.Injected:
		t.injected(ctx, ev)
	case outbox.Published:
		t.published(ctx, ev)
	case outbox.PublishFailed:
		t.publishFailed(ctx, ev)
	case outbox.DeadLettered:
		t.outboxDeadLettered(ctx, ev)
	case saga.StepCompleted:
		t.stepEnded(ctx, ev.Orchestrator, ev.Invocation, ev.Duration, nil)
	case saga.StepFailed:
		t.stepEnded(ctx, ev.Orchestrator, ev.Invocation, ev.Duration, ev.Err)
	case saga.CompensationStarted:
		t.compensating(ctx, ev)
	case saga.Finished:
		t.sagaFinished(ctx, ev)
	case idempotency.Replayed:
		t.inst.idemReplays.Add(ctx, 1, with(ev.Name))
	case idempotency.TakenOver:
		t.inst.idemTakeovers.Add(ctx, 1, with(ev.Name))
	case idempotency.Duplicate:
		t.inst.idemDuplicates.Add(ctx, 1, with(ev.Name))
	case eventsource.Retried:
		t.repositoryRetried(ctx, ev)
	case eventsource.SnapshotFailed:
		t.inst.esSnapshotErrors.Add(ctx, 1, with(ev.Name))
	case eventsource.CaughtUp:
		t.subscriptionCaughtUp(ctx, ev)
	case cqrs.Applied:
		t.applied(ctx, ev)
	case cqrs.EventFailed:
		t.projectionFailed(ctx, ev)
	case cqrs.CaughtUp:
		t.projectionCaughtUp(ctx, ev)
	case cqrs.Switched:
		t.switched(ctx, ev)
	case bulwarkhttp.Shed:
		t.shed(ev)
	case bulwarkhttp.Limited:
		t.limited(ev)
	case bulwarkhttp.LimiterFailed:
		t.limiterFailed(ctx, ev)
	case consume.Failed:
		t.inst.cmFailed.Add(ctx, 1, consumeFailure(ev.Name, ev.Topic, ev.Err))
	case consume.Redelivered:
		t.inst.cmRedelivered.Add(ctx, 1, with(ev.Name, semconv.MessagingDestinationName(ev.Topic), consumeInProcessKey.Bool(ev.InProcess)))
	case consume.DeadLettered:
		t.inst.cmDeadLettered.Add(ctx, 1, consumeFailure(ev.Name, ev.Topic, ev.Err))
	case consume.Released:
		t.inst.cmReleased.Add(ctx, 1, with(ev.Name, semconv.MessagingDestinationName(ev.Topic)))
	case consume.Dropped:
		t.inst.cmDropped.Add(ctx, 1, consumeFailure(ev.Name, ev.Topic, ev.Err))
	}
	addSpanEvent(ctx, e)
}
